#!/usr/bin/env bash
# Idempotent setup for a fresh Debian 12 machine (run as root): system packages for building
# RocksDB, a check for the preinstalled Rust toolchain, and the Python venv used by the smoke
# tests. Installs only what is missing; safe to run before every build.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

# Exact versions verified to install together (awscli pins the botocore that boto3 accepts).
python_packages=(boto3==1.44.5 awscli==1.46.3 pytest==9.2.0)
apt_packages=(libclang-dev clang pkg-config build-essential protobuf-compiler libfaketime fonts-dejavu-core iptables util-linux)
venv_dir="$repo_root/.venv"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

apt_updated=0
apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        die "missing Debian packages ($*); run this script as root or install them with apt-get"
    fi
    if [ "$apt_updated" -eq 0 ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# 1. System packages.
if command -v dpkg-query >/dev/null 2>&1; then
    missing=()
    for package in "${apt_packages[@]}"; do
        is_installed "$package" || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
    say "system packages present (${apt_packages[*]})"
else
    say "not a Debian system: skipping apt packages (${apt_packages[*]} must be installed by hand)"
fi

# 2. Rust toolchain: preinstalled, never downloaded here.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 \
    || die "cargo not found on PATH (nor in \$HOME/.cargo/bin); install a Rust toolchain first"
say "$(cargo --version)"

# 3. Python venv for the smoke tests.
command -v python3 >/dev/null 2>&1 || apt_install python3
if [ -x "$venv_dir/bin/python" ] && "$venv_dir/bin/python" -c 'import sys' >/dev/null 2>&1; then
    say "venv present at .venv"
else
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        apt_install python3-venv
    fi
    rm -rf "$venv_dir"
    say "creating venv at .venv"
    python3 -m venv "$venv_dir"
fi

pins_satisfied() {
    "$venv_dir/bin/python" - "$@" <<'PY'
import sys
from importlib import metadata
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    try:
        if metadata.version(name) != version:
            sys.exit(1)
    except metadata.PackageNotFoundError:
        sys.exit(1)
PY
}

if pins_satisfied "${python_packages[@]}"; then
    say "python packages present (${python_packages[*]})"
else
    say "pip install ${python_packages[*]}"
    "$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check "${python_packages[@]}"
    pins_satisfied "${python_packages[@]}" || die "pinned python packages did not install"
fi

say "done"
