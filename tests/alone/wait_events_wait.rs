//! `wait` from kernel events (issue 26): as root it is woken by the kernel's bind/listen/
//! close events and reads the table only then and once a second, instead of polling it
//! every few milliseconds; as nobody (no BPF) it polls. What the timing stands for is
//! checked, not the timing: how many table reads a wait of a few seconds makes, counted by
//! strace, and that a listener opened while it waits is answered.

// Live sockets, BPF, namespaces: Linux only.
#![cfg(target_os = "linux")]

use crate::common;
use common::{is_root, quiet_netns, skip};
use std::io::Read;
use std::process::{Command, Stdio};

/// Table reads (sock_diag requests: each is one sendto or sendmsg on a netlink socket)
/// made by `portscope ARGS` run under strace, optionally as nobody; with its exit status.
fn sends(args: &[&str], as_nobody: bool) -> Option<(i32, usize)> {
    let dir = std::env::temp_dir().join(format!(
        "portscope-wait-events-{}-{}",
        std::process::id(),
        as_nobody
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("strace.log");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=sendto,sendmsg", "-o"])
        .arg(&log);
    if as_nobody {
        cmd.args([
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
        ]);
    }
    let out = match cmd
        .arg(common::bin_path())
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            skip(&format!("strace cannot run here: {e}"));
            return None;
        }
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    if text.is_empty() && !out.status.success() {
        skip(&format!(
            "strace did not trace: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
        return None;
    }
    let n = text
        .lines()
        .filter(|l| l.contains("sendto(") || l.contains("sendmsg("))
        .count();
    Some((out.status.code().unwrap_or(-1), n))
}

/// A free loopback port in this namespace (bound and released: nothing else runs here).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn waiting_with_kernel_events_reads_the_table_about_once_a_second_not_every_few_ms() {
    let _alone = common::serial();
    if !is_root() {
        skip("not root: kernel events need BPF");
        return;
    }
    if !quiet_netns() {
        return;
    }
    let port = free_port();
    let spec = format!("127.0.0.1:{port}");
    let args = ["wait", "--until", "up", spec.as_str(), "--timeout", "4s"];
    let Some((code, events)) = sends(&args, false) else {
        return;
    };
    assert_eq!(code, 1, "nothing listens: the wait must time out");
    let Some((code, polling)) = sends(&args, true) else {
        return;
    };
    assert_eq!(code, 1, "as nobody too");
    // Events: a first look, then one re-read a second (4 s: about 5 looks, each a few
    // requests). Polling backs off from 1 ms to 10 ms: hundreds of looks in 4 s, fewer
    // only if the machine is so busy that a look takes far longer than 10 ms.
    assert!(
        events <= 60,
        "with kernel events the table was read {events} times in 4 s"
    );
    assert!(
        polling >= 4 * events.max(10),
        "polling read {polling} times, events {events}: the event path is not what waited"
    );
}

#[test]
fn a_listener_opened_while_waiting_with_events_is_answered_up() {
    let _alone = common::serial();
    if !is_root() {
        skip("not root: kernel events need BPF");
        return;
    }
    if !quiet_netns() {
        return;
    }
    let port = free_port();
    let spec = format!("127.0.0.1:{port}");
    let mut wait = Command::new(common::bin_path())
        .args(["wait", "--until", "up", &spec, "--timeout", "60s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Opened after the wait started (it may still be starting: either way the answer must
    // be "up", found by an event's look or the next one).
    let listener = std::net::TcpListener::bind(&spec).unwrap();
    let mut out = String::new();
    wait.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = wait.wait().unwrap();
    drop(listener);
    assert_eq!(status.code(), Some(0), "{out}");
    assert!(out.contains(&format!("{spec}: up")), "{out}");
}
