#!/usr/bin/env bash
# Realms in parallel: the same wamp-bench load in one realm alone, then in two realms at
# once (two wamp-bench processes against one nexusd), over RawSocket/MessagePack. With a
# router task per realm the two realms' routing runs on two cores; the table gives the
# rate of each and their sum.
#
#   conformance/bench-realms.sh                       # builds, then runs (5 s after 1 s)
#   BIN=/other/target/release conformance/bench-realms.sh   # another build's nexusd
#
# Environment: DURATION, WARMUP (seconds), BIN (where nexusd and wamp-bench are; the
# workspace's release build by default, built first), SCENARIO (the wamp-bench arguments;
# default "pubsub --subscribers 10").
set -euo pipefail
export LC_ALL=C

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-5}"
WARMUP="${WARMUP:-1}"
SCENARIO="${SCENARIO:-pubsub --subscribers 10}"
if [[ -z "${BIN:-}" ]]; then
    BIN="${CARGO_TARGET_DIR:-$root/target}/release"
    (cd "$root" && cargo build --release --quiet -p nexusd -p nexus-conformance --bin nexusd \
        --bin wamp-bench >&2)
fi
out="$(mktemp -d "${TMPDIR:-/tmp}/bench-realms.XXXXXX")"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="tcp://127.0.0.1:$port"
"$BIN/nexusd" --listen "$url" --realm realm1 --realm realm2 --log-level warn \
    >"$out/nexusd.log" 2>&1 &
nexusd=$!
trap 'kill $nexusd 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
done

field() { sed -n "s/^ *\"$2\": \([^,]*\),\{0,1\}$/\1/p" "$1" | head -n 1; }
rate() { # report.json
    local r
    r="$(field "$1" delivered_per_sec)"
    [[ -n "$r" ]] || r="$(field "$1" calls_per_sec)"
    printf '%.0f' "$r"
}
bench() { # realm json
    # shellcheck disable=SC2086
    "$BIN/wamp-bench" --url "$url" --realm "$1" --serializer msgpack $SCENARIO \
        --duration "$DURATION" --warmup "$WARMUP" --json "$2" >"$2.txt" 2>"$2.err"
}

bench realm1 "$out/alone.json"
bench realm1 "$out/a.json" &
a=$!
bench realm2 "$out/b.json" &
b=$!
wait $a $b

alone=$(rate "$out/alone.json")
ra=$(rate "$out/a.json")
rb=$(rate "$out/b.json")
echo "| load ($SCENARIO, RawSocket/MessagePack) | realm1 | realm2 | sum |"
echo "|---|---:|---:|---:|"
echo "| one realm alone | $alone | – | $alone |"
echo "| two realms at once | $ra | $rb | $((ra + rb)) |"
