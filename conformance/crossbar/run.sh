#!/usr/bin/env bash
# Runs wamp-conformance against Crossbar (the reference router), on loopback, over
# WebSocket and RawSocket with every serializer. Reports go to target/conformance/.
#
# Usage: conformance/crossbar/run.sh   (from anywhere; installs Crossbar in a venv)
# CROSSBAR_VERSION overrides the pinned version.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
version="${CROSSBAR_VERSION:-26.10.1}"
venv="$root/target/crossbar-venv"
out="$root/target/conformance"
mkdir -p "$out"

if [ ! -x "$venv/bin/crossbar" ]; then
    echo "installing Crossbar $version into $venv (takes a few minutes)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "crossbar==$version"
fi
cargo build --quiet -p nexus-conformance --bin wamp-conformance

ports=$(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
)
read -r ws_port rs_port <<<"$ports"
cbdir=$(mktemp -d)
mkdir -p "$cbdir/.crossbar"
sed -e "s/@WS_PORT@/$ws_port/" -e "s/@RS_PORT@/$rs_port/" conformance/crossbar/config.json.in > "$cbdir/.crossbar/config.json"

"$venv/bin/crossbar" start --cbdir "$cbdir/.crossbar" --loglevel warn > "$out/crossbar.log" 2>&1 &
cb_pid=$!
cleanup() {
    "$venv/bin/crossbar" stop --cbdir "$cbdir/.crossbar" >/dev/null 2>&1 || kill "$cb_pid" 2>/dev/null || true
    wait "$cb_pid" 2>/dev/null || true
    rm -rf "$cbdir"
}
trap cleanup EXIT

# Wait (at most 60 s) until both transports accept connections.
python3 - "$ws_port" "$rs_port" <<'PY'
import socket, sys, time
deadline = time.time() + 60
for port in map(int, sys.argv[1:]):
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline:
                sys.exit(f"Crossbar did not open port {port} within 60 s")
            time.sleep(0.2)
PY

agent=$("$venv/bin/crossbar" version 2>/dev/null | grep -m1 'Crossbar.io  ' | awk '{print $NF}')
echo "Crossbar $agent on ws://127.0.0.1:$ws_port/ws and tcp://127.0.0.1:$rs_port"
status=0
for url in "ws://127.0.0.1:$ws_port/ws" "tcp://127.0.0.1:$rs_port"; do
    kind=${url%%:*}
    for serializer in json msgpack cbor; do
        name="crossbar-$kind-$serializer"
        if target/debug/wamp-conformance --url "$url" --realm realm1 --serializer "$serializer" \
            --json "$out/$name.json" > "$out/$name.md"; then
            result=ok
        else
            result=failures
            status=1
        fi
        echo "$name: $(tail -n 1 "$out/$name.md") ($result)"
    done
done
exit $status
