#!/usr/bin/env bash
# Where one owner source overtakes another: whole-process `portscope list --all --json`
# with each COMMAND below, under hyperfine, on loads of increasing descriptor counts made
# by bench/workload.py (one socket process holding SOCKETS sockets, plus file processes of
# at most 500 descriptors each; loopback only, bounded, cleaned up). Each load is measured
# in ROUNDS interleaved hyperfine rounds; the report gives the median of the rounds'
# medians, the host's /proc/sys/fs/file-nr and the descriptors actually open
# (every /proc/PID/fd entry).
#
#   bench/crossover.sh [FDS...]          (default: 0 250 500 1000 2000 4000 8000 16000)
#
# Environment:
#   COMMANDS  ;-separated `name=argv` pairs to compare (default: bpf and procfs owner
#             sources of $PORTSCOPE); e.g. to compare two builds:
#             COMMANDS='1 thread=/tmp/one list --all --json;2 threads=/tmp/two list --all --json'
#   PORTSCOPE binary (default: target/release/portscope; build it first)
#   SOCKETS   sockets in the socket process (default 100)
#   ROUNDS    interleaved rounds per load (default 3); RUNS hyperfine min runs (default 30)
# Needs root (RLIMIT_NOFILE, the bpf source), hyperfine and python3.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
P=${PORTSCOPE:-$REPO/target/release/portscope}
SOCKETS=${SOCKETS:-100}
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-30}
COMMANDS=${COMMANDS:-"bpf=$P list --all --json --owner-source bpf;procfs=$P list --all --json --owner-source procfs"}
FDS=("$@")
[ ${#FDS[@]} -gt 0 ] || FDS=(0 250 500 1000 2000 4000 8000 16000)
WORK=$(mktemp -d /tmp/portscope-crossover.XXXXXX)
WPID=
cleanup() {
    if [ -n "$WPID" ] && kill -0 "$WPID" 2>/dev/null; then
        eval "exec ${WL[1]}>&-" 2>/dev/null || true
        wait "$WPID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

IFS=';' read -r -a CMDS <<<"$COMMANDS"
printf '| workload fds | file-nr | open fds (/proc) | processes |'
for c in "${CMDS[@]}"; do printf ' %s ms |' "${c%%=*}"; done
printf ' load avg |\n|---:|---:|---:|---:|'
for c in "${CMDS[@]}"; do printf -- '---:|'; done
printf -- '---|\n'
for n in "${FDS[@]}"; do
    procs=$(((n + 499) / 500))
    per=$((procs > 0 ? (n + procs - 1) / procs : 0))
    coproc WL { exec python3 "$HERE/workload.py" --socket-procs 1 --sockets-per-proc "$SOCKETS" \
        --file-procs "$procs" --files-per-proc "$per" --lifetime 300; }
    WPID=$WL_PID
    IFS= read -r -t 120 _ <&"${WL[0]}" || { echo "crossover.sh: workload not ready" >&2; exit 1; }
    filenr=$(cut -f1 /proc/sys/fs/file-nr)
    open=$( (find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 2>/dev/null || true) | wc -l)
    nproc=$( (find /proc -maxdepth 1 -name '[0-9]*' 2>/dev/null || true) | wc -l)
    for ((r = 0; r < ROUNDS; r++)); do
        args=()
        for c in "${CMDS[@]}"; do args+=(-n "${c%%=*}" "${c#*=}"); done
        hyperfine -N -i --output=null --style none --warmup 3 --min-runs "$RUNS" \
            --export-json "$WORK/$n-$r.json" "${args[@]}" >/dev/null 2>&1
    done
    printf '| %s | %s | %s | %s |' "$((n + SOCKETS))" "$filenr" "$open" "$nproc"
    python3 - "$WORK" "$n" "$ROUNDS" <<'EOF'
import json, statistics, sys
work, n, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
per = {}
for r in range(rounds):
    for res in json.load(open(f"{work}/{n}-{r}.json"))["results"]:
        per.setdefault(res["command"], []).append(res["median"] * 1000)
print("".join(f" {statistics.median(v):.2f} |" for v in per.values()), end="")
EOF
    printf ' %s |\n' "$(cut -d' ' -f1 /proc/loadavg)"
    eval "exec ${WL[1]}>&-"
    wait "$WPID" 2>/dev/null || true
    WPID=
done
