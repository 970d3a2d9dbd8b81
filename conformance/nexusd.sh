#!/usr/bin/env bash
# Runs wamp-conformance against nexusd over WebSocket and RawSocket with every serializer.
# Everything nexusd announces must pass. Reports go to target/conformance/.
#
# Usage: conformance/nexusd.sh   (from anywhere)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/target/conformance"
mkdir -p "$out"
# The binaries are wherever cargo builds them (CARGO_TARGET_DIR, if set).
bin="${CARGO_TARGET_DIR:-target}/debug"
cargo build --quiet -p nexusd -p nexus-conformance --bin nexusd --bin wamp-conformance

log="$out/nexusd.log"
fifo=$(mktemp -u)
mkfifo "$fifo"
"$bin/nexusd" --config conformance/nexusd.toml --listen ws://127.0.0.1:0/ws --listen tcp://127.0.0.1:0 >"$fifo" 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$fifo"' EXIT
exec 3<"$fifo"
urls=()
for _ in 1 2; do
    if ! read -r -t 30 line <&3; then
        echo "nexusd did not start (see $log)"
        exit 1
    fi
    urls+=("${line#listening on }")
done

status=0
for url in "${urls[@]}"; do
    kind=${url%%:*}
    for serializer in json msgpack cbor; do
        name="nexusd-$kind-$serializer"
        # nexusd.toml denies this prefix to anonymous sessions: the authorization group runs.
        if "$bin/wamp-conformance" --url "$url" --realm realm1 --serializer "$serializer" \
            --authz-denied-prefix com.conformance.denied. \
            --json "$out/$name.json" > "$out/$name.md"; then
            echo "$name: $(tail -n 1 "$out/$name.md")"
        else
            echo "$name: FAILED"
            grep -E '^\| FAIL' "$out/$name.md" || cat "$out/$name.md"
            status=1
        fi
    done
done
kill -TERM "$pid"
wait "$pid" || { echo "nexusd did not exit cleanly"; status=1; }
exit $status
