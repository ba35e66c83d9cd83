#!/usr/bin/env bash
# Three RabbitMQ nodes on loopback, joined into one cluster, for the peer benchmark.
#
#   scripts/bench/rabbitmq.sh start   start rabbit1..3@localhost, join 2 and 3 to 1; prints the
#                                     three AMQP URLs, one per line
#   scripts/bench/rabbitmq.sh pids    the nodes' Erlang VM (beam.smp) pids, comma-separated
#   scripts/bench/rabbitmq.sh stop    stop the nodes and delete their data
#
# Node I listens for AMQP on 127.0.0.1:$((BENCH_RABBIT_BASE_PORT + I)) (base 5680) and for Erlang
# distribution on the port 20000 above it. Data, logs, pid files and the shared Erlang cookie
# live under $BENCH_DIR/rabbitmq (BENCH_DIR default /tmp/shoal-bench). Uses Debian's
# rabbitmq-server (scripts/bench/setup.sh) with the default configuration otherwise.
set -euo pipefail
dir="${BENCH_DIR:-/tmp/shoal-bench}/rabbitmq"
base="${BENCH_RABBIT_BASE_PORT:-5680}"
bin=/usr/lib/rabbitmq/bin
die() { printf 'rabbitmq.sh: error: %s\n' "$*" >&2; exit 1; }

node_env() {
    local i="$1"
    echo HOME="$dir/home" \
        RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
        RABBITMQ_NODENAME="rabbit$i@localhost" \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT=$((base + i)) \
        RABBITMQ_DIST_PORT=$((base + i + 20000)) \
        RABBITMQ_MNESIA_BASE="$dir/node$i/mnesia" \
        RABBITMQ_LOG_BASE="$dir/node$i/log" \
        RABBITMQ_PID_FILE="$dir/node$i/pid" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
        RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
}
ctl() {
    local i="$1"; shift
    # shellcheck disable=SC2046
    env $(node_env "$i") "$bin/rabbitmqctl" -n "rabbit$i@localhost" "$@"
}
# shellcheck source=scripts/bench/nodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/nodes.sh"
running() { node_running node "$1"; }

case "${1:-}" in
    start)
        for i in 1 2 3; do running "$i" && die "node $i is already running; run: $0 stop"; done
        rm -rf "$dir"
        mkdir -p "$dir/home"
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/home/.erlang.cookie"
        chmod 400 "$dir/home/.erlang.cookie"
        : >"$dir/rabbitmq-env.conf"
        echo '[].' >"$dir/enabled_plugins"
        # The three nodes find each other at boot (classic config peer discovery): the node that
        # boots first forms the cluster, the others join it.
        {
            printf 'loopback_users = none\nlog.console = false\nlog.file.level = warning\n'
            printf 'cluster_formation.peer_discovery_backend = classic_config\n'
            for i in 1 2 3; do printf 'cluster_formation.classic_config.nodes.%s = rabbit%s@localhost\n' "$i" "$i"; done
        } >"$dir/rabbitmq.conf"
        for i in 1 2 3; do
            mkdir -p "$dir/node$i/log"
            # shellcheck disable=SC2046
            nohup env $(node_env "$i") "$bin/rabbitmq-server" >"$dir/node$i/stdout" 2>&1 </dev/null &
        done
        # await_startup fails at once while the node has not registered with epmd yet: retry it.
        deadline=$((SECONDS + 180))
        for i in 1 2 3; do
            until ctl "$i" await_startup --timeout 60 >/dev/null 2>&1; do
                [ "$SECONDS" -lt "$deadline" ] || die "node $i did not start; see $dir/node$i"
                sleep 1
            done
        done
        members="$(ctl 1 cluster_status --formatter json | grep -o '"running_nodes":\[[^]]*\]')"
        for i in 1 2 3; do
            [[ "$members" == *"rabbit$i@localhost"* ]] && continue
            # Not joined at boot (it formed a cluster of its own): join it by hand.
            ctl "$i" stop_app >/dev/null
            ctl "$i" reset >/dev/null
            ctl "$i" join_cluster rabbit1@localhost >/dev/null
            ctl "$i" start_app >/dev/null
            ctl "$i" await_startup --timeout 120 >/dev/null
        done
        members="$(ctl 1 cluster_status --formatter json | grep -o '"running_nodes":\[[^]]*\]')"
        for i in 1 2 3; do
            [[ "$members" == *"rabbit$i@localhost"* ]] || die "rabbit$i is not in the cluster: $members"
        done
        for i in 1 2 3; do echo "amqp://guest:guest@127.0.0.1:$((base + i))/%2f"; done
        ;;
    pids)
        node_pids node
        ;;
    stop)
        stop_nodes node
        ;;
    *)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
