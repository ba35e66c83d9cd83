# Shared by scripts/bench/{nats,rabbitmq}.sh (sourced): the pids and the stop of three nodes
# whose pid files are "$dir/$prefix$I/pid" for I in 1..3.

# node_running PREFIX I: whether node I's process runs.
node_running() { [ -f "$dir/$1$2/pid" ] && kill -0 "$(cat "$dir/$1$2/pid" 2>/dev/null)" 2>/dev/null; }

# node_pids PREFIX: the running nodes' pids, comma-separated.
node_pids() {
    local pids="" i
    for i in 1 2 3; do node_running "$1" "$i" && pids="${pids:+$pids,}$(cat "$dir/$1$i/pid")"; done
    echo "$pids"
}

# stop_nodes PREFIX: SIGTERM, up to 30 s, then SIGKILL; waits on the processes themselves (a node
# removes its pid file before it has exited), then deletes $dir.
stop_nodes() {
    local pids=() pid i deadline
    for i in 1 2 3; do node_running "$1" "$i" && pids+=("$(cat "$dir/$1$i/pid")"); done
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    deadline=$((SECONDS + 30))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
    rm -rf "$dir" 2>/dev/null || { sleep 1; rm -rf "$dir"; }
    echo "stopped"
}
