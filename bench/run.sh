#!/usr/bin/env bash
# Benchmark portscope against ss, netstat, lsof and fuser under a bounded, loopback-only
# workload (bench/workload.py), with hyperfine. Prints a markdown report on stdout;
# progress and hyperfine's own output go to stderr.
#
#   bench/run.sh [large|mid|small|both|all]   (default: large; both = large + small,
#                                             all = large + mid + small)
#
# Environment:
#   PORTSCOPE   portscope binary to measure (default: cargo build --release here, then
#               <target dir>/release/portscope)
#   WARMUP      hyperfine warmup runs per command (default 3)
#   RUNS        hyperfine minimum runs per command (default 20)
#   RSS_RUNS    /usr/bin/time -v runs per peak-RSS command (default 5)
#   LIFETIME    workload hard cap in seconds, per workload (default 540, max 600)
#   BENCH_OUT   keep the raw results (hyperfine JSON, time -v output, report) here
#   QUIET_MAX   before each group, wait until the host's CPU use (everything, over 1 s)
#               is at most this many percent (default 10) ...
#   QUIET_WAIT  ... but at most this many seconds in all per workload (default 150, so
#               that the measurements fit in LIFETIME); the figure measured last is
#               recorded next to each group in the report
#
# Needs root for the owner columns of ss/netstat/lsof/fuser and for the large workload's
# RLIMIT_NOFILE; installs hyperfine, time, lsof, psmisc, net-tools and iproute2 with
# apt-get when missing.
set -euo pipefail

SIZE=${1:-large}
case "$SIZE" in large | mid | small | both | all) ;; *)
    echo "usage: $0 [large|mid|small|both|all]" >&2
    exit 2
    ;;
esac
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
WARMUP=${WARMUP:-3}
RUNS=${RUNS:-20}
RSS_RUNS=${RSS_RUNS:-5}
LIFETIME=${LIFETIME:-540}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_WAIT=${QUIET_WAIT:-150}
QUIET_LEFT=$QUIET_WAIT
PY=python3

say() { printf 'run.sh: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

# ---------------------------------------------------------------- tools
ensure_tools() {
    local missing=()
    command -v hyperfine >/dev/null || missing+=(hyperfine)
    [ -x /usr/bin/time ] || missing+=(time)
    command -v lsof >/dev/null || missing+=(lsof)
    command -v fuser >/dev/null || missing+=(psmisc)
    command -v netstat >/dev/null || missing+=(net-tools)
    command -v ss >/dev/null || missing+=(iproute2)
    command -v "$PY" >/dev/null || missing+=(python3)
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
            die "missing: ${missing[*]} (install them, or run as root on Debian)"
        say "installing ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    fi
    # -N (--shell=none) and --output need hyperfine >= 1.15.
    hyperfine --help | grep -q -- '--output' || die "hyperfine >= 1.15 needed (--output)"
}

build_portscope() {
    if [ -n "${PORTSCOPE:-}" ]; then
        [ -x "$PORTSCOPE" ] || die "PORTSCOPE=$PORTSCOPE is not executable"
        return
    fi
    say "building portscope (cargo build --release)"
    (cd "$REPO" && cargo build --release >&2)
    local target
    target=$(cd "$REPO" && cargo metadata --no-deps --format-version 1 |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    PORTSCOPE="$target/release/portscope"
    [ -x "$PORTSCOPE" ] || die "no binary at $PORTSCOPE"
}

# ---------------------------------------------------------------- workload
WORKLOAD_PID=
WL_IN=
WL_OUT=
WL_PIDS=
READY=
start_workload() { # size
    say "starting the $1 workload (lifetime ${LIFETIME}s)"
    QUIET_LEFT=$QUIET_WAIT
    coproc WL { exec "$PY" "$HERE/workload.py" --size "$1" --lifetime "$LIFETIME"; }
    # bash unsets WL and WL_PID once the coprocess is reaped: keep copies.
    WORKLOAD_PID=$WL_PID
    WL_IN=${WL[1]}
    WL_OUT=${WL[0]}
    # The workload's readiness signal: one JSON line once everything is open.
    if ! IFS= read -r -t 300 READY <&"${WL[0]}" || [ -z "$READY" ]; then
        die "the workload did not report ready"
    fi
    WL_PIDS=$("$PY" -c 'import json,sys; print(" ".join(map(str, json.loads(sys.argv[1])["pids"])))' "$READY")
    rfield() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$READY" "$1"; }
    EARLY=$(rfield early_port)
    EARLY_PID=$(rfield early_pid)
    LATE=$(rfield late_port)
    LATE_PID=$(rfield late_pid)
    FREE=$(rfield free_port)
    say "ready: $(rfield sockets) sockets, $(rfield fds) fds in $(wc -w <<<"$WL_PIDS") processes;" \
        "early :$EARLY (pid $EARLY_PID), late :$LATE (pid $LATE_PID), free :$FREE"
}

workload_alive() { [ -n "$WORKLOAD_PID" ] && kill -0 "$WORKLOAD_PID" 2>/dev/null; }

stop_workload() {
    [ -n "$WORKLOAD_PID" ] || return 0
    local pid=$WORKLOAD_PID watchdog
    # Closing its stdin is the workload's stop signal; a watchdog bounds the wait.
    if [ -n "$WL_IN" ]; then eval "exec $WL_IN>&-" || true; fi
    if [ -n "$WL_OUT" ]; then eval "exec $WL_OUT<&-" || true; fi
    WL_IN=
    WL_OUT=
    # Watchdog: SIGKILL the workload (by PID) if it has not exited 20 s from now; on
    # TERM it ends its own sleep too, so nothing is left behind.
    (
        trap 'kill "$s" 2>/dev/null; exit 0' TERM
        sleep 20 &
        s=$!
        wait "$s"
        say "the workload did not stop within 20 s: SIGKILL $pid"
        kill -KILL "$pid" 2>/dev/null
    ) &
    watchdog=$!
    wait "$pid" 2>/dev/null || true
    kill -TERM "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
    # Every child the workload reported must be gone; end survivors by PID, and only
    # if they still are the workload's forks.
    local p
    for p in $WL_PIDS; do
        if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'workload.py'; then
            say "workload child $p survived: SIGKILL"
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    WORKLOAD_PID=
    WL_PIDS=
}

WORK=$(mktemp -d /tmp/portscope-bench.XXXXXX)
HF_PID=
cleanup() {
    local rc=$?
    if [ -n "$HF_PID" ]; then kill -TERM "$HF_PID" 2>/dev/null || true; wait "$HF_PID" 2>/dev/null || true; fi
    stop_workload || true
    if [ -n "${BENCH_OUT:-}" ] && [ -d "$WORK" ]; then
        mkdir -p "$BENCH_OUT" && cp -r "$WORK"/. "$BENCH_OUT"/ || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---------------------------------------------------------------- measuring
# Percent of all CPUs busy over one second, whoever uses them (/proc/stat).
cpu_busy() {
    "$PY" - <<'PYEOF'
import time
def sample():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]), idle
t0, i0 = sample()
time.sleep(1.0)
t1, i1 = sample()
print(round(100.0 * (1 - (i1 - i0) / max(1, t1 - t0))))
PYEOF
}

# Waits (bounded by QUIET_WAIT) for other work on the host to calm down, so that the
# numbers are not someone else's compile; records what it saw.
wait_quiet() { # group
    local busy
    busy=$(cpu_busy)
    while [ "$busy" -gt "$QUIET_MAX" ] && [ "$QUIET_LEFT" -gt 0 ]; do
        say "host busy (${busy}% CPU), waiting before $1 (${QUIET_LEFT}s of waiting left)"
        busy=$(cpu_busy)
        QUIET_LEFT=$((QUIET_LEFT - 1))
    done
    [ "$busy" -le "$QUIET_MAX" ] || say "warning: host still ${busy}% busy: $1 measured anyway"
    printf '%s\t%s\n' "$1" "$busy" >>"$WORK/quiet.tsv"
}

# hf GROUP NAME CMD [NAME CMD]...: one hyperfine run, commands run without a shell,
# output to /dev/null, exit codes ignored (who/lsof/fuser exit 1 on a free port).
hf() {
    local group=$1
    shift
    local args=()
    while [ $# -gt 0 ]; do
        args+=(-n "$1" "$2")
        shift 2
    done
    workload_alive || die "the workload ended early (raise LIFETIME?)"
    wait_quiet "$group"
    say "hyperfine: $group"
    # In the background and waited for, so that a signal to this script is handled at
    # once (bash defers traps while a foreground command runs).
    hyperfine -N -i --output=null --style basic --warmup "$WARMUP" --min-runs "$RUNS" \
        --export-json "$WORK/hf-$group.json" "${args[@]}" >&2 &
    HF_PID=$!
    wait "$HF_PID" || die "hyperfine failed in $group"
    HF_PID=
    workload_alive || die "the workload ended during $group: results would be wrong"
}

# rss NAME CMD...: peak RSS over RSS_RUNS runs, from /usr/bin/time -v.
rss() {
    local name=$1 i
    shift
    for ((i = 1; i <= RSS_RUNS; i++)); do
        /usr/bin/time -v -o "$WORK/rss-$name-$i.txt" "$@" >/dev/null 2>&1 || true
    done
}

# sanity LABEL EXPECT_PID CMD...: does this tool's output name the expected holder?
# (empty EXPECT_PID: the port is free, the output must not name any workload PID).
sanity() {
    local label=$1 expect=$2 out found=no p
    shift 2
    out=$("$@" 2>&1 || true)
    if [ -n "$expect" ]; then
        grep -qw -- "$expect" <<<"$out" && found=yes
    else
        found=yes
        for p in $WL_PIDS; do grep -qw -- "$p" <<<"$out" && found=no && break; done
    fi
    printf '%s\t%s\n' "$label" "$found" >>"$WORK/sanity.tsv"
    [ "$found" = yes ] || say "sanity: '$label' did not give the expected answer"
}

record_workload() { # size
    printf '%s\n' "$READY" >"$WORK/ready-$1.json"
    {
        printf 'size=%s\n' "$1"
        printf 'tcp_sockets=%s\n' "$(ss -tanH | wc -l)"
        printf 'udp_sockets=%s\n' "$(ss -uanH | wc -l)"
        printf 'processes=%s\n' "$(ls /proc | grep -c '^[0-9]')"
        printf 'loadavg=%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$WORK/state-$1.txt"
}

bench_large() {
    start_workload large
    record_workload large
    local P=$PORTSCOPE
    sanity "portscope who $EARLY" "$EARLY_PID" "$P" who -q "$EARLY"
    sanity "portscope who --first $EARLY" "$EARLY_PID" "$P" who -q --first "$EARLY"
    sanity "portscope who $LATE" "$LATE_PID" "$P" who -q "$LATE"
    sanity "portscope who $FREE (free)" "" "$P" who "$FREE"
    sanity "ss -tanp sport = :$EARLY" "$EARLY_PID" ss -tanp "sport = :$EARLY"
    sanity "ss -tanp sport = :$LATE" "$LATE_PID" ss -tanp "sport = :$LATE"
    sanity "lsof -nP -i :$EARLY" "$EARLY_PID" lsof -nP -i ":$EARLY"
    sanity "lsof -nP -i :$LATE" "$LATE_PID" lsof -nP -i ":$LATE"
    sanity "fuser $EARLY/tcp" "$EARLY_PID" fuser "$EARLY/tcp"
    sanity "fuser $LATE/tcp" "$LATE_PID" fuser "$LATE/tcp"
    sanity "portscope list --all --json" "$LATE_PID" "$P" list --all --json
    sanity "ss -tuanp" "$LATE_PID" ss -tuanp
    sanity "netstat -tuanp" "$LATE_PID" netstat -tuanp
    sanity "lsof -nP -i" "$LATE_PID" lsof -nP -i

    hf list \
        "portscope list --all --json" "$P list --all --json" \
        "ss -tuanp" "ss -tuanp" \
        "portscope list --all --json --owner-source bpf" "$P list --all --json --owner-source bpf" \
        "portscope list --all --json --owner-source procfs" "$P list --all --json --owner-source procfs" \
        "ss -tuan (no owners)" "ss -tuan" \
        "netstat -tuanp" "netstat -tuanp" \
        "lsof -nP -i" "lsof -nP -i" \
        "portscope list --all (table)" "$P list --all"
    local which port
    for which in early late free; do
        case $which in
        early) port=$EARLY ;;
        late) port=$LATE ;;
        free) port=$FREE ;;
        esac
        local extra=()
        [ "$which" = early ] && extra=("portscope who --first PORT" "$P who --first $port")
        hf "who-$which" \
            "portscope who PORT" "$P who $port" \
            "${extra[@]}" \
            "portscope who --owner-source procfs PORT" "$P who --owner-source procfs $port" \
            "ss -tanp 'sport = :PORT'" "ss -tanp 'sport = :$port'" \
            "lsof -nP -i :PORT" "lsof -nP -i :$port" \
            "fuser PORT/tcp" "fuser $port/tcp"
    done
    wait_quiet rss
    say "peak RSS (${RSS_RUNS} runs each)"
    rss "portscope list --all --json" "$P" list --all --json
    rss "portscope list --all (table)" "$P" list --all
    rss "portscope list --all --json --owner-source procfs" "$P" list --all --json --owner-source procfs
    rss "ss -tuanp" ss -tuanp
    rss "lsof -nP -i" lsof -nP -i
    workload_alive || die "the workload ended before the end of the measurements"
    stop_workload
}

# ~250 processes (with the host's own) holding ~70k descriptors: fewer than 256 PIDs,
# the case the scan used to give one thread.
bench_mid() {
    start_workload mid
    record_workload mid
    local P=$PORTSCOPE
    sanity "portscope who $EARLY (mid)" "$EARLY_PID" "$P" who -q "$EARLY"
    sanity "portscope list --all --json (mid)" "$LATE_PID" "$P" list --all --json
    hf mid-list \
        "portscope list --all --json" "$P list --all --json" \
        "ss -tuanp" "ss -tuanp" \
        "portscope list --all --json --owner-source bpf" "$P list --all --json --owner-source bpf" \
        "portscope list --all --json --owner-source procfs" "$P list --all --json --owner-source procfs" \
        "ss -tuan (no owners)" "ss -tuan"
    hf mid-who \
        "portscope who PORT" "$P who $EARLY" \
        "ss -tanp 'sport = :PORT'" "ss -tanp 'sport = :$EARLY'" \
        "portscope who --owner-source procfs PORT" "$P who --owner-source procfs $EARLY"
    stop_workload
}

bench_small() {
    start_workload small
    record_workload small
    local P=$PORTSCOPE
    sanity "portscope list (small)" "$EARLY_PID" "$P" list
    hf small \
        "portscope list" "$P list" \
        "ss -tuanp" "ss -tuanp" \
        "ss -tulnp (listening only)" "ss -tulnp" \
        "portscope list --all --json" "$P list --all --json" \
        "netstat -tuanp" "netstat -tuanp" \
        "lsof -nP -i" "lsof -nP -i"
    stop_workload
}

write_meta() {
    local dirty
    dirty=$(cd "$REPO" && git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | wc -l || echo '?')
    {
        printf 'date\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        printf 'nproc\t%s\n' "$(nproc)"
        printf 'cpu\t%s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')$(
            lscpu 2>/dev/null | awk -F: '/^(CPU MHz|BogoMIPS|Hypervisor vendor|Virtualization type)/ {gsub(/^ +/, "", $2); printf ", %s %s", $1, $2}')"
        printf 'memory\t%s\n' "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
        printf 'kernel\t%s\n' "$(uname -srm)"
        printf 'os\t%s\n' "$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
        printf 'portscope\t%s (%s)\n' "$("$PORTSCOPE" --version 2>&1 | head -1)" "$PORTSCOPE"
        printf 'git\t%s%s\n' "$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')" \
            "$([ "$dirty" != 0 ] && echo " + uncommitted changes in src/ or Cargo.*")"
        printf 'rustc\t%s\n' "$(rustc --version 2>/dev/null || echo '?')"
        printf 'ss\t%s\n' "$(ss -V 2>&1 | head -1)"
        printf 'netstat\t%s\n' "$(netstat -V 2>&1 | head -1)"
        printf 'lsof\t%s\n' "$(lsof -v 2>&1 | grep -m1 'revision:' | sed 's/^ *//')"
        printf 'fuser\t%s\n' "$(fuser -V 2>&1 | head -1)"
        printf 'hyperfine\t%s\n' "$(hyperfine --version)"
        printf 'python3\t%s\n' "$("$PY" --version 2>&1)"
        printf 'settings\tWARMUP=%s RUNS=%s RSS_RUNS=%s\n' "$WARMUP" "$RUNS" "$RSS_RUNS"
    } >"$WORK/meta.tsv"
}

ensure_tools
build_portscope
[ "$(id -u)" = 0 ] || say "warning: not root: ss/netstat/lsof/fuser see only your own processes"
write_meta
case "$SIZE" in
large) bench_large ;;
small) bench_small ;;
mid) bench_mid ;;
both)
    bench_large
    bench_small
    ;;
all)
    bench_large
    bench_mid
    bench_small
    ;;
esac
"$PY" "$HERE/report.py" "$WORK" | tee "$WORK/report.md"
