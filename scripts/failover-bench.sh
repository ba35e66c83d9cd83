#!/usr/bin/env bash
# Failover time (docs/chaos.md "Recovery per fault"): a 3-node Docker run of the queue workload
# in which every fault is a SIGKILL of the leader of the queue's group, about KILLS of them
# (default 20), then count, p50, p99 and max of the recovery over the kills, and each kill.
# The target: p99 within 1.5 s. Not part of CI (about 4 minutes for 20 kills). Expects the
# workspace built (cargo build --workspace --bins). Honours CARGO_TARGET_DIR, KILLS, CHAOS_SEED.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
command -v docker >/dev/null 2>&1 || { echo "failover: error: docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "failover: error: the docker engine is not running" >&2; exit 1; }

kills="${KILLS:-20}"
seed="${CHAOS_SEED:-1}"
target_dir="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
results="$repo_root/chaos-results"
chaos="$target_dir/debug/shoal-chaos"
[ -x "$chaos" ] || { echo "failover: error: no $chaos (cargo build --workspace --bins)" >&2; exit 1; }
# A fault takes 2-5 s of gap and 3-9 s of hold (chaos-tests/src/limits.rs), 9.5 s on average,
# plus the docker commands: 11 s a kill.
time_s=$((kills * 11))

echo "failover: 3 nodes, $time_s s, kills of the queue's leader, queue workload, seed $seed"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
"$chaos" run --nodes 3 --time "$time_s" --nemesis kill --target queue-leader --workload queue --seed "$seed" \
    --binary "$target_dir/debug/shoal" --results "$results" 2>&1 | tee "$log" || status=$?

run_dir="$(sed -n 's/^shoal-chaos: results in //p' "$log" | tail -1)"
if [ -n "$run_dir" ] && command -v jq >/dev/null 2>&1; then
    # Seconds to two places; "none" when sends or receives did not come back before the next fault.
    seconds='def seconds: if . == null then "none" else (. * 100 | round / 100 | tostring) + " s" end;'
    echo "failover: each kill: when, node, what it led; until sends, receives, both succeeded again"
    jq -r "$seconds"' .recoveries[] | select(.fault == "kill")
        | "  \(.start_s | seconds) \(.nodes | join(",")) (\(.detail)): send \(.send_recovered_after_s | seconds), receive \(.receive_recovered_after_s | seconds), both \(.recovered_after_s | seconds)"
          + (if .recovered_after_s != null and .healed_after_s != null and .recovered_after_s >= .healed_after_s
             then " (only after the node was started again)" else "" end)' "$run_dir/verdict.json"
    jq -r "$seconds"' .recovery_kill
        | "failover: kills \(.faults), recovered \(.recovered), p50 \(.p50_s | seconds), p99 \(.p99_s | seconds), max \(.max_s | seconds)"' \
        "$run_dir/verdict.json"
fi
exit "$status"
