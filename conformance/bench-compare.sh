#!/usr/bin/env bash
# The end-to-end table of BENCHMARKS.md: nexusd and Crossbar measured with wamp-bench in
# the same run on the same machine, RPC (1 and 100 calls in flight) and pub/sub (1, 10 and
# 100 subscribers), over WebSocket/JSON and RawSocket/MessagePack. Prints one markdown table.
#
#   conformance/bench-compare.sh              # 10 s per run after 2 s of warm-up
#   DURATION=5 conformance/bench-compare.sh   # shorter
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=conformance/crossbar/lib.sh
source conformance/crossbar/lib.sh
trap crossbar_stop EXIT

nexus_table=$(bash conformance/bench.sh)
crossbar_start
echo "bench-compare.sh: Crossbar $CB_VERSION on $CB_WS_URL and $CB_RS_URL" >&2
crossbar_table=$(ROUTER_URL_WS="$CB_WS_URL" ROUTER_URL_RS="$CB_RS_URL" ROUTER_NAME="crossbar $CB_VERSION" \
    bash conformance/bench.sh)
crossbar_stop
# One table: nexus's (with its header), then Crossbar's rows.
echo "$nexus_table"
echo "$crossbar_table" | grep '^|' | tail -n +3
