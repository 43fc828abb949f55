#!/usr/bin/env python3
"""Forked descriptor holders, for the millions-of-descriptors benchmark.

    bench/holders.py [--procs N] [--per M] [--distinct] [--lifetime S]

Binds one TCP listener on 127.0.0.1 (inherited by every holder), forks N processes that
each hold M more descriptors: dup'd from one /dev/null (one open file, as a pre-fork
server's children share theirs), or with --distinct each its own open of /dev/null (M
open files per process). Prints one JSON line {"port", "pids", "descriptors"} once every
holder is ready; everything ends when stdin closes, after --lifetime seconds, or on
SIGTERM (the holders also die with this process: PR_SET_PDEATHSIG).
"""
import argparse
import ctypes
import json
import os
import resource
import signal
import socket
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=118)
    ap.add_argument("--per", type=int, default=19500)
    ap.add_argument("--distinct", action="store_true")
    ap.add_argument("--lifetime", type=int, default=300)
    a = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.per + 64), hard))
    libc = ctypes.CDLL(None, use_errno=True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    null = os.open("/dev/null", os.O_RDONLY)
    r, w = os.pipe()
    kids = []
    for _ in range(a.procs):
        pid = os.fork()
        if pid == 0:
            os.close(r)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            try:
                for _ in range(a.per):
                    os.open("/dev/null", os.O_RDONLY) if a.distinct else os.dup(null)
                os.write(w, b"1")
            except OSError:
                os.write(w, b"0")
            signal.alarm(a.lifetime + 5)
            signal.pause()
            os._exit(0)
        kids.append(pid)
    os.close(w)
    got = b""
    while len(got) < a.procs:
        b = os.read(r, a.procs)
        if not b:
            break
        got += b
    if got != b"1" * a.procs:
        for k in kids:
            os.kill(k, signal.SIGKILL)
        sys.exit("holders.py: a holder could not open its descriptors")

    def bye(*_):
        for k in kids:
            os.kill(k, signal.SIGKILL)
        for k in kids:
            os.waitpid(k, 0)
        os._exit(0)

    signal.signal(signal.SIGTERM, bye)
    print(json.dumps({"port": listener.getsockname()[1], "pids": [os.getpid()] + kids,
                      "descriptors": a.procs * a.per}), flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), bye()), daemon=True).start()
    threading.Timer(a.lifetime, bye).start()
    signal.pause()


main()
