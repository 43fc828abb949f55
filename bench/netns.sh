#!/usr/bin/env bash
# Hundreds of network namespaces: NS namespaces (`ip netns add`, named psbench-PID-N), each
# with one process holding LISTENERS TCP listeners on its loopback, then CMD run under hyperfine
# against the alternative a user has (`ip netns exec NS ss -tuanp` for each namespace).
# Bounded (every holder dies after LIFETIME seconds) and cleaned up on exit: only the
# namespaces and processes this script created are removed.
#
#   bench/netns.sh                        (NS=100 LISTENERS=10)
#   HOLD=1 bench/netns.sh                 set up, print ready, wait for Ctrl-C or LIFETIME
#
# Environment: PORTSCOPE (default target/release/portscope), NS, LISTENERS, RUNS (default
# 10), LIFETIME (default 300). Needs root, iproute2, python3, hyperfine.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
P=${PORTSCOPE:-$(dirname "$HERE")/target/release/portscope}
NS=${NS:-100}
LISTENERS=${LISTENERS:-10}
RUNS=${RUNS:-10}
LIFETIME=${LIFETIME:-300}
PREFIX=psbench-$$-
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ((i = 0; i < NS; i++)); do ip netns del "$PREFIX$i" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ((i = 0; i < NS; i++)); do
    ip netns add "$PREFIX$i"
    ip -n "$PREFIX$i" link set lo up
done
# One holder per namespace, forked by one Python process that enters each namespace
# (setns) and waits until every holder has its listeners.
HOLDER='import ctypes, os, signal, socket, sys
prefix, ns, per, life = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
libc = ctypes.CDLL(None, use_errno=True)
r, w = os.pipe()
kids = []
for i in range(ns):
    pid = os.fork()
    if pid == 0:
        os.close(r)
        signal.alarm(life)
        fd = os.open(f"/run/netns/{prefix}{i}", os.O_RDONLY)
        if libc.setns(fd, 0x40000000) != 0:
            os._exit(1)
        ls = [socket.socket() for _ in range(per)]
        for s in ls:
            s.bind(("127.0.0.1", 0)); s.listen()
        os.write(w, b"x"); os.close(w)
        signal.pause(); os._exit(0)
    kids.append(pid)
os.close(w)
got = 0
while got < ns:
    b = os.read(r, ns)
    if not b:
        sys.exit("a holder failed")
    got += len(b)
print("ready", flush=True)
def bye(*_):
    for k in kids:
        os.kill(k, 9)
    os._exit(0)
signal.signal(signal.SIGTERM, bye)
signal.signal(signal.SIGALRM, bye)
signal.alarm(life)
signal.pause()'
coproc H { exec python3 -c "$HOLDER" "$PREFIX" "$NS" "$LISTENERS" "$LIFETIME"; }
PIDS+=("$H_PID")
IFS= read -r -t 60 _ <&"${H[0]}" || { echo "netns.sh: holders not ready" >&2; exit 1; }
echo "$NS namespaces x $LISTENERS listeners ready (prefix $PREFIX)" >&2
if [ -n "${HOLD:-}" ]; then
    sleep "$LIFETIME" & wait $! || true
    exit 0
fi
ALL="for n in \$(ip netns list | cut -d' ' -f1); do ip netns exec \$n ss -tuanp; done"
hyperfine -N -i --output=null --warmup 2 --min-runs "$RUNS" \
    -n 'portscope list --netns all' "$P list --netns all" \
    -n 'portscope list --netns all --all --json' "$P list --netns all --all --json"
hyperfine -i --output=null --warmup 1 --min-runs 3 -n 'ip netns exec NS ss -tuanp, each' "$ALL"
