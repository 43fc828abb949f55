#!/usr/bin/env python3
"""Turns bench/run.sh's raw results (hyperfine JSON exports, /usr/bin/time -v output,
the workload's ready lines, meta.tsv) into the markdown report. Stdlib only.

    python3 bench/report.py RESULTS_DIR
"""

import glob
import json
import os
import re
import statistics
import sys

GROUPS = [
    # (file id, title, primary command name: the "portscope ÷ this" numerator)
    ("list", "Large: every socket with its owners", "portscope list --all --json"),
    ("who-early", "Large: who holds the early port (first socket process)", "portscope who PORT"),
    ("who-late", "Large: who holds the late port (last socket process)", "portscope who PORT"),
    ("who-free", "Large: who holds a free port", "portscope who PORT"),
    ("small", "Small: listening sockets", "portscope list"),
    ("mid-list", "Mid (~250 processes, ~70k fds): every socket with its owners",
     "portscope list --all --json"),
    ("mid-who", "Mid: who holds the early port", "portscope who PORT"),
]

# (label, group, numerator, denominator, limit) on ratios of medians.
RATIO_TARGETS = [
    ("list --all --json vs ss -tuanp", "list", "portscope list --all --json", "ss -tuanp", 0.12),
    ("mid: list --all --json vs ss -tuanp", "mid-list", "portscope list --all --json",
     "ss -tuanp", 0.15),
    ("procfs scan: list --all --json vs ss -tuanp", "list",
     "portscope list --all --json --owner-source procfs", "ss -tuanp", 0.45),
    ("mid: procfs scan vs ss -tuanp", "mid-list",
     "portscope list --all --json --owner-source procfs", "ss -tuanp", 0.45),
    ("mid: who PORT, owners found, vs ss", "mid-who", "portscope who PORT",
     "ss -tanp 'sport = :PORT'", 0.12),
    ("small workload: list vs ss -tulnp", "small", "portscope list",
     "ss -tulnp (listening only)", 0.60),
    ("list --all --json vs lsof -nP -i", "list", "portscope list --all --json", "lsof -nP -i", 0.20),
    ("who PORT, free port, vs ss", "who-free", "portscope who PORT", "ss -tanp 'sport = :PORT'", 0.05),
    ("who PORT, owners found (early port), vs ss", "who-early", "portscope who PORT",
     "ss -tanp 'sport = :PORT'", 0.12),
    ("who PORT, owners found (late port), vs ss", "who-late", "portscope who PORT",
     "ss -tanp 'sport = :PORT'", 0.12),
    ("who --first PORT, early port, vs ss", "who-early", "portscope who --first PORT",
     "ss -tanp 'sport = :PORT'", 0.10),
    ("small workload: list vs ss -tuanp", "small", "portscope list", "ss -tuanp", 0.80),
]

RSS_TARGETS = [
    ("peak RSS, large: list --all --json", "portscope list --all --json", 10 * 1024),
    ("peak RSS, large: list --all (table)", "portscope list --all (table)", 30 * 1024),
]


def load_group(d, gid):
    path = os.path.join(d, "hf-%s.json" % gid)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return {r["command"]: r for r in json.load(f)["results"]}


def ratio(x):
    return ("%.3f×" if x < 0.1 else "%.2f×") % x


def ms(x):
    return "%.1f" % (x * 1000) if x < 10 else "%.0f" % (x * 1000)


def rss_runs(d):
    """{name: [max RSS KiB per run]} from rss-NAME-I.txt files."""
    out = {}
    for path in sorted(glob.glob(os.path.join(d, "rss-*.txt"))):
        name = re.sub(r"-\d+\.txt$", "", os.path.basename(path))[len("rss-"):]
        with open(path) as f:
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
        if m:
            out.setdefault(name, []).append(int(m.group(1)))
    return out


def read_ready(d, size):
    path = os.path.join(d, "ready-%s.json" % size)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.loads(f.readline())


def read_kv(path, sep):
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if sep in line:
                    k, v = line.rstrip("\n").split(sep, 1)
                    out[k] = v
    return out


def main(d):
    lines = []
    p = lines.append
    meta = read_kv(os.path.join(d, "meta.tsv"), "\t")
    groups = {gid: load_group(d, gid) for gid, _, _ in GROUPS}
    busy = read_kv(os.path.join(d, "quiet.tsv"), "\t")
    large, small = read_ready(d, "large"), read_ready(d, "small")
    mid = read_ready(d, "mid")
    ports = {}
    if large:
        ports = {"who-early": large["early_port"], "who-late": large["late_port"],
                 "who-free": large["free_port"]}
    if mid:
        ports["mid-who"] = mid["early_port"]

    p("## Workloads")
    p("")
    for size, r in (("large", large), ("mid", mid), ("small", small)):
        if not r:
            continue
        st = read_kv(os.path.join(d, "state-%s.txt" % size), "=")
        c = r["config"]
        p("- **%s**: %d socket processes x %d sockets + %d file processes x %d files = "
          "%d sockets, %d workload fds; host totals during the run: %s TCP + %s UDP sockets, "
          "%s processes, load average %s. Ports: early %s (pid %s), late %s (pid %s), "
          "free %s; PIDs in fork order: %s."
          % (size, c["socket_procs"], c["sockets_per_proc"], c["file_procs"],
             c["files_per_proc"], r["sockets"], r["fds"], st.get("tcp_sockets", "?"),
             st.get("udp_sockets", "?"), st.get("processes", "?"), st.get("loadavg", "?"),
             r["early_port"], r["early_pid"], r["late_port"], r["late_pid"],
             r["free_port"], "yes" if r.get("pids_increasing") else "no"))
    p("")

    p("## Wall time (hyperfine, medians)")
    p("")
    p("`portscope ÷ this` is the median of the group's portscope command (first row) "
      "divided by this row's median: below 1 means portscope is faster.")
    for gid, title, primary in GROUPS:
        g = groups.get(gid)
        if not g:
            continue
        port = ports.get(gid)
        p("")
        p("### %s%s" % (title, " (PORT = %d)" % port if port else ""))
        p("")
        if gid in busy:
            p("Host CPU use just before this group (all processes, over 1 s): %s%%." % busy[gid])
            p("")
        p("| command | median ms | mean ± σ ms | min ms | runs | portscope ÷ this |")
        p("|---|---:|---:|---:|---:|---:|")
        base = g[primary]["median"] if primary in g else None
        for name, r in g.items():
            rat = ratio(base / r["median"]) if base else "?"
            p("| `%s` | %s | %s ± %s | %s | %d | %s |"
              % (name, ms(r["median"]), ms(r["mean"]), ms(r["stddev"] or 0.0), ms(r["min"]),
                 len(r["times"]), rat))

    rss = rss_runs(d)
    if rss:
        p("")
        p("## Peak RSS, large workload (`/usr/bin/time -v`, output to /dev/null)")
        p("")
        if "rss" in busy:
            p("Host CPU use just before: %s%%." % busy["rss"])
            p("")
        p("| command | median MiB | max MiB | runs |")
        p("|---|---:|---:|---:|")
        for name, v in rss.items():
            p("| `%s` | %.1f | %.1f | %d |"
              % (name, statistics.median(v) / 1024, max(v) / 1024, len(v)))

    p("")
    p("## Targets")
    p("")
    p("| target | limit | measured | |")
    p("|---|---:|---:|---|")
    missed = []
    for label, gid, num, den, limit in RATIO_TARGETS:
        g = groups.get(gid)
        if not g or num not in g or den not in g:
            continue
        v = g[num]["median"] / g[den]["median"]
        ok = v <= limit
        if not ok:
            missed.append(label)
        p("| %s | ≤ %.2f× | %s (%s / %s ms) | %s |"
          % (label, limit, ratio(v), ms(g[num]["median"]), ms(g[den]["median"]),
             "met" if ok else "**missed**"))
    for label, name, limit_kib in RSS_TARGETS:
        if name not in rss:
            continue
        v = max(rss[name])
        ok = v <= limit_kib
        if not ok:
            missed.append(label)
        p("| %s (max of runs) | ≤ %d MiB | %.1f MiB | %s |"
          % (label, limit_kib // 1024, v / 1024, "met" if ok else "**missed**"))

    sanity = read_kv(os.path.join(d, "sanity.tsv"), "\t")
    if sanity:
        bad = [k for k, v in sanity.items() if v != "yes"]
        p("")
        p("Sanity (each tool's output names the expected holder, or none for the free "
          "port): %s." % ("all %d checks passed" % len(sanity) if not bad
                          else "FAILED: " + "; ".join("`%s`" % b for b in bad)))

    if meta:
        p("")
        p("## Machine and versions")
        p("")
        for k, v in meta.items():
            p("- %s: %s" % (k, v))
    print("\n".join(lines))
    if missed:
        sys.stderr.write("report.py: targets missed: %s\n" % "; ".join(missed))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RESULTS_DIR")
    main(sys.argv[1])
