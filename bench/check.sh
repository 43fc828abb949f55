#!/usr/bin/env bash
# Smoke check of bench/workload.py for CI (a few seconds, loopback only):
#  1. a tiny workload reports ready; its early and late listeners are in `ss`; every
#     socket it counted is held by the PIDs it reported;
#  2. closing its stdin ends it: the parent and every reported PID are gone;
#  3. with stdin held open, --lifetime alone ends it;
#  4. when the parent is SIGKILLed, its children die too (PR_SET_PDEATHSIG / lifeline).
# Exits non-zero on any failure.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PY:-python3}
fails=0
passes=0
pass() {
    printf 'ok   %s\n' "$*"
    passes=$((passes + 1))
}
fail() {
    printf 'FAIL %s\n' "$*"
    fails=$((fails + 1))
}
command -v ss >/dev/null || {
    echo "check.sh: needs ss (iproute2)" >&2
    exit 2
}

field() { "$PY" -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(" ".join(map(str,v)) if isinstance(v,list) else v)' "$READY" "$1"; }

# Sockets held by these PIDs, counted from /proc/PID/fd.
held_sockets() {
    local n=0 p l
    for p in "$@"; do
        for l in /proc/"$p"/fd/*; do
            [[ $(readlink "$l" 2>/dev/null) == socket:* ]] && n=$((n + 1))
        done
    done
    echo "$n"
}

# gone PID...: true when none of them is alive (a zombie left for init to reap counts
# as gone: it holds no descriptors). Bounded poll: there is no exit signal to wait on
# for processes that are not our children.
gone() {
    local i p alive
    for ((i = 0; i < 300; i++)); do
        alive=0
        for p in "$@"; do
            if [ -r "/proc/$p/stat" ]; then
                local st
                st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || echo X)
                [ "$st" = Z ] || [ "$st" = X ] || alive=1
            fi
        done
        [ $alive = 0 ] && return 0
        sleep 0.01
    done
    return 1
}

start() { # extra workload args...
    coproc WL { exec "$PY" "$HERE/workload.py" --size tiny "$@"; }
    WPID=$WL_PID
    WIN=${WL[1]}
    WOUT=${WL[0]}
    READY=
    IFS= read -r -t 15 READY <&"$WOUT" || true
}

close_fds() {
    eval "exec $WIN>&-" 2>/dev/null || true
    eval "exec $WOUT<&-" 2>/dev/null || true
}

cleanup() {
    # Only what this script started, by PID.
    if [ -n "${WPID:-}" ] && kill -0 "$WPID" 2>/dev/null; then kill -KILL "$WPID" 2>/dev/null || true; fi
    local p
    for p in ${PIDS:-}; do
        if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q workload.py; then
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
}
trap cleanup EXIT

# 1 + 2: ready, sockets present, stdin close ends everything.
start --lifetime 30
if [ -z "$READY" ]; then
    fail "workload did not print its ready line"
    exit 1
fi
pass "ready line: ${READY:0:100}..."
PIDS=$(field pids)
SOCK_PIDS=$(field socket_pids)
EARLY=$(field early_port)
LATE=$(field late_port)
FREE=$(field free_port)
SOCKETS=$(field sockets)
n=$(ss -tlnH "sport = :$EARLY" | wc -l)
[ "$n" -ge 1 ] && pass "early port $EARLY listening ($n)" || fail "early port $EARLY not in ss -tln"
n=$(ss -tlnH "sport = :$LATE" | wc -l)
[ "$n" -ge 1 ] && pass "late port $LATE listening ($n)" || fail "late port $LATE not in ss -tln"
n=$(ss -tanH "sport = :$EARLY" | wc -l)
[ "$n" -ge 2 ] && pass "early port has its listener and accepted connections ($n)" ||
    fail "early port: expected a listener and an established pair, ss shows $n"
n=$(ss -tuanH "sport = :$FREE" | wc -l)
[ "$n" = 0 ] && pass "free port $FREE is free" || fail "free port $FREE has $n sockets"
n=$(held_sockets $SOCK_PIDS)
[ "$n" = "$SOCKETS" ] && pass "the socket processes hold $n sockets, as reported" ||
    fail "reported $SOCKETS sockets, /proc shows $n"
n=$(for p in $SOCK_PIDS; do ss -tuanpH | grep "pid=$p," ; done | awk '{print $5; print $6}' | grep -Evc '^(127\.0\.0\.1|\[::1\]):[0-9]+$|^(0\.0\.0\.0|\*|\[::\]):\*$' || true)
[ "$n" = 0 ] && pass "every workload socket is on loopback" || fail "$n workload socket ends off loopback"
close_fds
wait "$WPID" 2>/dev/null || true
gone "$WPID" $PIDS && pass "stdin closed: parent and $(wc -w <<<"$PIDS") children gone" ||
    fail "stdin closed but some of $WPID $PIDS are alive"
n=$(ss -tanH "sport = :$EARLY" | wc -l)
[ "$n" = 0 ] && pass "early port closed, no TIME_WAIT left" || fail "early port still has $n sockets"

# 3: --lifetime alone (stdin stays open).
start --lifetime 1
PIDS=$(field pids)
[ -n "$READY" ] || fail "lifetime run: no ready line"
wait "$WPID" 2>/dev/null || true # returns when the lifetime ends
gone "$WPID" $PIDS && pass "lifetime 1 s: everything gone with stdin still open" ||
    fail "lifetime ended but some of $WPID $PIDS are alive"
close_fds

# 4: the parent SIGKILLed: its children follow.
start --lifetime 30
PIDS=$(field pids)
[ -n "$READY" ] || fail "kill run: no ready line"
kill -KILL "$WPID"
wait "$WPID" 2>/dev/null || true
gone $PIDS && pass "parent SIGKILLed: children gone" || fail "parent SIGKILLed, children alive: $PIDS"
close_fds

# The plain closing line CI reads: "N passed, N failed".
echo "check.sh: $passes passed, $fails failed"
[ "$fails" = 0 ] || exit 1
