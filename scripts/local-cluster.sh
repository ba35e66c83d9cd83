#!/usr/bin/env bash
# A Shoal cluster of N nodes on loopback, for trying replication out by hand and for the
# cluster benchmark.
#
#   scripts/local-cluster.sh start N [ARGS...]  start nodes 1..N (ARGS go to every `shoal serve`);
#                                              prints each node's AWS endpoint URL on its own line
#   scripts/local-cluster.sh kill I            SIGKILL node I
#   scripts/local-cluster.sh restart I         start node I again (killing it first if it runs)
#   scripts/local-cluster.sh status            each node: pid, endpoint, its view of the groups
#   scripts/local-cluster.sh stop              SIGTERM every node, then SIGKILL what is left
#
# Data and logs live under $SHOAL_CLUSTER_DIR (default ./.local-cluster). Node I serves SQS on
# 127.0.0.1:$((SHOAL_CLUSTER_BASE_PORT + 2*I)) and the cluster protocol on the port after it
# (base 9400 unless SHOAL_CLUSTER_BASE_PORT is set). SHOAL_BIN picks the binary; otherwise
# the release build is used (built if missing).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster_dir="${SHOAL_CLUSTER_DIR:-./.local-cluster}"
base_port="${SHOAL_CLUSTER_BASE_PORT:-9400}"

die() { printf 'local-cluster: error: %s\n' "$*" >&2; exit 1; }
http_port() { echo $((base_port + 2 * $1)); }
raft_port() { echo $((base_port + 2 * $1 + 1)); }
pid_file() { echo "$cluster_dir/node-$1/pid"; }

binary() {
    if [ -n "${SHOAL_BIN:-}" ]; then
        echo "$SHOAL_BIN"
        return
    fi
    local target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
    if [ ! -x "$target_dir/release/shoal" ]; then
        (cd "$repo_root" && cargo build --release -p shoal-node >&2)
    fi
    echo "$target_dir/release/shoal"
}

running() {
    local file; file="$(pid_file "$1")"
    [ -f "$file" ] && kill -0 "$(cat "$file")" 2>/dev/null
}

nodes() {
    [ -f "$cluster_dir/nodes" ] || die "no cluster in $cluster_dir; run: $0 start N"
    cat "$cluster_dir/nodes"
}

launch() {
    local i="$1" count="$2" bin peers="" j
    bin="$(binary)"
    for j in $(seq 1 "$count"); do
        peers="${peers:+$peers,}$j=127.0.0.1:$(raft_port "$j")"
    done
    mkdir -p "$cluster_dir/node-$i"
    # shellcheck disable=SC2046
    nohup "$bin" serve --node-id "$i" --peers "$peers" \
        --http-addr "127.0.0.1:$(http_port "$i")" --raft-addr "127.0.0.1:$(raft_port "$i")" \
        --data-dir "$cluster_dir/node-$i/data" $(cat "$cluster_dir/args" 2>/dev/null) \
        >>"$cluster_dir/node-$i/log" 2>&1 </dev/null &
    echo $! >"$(pid_file "$i")"
}

wait_listening() {
    local i="$1" deadline=$((SECONDS + 60))
    until (exec 3<>"/dev/tcp/127.0.0.1/$(http_port "$i")") 2>/dev/null; do
        running "$i" || die "node $i exited; see $cluster_dir/node-$i/log"
        [ "$SECONDS" -lt "$deadline" ] || die "node $i did not listen within 60 s"
        sleep 0.1
    done
}

case "${1:-}" in
    start)
        count="${2:-}"
        [[ "$count" =~ ^[1-9][0-9]*$ ]] || die "usage: $0 start N [ARGS...]"
        shift 2
        mkdir -p "$cluster_dir"
        cluster_dir="$(cd "$cluster_dir" && pwd)"
        if [ -f "$cluster_dir/nodes" ]; then
            for i in $(seq 1 "$(cat "$cluster_dir/nodes")"); do
                running "$i" && die "node $i is already running; run: $0 stop"
            done
        fi
        echo "$count" >"$cluster_dir/nodes"
        printf '%s ' "$@" >"$cluster_dir/args"
        for i in $(seq 1 "$count"); do launch "$i" "$count"; done
        for i in $(seq 1 "$count"); do wait_listening "$i"; done
        for i in $(seq 1 "$count"); do echo "http://127.0.0.1:$(http_port "$i")"; done
        ;;
    kill)
        i="${2:-}"; count="$(nodes)"
        [[ "$i" =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$count" ] || die "usage: $0 kill I (1..$count)"
        running "$i" && kill -KILL "$(cat "$(pid_file "$i")")"
        echo "node $i killed"
        ;;
    restart)
        i="${2:-}"; count="$(nodes)"
        [[ "$i" =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$count" ] || die "usage: $0 restart I (1..$count)"
        cluster_dir="$(cd "$cluster_dir" && pwd)"
        if running "$i"; then
            kill -KILL "$(cat "$(pid_file "$i")")"
            while running "$i"; do sleep 0.05; done
        fi
        launch "$i" "$count"
        wait_listening "$i"
        echo "http://127.0.0.1:$(http_port "$i")"
        ;;
    status)
        count="$(nodes)"
        for i in $(seq 1 "$count"); do
            if running "$i"; then
                view="$(exec 3<>"/dev/tcp/127.0.0.1/$(http_port "$i")" && \
                    printf 'GET /_shoal/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3 && \
                    sed '1,/^\r$/d' <&3)" || view="(no answer)"
                echo "node $i pid $(cat "$(pid_file "$i")") http://127.0.0.1:$(http_port "$i") $view"
            else
                echo "node $i down"
            fi
        done
        ;;
    stop)
        count="$(nodes)"
        for i in $(seq 1 "$count"); do running "$i" && kill -TERM "$(cat "$(pid_file "$i")")"; done
        deadline=$((SECONDS + 30))
        for i in $(seq 1 "$count"); do
            while running "$i" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
            running "$i" && kill -KILL "$(cat "$(pid_file "$i")")"
        done
        echo "stopped"
        ;;
    *)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
