#!/usr/bin/env bash
# Real docker for the tests (tests/docker.rs): Debian's docker.io, a dockerd of our own with
# all its state under STATE_DIR, a local busybox image, and a stop that leaves the host as it
# was. Runs as root.
#
#   .ci/docker.sh install            install what is missing (docker.io, docker-compose,
#                                    busybox-static, iptables); .ci/run calls it up front
#   .ci/docker.sh start STATE_DIR [DOCKERD_FLAG...]
#                                    record the host's firewall and sysctls, start dockerd
#                                    (extra flags such as --userland-proxy=false), create our
#                                    bridge network, import the image; prints KEY=VALUE lines
#   .ci/docker.sh stop STATE_DIR     remove our containers and network, stop dockerd, remove
#                                    what starting it added and STATE_DIR (the image with
#                                    it); idempotent
#
# Why these settings (this VM kind, checked by hand): no systemd, so dockerd is started here
# with its own --data-root/--exec-root/--pidfile and socket, and the cgroupfs driver (v1
# controllers plus cgroup2 at /sys/fs/cgroup/unified); --bridge=none, so no docker0 is made or
# taken over: our containers use a network of our own (bridge psd<N>) that goes with them; no
# registry is reachable, so the image is imported from a tarball of busybox-static's binary
# and its applet symlinks. /usr/bin/docker is Debian's client, named explicitly: another
# `docker` may come first in PATH.
set -euo pipefail

DOCKER=/usr/bin/docker
IMAGE=portscope-busybox:test
LABEL=portscope.test=1

die() { echo "docker.sh: $*" >&2; exit 1; }
[[ $# -ge 1 ]] || die "usage: $0 install | start STATE_DIR [FLAG...] | stop STATE_DIR"
cmd=$1
shift
[[ $(id -u) -eq 0 ]] || die "needs root"

install_missing() {
    local need=()
    [[ -x /usr/sbin/dockerd && -x $DOCKER ]] || need+=(docker.io)
    command -v docker-compose >/dev/null || need+=(docker-compose)
    [[ -x /bin/busybox || -x /usr/bin/busybox ]] || need+=(busybox-static)
    command -v iptables >/dev/null || need+=(iptables)
    command -v nft >/dev/null || need+=(nftables)
    if ((${#need[@]})); then
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        # Recommends would bring git, apparmor, ubuntu-fan... that the tests do not use.
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
            "${need[@]}" >/dev/null
    fi
}

# Every iptables rule and chain, per table, in `iptables -S` form: what existed before.
rules() {
    local t
    for t in filter nat; do
        iptables -w -t "$t" -S 2>/dev/null | sed "s/^/$t /" || true
    done
}
tables() { nft list tables 2>/dev/null | sort || true; }
# Every chain as "FAMILY TABLE CHAIN"; whether a chain or table holds any rule (a chain's own
# type/policy line is not one).
chains() {
    local fam tbl
    tables | while read -r _ fam tbl; do
        nft list table "$fam" "$tbl" 2>/dev/null | awk -v t="$fam $tbl" '/^\tchain / { print t, $2 }'
    done | sort || true
}
chain_empty() { nft list chain "$1" "$2" "$3" 2>/dev/null | awk '/^\t\t/ && !/^\t\ttype / { n++ } END { exit n }'; }
has_rules() { nft list table "$1" "$2" 2>/dev/null | awk '/^\t\t/ && !/^\t\ttype / { n++ } END { exit !n }'; }
sysctls() {
    local f
    for f in /proc/sys/net/ipv4/ip_forward /proc/sys/net/bridge/bridge-nf-call-iptables \
        /proc/sys/net/bridge/bridge-nf-call-ip6tables; do
        [[ -f $f ]] && echo "$f $(cat "$f")"
    done
    return 0
}

# runc's cgroupfs parent (/docker) in every cgroup hierarchy (v1 controllers and cgroup2).
docker_cgroups() {
    awk '$0 ~ / - cgroup2? / { print $5 }' /proc/self/mountinfo | while read -r m; do
        [[ -d $m/docker ]] && echo "$m/docker"
    done | sort || true
}

sock() { echo "unix://$state/docker.sock"; }
d() { "$DOCKER" -H "$(sock)" "$@"; }

# The pid `start` launched (dockerd's own --pidfile is written only once it is up).
running() { [[ -f $state/launched ]] && kill -0 "$(cat "$state/launched")" 2>/dev/null; }

start() {
    install_missing
    mkdir -p "$state"
    [[ -d /sys/fs/cgroup ]] || die "no /sys/fs/cgroup"
    # Another dockerd shares the DOCKER chains and the bridge-netfilter settings; ours
    # would change what it relies on, and its stop would undo ours.
    local other
    for other in $(pgrep -x dockerd || true); do
        [[ -f $state/launched && $other == $(cat "$state/launched") ]] && continue
        die "another dockerd runs here (pid $other): not starting a second one beside it"
    done
    # Recorded once, before our dockerd: a second start must not take its state for the host's.
    [[ -f $state/rules ]] || rules >"$state/rules"
    [[ -f $state/tables ]] || tables >"$state/tables"
    [[ -f $state/chains ]] || chains >"$state/chains"
    [[ -f $state/sysctls ]] || sysctls >"$state/sysctls"
    [[ -f $state/cgroups ]] || docker_cgroups >"$state/cgroups"
    [[ -f $state/forward ]] || { iptables -w -S FORWARD 2>/dev/null | awk '$1 == "-P" { print $3 }' >"$state/forward" || true; }
    if ! running; then
        # dockerd starts its own containerd (under --exec-root) and waits for nothing else.
        setsid /usr/sbin/dockerd \
            --data-root "$state/root" --exec-root "$state/exec" --pidfile "$state/docker.pid" \
            -H "$(sock)" --iptables=true --bridge=none \
            --exec-opt native.cgroupdriver=cgroupfs --log-level=warn "$@" \
            </dev/null >"$state/dockerd.log" 2>&1 &
        echo $! >"$state/launched"
        local i
        for ((i = 0; i < 600; i++)); do
            d version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
            running || die "dockerd ended: $(tail -n 5 "$state/dockerd.log")"
            sleep 0.1
        done
        d version >/dev/null 2>&1 || die "dockerd did not answer in 60 s: $(tail -n 5 "$state/dockerd.log")"
    fi
    local net
    net=psd$$
    [[ -f $state/network ]] && net=$(cat "$state/network")
    if ! d network inspect "$net" >/dev/null 2>&1; then
        d network create --label "$LABEL" -o "com.docker.network.bridge.name=$net" "$net" >/dev/null
    fi
    echo "$net" >"$state/network"
    if ! d image inspect "$IMAGE" >/dev/null 2>&1; then
        local bb root
        bb=$(command -v busybox || echo /bin/busybox)
        ldd "$bb" >/dev/null 2>&1 && die "$bb is dynamically linked: install busybox-static"
        root=$(mktemp -d "$state/rootfs.XXXXXX")
        mkdir -p "$root/bin" "$root/tmp" "$root/www"
        cp "$bb" "$root/bin/busybox"
        for applet in sh nc httpd sleep cat echo ls ps ip; do
            ln -s busybox "$root/bin/$applet"
        done
        echo portscope >"$root/www/index.html"
        tar -C "$root" -cf "$state/rootfs.tar" .
        rm -rf "$root"
        d import --change 'CMD ["/bin/sh"]' "$state/rootfs.tar" "$IMAGE" >/dev/null
        rm -f "$state/rootfs.tar"
    fi
    echo "DOCKER_HOST=$(sock)"
    echo "DOCKER=$DOCKER"
    echo "IMAGE=$IMAGE"
    echo "LABEL=$LABEL"
    echo "NETWORK=$net"
    echo "DATA_ROOT=$state/root"
}

# Removes every docker rule and chain (named in `iptables -S` form on stdin, with its table
# first) that the record of before does not hold: rules first (by their spec), then the
# chains. A rule that names neither a DOCKER chain nor our bridge is not docker's.
undo_rules() {
    local t line spec chains=() net
    net=$(cat "$state/network" 2>/dev/null || echo "-")
    while read -r t line; do
        [[ $line == *DOCKER* || $line == *" $net "* || $line == *" $net" ]] || continue
        grep -qxF "$t $line" "$state/rules" && continue
        case $line in
            "-A "*) spec=${line#-A }
                # shellcheck disable=SC2086 # the spec is iptables' own words, unquoted
                eval "iptables -w -t $t -D $spec" 2>/dev/null || true ;;
            "-N "*) chains+=("$t ${line#-N }") ;;
        esac
    done
    local c
    for c in "${chains[@]}"; do
        # shellcheck disable=SC2086
        set -- $c
        iptables -w -t "$1" -F "$2" 2>/dev/null || true
        iptables -w -t "$1" -X "$2" 2>/dev/null || true
    done
}

stop() {
    [[ -d $state ]] || return 0
    if running; then
        local ids
        ids=$(d ps -aq --filter "label=$LABEL" 2>/dev/null || true)
        # shellcheck disable=SC2086
        [[ -z $ids ]] || d rm -f $ids >/dev/null 2>&1 || true
        [[ -f $state/network ]] && d network rm "$(cat "$state/network")" >/dev/null 2>&1 || true
        local pid i
        pid=$(cat "$state/launched")
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 300; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # Our network's bridge, if dockerd died before removing it.
    if [[ -f $state/network ]]; then
        local net
        net=$(cat "$state/network")
        ip link show "$net" >/dev/null 2>&1 && ip link delete "$net" || true
    fi
    # dockerd leaves its chains (DOCKER, DOCKER-USER, DOCKER-ISOLATION-*) behind; only what
    # was not there before it started goes.
    if [[ -f $state/rules ]]; then
        rules | undo_rules
        # dockerd sets FORWARD's policy to DROP when it turns forwarding on.
        if [[ -n $(cat "$state/forward" 2>/dev/null) ]]; then
            iptables -w -P FORWARD "$(cat "$state/forward")" 2>/dev/null || true
        fi
        local fam tbl chain line
        # The base chains and tables iptables-nft made on the way, once empty.
        if [[ -f $state/chains ]]; then
            while read -r fam tbl chain; do
                grep -qxF "$fam $tbl $chain" "$state/chains" && continue
                chain_empty "$fam" "$tbl" "$chain" && nft delete chain "$fam" "$tbl" "$chain" 2>/dev/null || true
            done < <(chains)
        fi
        if [[ -f $state/tables ]]; then
            while read -r line; do
                [[ -n $line ]] || continue
                grep -qxF "$line" "$state/tables" && continue
                # shellcheck disable=SC2086
                has_rules ${line#table } || nft delete $line 2>/dev/null || true
            done < <(tables)
        fi
    fi
    if [[ -f $state/sysctls ]]; then
        local f v
        while read -r f v; do
            [[ -f $f ]] && echo "$v" >"$f" 2>/dev/null || true
        done <"$state/sysctls"
    fi
    # runc's cgroupfs parent (/docker) where start found none; rmdir refuses a cgroup still
    # in use.
    if [[ -f $state/cgroups ]]; then
        local dir
        while read -r dir; do
            grep -qxF "$dir" "$state/cgroups" && continue
            find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done < <(docker_cgroups)
    fi
    # Unmount anything dockerd left mounted in the state dir (a killed dockerd's overlays).
    awk -v s="$state/" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$state"
}

case $cmd in
    install) install_missing ;;
    start) [[ $# -ge 1 ]] || die "start needs STATE_DIR"; state=$1; shift; start "$@" ;;
    stop) [[ $# -eq 1 ]] || die "stop needs STATE_DIR"; state=$1; stop ;;
    *) die "unknown command '$cmd'" ;;
esac
