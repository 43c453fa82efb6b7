#!/usr/bin/env bash
# Installs everything the README's commands need on a Debian machine with Python 3.11:
# PostgreSQL server binaries, pgTAP, pg_prove, Node.js and npm from Debian's packages when
# they are missing, a virtual environment (.venv) holding pgeventstore and its test tools,
# and the Node.js example's packages (examples/node/node_modules, from package-lock.json).
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "bootstrap: need root (or sudo) to run: $*" >&2; exit 1
    fi
}

apt_updated=no
apt_install() {
    if [ "$apt_updated" = no ]; then as_root apt-get update -qq; apt_updated=yes; fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@"
}

pg_major() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1; }

if [ -z "$(pg_major)" ] || [ ! -x "/usr/lib/postgresql/$(pg_major)/bin/initdb" ]; then
    apt_install postgresql
fi
major=$(pg_major)
missing=()
[ -f "/usr/share/postgresql/$major/extension/pgtap.control" ] || missing+=("postgresql-$major-pgtap")
[ -f "/usr/share/postgresql/$major/extension/plproxy.control" ] || missing+=("postgresql-$major-plproxy")
command -v pg_prove >/dev/null || missing+=(pgtap)
command -v pg_dump >/dev/null || missing+=("postgresql-client-$major")
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv 2>/dev/null || { apt_install python3-venv; python3 -m venv .venv; }
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
(cd examples/node && npm ci --no-audit --no-fund --loglevel=error)
