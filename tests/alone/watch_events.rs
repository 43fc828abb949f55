//! `portscope watch` from kernel events (BPF), on the real kernel in a private network
//! namespace, as root: short-lived sockets with the process that made them, events racing
//! the snapshot, a burst with exact accounting, the fallback to polling as nobody, and
//! nothing left attached afterwards. Every step waits on a line watch printed (its
//! snapshot is the readiness signal: watch attaches before it reads the table).
#![cfg(target_os = "linux")]

use crate::common;

use common::*;
use portscope::collect::linux::bpf::events::{self, EventKind, EventSource};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `portscope watch --events bpf --jsonl`, its stdout read line by line.
struct Watch {
    child: Child,
    lines: Receiver<serde_json::Value>,
}

impl Watch {
    fn start(args: &[&str]) -> Watch {
        let mut child = Command::new(bin_path())
            .args(["watch", "--events", "bpf", "--jsonl"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn portscope watch");
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for l in out.lines() {
                let Ok(l) = l else { break };
                let v = serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines: rx }
    }

    fn next(&self) -> serde_json::Value {
        self.lines
            .recv_timeout(LINE_TIMEOUT)
            .unwrap_or_else(|e| panic!("no line from watch within {LINE_TIMEOUT:?}: {e}"))
    }

    /// Lines up to and including the first that `done` accepts.
    fn until(&self, done: impl Fn(&serde_json::Value) -> bool) -> Vec<serde_json::Value> {
        let mut v = Vec::new();
        loop {
            let l = self.next();
            let stop = done(&l);
            v.push(l);
            if stop {
                return v;
            }
        }
    }

    /// SIGTERM, then the exit status and stderr.
    fn stop(&mut self) -> (Option<i32>, String) {
        // SAFETY: kill on the PID of a child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut err).unwrap();
        (status.code(), err)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port_of(v: &serde_json::Value) -> u64 {
    v["socket"]["local"]["port"].as_u64().unwrap_or(0)
}

/// The last listener a test opens, to know that watch has reported everything before it:
/// on its own address, since its port may be one an earlier listener used and closed.
fn marker() -> TcpListener {
    TcpListener::bind("127.0.0.9:0").unwrap()
}

fn is_added_on(port: u16) -> impl Fn(&serde_json::Value) -> bool {
    move |v| {
        v["event"] == "added"
            && port_of(v) == u64::from(port)
            && v["socket"]["local"]["address"] == "127.0.0.9"
    }
}

/// Root, a private namespace, and a kernel that lets us attach; else skip.
fn ready() -> bool {
    if !quiet_netns() {
        return false;
    }
    match EventSource::open(4096, None) {
        Ok(_) => true,
        Err(e) => skip(&format!("kernel events unavailable here: {e}")),
    }
}

/// A sentinel listener: watch's snapshot line for it says watch is attached and ready.
fn start_watch(args: &[&str]) -> (Watch, TcpListener) {
    let sentinel = TcpListener::bind("127.0.0.1:0").unwrap();
    let w = Watch::start(args);
    let first = w.next();
    assert_eq!(first["event"], "snapshot", "{first}");
    assert_eq!(
        port_of(&first),
        u64::from(sentinel.local_addr().unwrap().port())
    );
    (w, sentinel)
}

/// A TCP listener and a UDP socket that live about 1 ms, each reported added and removed,
/// with this process as holder and as `by`, and the removal after the addition.
#[test]
fn a_listener_and_a_udp_socket_living_1ms_are_reported_with_their_actor() {
    let _g = serial();
    if !ready() {
        return;
    }
    let (mut w, _sentinel) = start_watch(&[]);
    let me = u64::from(std::process::id());
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let tport = l.local_addr().unwrap().port();
    std::thread::sleep(Duration::from_millis(1)); // the socket's lifetime, not a wait
    drop(l);
    let u = UdpSocket::bind("[::1]:0").unwrap();
    let uport = u.local_addr().unwrap().port();
    std::thread::sleep(Duration::from_millis(1));
    drop(u);
    let lines = w.until(|v| v["event"] == "removed" && v["socket"]["protocol"] == "udp");
    let summary: Vec<(String, String, u64)> = lines
        .iter()
        .map(|v| {
            (
                v["event"].as_str().unwrap().to_string(),
                v["socket"]["protocol"].as_str().unwrap().to_string(),
                port_of(v),
            )
        })
        .collect();
    let t = u64::from(tport);
    let u = u64::from(uport);
    assert_eq!(
        summary,
        [
            ("added".into(), "tcp".into(), t),
            ("removed".into(), "tcp".into(), t),
            ("added".into(), "udp".into(), u),
            ("removed".into(), "udp".into(), u),
        ]
    );
    for v in &lines {
        assert_eq!(v["by"]["pid"], me, "{v}");
        assert_eq!(v["socket"]["processes"][0]["pid"], me, "{v}");
        assert_eq!(v["socket"]["netns"]["current"], true, "{v}");
        assert!(
            v["by"]["comm"].as_str().is_some_and(|c| !c.is_empty()),
            "{v}"
        );
    }
    assert_eq!(lines[0]["socket"]["state"], "listen");
    assert_eq!(lines[2]["socket"]["state"], "unconnected");
    let (code, err) = w.stop();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err, "", "event mode says nothing on stderr");
}

/// Listeners opened and closed while watch attaches and reads its snapshot: each one
/// still open at the end is known exactly once (snapshot or added, never both), each
/// removal follows what made it known, and nothing open is missing.
#[test]
fn events_racing_the_snapshot_are_neither_repeated_nor_missed() {
    let _g = serial();
    if !ready() {
        return;
    }
    // Listeners open and close from before watch attaches until after its snapshot was
    // printed; every tenth stays open.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churning = stop.clone();
    let churn = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut after_stop = 0;
        // At most 1,200 (3,600 records: the ring holds 4,681 even if watch never read
        // it), paced so that they span watch's start.
        for i in 0..1200 {
            std::thread::sleep(Duration::from_micros(500));
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            if i % 10 == 0 && kept.len() < 300 {
                kept.push(l);
            }
            if churning.load(std::sync::atomic::Ordering::Relaxed) {
                after_stop += 1;
                if after_stop > 100 {
                    break;
                }
            }
        }
        kept
    });
    let sentinel = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut w = Watch::start(&[]);
    let first = w.next(); // the snapshot is out: the dump is over
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let kept = churn.join().unwrap();
    let marker = marker();
    let mport = marker.local_addr().unwrap().port();
    let mut lines = vec![first];
    lines.extend(w.until(is_added_on(mport)));
    let mut known: BTreeMap<u64, u32> = BTreeMap::new();
    for v in &lines {
        let inode = v["socket"]["inode"]
            .as_u64()
            .unwrap_or_else(|| panic!("{v}"));
        match v["event"].as_str().unwrap() {
            "snapshot" | "added" => {
                let n = known.entry(inode).or_default();
                *n += 1;
                assert_eq!(*n, 1, "known twice: {v}");
            }
            "removed" => {
                assert_eq!(known.remove(&inode), Some(1), "removed before known: {v}");
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    let open: BTreeSet<u64> = kept
        .iter()
        .chain([&sentinel, &marker])
        .map(|l| u64::from(l.local_addr().unwrap().port()))
        .collect();
    let said: BTreeSet<u64> = lines
        .iter()
        .filter(|v| known.contains_key(&v["socket"]["inode"].as_u64().unwrap()))
        .map(port_of)
        .collect();
    assert_eq!(said, open);
    let (code, err) = w.stop();
    assert_eq!(code, Some(0), "{err}");
}

/// With --all, a connection's every state is reported, and each one it leaves is removed
/// again, also after the holder closed it and the socket lost its file (regression: the
/// winding-down states were added and never removed).
#[test]
fn under_all_every_state_a_connection_leaves_is_removed() {
    let _g = serial();
    if !ready() {
        return;
    }
    let (mut w, _sentinel) = start_watch(&["--all"]);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (a, _) = l.accept().unwrap();
    drop(c);
    drop(a);
    drop(l);
    let marker = marker();
    let lines = w.until(is_added_on(marker.local_addr().unwrap().port()));
    let row = |v: &serde_json::Value| {
        let s = &v["socket"];
        (
            s["local"].to_string(),
            s["remote"].to_string(),
            s["state"].to_string(),
        )
    };
    let mut open: BTreeMap<(String, String, String), i32> = BTreeMap::new();
    let mut states = BTreeSet::new();
    for v in &lines[..lines.len() - 1] {
        match v["event"].as_str().unwrap() {
            "added" => *open.entry(row(v)).or_default() += 1,
            "removed" => *open.entry(row(v)).or_default() -= 1,
            _ => continue,
        }
        states.insert(v["socket"]["state"].as_str().unwrap().to_string());
    }
    open.retain(|_, n| *n != 0);
    assert_eq!(open, BTreeMap::new(), "{lines:#?}");
    for st in [
        "listen",
        "established",
        "fin_wait_1",
        "close_wait",
        "last_ack",
    ] {
        assert!(states.contains(st), "{st} not reported: {states:?}");
    }
    w.stop();
}

/// A deliberately small ring (one page: 34 records) and a burst of listeners opened and
/// closed without reading it: every record is either read or counted lost, exactly.
#[test]
fn a_burst_into_a_small_ring_is_read_or_counted_lost_exactly() {
    let _g = serial();
    if !ready() {
        return;
    }
    let netns = std::fs::metadata("/proc/thread-self/ns/net").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.ino()
    });
    let mut src = EventSource::open(4096, Some(netns.unwrap())).unwrap();
    const N: usize = 500;
    for _ in 0..N {
        drop(TcpListener::bind("127.0.0.1:0").unwrap());
        drop(UdpSocket::bind("127.0.0.1:0").unwrap());
    }
    let mut read = BTreeMap::<(EventKind, u8), usize>::new();
    src.drain(|e| *read.entry((e.kind, e.protocol)).or_default() += 1);
    let lost = src.lost().unwrap();
    let total: usize = read.values().sum();
    // Per listener: bind, CLOSE→LISTEN, LISTEN→CLOSE; per UDP socket: bind, release.
    assert_eq!(
        total as u64 + lost,
        5 * N as u64,
        "read {read:?}, lost {lost}"
    );
    assert!(lost > 0, "a 4 KiB ring cannot hold {} records", 5 * N);
    assert!(total <= 4096 / 120, "{total} records in a 4 KiB ring");
    // The ring has room again: the next socket is read, and nothing more is lost.
    drop(UdpSocket::bind("127.0.0.1:0").unwrap());
    assert_eq!(src.drain(|_| ()), 2);
    assert_eq!(src.lost().unwrap(), 0);
}

/// 1,000 listeners opened and closed as fast as this thread can: watch reports every one,
/// added and removed (its ring holds 4,681 records, more than the burst makes), and no
/// `lost` line.
#[test]
fn a_burst_of_listeners_is_reported_in_full() {
    let _g = serial();
    if !ready() {
        return;
    }
    let (mut w, _sentinel) = start_watch(&[]);
    let mut ports = BTreeSet::new();
    for _ in 0..1000 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        ports.insert(u64::from(l.local_addr().unwrap().port()));
    }
    let marker = marker();
    let lines = w.until(is_added_on(marker.local_addr().unwrap().port()));
    let count = |kind: &str| lines.iter().filter(|v| v["event"] == kind).count();
    assert_eq!(count("lost"), 0);
    assert_eq!((count("added"), count("removed")), (1001, 1000));
    let added: BTreeSet<u64> = lines
        .iter()
        .filter(|v| v["event"] == "added")
        .map(port_of)
        .collect();
    assert!(ports.is_subset(&added));
    w.stop();
}

/// As nobody, `auto` falls back to polling with one note saying so, and `bpf` refuses
/// with exit 2.
#[test]
fn as_nobody_auto_polls_with_a_note_and_bpf_is_refused() {
    let _g = serial();
    if !quiet_netns() {
        return;
    }
    let run =
        |mode: &str| common::as_nobody(&["watch", "--events", mode, "--jsonl", "--for", "300ms"]);
    let Ok(auto) = run("auto") else {
        skip("setpriv (util-linux) is not installed");
        return;
    };
    let err = String::from_utf8_lossy(&auto.stderr);
    assert_eq!(auto.status.code(), Some(0), "{err}");
    let notes: Vec<&str> = err.lines().collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(
        notes[0].starts_with("portscope: note: kernel events unavailable (not permitted:")
            && notes[0]
                .ends_with("polling every 1s; sockets that live shorter than that may be missed"),
        "{err}"
    );
    let bpf = run("bpf").unwrap();
    let err = String::from_utf8_lossy(&bpf.stderr);
    assert_eq!(bpf.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("portscope: invalid event source 'bpf': not permitted:"),
        "{err}"
    );
}

fn ours() -> Vec<(u32, String)> {
    events::loaded_programs()
        .unwrap()
        .into_iter()
        .filter(|(_, n)| n.starts_with(events::PROGRAM_PREFIX))
        .collect()
}

/// While watch runs, its four programs are loaded; once it has ended, none is left.
#[test]
fn nothing_stays_attached_after_watch_ends() {
    let _g = serial();
    if !ready() {
        return;
    }
    // Another run's programs (a watch started elsewhere) may be loaded: compare with them.
    let before: BTreeSet<(u32, String)> = ours().into_iter().collect();
    let (mut w, _sentinel) = start_watch(&[]);
    let mut names: Vec<String> = ours()
        .into_iter()
        .filter(|p| !before.contains(p))
        .map(|(_, n)| n)
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["ps_ev_bind4", "ps_ev_bind6", "ps_ev_release", "ps_ev_state"]
    );
    let (code, err) = w.stop();
    assert_eq!(code, Some(0), "{err}");
    // Freed programs leave the id table after an RCU grace period: no signal says when.
    let left =
        || -> Vec<(u32, String)> { ours().into_iter().filter(|p| !before.contains(p)).collect() };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !left().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(left(), vec![]);
}
