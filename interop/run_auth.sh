#!/usr/bin/env bash
# Authentication interoperability with autobahn-python (interop/autobahn_auth.py): the
# virtualenv of run.sh (target/interop-venv, interop/requirements.txt), a debug build of
# nexusd, then the scenarios (arguments are passed on, e.g. `-k cookie`).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
venv=target/interop-venv
python="${PYTHON:-python3}"
pip_args=(install --quiet --disable-pip-version-check -r interop/requirements.txt)

if [ ! -x "$venv/bin/pip" ]; then
    rm -rf "$venv"
    mkdir -p target
    "$python" -m venv "$venv" >/dev/null 2>&1 || rm -rf "$venv"
fi
if [ -x "$venv/bin/pip" ]; then
    python="$venv/bin/python"
else
    echo "run_auth.sh: no venv module; installing into the user site" >&2
    pip_args+=(--user)
fi
"$python" -m pip "${pip_args[@]}"

cargo build --quiet -p nexusd --bin nexusd

exec "$python" interop/autobahn_auth.py --nexusd "$target/debug/nexusd" "$@"
