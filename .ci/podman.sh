#!/usr/bin/env bash
# Real containers for the tests (tests/containers.rs): podman from Debian's packages, a local
# busybox image, and a cleanup that leaves the host as it was. Runs as root.
#
#   .ci/podman.sh setup STATE_DIR    install if missing, write STATE_DIR/containers.conf,
#                                    import the image; prints KEY=VALUE lines for the caller
#   .ci/podman.sh cleanup STATE_DIR  remove our containers and image, and what netavark
#                                    added for them (chains, tables, bridge) when no other
#                                    container is left to need it; restore ip_forward;
#                                    idempotent
#
# Why these settings (this VM kind, checked by hand, see issue 12): runc, not crun (crun
# refuses the hybrid cgroup hierarchy: v1 controllers under /sys/fs/cgroup, cgroup2 at
# /sys/fs/cgroup/unified); explicit ulimits (podman's defaults exceed the hard nofile limit
# here); the cgroupfs manager where systemd is not PID 1; no registry is reachable, so the
# image is imported from a tarball of busybox-static's binary and its applet symlinks.
set -euo pipefail

IMAGE=localhost/portscope-busybox:test
LABEL=portscope.test=1

die() { echo "podman.sh: $*" >&2; exit 1; }
[[ $# -eq 2 ]] || die "usage: $0 setup|cleanup STATE_DIR"
cmd=$1 state=$2
[[ $(id -u) -eq 0 ]] || die "needs root"
mkdir -p "$state"
export CONTAINERS_CONF=$state/containers.conf

# The nftables tables that exist before podman runs: netavark (through iptables-nft) creates
# the ip/ip6 nat and filter tables where they are missing; cleanup removes only what it added.
tables() { nft list tables 2>/dev/null | sort || true; }
# Every chain as "FAMILY TABLE CHAIN", and every network link by name.
chains() {
    local fam tbl
    tables | while read -r _ fam tbl; do
        nft list table "$fam" "$tbl" 2>/dev/null | awk -v t="$fam $tbl" '/^\tchain / { print t, $2 }'
    done | sort || true
}
links() { ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort || true; }
# Whether a table holds any rule (a chain's own type/policy line is not one).
chain_empty() { nft list chain "$1" "$2" "$3" 2>/dev/null | awk '/^\t\t/ && !/^\t\ttype / { n++ } END { exit n }'; }
has_rules() { nft list table "$1" "$2" 2>/dev/null | awk '/^\t\t/ && !/^\t\ttype / { n++ } END { exit !n }'; }

install_missing() {
    local need=()
    command -v podman >/dev/null || need+=(podman)
    command -v runc >/dev/null || need+=(runc)
    [[ -x /usr/lib/podman/netavark ]] || need+=(netavark)
    [[ -x /bin/busybox || -x /usr/bin/busybox ]] || need+=(busybox-static)
    command -v nft >/dev/null || need+=(nftables)
    command -v iptables >/dev/null || need+=(iptables)
    if ((${#need[@]})); then
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        # Recommends bring crun, slirp and fuse-overlayfs we do not use, but also netavark
        # (the network backend), named explicitly.
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
            "${need[@]}" >/dev/null
    fi
}

write_conf() {
    local hard nofile manager
    hard=$(ulimit -Hn)
    nofile=4096
    [[ $hard != unlimited && $hard -lt $nofile ]] && nofile=$hard
    manager=cgroupfs
    [[ $(cat /proc/1/comm 2>/dev/null) == systemd ]] && manager=systemd
    cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "$manager"
events_logger = "file"

[network]
network_backend = "netavark"
EOF
}

build_image() {
    podman image exists "$IMAGE" && return
    local bb root
    bb=$(command -v busybox || echo /bin/busybox)
    # The image has no libc: only a static busybox (busybox-static) runs in it.
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
    podman import --quiet --change 'CMD ["/bin/sh"]' "$state/rootfs.tar" "$IMAGE" >/dev/null
    rm -f "$state/rootfs.tar"
}

# podman's cgroupfs parent in every cgroup hierarchy (v1 controllers and cgroup2).
libpod_cgroups() {
    awk '$0 ~ / - cgroup2? / { print $5 }' /proc/self/mountinfo | while read -r m; do
        [[ -d $m/libpod_parent ]] && echo "$m/libpod_parent"
    done | sort || true
}

setup() {
    install_missing
    # Recorded once, before the first container: a second setup must not take netavark's
    # own state for the host's.
    [[ -f $state/ip_forward ]] || cat /proc/sys/net/ipv4/ip_forward >"$state/ip_forward"
    [[ -f $state/tables ]] || tables >"$state/tables"
    [[ -f $state/chains ]] || chains >"$state/chains"
    [[ -f $state/links ]] || links >"$state/links"
    [[ -f $state/cgroups ]] || libpod_cgroups >"$state/cgroups"
    [[ -f $state/storage ]] || { [[ -d /var/lib/containers/storage ]] && echo kept || echo new; } >"$state/storage"
    write_conf
    build_image
    echo "CONTAINERS_CONF=$CONTAINERS_CONF"
    echo "IMAGE=$IMAGE"
    echo "LABEL=$LABEL"
}

# Deletes one netavark chain that setup did not find: first every rule that jumps to it (by
# handle), then the chain.
drop_chain() {
    local fam=$1 tbl=$2 name=$3 chain handle
    nft -a list table "$fam" "$tbl" 2>/dev/null | awk -v n="$name" '
        /^\tchain / { chain = $2 }
        /(jump|goto) / { for (i = 1; i < NF; i++) if (($i == "jump" || $i == "goto") && $(i+1) == n)
            for (j = 1; j < NF; j++) if ($j == "handle") print chain, $(j+1) }
    ' | while read -r chain handle; do
        nft delete rule "$fam" "$tbl" "$chain" handle "$handle" || true
    done
    nft flush chain "$fam" "$tbl" "$name" 2>/dev/null || true
    nft delete chain "$fam" "$tbl" "$name" 2>/dev/null || true
}

cleanup() {
    # Any container left that is not ours: what netavark added may serve it.
    local others=""
    if command -v podman >/dev/null && [[ -f $CONTAINERS_CONF ]]; then
        local ids
        ids=$(podman ps -aq --filter "label=$LABEL" 2>/dev/null || true)
        [[ -z $ids ]] || podman rm -f -t 0 $ids >/dev/null 2>&1 || true
        podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
        others=$(podman ps -aq 2>/dev/null || true)
        # Storage this script brought into being goes too, once nothing else is in it.
        if [[ $(cat "$state/storage" 2>/dev/null) == new && -z $others &&
              -z $(podman images -q 2>/dev/null) ]]; then
            podman system reset -f >/dev/null 2>&1 || true
            rm -rf /var/lib/containers /run/containers /run/libpod
        fi
    fi
    # What netavark added stays while any other container may depend on it: its chains carry
    # that container's rules, the bridge its interface.
    if [[ -z $others ]] && command -v nft >/dev/null && [[ -f $state/chains ]]; then
        local fam tbl chain line
        while read -r fam tbl chain; do
            [[ $chain == NETAVARK* ]] || continue
            grep -qxF "$fam $tbl $chain" "$state/chains" && continue
            drop_chain "$fam" "$tbl" "$chain"
        done < <(chains)
        # The base chains iptables-nft made on the way (POSTROUTING...), once empty.
        while read -r fam tbl chain; do
            grep -qxF "$fam $tbl $chain" "$state/chains" && continue
            chain_empty "$fam" "$tbl" "$chain" && nft delete chain "$fam" "$tbl" "$chain" 2>/dev/null || true
        done < <(chains)
        # A table iptables-nft created for netavark goes once it holds no rule.
        while read -r line; do
            [[ -n $line ]] || continue
            grep -qxF "$line" "$state/tables" && continue
            # shellcheck disable=SC2086
            has_rules ${line#table } || nft delete $line || true
        done < <(tables)
    fi
    # netavark removes podman0 with its last container; one left behind by a failed run goes
    # if setup did not find it and nothing is attached to it.
    if [[ -z $others && -f $state/links ]] && ! grep -qxF podman0 "$state/links" &&
        ip link show podman0 >/dev/null 2>&1 && [[ -z $(ip -o link show master podman0 2>/dev/null) ]]; then
        ip link delete podman0 || true
    fi
    # libpod_parent (and conmon's cgroup in it) where setup found none; rmdir refuses a
    # cgroup still in use, so a container outside our label keeps its own.
    if [[ -f $state/cgroups ]]; then
        local dir
        while read -r dir; do
            grep -qxF "$dir" "$state/cgroups" && continue
            find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done < <(libpod_cgroups)
    fi
    if [[ -z $others && -f $state/ip_forward ]]; then
        cat "$state/ip_forward" >/proc/sys/net/ipv4/ip_forward
    fi
    rm -f "$state/ip_forward" "$state/tables" "$state/chains" "$state/links" "$state/storage" \
        "$state/cgroups" "$CONTAINERS_CONF"
}

case $cmd in
    setup) setup ;;
    cleanup) cleanup ;;
    *) die "unknown command '$cmd'" ;;
esac
