#!/usr/bin/env bash
# Runs wamp-conformance against Crossbar (the reference router), on loopback, over
# WebSocket and RawSocket with every serializer. Reports go to target/conformance/.
#
# Usage: conformance/crossbar/run.sh   (from anywhere; installs Crossbar in a venv)
# CROSSBAR_VERSION overrides the pinned version.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
out="$root/target/conformance"
mkdir -p "$out"
# shellcheck source=conformance/crossbar/lib.sh
source conformance/crossbar/lib.sh
cargo build --quiet -p nexus-conformance --bin wamp-conformance
# The binary is wherever cargo builds it (CARGO_TARGET_DIR, if set).
bin="${CARGO_TARGET_DIR:-target}/debug"
trap crossbar_stop EXIT
crossbar_start
echo "Crossbar $CB_VERSION on $CB_WS_URL and $CB_RS_URL"
status=0
for url in "$CB_WS_URL" "$CB_RS_URL"; do
    kind=${url%%:*}
    for serializer in json msgpack cbor; do
        name="crossbar-$kind-$serializer"
        if "$bin/wamp-conformance" --url "$url" --realm realm1 --serializer "$serializer" \
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
