//! `portscope watch` on a private network namespace: what it prints when a listener opens,
//! gains and loses a worker, and closes; JSON Lines; how it stops. Every step waits on a
//! line watch printed, never on a sleep.
#![cfg(target_os = "linux")]

use crate::common;

use common::*;
use portscope::model::{Owner, SockState, Socket};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// Longest wait for any one line: generous, for a loaded CI host. Only failures wait it out.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `portscope watch` whose stdout is read line by line in a thread.
struct Watch {
    child: Child,
    lines: Receiver<String>,
}

impl Watch {
    fn start(args: &[&str]) -> Watch {
        // Polling: what these tests pin (owner changes found by ticks) is polling's;
        // tests/alone/watch_events.rs covers kernel events.
        let mut child = Command::new(bin_path())
            .args(["watch", "--events", "poll"])
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
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines: rx }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(LINE_TIMEOUT)
            .unwrap_or_else(|e| panic!("no line from watch within {LINE_TIMEOUT:?}: {e}"))
    }

    /// The next JSON line, parsed strictly: every field present, the socket as list's.
    fn event(&self) -> (String, Socket) {
        let line = self.line();
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let obj = v.as_object().expect("an object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["event", "host", "schema_version", "socket", "ts"],
            "{line}"
        );
        assert_eq!(v["schema_version"], 1, "{line}");
        assert_eq!(v["host"].as_str(), Some(hostname().as_str()), "{line}");
        let ts = v["ts"].as_str().expect("ts is a string");
        assert!(
            is_rfc3339_ms(ts),
            "ts {ts:?} is not RFC 3339 UTC with milliseconds"
        );
        let socket: Socket = serde_json::from_value(v["socket"].clone())
            .unwrap_or_else(|e| panic!("socket is not list's socket object ({e}): {line}"));
        (v["event"].as_str().unwrap().to_string(), socket)
    }

    /// Waits for the exit; returns the status code, the rest of stdout and all of stderr.
    fn finish(mut self) -> (Option<i32>, Vec<String>, String) {
        let status = self.child.wait().expect("wait for watch");
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let rest: Vec<String> = self.lines.iter().collect();
        (status.code(), rest, err)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// stderr may carry notes (an owner source that fell back, say), never an error.
fn only_notes(err: &str) {
    for l in err.lines() {
        assert!(
            l.starts_with("portscope: note: "),
            "unexpected stderr: {err}"
        );
    }
}

/// Kills and reaps a child when a test ends, failed or not.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim_end()
        .to_string()
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn is_rfc3339_ms(ts: &str) -> bool {
    let b = ts.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
}

fn my_name() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim_end()
        .to_string()
}

fn pids(s: &Socket) -> Vec<u32> {
    let mut v: Vec<u32> = s.processes.iter().map(|p| p.pid).collect();
    v.sort_unstable();
    v
}

/// A `sleep` holding a copy of `l` (as a forked worker holds its master's listener).
fn worker_on(l: &TcpListener) -> Child {
    let fd = l.as_raw_fd();
    let mut c = Command::new("sleep");
    c.arg("60").stdin(Stdio::null()).stdout(Stdio::null());
    // SAFETY: dup2 is async-signal-safe; the copy at 10 is not close-on-exec.
    unsafe {
        c.pre_exec(move || {
            if libc::dup2(fd, 10) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.spawn().expect("spawn sleep")
}

#[test]
fn added_owner_changed_and_removed_as_json_lines() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    // Held by another process, so that it is the one socket in the first snapshot and
    // nothing this test forks ever holds it.
    let sentinel = Listener::start(&["127.0.0.1:0"]);
    let w = Watch::start(&["--jsonl", "--interval", "50ms"]);
    let (event, s) = w.event();
    assert_eq!(event, "snapshot");
    assert_eq!(s.local.port, sentinel.port(0));
    assert_eq!(pids(&s), vec![sentinel.pid()]);

    let me = std::process::id();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (event, s) = w.event();
    assert_eq!(event, "added");
    assert_eq!(
        (s.local.port, s.state, s.owner),
        (port, SockState::Listen, Owner::Visible)
    );
    assert_eq!(pids(&s), vec![me]);
    assert_eq!(s.processes[0].name, my_name());
    assert_eq!(s.processes[0].user.as_deref(), Some("root"));

    let mut worker = Reaped(worker_on(&l));
    let (event, s) = w.event();
    assert_eq!(event, "owner_changed");
    assert_eq!(s.local.port, port);
    let mut both = vec![me, worker.0.id()];
    both.sort_unstable();
    assert_eq!(pids(&s), both);
    // Seen after its exec it is `sleep`; seen between fork and exec (a busy host widens
    // that moment) it still holds our descriptors under our name, and is rightly named so.
    let held_by = s.processes.iter().find(|p| p.pid == worker.0.id()).unwrap();
    let ours = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    assert!(
        held_by.name == "sleep" || held_by.name == ours.trim_end(),
        "{held_by:?}"
    );

    worker.0.kill().unwrap();
    worker.0.wait().unwrap();
    let (event, s) = w.event();
    assert_eq!(event, "owner_changed");
    assert_eq!(pids(&s), vec![me]);

    drop(l);
    let (event, s) = w.event();
    assert_eq!(event, "removed");
    assert_eq!((s.local.port, pids(&s)), (port, vec![me]));
    let sentinel_port = sentinel.port(0);
    drop(sentinel);
    let (event, s) = w.event();
    assert_eq!((event.as_str(), s.local.port), ("removed", sentinel_port));
}

#[test]
fn text_lines_show_the_table_then_each_change_and_count_ends_it() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let w = Watch::start(&["--interval", "50ms", "--count", "2", "--color", "never"]);
    // The table, empty: its header alone, then nothing until something changes.
    assert!(w.line().starts_with("PROTO  LOCAL ADDRESS  PORT"));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let want = format!(
        "tcp 127.0.0.1:{port} * listen {}[{}] root",
        my_name(),
        std::process::id()
    );
    let added = w.line();
    let (sign, rest) = added.split_at(2);
    assert_eq!(sign, "+ ");
    assert!(is_rfc3339_ms(&rest[..24]), "{added}");
    assert_eq!(&rest[25..], want);
    drop(l);
    let removed = w.line();
    assert_eq!(&removed[..2], "- ");
    assert_eq!(&removed[27..], want);
    // --count 2: it stops by itself after the second change, exit 0, nothing more.
    let (code, rest, err) = w.finish();
    assert_eq!((code, rest), (Some(0), vec![]));
    only_notes(&err);
}

#[test]
fn for_ends_it_after_the_duration_with_exit_0() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let started = Instant::now();
    let w = Watch::start(&["--for", "1s", "--interval", "100ms"]);
    assert!(w.line().starts_with("PROTO"));
    let (code, rest, err) = w.finish();
    let took = started.elapsed();
    assert_eq!((code, rest), (Some(0), vec![]));
    only_notes(&err);
    assert!(took >= Duration::from_secs(1), "stopped early: {took:?}");
    assert!(took < Duration::from_secs(15), "did not stop: {took:?}");
}

#[test]
fn sigterm_ends_it_with_exit_0_and_nothing_more() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let held = Listener::start(&["127.0.0.1:0"]);
    let w = Watch::start(&["--interval", "50ms", "--color", "never"]);
    assert!(w.line().starts_with("PROTO"));
    let row = w.line();
    assert!(row.contains(&format!(" {} ", held.port(0))), "{row}");
    // SAFETY: kill on the PID of our own child.
    assert_eq!(unsafe { libc::kill(w.child.id() as i32, libc::SIGTERM) }, 0);
    let (code, rest, err) = w.finish();
    assert_eq!((code, rest), (Some(0), vec![]));
    only_notes(&err);
}

#[test]
fn bad_intervals_are_refused_with_exit_2() {
    let _alone = common::serial();
    for (args, msg) in [
        (
            &["--interval", "10ms"][..],
            "portscope: invalid interval '10ms': must be at least 50ms\n",
        ),
        (
            &["--interval", "soon"][..],
            "portscope: invalid duration 'soon': expected a number with ms, s, m or h (e.g. 30s)\n",
        ),
        (
            &["--snapshot-every", "0s"][..],
            "portscope: invalid snapshot interval '0s': must be at least 50ms\n",
        ),
    ] {
        let mut a = vec!["watch"];
        a.extend(args);
        let (code, out, err) = run(&a);
        assert_eq!((code, out.as_str(), err.as_str()), (2, "", msg), "{args:?}");
    }
}

/// Regression: with its output in a pipe nobody read, watch blocked in write(2) with its
/// stop signals blocked (they are read from a signalfd), so SIGTERM could not end it and
/// only SIGKILL did. The pipe is filled by the snapshot of 150 listeners; full is seen
/// through a second, non-blocking opening of the same pipe that has no room left.
#[test]
fn sigterm_ends_it_while_its_output_pipe_is_full() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let held: Vec<TcpListener> = (0..150)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let (read_end, write_end) = std::io::pipe().unwrap();
    let probe = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(format!("/proc/self/fd/{}", write_end.as_raw_fd()))
        .unwrap();
    let mut child = Command::new(bin_path())
        .args([
            "watch",
            "--jsonl",
            "--interval",
            "200ms",
            "--events",
            "poll",
        ])
        .stdout(write_end)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let has_room = || {
        let mut p = [libc::pollfd {
            fd: probe.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        }];
        // SAFETY: one valid pollfd, for as long as the call.
        let n = unsafe { libc::poll(p.as_mut_ptr(), 1, 100) };
        n != 0
    };
    let start = Instant::now();
    while has_room() {
        assert!(start.elapsed() < LINE_TIMEOUT, "the pipe never filled");
    }
    let pid = child.id() as i32;
    let (done, ended) = channel();
    std::thread::spawn(move || {
        let mut err = String::new();
        let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
        let _ = done.send((child.wait().unwrap(), err));
    });
    // SAFETY: kill on the PID of our own child (reaped only by the thread above, after
    // it ends).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let (status, err) = ended.recv_timeout(LINE_TIMEOUT).unwrap_or_else(|_| {
        // SAFETY: as above; SIGKILL so that the test does not leave it behind.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        panic!("still running {LINE_TIMEOUT:?} after SIGTERM with its output full")
    });
    assert_eq!(status.code(), Some(0));
    only_notes(&err);
    drop((read_end, held));
}
