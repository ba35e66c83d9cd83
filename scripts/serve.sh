#!/usr/bin/env bash
# README command 1: set up the machine, build the release binary and run a single-node broker.
# Arguments are passed to `shoal serve` (defaults: --http-addr 127.0.0.1:9324, --data-dir ./shoal-data,
# relative to the directory you start this script from).
set -euo pipefail

caller_dir="$(pwd)"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash scripts/setup.sh
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi

echo "serve: cargo build --release -p shoal-node"
cargo build --release -p shoal-node

target_dir="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
binary="$target_dir/release/shoal"
[ -x "$binary" ] || { echo "serve: error: $binary was not built" >&2; exit 1; }

cd "$caller_dir"
echo "serve: exec $binary serve $*"
exec "$binary" serve "$@"
