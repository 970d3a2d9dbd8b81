#!/usr/bin/env bash
# The reconnecting nexus client against a Crossbar that restarts: examples/reconnect_probe.rs
# registers, subscribes and leaves a call in flight over WebSocket and RawSocket; this script
# then stops Crossbar (crossbar stop: its sessions get GOODBYE and the sockets close), starts
# it again on the same ports, and tells the probe when it accepts connections. The probe
# checks that the call in flight ended with ConnectionLost, the event streams marked the gap,
# and that within a second of Crossbar's return the registration and subscription are back
# and calls and events flow.
#
# Usage: interop/crossbar-restart/run.sh   (from anywhere; exits non-zero on failure). Installs
# Crossbar into target/crossbar-venv on first use (conformance/crossbar/lib.sh). Logs go to
# target/interop/crossbar-restart.log.probe and target/conformance/crossbar.log.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck source=../../conformance/crossbar/lib.sh
source conformance/crossbar/lib.sh

cargo build --quiet -p nexus-examples --example reconnect_probe
target_dir="${CARGO_TARGET_DIR:-$root/target}"
probe="$target_dir/debug/examples/reconnect_probe"
mkdir -p target/interop
log="$root/target/interop/crossbar-restart.log"

crossbar_start
trap crossbar_stop EXIT
echo "Crossbar $CB_VERSION on $CB_WS_URL and $CB_RS_URL"

# The probe talks on a pipe: its stdout lines to us, our `restarted` to its stdin.
coproc PROBE { "$probe" "$CB_WS_URL" "$CB_RS_URL" 2>"$log.probe"; }
probe_pid=$PROBE_PID
expect() {
    local want=$1 line
    while IFS= read -r -t 120 line <&"${PROBE[0]}"; do
        echo "probe: $line"
        case "$line" in
            "$want"*) return 0 ;;
            FAILED*) return 1 ;;
        esac
    done
    echo "the probe stopped before saying $want" >&2
    return 1
}

expect ready
echo "stopping Crossbar"
crossbar_halt
expect away
echo "starting Crossbar again on the same ports"
crossbar_resume
echo restarted >&"${PROBE[1]}"
status=0
expect "ok $CB_WS_URL" || status=1
if [ "$status" = 0 ]; then expect "ok $CB_RS_URL" || status=1; fi
wait "$probe_pid" || status=1
if [ "$status" != 0 ]; then
    echo "the reconnecting client failed against Crossbar; the probe's log:" >&2
    tail -n 40 "$log.probe" >&2 || true
    exit 1
fi
echo "the reconnecting client survived a Crossbar restart (WebSocket and RawSocket)"
