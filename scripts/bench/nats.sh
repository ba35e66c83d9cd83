#!/usr/bin/env bash
# Three nats-server nodes with JetStream on loopback, one cluster, for the peer benchmark.
#
#   scripts/bench/nats.sh start   start n1..n3; prints the three client URLs, one per line
#   scripts/bench/nats.sh pids    the servers' pids, comma-separated
#   scripts/bench/nats.sh stop    stop them and delete their data
#
# Node I serves clients on 127.0.0.1:$((BENCH_NATS_BASE_PORT + I)) (base 14220), routes on the port
# 1000 above and HTTP monitoring 2000 above. JetStream stores to disk and fsyncs every write
# (sync_interval: always; NATS_SYNC_INTERVAL=2m, say, gives NATS's default periodic fsync, for
# comparison only). Data, logs and pid files live under $BENCH_DIR/nats (BENCH_DIR default
# /tmp/shoal-bench). The binary is the venv's nats-server (scripts/bench/setup.sh) or $NATS_SERVER.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="${BENCH_DIR:-/tmp/shoal-bench}/nats"
base="${BENCH_NATS_BASE_PORT:-14220}"
server="${NATS_SERVER:-$repo_root/.venv/bin/nats-server}"
die() { printf 'nats.sh: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/bench/nodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/nodes.sh"
running() { node_running n "$1"; }

case "${1:-}" in
    start)
        [ -x "$server" ] || die "no nats-server at $server; run scripts/bench/setup.sh"
        for i in 1 2 3; do running "$i" && die "node $i is already running; run: $0 stop"; done
        rm -rf "$dir"
        routes="nats://127.0.0.1:$((base + 1001)), nats://127.0.0.1:$((base + 1002)), nats://127.0.0.1:$((base + 1003))"
        for i in 1 2 3; do
            mkdir -p "$dir/n$i/store"
            cat >"$dir/n$i/nats.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$((base + i))
http: 127.0.0.1:$((base + 2000 + i))
pid_file: "$dir/n$i/pid"
jetstream {
    store_dir: "$dir/n$i/store"
    sync_interval: ${NATS_SYNC_INTERVAL:-always}
}
cluster {
    name: bench
    listen: 127.0.0.1:$((base + 1000 + i))
    routes: [$routes]
}
CONF
            nohup "$server" -c "$dir/n$i/nats.conf" >"$dir/n$i/log" 2>&1 </dev/null &
        done
        # Ready when every node reports JetStream healthy (a meta leader elected).
        deadline=$((SECONDS + 60))
        for i in 1 2 3; do
            until curl -fs "http://127.0.0.1:$((base + 2000 + i))/healthz?js-enabled-only=false" >/dev/null 2>&1 &&
                curl -fs "http://127.0.0.1:$((base + 2000 + i))/healthz" >/dev/null 2>&1; do
                [ "$SECONDS" -lt "$deadline" ] || die "node $i not healthy within 60 s; see $dir/n$i/log"
                sleep 0.2
            done
        done
        for i in 1 2 3; do echo "nats://127.0.0.1:$((base + i))"; done
        ;;
    pids)
        node_pids n
        ;;
    stop)
        stop_nodes n
        ;;
    *)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
