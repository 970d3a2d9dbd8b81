#!/usr/bin/env bash
# Reproduces the end-to-end wamp-bench table: RPC (1 and 100 calls in flight) and pub/sub
# (1, 10, 100 and 1,000 subscribers) with 64-byte payloads, and RPC (100 in flight) and
# pub/sub (10 subscribers) with 1 KiB and 64 KiB payloads, over WebSocket/JSON and
# RawSocket/MessagePack, printed as markdown tables on stdout (progress on stderr).
#
# Every scenario also runs, right after, against wamp-relay (a relay that forwards payloads
# without decoding them, over the same transports and hops: the floor no router on this
# machine can beat), and a second table gives the router's figures as a fraction of the
# relay's, row by row. RELAY=0 leaves the relay out.
#
#   conformance/bench.sh                      # builds, starts nexusd on free ports, runs
#   DURATION=5 WARMUP=1 conformance/bench.sh  # shorter runs (defaults: 10 s after 2 s)
#   ROUTER_URL_WS=ws://127.0.0.1:8080/ws ROUTER_URL_RS=tcp://127.0.0.1:8081 \
#     ROUTER_NAME=crossbar conformance/bench.sh   # another router: nexusd is not started
#
# Environment: DURATION, WARMUP (seconds), REALM (realm1), ROUTER_NAME (nexus, or "other"
# when a URL is given), ROUTER_URL_WS / ROUTER_URL_RS (with either, only the transports
# given are run and no nexusd is started), RELAY (1: also measure wamp-relay; 0: not),
# SCENARIOS ("all", or "64" for the 64-byte rows only), OUT_DIR (where the JSON reports go;
# a temporary directory by default).
set -euo pipefail
export LC_ALL=C

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
REALM="${REALM:-realm1}"
RELAY="${RELAY:-1}"
SCENARIOS="${SCENARIOS:-all}"
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
    log "building wamp-bench and wamp-relay (release)"
    cargo build --release --quiet -p nexus-conformance --bin wamp-bench --bin wamp-relay >&2
else
    log "building nexusd, wamp-bench and wamp-relay (release)"
    cargo build --release --quiet -p nexusd -p nexus-conformance --bin nexusd --bin wamp-bench \
        --bin wamp-relay >&2
fi

# --- the router and the relay -------------------------------------------------------------
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
# Sessions of the larger runs need descriptors on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Starts a server that prints "listening on URL" lines (one WebSocket, one RawSocket) and
# sets <prefix>_ws and <prefix>_rs to them.
start() { # prefix fd command...
    local prefix="$1" fd="$2"
    shift 2
    local fifo="$OUT_DIR/$prefix.stdout"
    rm -f "$fifo"
    mkfifo "$fifo"
    "$@" >"$fifo" 2>"$OUT_DIR/$prefix.log" &
    pids+=($!)
    # Kept open until the end, so the server never writes to a closed pipe.
    eval "exec $fd<\"\$fifo\""
    local line url
    for _ in 1 2; do
        if ! read -r -t 30 line <&"$fd"; then
            log "$prefix did not print its 'listening on' lines within 30 s; its log:"
            cat "$OUT_DIR/$prefix.log" >&2
            exit 1
        fi
        url="${line#listening on }"
        case "$url" in
            ws://*) printf -v "${prefix}_ws" '%s' "$url" ;;
            tcp://*) printf -v "${prefix}_rs" '%s' "$url" ;;
        esac
    done
    log "$1 (pid ${pids[-1]}) on $(eval echo "\$${prefix}_ws") and $(eval echo "\$${prefix}_rs")"
}

if ! $external; then
    start nexusd 3 "$bin/nexusd" --listen ws://127.0.0.1:0/ws --listen tcp://127.0.0.1:0 \
        --log-level warn
    ws_url="$nexusd_ws"
    rs_url="$nexusd_rs"
fi
relay_ws=""
relay_rs=""
if [[ "$RELAY" == 1 ]]; then
    start relay 4 "$bin/wamp-relay" --listen ws://127.0.0.1:0/ws --listen tcp://127.0.0.1:0
fi

# --- the runs ----------------------------------------------------------------------------
# The value of "key": in a pretty-printed wamp-bench JSON report (keys used here are unique).
field() { sed -n "s/^ *\"$2\": \([^,]*\),\{0,1\}$/\1/p" "$1" | head -n 1; }
round() { printf '%.0f' "$1"; }

rows=()
compare=()
failed=0
declare -A rate p50 p99
measure() { # who transport serializer url label args...
    local who="$1" transport="$2" serializer="$3" url="$4" label="$5"
    shift 5
    local name="${who// /_}-${transport,,}-${serializer}-${label// /_}"
    name="${name//,/}"
    local json="$OUT_DIR/$name.json"
    local key="$who|$transport|$label"
    log "$who, $transport/$serializer $label: wamp-bench $*"
    if ! "$bin/wamp-bench" --url "$url" --realm "$REALM" --serializer "$serializer" "$@" \
        --duration "$DURATION" --warmup "$WARMUP" --json "$json" >"$OUT_DIR/$name.txt" \
        2>"$OUT_DIR/$name.err"; then
        log "failed: $(cat "$OUT_DIR/$name.err")"
        rows+=("| $who | $transport | $serializer | $label | failed | | | | | | | |")
        failed=1
        return
    fi
    local shown lost
    if [[ "$1" == rpc ]]; then
        rate[$key]="$(field "$json" calls_per_sec)"
        shown="$(round "${rate[$key]}") calls/s"
        lost="–"
    else
        rate[$key]="$(field "$json" delivered_per_sec)"
        shown="$(round "${rate[$key]}") events/s"
        lost="$(field "$json" lost_total)"
    fi
    p50[$key]="$(field "$json" p50)"
    p99[$key]="$(field "$json" p99)"
    local cpu
    cpu="$(awk -v u="$(field "$json" cpu_utilization)" 'BEGIN { printf "%.0f%%", u * 100 }')"
    if [[ "$(field "$json" saturated)" == true ]]; then
        cpu="$cpu (saturated)"
    fi
    rows+=("| $who | $transport | $serializer | $label | $shown | $(round "${p50[$key]}") | $(round "$(field "$json" p90)") | $(round "${p99[$key]}") | $(round "$(field "$json" max)") | $(field "$json" errors) | $lost | $cpu |")
}

# The router, then the relay right after it, so both see the same conditions.
run() { # transport serializer router-url relay-url label args...
    local transport="$1" serializer="$2" url="$3" relay="$4" label="$5"
    shift 5
    measure "$ROUTER_NAME" "$transport" "$serializer" "$url" "$label" "$@"
    [[ -n "$relay" ]] || return 0
    measure relay "$transport" "$serializer" "$relay" "$label" "$@"
    local r="$ROUTER_NAME|$transport|$label" f="relay|$transport|$label"
    if [[ -n "${rate[$r]:-}" && -n "${rate[$f]:-}" ]]; then
        compare+=("$(awk -v t="$transport" -v s="$serializer" -v l="$label" \
            -v a="${rate[$r]}" -v b="${rate[$f]}" -v c="${p50[$r]}" -v d="${p50[$f]}" \
            -v e="${p99[$r]}" -v g="${p99[$f]}" 'BEGIN {
                if (b == 0 || d == 0 || g == 0) { printf "| %s | %s | %s | – | – | – |", t, s, l; exit }
                printf "| %s | %s | %s | %.0f%% | %.2f× | %.2f× |", t, s, l,
                    100 * a / b, c / d, e / g }')")
    fi
}

scenarios() { # transport serializer router-url relay-url
    run "$@" "rpc, 1 in flight" rpc --in-flight 1
    run "$@" "rpc, 100 in flight" rpc --in-flight 100
    run "$@" "pubsub, 1 subscriber" pubsub --subscribers 1
    run "$@" "pubsub, 10 subscribers" pubsub --subscribers 10
    run "$@" "pubsub, 100 subscribers" pubsub --subscribers 100
    [[ "$SCENARIOS" == all ]] || return 0
    run "$@" "pubsub, 1000 subscribers" pubsub --subscribers 1000
    run "$@" "rpc, 100 in flight, 1 KiB" rpc --in-flight 100 --payload 1024
    run "$@" "pubsub, 10 subscribers, 1 KiB" pubsub --subscribers 10 --payload 1024
    run "$@" "rpc, 100 in flight, 64 KiB" rpc --in-flight 100 --payload 65536
    run "$@" "pubsub, 10 subscribers, 64 KiB" pubsub --subscribers 10 --payload 65536
}

if [[ -n "$ws_url" ]]; then scenarios WebSocket json "$ws_url" "$relay_ws"; fi
if [[ -n "$rs_url" ]]; then scenarios RawSocket msgpack "$rs_url" "$relay_rs"; fi

# --- the tables --------------------------------------------------------------------------
echo "wamp-bench, $DURATION s measured after $WARMUP s warm-up, 64-byte payloads unless the"
echo "scenario says otherwise; pub/sub: one publisher, unlimited rate (delivery-bounded window"
echo "of 256 events). Latency in µs. Machine: $(nproc) cores, $(uname -sr). Reports: $OUT_DIR"
echo
echo "| router | transport | serializer | scenario | throughput | p50 | p90 | p99 | max | errors | lost | wamp-bench CPU |"
echo "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
if ((${#compare[@]})); then
    echo
    echo "$ROUTER_NAME against wamp-relay (no payload decoding), each pair measured back to back:"
    echo "throughput as a share of the relay's, latency as a multiple of the relay's."
    echo
    echo "| transport | serializer | scenario | throughput | p50 | p99 |"
    echo "|---|---|---|---:|---:|---:|"
    printf '%s\n' "${compare[@]}"
fi
exit "$failed"
