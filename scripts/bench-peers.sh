#!/usr/bin/env bash
# The peer benchmark: Shoal against RabbitMQ quorum queues and NATS JetStream, three nodes each on
# this machine, driven by the same load generator (bench/loadgen), one fresh cluster per run and
# the systems interleaved. See bench/README.md.
#
#   scripts/bench-peers.sh
#
# Runs, for each system: batch 10 unpaced; a rate sweep at batch 10 (a binary search on a log
# scale for the highest paced rate held); batch 1 unpaced. Prints one markdown table on stdout,
# progress on stderr; raw JSON per run in $BENCH_OUT (default bench/bench-results/<date>).
# Settings (environment): BENCH_SYSTEMS ("shoal rabbitmq nats"), BENCH_WARMUP (10), BENCH_SECONDS
# (30), BENCH_SWEEP_WARMUP (5), BENCH_SWEEP_SECONDS (15), BENCH_SWEEP_STEPS (5), BENCH_RATE_LO
# (1000), BENCH_RATE_HI (20000), BENCH_PRODUCERS (4), BENCH_CONSUMERS (4), SHOAL_BIN (otherwise
# $HOME/.cache/shoal-target/release/shoal, built if missing, copied to /tmp/shoal-bench-bin).
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
systems=(${BENCH_SYSTEMS:-shoal rabbitmq nats})
warmup="${BENCH_WARMUP:-10}"
seconds="${BENCH_SECONDS:-30}"
sweep_warmup="${BENCH_SWEEP_WARMUP:-5}"
sweep_seconds="${BENCH_SWEEP_SECONDS:-15}"
sweep_steps="${BENCH_SWEEP_STEPS:-5}"
rate_lo="${BENCH_RATE_LO:-1000}"
rate_hi="${BENCH_RATE_HI:-20000}"
producers="${BENCH_PRODUCERS:-4}"
consumers="${BENCH_CONSUMERS:-4}"
out="${BENCH_OUT:-$repo_root/bench/bench-results/$(date +%Y%m%d-%H%M%S)}"
export BENCH_DIR="${BENCH_DIR:-/tmp/shoal-bench}"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- what the runs need -----------------------------------------------------------------------
"$repo_root/scripts/bench/setup.sh" >&2
loadgen_target="${LOADGEN_TARGET_DIR:-$HOME/.cache/shoal-loadgen-target}"
(cd bench/loadgen && CARGO_TARGET_DIR="$loadgen_target" cargo build --release --quiet >&2)
loadgen="$loadgen_target/release/loadgen"
if [ -z "${SHOAL_BIN:-}" ]; then
    built="$HOME/.cache/shoal-target/release/shoal"
    if [ ! -x "$built" ]; then
        log "building shoal (release)"
        CARGO_TARGET_DIR="$HOME/.cache/shoal-target" cargo build --release -p shoal-node >&2
    fi
    mkdir -p /tmp/shoal-bench-bin
    cp "$built" /tmp/shoal-bench-bin/shoal.new && mv /tmp/shoal-bench-bin/shoal.new /tmp/shoal-bench-bin/shoal
    export SHOAL_BIN=/tmp/shoal-bench-bin/shoal
fi
mkdir -p "$out"
{
    echo "shoal: repo HEAD $(git -C "$repo_root" rev-parse --short HEAD)," \
        "$(git -C "$repo_root" status --porcelain --untracked-files=no | wc -l) tracked files changed in the work tree now;" \
        "binary $SHOAL_BIN modified $(stat -c %y "$SHOAL_BIN")"
    dpkg-query -W -f='rabbitmq-server ${Version}\n' rabbitmq-server
    "$repo_root/.venv/bin/nats-server" --version
    echo "nproc $(nproc), $(free -g | awk '/Mem:/ {print $2}') GiB"
} >"$out/versions.txt"
log "results in $out"

script_of() {
    case "$1" in
        shoal) echo "$repo_root/scripts/bench/shoal.sh" ;;
        rabbitmq) echo "$repo_root/scripts/bench/rabbitmq.sh" ;;
        nats) echo "$repo_root/scripts/bench/nats.sh" ;;
    esac
}
protocol_of() {
    case "$1" in shoal) echo sqs ;; rabbitmq) echo amqp ;; nats) echo nats ;; esac
}

cleanup() { for s in "${systems[@]}"; do "$(script_of "$s")" stop >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

# run SYSTEM NAME BATCH RATE WARMUP SECONDS: a fresh cluster, one loadgen run, the cluster stopped.
run() {
    local system="$1" name="$2" batch="$3" rate="$4" w="$5" s="$6" script endpoints pids file
    script="$(script_of "$system")"
    file="$out/$system-$name.json"
    "$script" stop >/dev/null 2>&1 || true
    endpoints="$("$script" start | paste -sd, -)"
    pids="$("$script" pids)"
    log "$system $name: batch $batch rate $rate; load $(cut -d' ' -f1-3 /proc/loadavg)"
    if ! "$loadgen" --system "$(protocol_of "$system")" --endpoints "$endpoints" --producers "$producers" \
        --consumers "$consumers" --batch "$batch" --rate "$rate" --warmup "$w" --seconds "$s" \
        --server-pids "$pids" --label "$name" --json "$file" >/dev/null; then
        log "$system $name: loadgen failed"
        rm -f "$file"
    fi
    "$script" stop >/dev/null
}

# held FILE: whether a paced run held its rate (bench/README.md).
held() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rate = r["rate_target"]
ok = (r["sent_per_s"] >= 0.95 * rate and r["backlog_end"] <= 0.5 * rate
      and r["backlog_growth_last"] <= 0.1 * rate)
sys.exit(0 if ok else 1)
PY
}

# 1. batch 10, unpaced
for system in "${systems[@]}"; do run "$system" b10-unpaced 10 unpaced "$warmup" "$seconds"; done

# 2. the rate sweep, one step of each system's search at a time
declare -A lo hi
for system in "${systems[@]}"; do lo[$system]="$rate_lo"; hi[$system]="$rate_hi"; done
for step in $(seq "$sweep_steps"); do
    for system in "${systems[@]}"; do
        rate="$(python3 -c "import math; print(int(round(math.sqrt(${lo[$system]} * ${hi[$system]}) / 100) * 100))")"
        run "$system" "b10-rate-$rate" 10 "$rate" "$sweep_warmup" "$sweep_seconds"
        if [ -f "$out/$system-b10-rate-$rate.json" ] && held "$out/$system-b10-rate-$rate.json"; then
            lo[$system]="$rate"
            log "$system held $rate msg/s"
        else
            hi[$system]="$rate"
            log "$system did not hold $rate msg/s"
        fi
    done
done

# 3. batch 1, unpaced
for system in "${systems[@]}"; do run "$system" b1-unpaced 1 unpaced "$warmup" "$seconds"; done

# The table.
python3 - "$out" "${systems[@]}" <<'PY'
import glob, json, os, sys
out, systems = sys.argv[1], sys.argv[2:]

def held(r):
    rate = r["rate_target"]
    return (r["sent_per_s"] >= 0.95 * rate and r["backlog_end"] <= 0.5 * rate
            and r["backlog_growth_last"] <= 0.1 * rate)

def num(v, fmt="{:,.0f}"):
    return "-" if v is None else fmt.format(v)

print("| system | run | target msg/s | sent msg/s | consumed msg/s | p50 ms | p99 ms | backlog end "
      "| growth last 10 s | held | client CPU s | servers CPU s | servers RSS MiB | load 1/5/15 |")
print("|" + "---|" * 14)
for system in systems:
    runs = []
    for path in glob.glob(os.path.join(out, f"{system}-*.json")):
        runs.append(json.load(open(path)))
    order = lambda r: (0 if r["label"] == "b10-unpaced" else 2 if r["label"] == "b1-unpaced" else 1,
                       r["rate_target"] or 0)
    best = None
    for r in sorted(runs, key=order):
        paced = r["rate_target"] is not None
        ok = held(r) if paced else None
        if ok:
            best = max(best or 0, r["rate_target"])
        print(f"| {system} | {r['label']} | {num(r['rate_target'])} | {num(r['sent_per_s'])} "
              f"| {num(r['consumed_per_s'])} | {num(r['latency_p50_ms'], '{:.1f}')} "
              f"| {num(r['latency_p99_ms'], '{:.1f}')} | {num(r['backlog_end'])} "
              f"| {num(r['backlog_growth_last'], '{:+,.0f}')} | {'-' if ok is None else 'yes' if ok else 'no'} "
              f"| {num(r['client_cpu_s'], '{:.1f}')} | {num(r['server_cpu_s'], '{:.1f}')} "
              f"| {num(r['server_rss_mib'])} | {r['loadavg_before']} |")
    failed = [r["rate_target"] for r in runs if r["rate_target"] is not None and not held(r)
              and r["rate_target"] > (best or 0)]
    summary = num(best) if best else f"below {num(min(failed))}" if failed else "-"
    print(f"| {system} | **highest rate held** | **{summary}** "
          f"| | | | | | | {'lowest not held: ' + num(min(failed)) if failed else ''} | | | | |")
PY
log "done; raw results in $out"
