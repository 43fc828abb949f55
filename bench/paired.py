#!/usr/bin/env python3
"""Paired, shuffled timing of whole commands, for a host that other work keeps busy.

    bench/paired.py [--workload SIZE] N 'name=argv...' ['name=argv...' ...]

Runs every command once per round, in a new random order each round, N rounds, and
prints each command's median wall time and the median over rounds of its time divided
by the first command's time in the same round. Load that drifts over minutes then
moves both sides of each ratio alike, which hyperfine's one-command-after-another
groups do not allow for. `PORT` in a command is replaced by the workload's early port,
`LATE` by its late port.

--workload SIZE starts `bench/workload.py --size SIZE` (bounded, loopback only) first,
waits for its ready line and stops it at the end (closing its stdin). argv is split on
whitespace; no shell.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", metavar="SIZE")
    ap.add_argument("rounds", type=int)
    ap.add_argument("commands", nargs="+", metavar="name=argv")
    a = ap.parse_args()
    wl, port, late = None, "", ""
    if a.workload:
        wl = subprocess.Popen([sys.executable, os.path.join(HERE, "workload.py"), "--size",
                               a.workload, "--lifetime", "590"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = json.loads(wl.stdout.readline())
        port = str(ready["early_port"])
        late = str(ready["late_port"])
        print("workload %s: %d sockets, %d fds, %d processes, early port %s"
              % (a.workload, ready["sockets"], ready["fds"], len(ready["pids"]), port))
    try:
        cmds = {}
        for spec in a.commands:
            name, argv = spec.split("=", 1)
            cmds[name] = [w.replace("LATE", late).replace("PORT", port) for w in argv.split()]
        times = {k: [] for k in cmds}
        loads = []
        with open(os.devnull, "w") as null:
            for _ in range(a.rounds):
                order = list(cmds)
                random.shuffle(order)
                for k in order:
                    t0 = time.perf_counter()
                    subprocess.run(cmds[k], stdout=null, stderr=null, check=False)
                    times[k].append((time.perf_counter() - t0) * 1000)
                with open("/proc/loadavg") as f:
                    loads.append(f.read().split()[0])
        with open("/proc/sys/fs/file-nr") as f:
            filenr = f.read().split()[0]
        print("%d rounds; load average %s-%s; file-nr %s" % (a.rounds, min(loads, key=float),
                                                            max(loads, key=float), filenr))
        first = list(cmds)[0]
        print("| command | median ms | ÷ %s (paired median) |" % first)
        print("|---|---:|---:|")
        for k, v in times.items():
            r = statistics.median(x / y for x, y in zip(v, times[first]))
            print("| `%s` | %.1f | %.3f |" % (k, statistics.median(v), r))
    finally:
        if wl:
            wl.stdin.close()
            wl.wait()


if __name__ == "__main__":
    main()
