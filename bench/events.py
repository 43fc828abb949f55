#!/usr/bin/env python3
"""watch from kernel events vs polling (issue 26's targets). Run as root from the
repository after `cargo build --release` and `gcc -O2 -o /tmp/bindloop bench/bindloop.c`:

    python3 bench/events.py [target/release/portscope] [/tmp/bindloop]

Everything runs in a private network namespace made here (nothing else in its table; the
kernel programs filter on it). Prints one line per figure."""
import ctypes, json, os, socket, statistics, subprocess, sys, time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/portscope"
LOOP = sys.argv[2] if len(sys.argv) > 2 else "/tmp/bindloop"
CLONE_NEWNET = 0x40000000


def private_netns():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        sys.exit("unshare: %s" % os.strerror(ctypes.get_errno()))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


class Watch:
    def __init__(self, mode, out=subprocess.PIPE, extra=()):
        self.sentinel = socket.socket()
        self.sentinel.bind(("127.0.0.1", 0))
        self.sentinel.listen()
        self.p = subprocess.Popen([BIN, "watch", "--events", mode, "--jsonl", "-n", *extra],
                                  stdout=out, stderr=subprocess.DEVNULL)
        self.f = self.p.stdout

    def line(self):
        return json.loads(self.f.readline())

    def until(self, ok):
        while True:
            v = self.line()
            if ok(v):
                return v

    def stop(self):
        self.p.terminate()
        self.p.wait()
        self.sentinel.close()


def port(v):
    return v.get("socket", {}).get("local", {}).get("port")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def latency(mode, n):
    w = Watch(mode)
    w.line()  # snapshot: attached
    lat = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        t0 = time.monotonic()
        s.listen()
        w.until(lambda v: v["event"] == "added" and port(v) == p)
        lat.append(time.monotonic() - t0)
        s.close()
        w.until(lambda v: v["event"] == "removed")
    w.stop()
    return lat


def short_lived(mode, runs, settle):
    """TCP listener and UDP socket living 1 ms each; how many are reported with our pid."""
    w = Watch(mode)
    w.line()
    me = os.getpid()
    ports = []
    for _ in range(runs):
        t = socket.socket(); t.bind(("127.0.0.1", 0)); t.listen()
        tp = t.getsockname()[1]; time.sleep(0.001); t.close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
        up = u.getsockname()[1]; time.sleep(0.001); u.close()
        ports.append((tp, up))
    time.sleep(settle)
    m = socket.socket(); m.bind(("127.0.0.9", 0)); m.listen()  # own address: ports repeat
    mp = m.getsockname()[1]
    seen = {}
    while True:
        v = w.line()
        if v["event"] == "added" and port(v) == mp and v["socket"]["local"]["address"] == "127.0.0.9":
            break
        if v["event"] in ("added", "removed") and v.get("by", {}).get("pid") == me:
            seen.setdefault(v["socket"]["inode"], []).append((v["event"], v["socket"]["protocol"], port(v)))
    m.close()
    w.stop()
    ok = 0
    byport = {}
    for evs in seen.values():
        if [e for e, _, _ in evs] == ["added", "removed"]:
            byport[(evs[0][1], evs[0][2])] = True
    for tp, up in ports:
        ok += byport.get(("tcp", tp), False) and byport.get(("udp", up), False)
    return ok


def burst(rate, secs):
    open("/tmp/evb/burst.jsonl", "w").close()
    # The child appends through its own description: our seeks must not move its offset.
    w = Watch("bpf", out=open("/tmp/evb/burst.jsonl", "a"))
    out = open("/tmp/evb/burst.jsonl")
    while os.path.getsize("/tmp/evb/burst.jsonl") == 0:
        time.sleep(0.01)  # the snapshot line: attached (output goes to a file, not read live)
    start = time.monotonic()
    n = 0
    slot = 0.001
    per = int(rate * slot)
    while time.monotonic() - start < secs:
        target = start + (n // per + 1) * slot
        for _ in range(per):
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); s.close()
            n += 1
        d = target - time.monotonic()
        if d > 0:
            time.sleep(d)
    took = time.monotonic() - start
    m = socket.socket(); m.bind(("127.0.0.9", 0)); m.listen(); mp = m.getsockname()[1]
    deadline = time.monotonic() + 120
    added = removed = lost = 0
    while time.monotonic() < deadline:
        out.seek(0)
        added = removed = lost = 0; done = False
        for l in out:
            if not l.endswith("\n"):
                break
            v = json.loads(l)
            if v["event"] == "added":
                added += 1
                done |= port(v) == mp and v["socket"]["local"]["address"] == "127.0.0.9"
            elif v["event"] == "removed":
                removed += 1
            elif v["event"] == "lost":
                lost += v["lost"]
        if done:
            break
        time.sleep(0.5)
    cpu = cpu_of(w.p.pid)
    w.stop(); m.close()
    return n, took, added - 1, removed, lost, cpu


def cpu_of(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def idle(mode, secs):
    w = Watch(mode)
    w.line()
    time.sleep(1)
    c0 = cpu_of(w.p.pid)
    time.sleep(secs)
    c1 = cpu_of(w.p.pid)
    w.stop()
    return (c1 - c0) / secs * 100


def loop_cost(kind, n, rounds):
    def run():
        return int(subprocess.run([LOOP, kind, str(n)], capture_output=True, text=True, check=True).stdout)
    without, with_ = [], []
    for _ in range(rounds):
        without.append(run())
        w = Watch("bpf", out=subprocess.DEVNULL)
        time.sleep(0.5)  # attach (output is discarded: no readiness line to read)
        with_.append(run())
        w.stop()
    return statistics.median(without), statistics.median(with_), without, with_


def prog_stats():
    """(name, run_time_ns, run_cnt) of our programs, from bpf_prog_info (needs
    kernel.bpf_stats_enabled=1): the time the kernel spends in them."""
    libc = ctypes.CDLL(None, use_errno=True)
    SYS_bpf = 321
    out = []
    pid = ctypes.c_uint32(0)
    while True:
        attr = (ctypes.c_uint32 * 3)(pid.value, 0, 0)
        if libc.syscall(SYS_bpf, 11, attr, 12) != 0:  # BPF_PROG_GET_NEXT_ID
            return out
        pid.value = attr[1]
        a2 = (ctypes.c_uint32 * 3)(pid.value, 0, 0)
        fd = libc.syscall(SYS_bpf, 13, a2, 12)  # BPF_PROG_GET_FD_BY_ID
        if fd < 0:
            continue
        info = ctypes.create_string_buffer(208)
        a3 = (ctypes.c_uint32 * 4)()
        a3[0] = fd; a3[1] = 208
        ptr = ctypes.addressof(info)
        a3[2] = ptr & 0xffffffff; a3[3] = ptr >> 32
        if libc.syscall(SYS_bpf, 15, a3, 16) == 0:  # BPF_OBJ_GET_INFO_BY_FD
            name = info.raw[64:80].split(b"\0")[0].decode()
            if name.startswith("ps_ev_"):
                rt = int.from_bytes(info.raw[192:200], "little")
                rc = int.from_bytes(info.raw[200:208], "little")
                out.append((name, rt, rc))
        os.close(fd)


def kernel_cost(n):
    """ns spent in our programs per call, while bindloop runs under watch."""
    open("/proc/sys/kernel/bpf_stats_enabled", "w").write("1")
    try:
        w = Watch("bpf", out=subprocess.DEVNULL)
        time.sleep(0.5)
        before = {k: (a, b) for k, a, b in prog_stats()}
        subprocess.run([LOOP, "tcp", str(n)], capture_output=True, check=True)
        subprocess.run([LOOP, "udp", str(n)], capture_output=True, check=True)
        after = {k: (a, b) for k, a, b in prog_stats()}
        w.stop()
    finally:
        open("/proc/sys/kernel/bpf_stats_enabled", "w").write("0")
    res = {}
    for k in after:
        dt = after[k][0] - before.get(k, (0, 0))[0]
        dc = after[k][1] - before.get(k, (0, 0))[1]
        res[k] = (dt / dc if dc else 0, dc)
    return res


def main():
    private_netns()
    what = sys.argv[3:] or ["latency", "short", "poll", "burst", "idle", "kcost", "cost"]
    if "latency" in what:
        lat = latency("bpf", 1000)
        print("events: listen() -> added line, 1000 listeners: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms"
              % tuple(x * 1e3 for x in (pct(lat, .5), pct(lat, .9), pct(lat, .99), max(lat))))
    if "short" in what:
        print("events: 1 ms TCP listener + 1 ms UDP socket, both added+removed with our pid: %d/100" % short_lived("bpf", 100, 0.0))
    if "poll" in what:
        lat = latency("poll", 20)
        print("poll (1s): listen() -> added line, 20 listeners: p50 %.0f ms, p90 %.0f ms, max %.0f ms"
              % tuple(x * 1e3 for x in (pct(lat, .5), pct(lat, .9), max(lat))))
        print("poll (1s): 1 ms TCP listener + 1 ms UDP socket reported: %d/100" % short_lived("poll", 100, 2.5))
    if "burst" in what:
        n, took, added, removed, lost, cpu = burst(10000, 10)
        print("events: burst %d listen/close pairs in %.1f s (%.0f/s): added %d, removed %d, lost records %d, watch CPU %.1f s"
              % (n, took, n / took, added, removed, lost, cpu))
    if "idle" in what:
        print("idle watch CPU over 30 s: events %.3f%% of a core" % idle("bpf", 30))
        print("idle watch CPU over 30 s: poll (1s) %.3f%% of a core" % idle("poll", 30))
    if "kcost" in what:
        for k, (ns, cnt) in sorted(kernel_cost(50000).items()):
            print("kernel time in %s: %.0f ns per run (%d runs)" % (k, ns, cnt))
    if "cost" in what:
        for kind in ("tcp", "udp"):
            a, b, xs, ys = loop_cost(kind, 50000, 5)
            print("%s socket+bind%s+close: %d ns without watch, %d ns with (median of 5 rounds of 50000; %s / %s): +%d ns"
                  % (kind, "+listen" if kind == "tcp" else "", a, b, xs, ys, b - a))


main()
