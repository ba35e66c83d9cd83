#!/usr/bin/env bash
# Three Shoal release nodes on loopback, through scripts/local-cluster.sh, for the peer benchmark.
#
#   scripts/bench/shoal.sh start   start nodes 1..3; prints the three SQS endpoints, one per line
#   scripts/bench/shoal.sh pids    the nodes' pids, comma-separated
#   scripts/bench/shoal.sh stop    stop them and delete their data
#
# The binary is $SHOAL_BIN (the peer benchmark copies one to /tmp/shoal-bench-bin/shoal so that a
# rebuild elsewhere does not change it mid-run); otherwise $HOME/.cache/shoal-target/release/shoal.
# Data and logs live under $BENCH_DIR/shoal (BENCH_DIR default /tmp/shoal-bench); the nodes use
# ports from $BENCH_SHOAL_BASE_PORT (default 19400: SQS on base+2I, the cluster port after it), away
# from local-cluster.sh's default 9400. Extra `shoal serve` arguments: $BENCH_SHOAL_ARGS.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export SHOAL_CLUSTER_DIR="${BENCH_DIR:-/tmp/shoal-bench}/shoal"
export SHOAL_CLUSTER_BASE_PORT="${BENCH_SHOAL_BASE_PORT:-19400}"
export SHOAL_BIN="${SHOAL_BIN:-$HOME/.cache/shoal-target/release/shoal}"
cluster="$repo_root/scripts/local-cluster.sh"
die() { printf 'shoal.sh: error: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
    start)
        [ -x "$SHOAL_BIN" ] || die "no shoal binary at $SHOAL_BIN"
        if [ -f "$SHOAL_CLUSTER_DIR/nodes" ]; then "$cluster" stop >/dev/null 2>&1 || true; fi
        rm -rf "$SHOAL_CLUSTER_DIR"
        mkdir -p "$SHOAL_CLUSTER_DIR"
        # shellcheck disable=SC2086
        "$cluster" start 3 ${BENCH_SHOAL_ARGS:-}
        ;;
    pids)
        pids=""
        for i in 1 2 3; do
            f="$SHOAL_CLUSTER_DIR/node-$i/pid"
            [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && pids="${pids:+$pids,}$(cat "$f")"
        done
        echo "$pids"
        ;;
    stop)
        if [ -f "$SHOAL_CLUSTER_DIR/nodes" ]; then "$cluster" stop >/dev/null; fi
        rm -rf "$SHOAL_CLUSTER_DIR"
        echo "stopped"
        ;;
    *)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
