#!/usr/bin/env bash
# Authentication interop against Crossbar: the nexus client authenticates with ticket,
# WAMP-CRA (plain and salted), cryptosign (with and without router authentication) and
# SCRAM (Argon2id and PBKDF2), checks each WELCOME, and expects ABORT for wrong secrets;
# then by cookie (a WebSocket path with a cookie store: the first session logs in by ticket,
# the next ones present the cookie) and by TLS client certificate (a TLS transport with the
# client's self-signed certificate as CA, certificates made by principals.py).
#
# Usage: interop/crossbar-auth/run.sh   (from anywhere; non-interactive; exits non-zero on
# failure). Installs Crossbar into target/crossbar-venv on first use (a few minutes; the
# recipe is conformance/crossbar/lib.sh); CROSSBAR_VENV points at an existing one instead.
# Crossbar's log goes to target/interop/crossbar-auth.log.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

CROSSBAR_VERSION="${CROSSBAR_VERSION:-26.10.1}"
venv="${CROSSBAR_VENV:-$root/target/crossbar-venv}"
if [ ! -x "$venv/bin/crossbar" ]; then
    echo "installing Crossbar $CROSSBAR_VERSION into $venv (takes a few minutes)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "crossbar==$CROSSBAR_VERSION" >&2
fi

cargo build --quiet -p nexus-examples --example crossbar_auth
target_dir="${CARGO_TARGET_DIR:-$root/target}"
program="$target_dir/debug/examples/crossbar_auth"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
tls_port=$(free_port)
while [ "$tls_port" = "$port" ]; do tls_port=$(free_port); done
cbdir=$(mktemp -d)
mkdir -p "$cbdir/.crossbar" target/interop
log="$root/target/interop/crossbar-auth.log"
"$venv/bin/python" interop/crossbar-auth/principals.py "$port" "$tls_port" "$cbdir/.crossbar" \
    < interop/crossbar-auth/config.json.in > "$cbdir/.crossbar/config.json"

"$venv/bin/crossbar" start --cbdir "$cbdir/.crossbar" --loglevel warn > "$log" 2>&1 &
cb_pid=$!
stop() {
    "$venv/bin/crossbar" stop --cbdir "$cbdir/.crossbar" > /dev/null 2>&1 || kill "$cb_pid" 2> /dev/null || true
    wait "$cb_pid" 2> /dev/null || true
    rm -rf "$cbdir"
}
trap stop EXIT

# Wait (at most 60 s) for the transports.
python3 - "$port" "$tls_port" <<'PY'
import socket, sys, time
deadline = time.time() + 60
for port in sys.argv[1:]:
    while True:
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline:
                sys.exit("Crossbar did not open port %s within 60 s" % port)
            time.sleep(0.2)
PY

# The node's public key (Crossbar writes key.pub on first start), for router authentication.
router_key=$(sed -n 's/^public-key-ed25519: *//p' "$cbdir/.crossbar/key.pub" | head -n 1)
version=$("$venv/bin/crossbar" version 2> /dev/null | grep -m1 'Crossbar.io  ' | awk '{print $NF}' || true)
echo "Crossbar ${version:-?} on ws://127.0.0.1:$port/ws (node key ${router_key:-unknown})"
echo "cookie path ws://127.0.0.1:$port/cookie, TLS transport wss://127.0.0.1:$tls_port/ws"
"$program" "ws://127.0.0.1:$port/ws" ${router_key:+"$router_key"} \
    --cookie "ws://127.0.0.1:$port/cookie" \
    --tls "wss://127.0.0.1:$tls_port/ws" "$cbdir/.crossbar"
