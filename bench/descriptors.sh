#!/usr/bin/env bash
# Millions of descriptors: bench/holders.py (PROCS forked processes x PER descriptors, one
# listener held by all; DISTINCT=1 for an open file per descriptor), then
# `portscope list -a` against `ss -tuanp` in ROUNDS paired rounds (bench/paired.py), the
# owner source `auto` chose and the descriptors it walked, whether every holder was named,
# and peak RSS (/usr/bin/time). Bounded (LIFETIME) and cleaned up on exit.
#
#   bench/descriptors.sh            (PROCS=118 PER=19500 ROUNDS=3: 2.3M descriptors)
#
# Needs root, python3, /usr/bin/time; PORTSCOPE (default target/release/portscope).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
P=${PORTSCOPE:-$(dirname "$HERE")/target/release/portscope}
PROCS=${PROCS:-118}
PER=${PER:-19500}
ROUNDS=${ROUNDS:-3}
LIFETIME=${LIFETIME:-400}
args=(--procs "$PROCS" --per "$PER" --lifetime "$LIFETIME")
[ -n "${DISTINCT:-}" ] && args+=(--distinct)
coproc HOLD { exec python3 "$HERE/holders.py" "${args[@]}"; }
HPID=$HOLD_PID
trap 'kill "$HPID" 2>/dev/null || true; wait "$HPID" 2>/dev/null || true' EXIT
IFS= read -r -t 300 READY <&"${HOLD[0]}" || { echo "descriptors.sh: holders not ready" >&2; exit 1; }
PORT=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["port"])' "$READY")
echo "holders ready: $PROCS x $PER, port $PORT, file-nr $(cut -f1 /proc/sys/fs/file-nr)"
"$P" list -a --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin); want = set(json.loads(sys.argv[1])["pids"])
s = [x for x in d["sockets"] if x["local"]["port"] == int(sys.argv[2])]
got = {p["pid"] for x in s for p in x["processes"]}
print("auto: sources", d["sources"], "; every holder named:", want <= got, len(got), "of", len(want))
' "$READY" "$PORT"
/usr/bin/time -f "peak RSS list -a: %M KiB, %e s" "$P" list -a >/dev/null 2>/tmp/descriptors-rss.$$ || true
grep "peak RSS" /tmp/descriptors-rss.$$; rm -f /tmp/descriptors-rss.$$
python3 "$HERE/paired.py" "$ROUNDS" 'ss -tuanp=ss -tuanp' "list -a=$P list -a"
