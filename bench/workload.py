#!/usr/bin/env python3
"""Bounded, loopback-only, self-cleaning socket and file-descriptor workload for
benchmarking portscope against ss, netstat, lsof and fuser.

What it does
  * forks socket-holding processes, each opening a mix of sockets over loopback only
    (127.0.0.1 and ::1): TCP listeners (v4 and v6), established TCP pairs (client and
    accepted end, both held by the same process), UDP bound, UDP connected;
  * forks file-holding processes, each re-opening one unlinked temp file and /dev/null
    many times (ordinary file descriptors that every /proc/PID/fd scanner must read);
  * prints ONE JSON line to stdout once every child has reported (through its own pipe)
    that everything is open:
      {"ready": true, "pids": [...], "early_port": N, "late_port": M, "free_port": K,
       "sockets": S, "fds": F, ...}
  * then waits until stdin reaches EOF, SIGTERM/SIGINT/SIGHUP, or --lifetime ends, and
    ends the processes it started, by PID (SIGTERM, then SIGKILL), and reaps them.

Fork order: socket process #0 (holds early_port), then every file process, then socket
processes #1..N-1 (the last holds late_port). A /proc scan in PID order therefore meets
early_port's holder before the file processes and late_port's holder after all of them.
If the PID counter would wrap around pid_max meanwhile, PIDs are burnt first (fork and
exit) until it has wrapped, so that fork order stays PID order ("pids_increasing").
free_port is below the ephemeral range and unused by any TCP/UDP socket, v4 or v6.

Bounds
  * --lifetime is capped at 600 s. Children die with the parent (PR_SET_PDEATHSIG), when
    the parent's lifeline pipe closes, and on their own alarm(2) shortly after the
    lifetime, whichever comes first.
  * Nothing is ever bound or connected outside 127.0.0.1 and ::1. Connections are closed
    with SO_LINGER {on, 0} (RST), so no TIME_WAIT sockets outlive the workload.

Python 3 standard library only (Debian's python3 is enough). Linux only.
"""

import argparse
import ctypes
import errno
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import tempfile
import time

MAX_LIFETIME = 600
PR_SET_PDEATHSIG = 1
LOOPBACK = {socket.AF_INET: "127.0.0.1", socket.AF_INET6: "::1"}

PRESETS = {
    # check.sh: seconds to start and stop.
    "tiny": dict(socket_procs=2, sockets_per_proc=6, file_procs=1, files_per_proc=8),
    # "a handful of sockets", like an idle laptop plus a dev server or two.
    "small": dict(socket_procs=2, sockets_per_proc=6, file_procs=2, files_per_proc=16),
    # A database-server-like host: ~250 processes in all (with a quiet host's ~80) and
    # ~70,000 descriptors: 40 x 175 sockets (7,000) plus 130 x 485 open files.
    "mid": dict(socket_procs=40, sockets_per_proc=175, file_procs=130, files_per_proc=485),
    # ~10,000 sockets across 50 processes, plus 200 processes x 500 open files.
    "large": dict(socket_procs=50, sockets_per_proc=200, file_procs=200, files_per_proc=500),
}


class Stop(Exception):
    """Raised by the parent's signal handlers to unwind into cleanup."""


def log(msg):
    sys.stderr.write("workload: %s\n" % msg)
    sys.stderr.flush()


def socket_mix(n):
    """How n sockets of one process split: (listeners, established pairs, udp bound,
    udp connected). Pairs count twice. Always at least one TCP listener (v4 first)."""
    n_listen = max(1, round(n * 0.10))
    n_listen = min(n_listen, n) if n > 0 else 0
    n_pairs = min(round(n * 0.30), (n - n_listen) // 2)
    n_udp_bound = min(round(n * 0.15), n - n_listen - 2 * n_pairs)
    n_udp_conn = n - n_listen - 2 * n_pairs - n_udp_bound
    return n_listen, n_pairs, n_udp_bound, n_udp_conn


def ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def ipv6_loopback_works():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(("::1", 0))
        finally:
            s.close()
        return True
    except OSError:
        return False


def set_pdeathsig(expected_ppid):
    """Ask the kernel to SIGKILL us when the parent dies; if it already has, go now."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the lifeline pipe and alarm(2) still bound our life
    if os.getppid() != expected_ppid:
        os._exit(1)


def close_all_but(keep):
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def linger_rst(s):
    # close() then sends RST: no TIME_WAIT left behind in the kernel's tables.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def open_sockets(n, families):
    """Opens n sockets in this process; returns (objects to keep, first v4 listen port)."""
    n_listen, n_pairs, n_udp_bound, n_udp_conn = socket_mix(n)
    keep = []
    listeners = []  # (family, socket, port)
    for i in range(n_listen):
        fam = families[i % len(families)]
        s = socket.socket(fam, socket.SOCK_STREAM)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((LOOPBACK[fam], 0))
        s.listen(128)
        listeners.append((fam, s, s.getsockname()[1]))
        keep.append(s)
    for i in range(n_pairs):
        fam, ls, port = listeners[i % len(listeners)]
        c = socket.socket(fam, socket.SOCK_STREAM)
        linger_rst(c)
        c.connect((LOOPBACK[fam], port))
        a, _ = ls.accept()
        linger_rst(a)
        keep.extend((c, a))
    udp_bound = {f: [] for f in families}
    for i in range(n_udp_bound):
        fam = families[i % len(families)]
        u = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        u.bind((LOOPBACK[fam], 0))
        udp_bound[fam].append(u.getsockname()[1])
        keep.append(u)
    for i in range(n_udp_conn):
        fam = families[i % len(families)]
        u = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        u.bind((LOOPBACK[fam], 0))
        peers = udp_bound[fam] or [listeners[0][2]]
        # connect() on UDP sends nothing; it only fixes the peer (loopback).
        u.connect((LOOPBACK[fam], peers[i % len(peers)]))
        keep.append(u)
    first_v4 = next((p for f, _, p in listeners if f == socket.AF_INET), listeners[0][2])
    return keep, first_v4


def open_files(n, tmp_fd):
    fds = []
    for i in range(n):
        if i % 2 == 0:
            # A new open file description of the same unlinked temp file.
            fds.append(os.open("/proc/self/fd/%d" % tmp_fd, os.O_RDONLY | os.O_CLOEXEC))
        else:
            fds.append(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))
    return fds


def child_main(kind, index, count, ready_w, lifeline_r, tmp_fd, families, alarm_s, ppid):
    """Runs in a forked child; never returns."""
    code = 0
    try:
        set_pdeathsig(ppid)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.alarm(max(1, alarm_s))
        # Hold nothing of the parent's: not its stdout (the reader waits for EOF there),
        # not the other children's pipes.
        devnull = os.open("/dev/null", os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.close(devnull)
        close_all_but({ready_w, lifeline_r, tmp_fd})
        msg = {"kind": kind, "index": index, "pid": os.getpid()}
        try:
            if kind == "sock":
                keep, port = open_sockets(count, families)
                msg.update(sockets=len(keep), fds=len(keep), port=port)
            else:
                keep = open_files(count, tmp_fd)
                msg.update(sockets=0, fds=len(keep))
        except OSError as e:
            msg["error"] = "%s process %d: %s" % (kind, index, e)
            code = 1
        os.close(tmp_fd)
        os.write(ready_w, (json.dumps(msg) + "\n").encode())
        os.close(ready_w)
        if code == 0:
            # Wait for the lifeline to close (parent gone or done), a signal, or the alarm.
            while True:
                try:
                    if not os.read(lifeline_r, 1):
                        break
                except InterruptedError:
                    continue
    except BaseException:  # noqa: BLE001 - a child must never return into the parent's code
        code = 1
    os._exit(code)


def used_local_ports():
    used = set()
    for name in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open("/proc/net/" + name) as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) > 2:
                        used.add(int(parts[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return used


def pick_free_port(families):
    """A port below the ephemeral range (so nothing picks it meanwhile) that no socket
    uses locally, TCP or UDP, v4 or v6, and that binds on loopback."""
    lo, _ = ephemeral_range()
    used = used_local_ports()
    for port in range(min(lo, 65536) - 1, 1024, -1):
        if port in used:
            continue
        ok = True
        for fam in families:
            for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(fam, typ)
                try:
                    s.bind((LOOPBACK[fam], port))
                except OSError:
                    ok = False
                finally:
                    s.close()
        if ok:
            return port
    return None


def avoid_pid_wrap(n):
    """Fork order is meant to be PID order (a /proc scan meets early_port's holder first
    and late_port's last). If the PID counter would wrap around pid_max while the n
    children are forked, burn PIDs first (fork + immediate exit) until it has wrapped.
    Returns how many PIDs were burnt."""
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            pid_max = int(f.read())
        with open("/proc/sys/kernel/ns_last_pid") as f:
            last = int(f.read())
    except (OSError, ValueError):
        return 0
    if last + n + 200 < pid_max:
        return 0
    burnt, prev = 0, last
    while burnt <= pid_max:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        burnt += 1
        if pid < prev:
            break
        prev = pid
    return burnt


def raise_nofile(per_child):
    need = per_child + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return
        except (ValueError, OSError) as e:
            raise SystemExit(
                "workload: need RLIMIT_NOFILE >= %d per process, hard limit is %d and "
                "cannot be raised (%s): run as root or lower the sizes" % (need, hard, e)
            )
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=sorted(PRESETS), default="small",
                   help="preset (default: small); explicit knobs below override it")
    p.add_argument("--socket-procs", type=int, help="socket-holding processes")
    p.add_argument("--sockets-per-proc", type=int,
                   help="sockets per socket process: ~10%% TCP listeners (v4/v6), "
                        "~60%% in established loopback pairs, ~15%% UDP bound, "
                        "~15%% UDP connected")
    p.add_argument("--file-procs", type=int, help="file-holding processes")
    p.add_argument("--files-per-proc", type=int,
                   help="open files per file process (an unlinked temp file and /dev/null)")
    p.add_argument("--lifetime", type=float, default=300.0,
                   help="hard cap in seconds (max %d, default 300): everything is closed "
                        "by then" % MAX_LIFETIME)
    p.add_argument("--ipv4-only", action="store_true", help="no ::1 sockets")
    p.add_argument("--ignore-stdin", action="store_true",
                   help="do not stop when stdin closes (only on a signal or --lifetime)")
    a = p.parse_args(argv)
    for k, v in PRESETS[a.size].items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    for k in ("socket_procs", "sockets_per_proc", "file_procs", "files_per_proc"):
        if getattr(a, k) < 0:
            p.error("--%s must be >= 0" % k.replace("_", "-"))
    if a.socket_procs < 1 or a.sockets_per_proc < 1:
        p.error("at least one socket process with at least one socket is needed")
    if a.socket_procs > 1000 or a.file_procs > 1000:
        p.error("at most 1000 processes of each kind")
    if a.sockets_per_proc > 20000 or a.files_per_proc > 20000:
        p.error("at most 20000 sockets or files per process")
    if not 0 < a.lifetime <= MAX_LIFETIME:
        p.error("--lifetime must be in (0, %d]" % MAX_LIFETIME)
    return a


def main(argv=None):
    a = parse_args(argv if argv is not None else sys.argv[1:])
    t0 = time.monotonic()
    deadline = t0 + a.lifetime
    families = [socket.AF_INET]
    if not a.ipv4_only:
        if ipv6_loopback_works():
            families.append(socket.AF_INET6)
        else:
            log("::1 unusable: IPv4 only")

    # Ports: listeners and UDP binds take port 0 (the ephemeral range), so do the
    # client ends of established pairs. Refuse loads the range cannot hold.
    lo, hi = ephemeral_range()
    n_listen, n_pairs, n_udp_bound, n_udp_conn = socket_mix(a.sockets_per_proc)
    tcp_ports = a.socket_procs * (n_listen + n_pairs)
    udp_ports = a.socket_procs * (n_udp_bound + n_udp_conn)
    span = hi - lo + 1
    if max(tcp_ports, udp_ports) > span * 0.8:
        raise SystemExit("workload: needs %d TCP / %d UDP ports from the ephemeral range "
                         "%d-%d (%d ports): lower the sizes" % (tcp_ports, udp_ports, lo, hi, span))

    raise_nofile(max(a.sockets_per_proc, a.files_per_proc))

    children = []  # pids, fork order
    ready_fds = {}  # read end -> pid
    lifeline_r, lifeline_w = os.pipe()
    tmp = tempfile.TemporaryFile(prefix="portscope-bench-")  # unlinked (or O_TMPFILE)
    me = os.getpid()

    def on_signal(signum, _frame):
        raise Stop(signal.Signals(signum).name)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, on_signal)
    signal.alarm(max(1, int(a.lifetime + 0.999)))

    plan = [("sock", 0, a.sockets_per_proc)]
    plan += [("file", i, a.files_per_proc) for i in range(a.file_procs)]
    plan += [("sock", i, a.sockets_per_proc) for i in range(1, a.socket_procs)]

    status = 0
    try:
        burnt = avoid_pid_wrap(len(plan))
        for kind, index, count in plan:
            r, w = os.pipe()
            remaining = max(1, int(deadline - time.monotonic()) + 2)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                child_main(kind, index, count, w, lifeline_r, tmp.fileno(), families,
                           remaining, me)
            os.close(w)
            children.append(pid)
            ready_fds[r] = pid
        tmp.close()
        os.close(lifeline_r)

        # Readiness: one JSON line per child through its own pipe; EOF without it means
        # the child died.
        reports = {}
        poller = select.poll()
        for r in ready_fds:
            poller.register(r, select.POLLIN | select.POLLHUP)
        bufs = {r: b"" for r in ready_fds}
        while len(reports) < len(children):
            left = deadline - time.monotonic()
            if left <= 0:
                raise Stop("lifetime ended before the workload was ready")
            for r, _ev in poller.poll(left * 1000):
                chunk = os.read(r, 65536)
                if chunk:
                    bufs[r] += chunk
                    continue
                poller.unregister(r)
                os.close(r)
                pid = ready_fds[r]
                line = bufs[r].split(b"\n", 1)[0]
                if not line:
                    raise Stop("child %d exited before reporting ready" % pid)
                msg = json.loads(line)
                if "error" in msg:
                    raise Stop(msg["error"])
                reports[pid] = msg

        socks = sorted((m for m in reports.values() if m["kind"] == "sock"),
                       key=lambda m: m["index"])
        free_port = pick_free_port(families)
        ready = {
            "ready": True,
            "parent_pid": me,
            "pids": children,
            "socket_pids": [m["pid"] for m in socks],
            "file_pids": [m["pid"] for m in reports.values() if m["kind"] == "file"],
            "early_port": socks[0]["port"],
            "early_pid": socks[0]["pid"],
            "late_port": socks[-1]["port"],
            "late_pid": socks[-1]["pid"],
            "free_port": free_port,
            "sockets": sum(m["sockets"] for m in reports.values()),
            "fds": sum(m["fds"] for m in reports.values()),
            "pids_increasing": children == sorted(children),
            "pids_burnt": burnt,
            "families": ["ipv4" if f == socket.AF_INET else "ipv6" for f in families],
            "ephemeral_range": [lo, hi],
            "lifetime_s": a.lifetime,
            "startup_s": round(time.monotonic() - t0, 3),
            "config": {k: getattr(a, k) for k in
                       ("size", "socket_procs", "sockets_per_proc", "file_procs",
                        "files_per_proc")},
        }
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()

        # Wait for stdin EOF, a signal (Stop), or the end of the lifetime (alarm -> Stop).
        watch_stdin = not a.ignore_stdin
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if watch_stdin:
                try:
                    rl, _, _ = select.select([0], [], [], left)
                except (OSError, ValueError):
                    watch_stdin = False
                    continue
                if rl:
                    try:
                        data = os.read(0, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        break
            else:
                signal.pause() if left > 1 else time.sleep(left)
    except Stop as e:
        reason = str(e)
        if reason not in ("SIGTERM", "SIGINT", "SIGHUP", "SIGALRM"):
            log(reason)
            status = 1
    except BrokenPipeError:
        status = 1
    finally:
        signal.alarm(0)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        cleanup(children, lifeline_w)
    return status


def cleanup(children, lifeline_w):
    """Ends the processes this workload started, by PID, and reaps every one of them."""
    try:
        os.close(lifeline_w)  # children waiting on the lifeline exit on EOF
    except OSError:
        pass
    alive = set()
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
            alive.add(pid)
        except ProcessLookupError:
            pass
    for pid in list(children):
        if pid not in alive:
            # Already dead but maybe not reaped.
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
    end = time.monotonic() + 5.0
    while alive and time.monotonic() < end:
        for pid in list(alive):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                alive.discard(pid)
        if alive:
            time.sleep(0.01)  # polling reaping, not synchronisation of a ready signal
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


if __name__ == "__main__":
    sys.exit(main())
