#!/usr/bin/env bash
# Reproduces the end-to-end wamp-bench table: RPC (1 and 100 calls in flight) and pub/sub
# (1, 10 and 100 subscribers), over WebSocket/JSON and RawSocket/MessagePack, printed as a
# markdown table on stdout (progress on stderr).
#
#   conformance/bench.sh                      # builds, starts nexusd on free ports, runs
#   DURATION=5 WARMUP=1 conformance/bench.sh  # shorter runs (defaults: 10 s after 2 s)
#   ROUTER_URL_WS=ws://127.0.0.1:8080/ws ROUTER_URL_RS=tcp://127.0.0.1:8081 \
#     ROUTER_NAME=crossbar conformance/bench.sh   # another router: nexusd is not started
#
# Environment: DURATION, WARMUP (seconds), REALM (realm1), ROUTER_NAME (nexus, or "other"
# when a URL is given), ROUTER_URL_WS / ROUTER_URL_RS (with either, only the transports
# given are run and no nexusd is started), OUT_DIR (where the JSON reports go; a temporary
# directory by default).
set -euo pipefail
export LC_ALL=C

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
REALM="${REALM:-realm1}"
ws_url="${ROUTER_URL_WS:-}"
rs_url="${ROUTER_URL_RS:-}"
external=false
if [[ -n "$ws_url" || -n "$rs_url" ]]; then
    external=true
fi
if $external; then
    ROUTER_NAME="${ROUTER_NAME:-other}"
else
    ROUTER_NAME="${ROUTER_NAME:-nexus}"
fi
OUT_DIR="${OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/wamp-bench.XXXXXX")}"
mkdir -p "$OUT_DIR"
bin="${CARGO_TARGET_DIR:-$root/target}/release"

log() { echo "bench.sh: $*" >&2; }

# --- build -------------------------------------------------------------------------------
cd "$root"
if $external; then
    log "building wamp-bench (release)"
    cargo build --release --quiet -p nexus-conformance --bin wamp-bench >&2
else
    log "building nexusd and wamp-bench (release)"
    cargo build --release --quiet -p nexusd -p nexus-conformance --bin nexusd --bin wamp-bench >&2
fi

# --- the router --------------------------------------------------------------------------
nexusd_pid=""
cleanup() {
    if [[ -n "$nexusd_pid" ]]; then
        kill "$nexusd_pid" 2>/dev/null || true
        wait "$nexusd_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

if ! $external; then
    # Sessions of the larger runs need descriptors on both sides.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    fifo="$OUT_DIR/nexusd.stdout"
    rm -f "$fifo"
    mkfifo "$fifo"
    "$bin/nexusd" --listen ws://127.0.0.1:0/ws --listen tcp://127.0.0.1:0 \
        --log-level warn >"$fifo" 2>"$OUT_DIR/nexusd.log" &
    nexusd_pid=$!
    # Kept open until the end, so nexusd never writes to a closed pipe.
    exec 3<"$fifo"
    for _ in 1 2; do
        if ! read -r -t 30 line <&3; then
            log "nexusd did not print its 'listening on' lines within 30 s; its log:"
            cat "$OUT_DIR/nexusd.log" >&2
            exit 1
        fi
        url="${line#listening on }"
        case "$url" in
            ws://*) ws_url="$url" ;;
            tcp://*) rs_url="$url" ;;
        esac
    done
    log "nexusd (pid $nexusd_pid) on $ws_url and $rs_url"
fi

# --- the runs ----------------------------------------------------------------------------
# The value of "key": in a pretty-printed wamp-bench JSON report (keys used here are unique).
field() { sed -n "s/^ *\"$2\": \([^,]*\),\{0,1\}$/\1/p" "$1" | head -n 1; }
round() { printf '%.0f' "$1"; }

rows=()
failed=0
run() { # transport serializer url label scenario args...
    local transport="$1" serializer="$2" url="$3" label="$4"
    shift 4
    local name="${transport,,}-${serializer}-${label// /_}"
    local json="$OUT_DIR/$name.json"
    log "$transport/$serializer $label: wamp-bench $*"
    if ! "$bin/wamp-bench" --url "$url" --realm "$REALM" --serializer "$serializer" "$@" \
        --duration "$DURATION" --warmup "$WARMUP" --json "$json" >"$OUT_DIR/$name.txt" \
        2>"$OUT_DIR/$name.err"; then
        log "failed: $(cat "$OUT_DIR/$name.err")"
        rows+=("| $ROUTER_NAME | $transport | $serializer | $label | failed | | | | | | | |")
        failed=1
        return
    fi
    local rate lost
    if [[ "$1" == rpc ]]; then
        rate="$(round "$(field "$json" calls_per_sec)") calls/s"
        lost="–"
    else
        rate="$(round "$(field "$json" delivered_per_sec)") events/s"
        lost="$(field "$json" lost_total)"
    fi
    local cpu
    cpu="$(awk -v u="$(field "$json" cpu_utilization)" 'BEGIN { printf "%.0f%%", u * 100 }')"
    if [[ "$(field "$json" saturated)" == true ]]; then
        cpu="$cpu (saturated)"
    fi
    rows+=("| $ROUTER_NAME | $transport | $serializer | $label | $rate | $(round "$(field "$json" p50)") | $(round "$(field "$json" p90)") | $(round "$(field "$json" p99)") | $(round "$(field "$json" max)") | $(field "$json" errors) | $lost | $cpu |")
}

scenarios() { # transport serializer url
    run "$@" "rpc, 1 in flight" rpc --in-flight 1
    run "$@" "rpc, 100 in flight" rpc --in-flight 100
    run "$@" "pubsub, 1 subscriber" pubsub --subscribers 1
    run "$@" "pubsub, 10 subscribers" pubsub --subscribers 10
    run "$@" "pubsub, 100 subscribers" pubsub --subscribers 100
}

if [[ -n "$ws_url" ]]; then scenarios WebSocket json "$ws_url"; fi
if [[ -n "$rs_url" ]]; then scenarios RawSocket msgpack "$rs_url"; fi

# --- the table ---------------------------------------------------------------------------
echo "wamp-bench, $DURATION s measured after $WARMUP s warm-up, 64-byte payloads; pub/sub: one"
echo "publisher, unlimited rate (delivery-bounded window of 256 events). Latency in µs."
echo "Machine: $(nproc) cores, $(uname -sr). Reports: $OUT_DIR"
echo
echo "| router | transport | serializer | scenario | throughput | p50 | p90 | p99 | max | errors | lost | wamp-bench CPU |"
echo "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
exit "$failed"
