#!/usr/bin/env bash
# The chaos gate of CI (see docs/chaos.md): a quick Docker run of the real broker under kill,
# pause, partition and clock faults, which must be valid, a short run of the SNS fan-out workload
# under kill, pause and partition, which must be valid too, and a run of a deliberately broken build
# (the ack-before-commit failpoint), which the queue and sns checkers must call invalid. Expects
# scripts/test.sh to have built the workspace. Honours CARGO_TARGET_DIR and CHAOS_SEED.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi
command -v docker >/dev/null 2>&1 || { echo "chaos: error: docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "chaos: error: the docker engine is not running" >&2; exit 1; }

seed="${CHAOS_SEED:-1}"
target_dir="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
results="$repo_root/chaos-results"

echo "chaos: building the failpoint binary (shoal-node/failpoints)"
cargo build --workspace --bins --features shoal-node/failpoints
cp "$target_dir/debug/shoal" "$target_dir/debug/shoal-failpoints"
echo "chaos: building the real binary"
cargo build --workspace --bins
chaos="$target_dir/debug/shoal-chaos"

echo "chaos: 3 nodes, 60 s, kill + pause + partition + clock, queue workload, seed $seed"
"$chaos" run --nodes 3 --time 60 --nemesis kill,pause,partition,clock --workload queue --seed "$seed" \
    --binary "$target_dir/debug/shoal" --results "$results"

echo "chaos: 3 nodes, 40 s, kill + pause + partition, sns workload (one topic, six queues), seed $seed"
"$chaos" run --nodes 3 --time 40 --nemesis kill,pause,partition --workload sns --seed "$seed" \
    --binary "$target_dir/debug/shoal" --results "$results"

echo "chaos: the broken build must be caught (ack-before-commit, partitions)"
"$chaos" run --nodes 3 --time 45 --nemesis partition --workload queue --seed "$seed" \
    --binary "$target_dir/debug/shoal-failpoints" --node-env SHOAL_FAILPOINTS=ack-before-commit \
    --results "$results" --expect invalid

echo "chaos: the broken build must be caught by the sns checker too (publishes acknowledged before commit)"
"$chaos" run --nodes 3 --time 40 --nemesis partition --workload sns --seed "$seed" \
    --binary "$target_dir/debug/shoal-failpoints" --node-env SHOAL_FAILPOINTS=ack-before-commit \
    --results "$results" --expect invalid
