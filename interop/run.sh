#!/usr/bin/env bash
# The interoperability test against autobahn-python, as CI runs it (from a fresh clone):
# a virtualenv in target/interop-venv with interop/requirements.txt, a debug build of nexusd
# and the Rust interop peer, then interop/autobahn_interop.py (arguments are passed on,
# e.g. `interop/run.sh -k rpc@ws` runs only the matching scenarios).
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
    echo "run.sh: no venv module; installing into the user site" >&2
    pip_args+=(--user)
fi
"$python" -m pip "${pip_args[@]}"

cargo build --quiet -p nexusd -p nexus-examples --bin nexusd --example interop_peer

exec "$python" interop/autobahn_interop.py \
    --nexusd "$target/debug/nexusd" --peer "$target/debug/examples/interop_peer" "$@"
