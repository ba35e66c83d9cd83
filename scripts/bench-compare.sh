#!/usr/bin/env bash
# Compares another build of `shoal` with this one in the same run (docs/benchmarks.md): the e2e
# benchmark of this tree drives OLD_BINARY (through SHOAL_TEST_BIN) and this build's release
# binary alternately, ROUNDS times, for one node (8/8 producers/consumers), three nodes (32/16),
# and three nodes with batches of 10 (4/32). Prints each run's numbers.
#   scripts/bench-compare.sh /path/to/old/release/shoal [ROUNDS]
set -euo pipefail
old="$1"
rounds="${2:-2}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shoal-target}"
bench="$(cargo bench --workspace --bench e2e --no-run --message-format json 2>/dev/null \
    | grep -o '"executable":"[^"]*e2e-[^"]*"' | tail -1 | cut -d'"' -f4)"
[ -x "$bench" ] || { echo "bench-compare: the e2e benchmark did not build" >&2; exit 1; }
configs=(
    "1 8 8 1"
    "3 32 16 1"
    "3 4 32 10"
)
for round in $(seq "$rounds"); do
    for build in old new; do
        for config in "${configs[@]}"; do
            read -r nodes producers consumers batch <<<"$config"
            echo "=== round $round, $build: $nodes node(s), $producers/$consumers, batch $batch"
            if [ "$build" = old ]; then binary=(SHOAL_TEST_BIN="$old"); else binary=(); fi
            env "${binary[@]}" SHOAL_E2E_SECONDS=15 SHOAL_E2E_NODES="$nodes" SHOAL_E2E_PRODUCERS="$producers" \
                SHOAL_E2E_CONSUMERS="$consumers" SHOAL_E2E_SEND_BATCH="$batch" "$bench" --bench | tail -4
        done
    done
done
