#!/usr/bin/env bash
# CPU of a running `portscope watch` under the bounded, loopback-only bench workload
# (issue 16's target: at most 2% of one core on average over a minute with the large load
# and --interval 1s), and how long a new listener takes to show.
#
#   bench/watch.sh [SECONDS [WATCH ARGS...]]     (default: 60 --interval 1s)
#
# Environment: PORTSCOPE (the binary; default <repo>/target/release/portscope, built with
# cargo build --release if missing), SIZE (workload preset, default large). Root, for the
# large workload's RLIMIT_NOFILE and for every owner to be visible.
#
# Prints one markdown table row: args | CPU s | % of one core | RSS | latency of a new
# listener | changes printed meanwhile (the host's own socket churn, which costs scans).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SECS=${1:-60}
shift || true
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(--interval 1s)
SIZE=${SIZE:-large}
BIN=${PORTSCOPE:-$REPO/target/release/portscope}
[ -x "$BIN" ] || (cd "$REPO" && cargo build --release >&2)

TMP=$(mktemp -d)
WL='' WATCH='' LISTEN=''
cleanup() {
    for p in $LISTEN $WATCH $WL; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

mkfifo "$TMP/in"
python3 "$HERE/workload.py" --size "$SIZE" --lifetime $((SECS + 120)) <"$TMP/in" >"$TMP/wl" &
WL=$!
exec 3>"$TMP/in" # the workload stops when its stdin closes: hold it open
until grep -q '"ready"' "$TMP/wl"; do
    kill -0 "$WL" || { echo "workload died" >&2; exit 1; }
    sleep 0.5
done

"$BIN" watch --color never "${ARGS[@]}" >"$TMP/out" 2>"$TMP/err" &
WATCH=$!
until [ -s "$TMP/out" ]; do sleep 0.1; done # started: the first table or snapshot is out
sleep 2
cpu() { awk '{print $14 + $15}' "/proc/$WATCH/stat"; }
c0=$(cpu)
sleep "$SECS"
c1=$(cpu)
hz=$(getconf CLK_TCK)
rss=$(awk '/VmRSS/ {print $2 " " $3}' "/proc/$WATCH/status")
# Changes printed while measured (other activity on the host costs owner scans too).
changes=$(grep -c '^[-+~] \|"event":"\(added\|removed\|owner_changed\)"' "$TMP/out" || true)

# Latency: a new listener, from open to its "+" line (or "added" event).
"$BIN" listen 127.0.0.1:0 --for 10s >"$TMP/listen" &
LISTEN=$!
until [ -s "$TMP/listen" ]; do sleep 0.01; done
opened=$(date +%s.%N)
port=$(sed -n 's/^listening 127.0.0.1:\([0-9]*\)\/tcp.*/\1/p' "$TMP/listen")
for _ in $(seq 1 200); do
    grep -q "127.0.0.1:$port \|\"port\":$port}" "$TMP/out" && break
    sleep 0.05
done
seen=$(grep -m1 "127.0.0.1:$port \|\"port\":$port}" "$TMP/out" || true)
python3 - "$c0" "$c1" "$hz" "$SECS" "$rss" "$opened" "$seen" "${ARGS[*]}" "$(cat "$TMP/err")" "$changes" <<'EOF'
import sys, json, datetime
c0, c1, hz, secs, rss, opened, seen, args, err, changes = sys.argv[1:]
cpu = (float(c1) - float(c0)) / float(hz)
if seen.startswith("{"):
    ts = json.loads(seen)["ts"]
else:
    ts = seen.split()[1] if seen else None
lat = "not seen"
if ts:
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    lat = f"{(t.timestamp() - float(opened)) * 1000:.0f} ms"
print(f"| `portscope watch {args}` | {cpu:.2f} s in {secs} s | {100 * cpu / float(secs):.2f}% | {rss} | {lat} | {changes} |")
if err.strip():
    print(f"stderr: {err.strip()}", file=sys.stderr)
EOF
