//! `list --all --json` while sockets open and close and processes come and go as fast as
//! they can, in a private network namespace: every run succeeds, every document parses
//! strictly, and no socket is ever attributed to a process that never held its port.
//!
//! Replay a workload with `PORTSCOPE_SEED=<seed> cargo test --test it churn::`.

// Live kernel socket tables, network namespaces and Linux-only libc calls.
#![cfg(target_os = "linux")]

use crate::common;
use crate::common::workload;
use portscope::model::OwnerReason;

use common::{doc, portscope, quiet_netns, skip, Listener};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workload::{Helper, Rng};

/// Runs of `list` against the churn. A count, not a time budget: each run is checked
/// whole, however long a busy machine makes it take (a run that hangs fails at its own
/// timeout). 60 runs meet on the order of a hundred spawns and thousands of socket
/// iterations, the events the test is about (counted and printed below).
const RUNS: usize = 60;
/// A run that takes longer has hung, not slowed down: the debug binary takes well under
/// a second, and ~2 s with both cores busy.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

type Owners = BTreeMap<(String, u16), BTreeSet<u32>>;

/// Spawns and reaps `portscope listen` children until `stop`, recording who held what.
fn spawner(seed: u64, stop: Arc<AtomicBool>, owners: Arc<Mutex<Owners>>, n: Arc<AtomicUsize>) {
    const SPECS: [&str; 5] = ["0", "0/udp", "[::1]:0", "[::1]:0/udp", "[::]:0"];
    let mut rng = Rng::new(seed);
    while !stop.load(Ordering::Relaxed) {
        let mut args: Vec<&str> = (0..rng.range(1, 3)).map(|_| *rng.pick(&SPECS)).collect();
        if rng.one_in(3) {
            args.push("--fork");
        }
        let l = Listener::start(&args);
        {
            let mut o = owners.lock().unwrap();
            for s in &l.opened {
                o.entry((s.protocol.as_str().to_string(), s.port))
                    .or_default()
                    .extend(s.pids.iter().copied());
            }
        }
        n.fetch_add(1, Ordering::Relaxed);
        drop(l); // closes stdin; `listen` exits and is reaped
    }
}

#[test]
fn list_stays_exact_while_sockets_and_processes_churn() {
    if !quiet_netns() {
        return;
    }
    if !workload::ipv6_loopback() {
        skip("no IPv6 loopback in a new network namespace");
        return;
    }
    let seed = std::env::var("PORTSCOPE_SEED")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(workload::clock_seed);
    let ctx = format!("seed {seed} (replay: PORTSCOPE_SEED={seed} cargo test --test it churn::)");
    let start = Instant::now();

    // Socket churn in helper processes that never spawn anything (so no half-spawned
    // child ever holds a copy of their sockets); process churn from this process, which
    // holds no sockets of this namespace.
    let helpers: Vec<Helper> = (0..2)
        .map(|i| Helper::start(&format!("churn:1:{}", seed.wrapping_add(i))))
        .collect();
    let helper_pids: Vec<u32> = helpers.iter().map(Helper::pid).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let owners = Arc::new(Mutex::new(Owners::new()));
    let spawned = Arc::new(AtomicUsize::new(0));
    let spawner = {
        let (stop, owners, spawned) = (stop.clone(), owners.clone(), spawned.clone());
        std::thread::spawn(move || spawner(seed ^ 0x5eed, stop, owners, spawned))
    };

    // (protocol, local port, pid, run) for every owner reported.
    let mut seen: Vec<(String, u16, u32, usize)> = Vec::new();
    let mut sockets_seen = 0usize;
    let mut hidden = 0usize;
    let mut reasons: std::collections::BTreeMap<OwnerReason, usize> = Default::default();
    let opaque_process = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| {
            let fd = format!("/proc/{pid}/fd");
            std::fs::read_dir(&fd).is_ok_and(|mut d| {
                d.next()
                    .and_then(|e| e.ok())
                    .is_some_and(|e| std::fs::read_link(e.path()).is_err())
            })
        });
    // One listener that stays through the churn: every run must name its one holder.
    let steady = Listener::start(&["0"]);
    let (steady_port, steady_pids) = (steady.port(0), steady.opened[0].pids.clone());
    // By address too: a churn socket of the other family may get the same port number.
    let steady_address = steady.opened[0].address;
    let mut runs = 0usize;
    let mut slowest = (Duration::ZERO, 0usize);
    let spawned_before = spawned.load(Ordering::Relaxed);
    while runs < RUNS {
        let t = Instant::now();
        let out = portscope()
            .args(["list", "--all", "--json"])
            .timeout(RUN_TIMEOUT)
            .output()
            .expect("run portscope");
        assert_eq!(
            out.status.code(),
            Some(0),
            "run {runs}: list --all --json failed, {ctx}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        slowest = slowest.max((t.elapsed(), runs));
        let d = doc(&out.stdout);
        let steady_holders: Vec<Vec<u32>> = d
            .sockets
            .iter()
            .filter(|s| s.local.port == steady_port && s.protocol.as_str() == "tcp")
            .filter(|s| s.local.address == steady_address)
            .map(|s| s.processes.iter().map(|p| p.pid).collect())
            .collect();
        assert_eq!(
            steady_holders,
            vec![steady_pids.clone()],
            "run {runs}: the steady listener and its holder, {ctx}"
        );
        for s in &d.sockets {
            sockets_seen += 1;
            hidden += usize::from(s.owner == portscope::model::Owner::Hidden);
            // Strict parsing already proved each reason is one of the published strings;
            // here: a reason exactly when no process is shown, and never one that cannot
            // apply to root in its own namespaces.
            assert_eq!(
                s.processes.is_empty(),
                s.owner_reason.is_some(),
                "run {runs}: a reason exactly when nobody is shown: {s:?}, {ctx}"
            );
            if let Some(r) = s.owner_reason {
                // Root is refused nothing, except where a process's links are unreadable
                // even to root (a non-dumpable PID 1 in some sandboxes): then "denied" is
                // the truth for a socket nobody else was seen holding.
                assert!(
                    r != OwnerReason::Denied || opaque_process,
                    "run {runs}: denied although every process is readable: {s:?}, {ctx}"
                );
                assert!(
                    !matches!(
                        r,
                        OwnerReason::ProcUnreadable
                            | OwnerReason::NotSearched
                            | OwnerReason::NotLookedUp
                    ),
                    "run {runs}: impossible reason for root: {s:?}, {ctx}"
                );
                *reasons.entry(r).or_default() += 1;
            }
            for p in &s.processes {
                seen.push((s.protocol.as_str().to_string(), s.local.port, p.pid, runs));
            }
        }
        runs += 1;
    }
    let elapsed = start.elapsed();
    drop(steady);
    // Processes came and went while the runs read the tables, not only before them.
    let spawned_during = spawned.load(Ordering::Relaxed) - spawned_before;
    stop.store(true, Ordering::Relaxed);
    spawner.join().expect("spawner thread");
    let mut owners = std::mem::take(&mut *owners.lock().unwrap());
    owners
        .entry(("tcp".to_string(), steady_port))
        .or_default()
        .extend(steady_pids);
    let mut iterations = 0u64;
    for h in helpers {
        let pid = h.pid();
        for line in h.finish() {
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                ["own", proto, port] => {
                    owners
                        .entry((proto.to_string(), port.parse().expect("port")))
                        .or_default()
                        .insert(pid);
                }
                ["done", n] => iterations += n.parse::<u64>().expect("count"),
                _ => panic!("unexpected helper line '{line}'"),
            }
        }
    }
    let spawned = spawned.load(Ordering::Relaxed);
    eprintln!(
        "{ctx}: {runs} runs in {elapsed:?} (slowest: run {} in {:?}), {sockets_seen} sockets and {} owners seen \
         ({hidden} hidden; reasons {reasons:?}), {spawned} listen processes spawned, {iterations} socket \
         iterations by helpers {helper_pids:?}",
        slowest.1,
        slowest.0,
        seen.len()
    );

    assert!(
        spawned_during > 0 && iterations > 0,
        "the workload ran during the runs ({spawned_during} spawns), {ctx}"
    );
    assert!(!seen.is_empty(), "owners were reported, {ctx}");
    let wrong: Vec<String> = seen
        .iter()
        .filter(|(proto, port, pid, _)| {
            !owners
                .get(&(proto.clone(), *port))
                .is_some_and(|o| o.contains(pid))
        })
        .take(20)
        .map(|(proto, port, pid, run)| {
            format!(
                "run {run}: {port}/{proto} reported held by pid {pid}; its owners were {:?}",
                owners.get(&(proto.clone(), *port))
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "owners that never held the port, {ctx}:\n{}",
        wrong.join("\n")
    );
}
