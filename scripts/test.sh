#!/usr/bin/env bash
# README command 2: set up the machine, build everything, run the Rust tests and the Python smoke
# tests against the real binary. Honours CARGO_TARGET_DIR. Exits non-zero on any failure.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash scripts/setup.sh
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi

echo "test: cargo build --workspace --all-targets"
cargo build --workspace --all-targets

if cargo nextest --version >/dev/null 2>&1; then
    echo "test: cargo nextest run --workspace"
    cargo nextest run --workspace --no-tests=warn
else
    echo "test: cargo test --workspace"
    cargo test --workspace
fi

target_dir="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
shoal_bin="$target_dir/debug/shoal"
[ -x "$shoal_bin" ] || { echo "test: error: $shoal_bin was not built" >&2; exit 1; }

echo "test: pytest tests/smoke (SHOAL_BIN=$shoal_bin)"
SHOAL_BIN="$shoal_bin" .venv/bin/pytest -q -p no:cacheprovider tests/smoke
