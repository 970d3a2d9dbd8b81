# Starting and stopping Crossbar on loopback, for conformance/crossbar/run.sh and
# conformance/bench-compare.sh. Source it from the repository root.
#
# crossbar_start sets CB_WS_URL, CB_RS_URL, CB_WS_PORT, CB_RS_PORT, CB_VERSION; crossbar_halt
# and crossbar_resume stop it and start it again on the same ports; crossbar_stop stops it.

CROSSBAR_VERSION="${CROSSBAR_VERSION:-26.10.1}"
cb_venv="$PWD/target/crossbar-venv"

crossbar_install() {
    if [ ! -x "$cb_venv/bin/crossbar" ]; then
        echo "installing Crossbar $CROSSBAR_VERSION into $cb_venv (takes a few minutes)" >&2
        python3 -m venv "$cb_venv"
        "$cb_venv/bin/pip" install --quiet --disable-pip-version-check "crossbar==$CROSSBAR_VERSION" >&2
    fi
}

crossbar_start() {
    crossbar_install
    local ports ws_port rs_port
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
    CB_WS_PORT=$ws_port
    CB_RS_PORT=$rs_port
    cb_dir=$(mktemp -d)
    mkdir -p "$cb_dir/.crossbar"
    sed -e "s/@WS_PORT@/$ws_port/" -e "s/@RS_PORT@/$rs_port/" conformance/crossbar/config.json.in \
        > "$cb_dir/.crossbar/config.json"
    mkdir -p target/conformance
    "$cb_venv/bin/crossbar" start --cbdir "$cb_dir/.crossbar" --loglevel warn \
        > target/conformance/crossbar.log 2>&1 &
    cb_pid=$!
    crossbar_wait_ports "$ws_port" "$rs_port"
    CB_WS_URL="ws://127.0.0.1:$ws_port/ws"
    CB_RS_URL="tcp://127.0.0.1:$rs_port"
    CB_VERSION=$("$cb_venv/bin/crossbar" version 2>/dev/null | grep -m1 'Crossbar.io  ' | awk '{print $NF}')
}

# Waits (at most 60 s) until every given port on loopback accepts connections.
crossbar_wait_ports() {
    python3 - "$@" <<'PY'
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
            time.sleep(0.1)
PY
}

# Stops Crossbar (its sessions get GOODBYE) but keeps its configuration, for crossbar_resume.
crossbar_halt() {
    "$cb_venv/bin/crossbar" stop --cbdir "$cb_dir/.crossbar" >/dev/null 2>&1 || kill "$cb_pid" 2>/dev/null || true
    wait "$cb_pid" 2>/dev/null || true
}

# Starts a halted Crossbar again on the same ports; returns once it accepts connections.
crossbar_resume() {
    "$cb_venv/bin/crossbar" start --cbdir "$cb_dir/.crossbar" --loglevel warn \
        >> target/conformance/crossbar.log 2>&1 &
    cb_pid=$!
    crossbar_wait_ports "$CB_WS_PORT" "$CB_RS_PORT"
}

crossbar_stop() {
    if [ -n "${cb_pid:-}" ]; then
        "$cb_venv/bin/crossbar" stop --cbdir "$cb_dir/.crossbar" >/dev/null 2>&1 || kill "$cb_pid" 2>/dev/null || true
        wait "$cb_pid" 2>/dev/null || true
        rm -rf "$cb_dir"
        cb_pid=""
    fi
}
