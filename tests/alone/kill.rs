//! `portscope kill` on real processes in a private network namespace, and on a fake host
//! for what no test may create for real (PID 1, a hidden holder). Every process a test
//! signals is one it started; it ends the rest itself, by PID.

// Live sockets, pidfds, namespaces: Linux only.
#![cfg(target_os = "linux")]

use crate::common;
use crate::common::act;
use act::*;
use common::*;
use portscope::act::Status;
use portscope::collect::linux::pidfd::Pidfd;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn kill_ends_a_single_listener_and_the_port_is_free() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let mut l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    let (code, out, err) = run(&["kill", &port, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let d = act_doc(&out);
    let r = d.result.unwrap();
    assert_eq!(r.status, Status::Freed);
    assert_eq!(d.plan.targets.len(), 1);
    assert_eq!(d.plan.targets[0].pid, l.pid());
    assert_eq!(r.steps.len(), 1);
    assert_eq!(
        (r.steps[0].pid, r.steps[0].action.as_str()),
        (Some(l.pid()), "SIGTERM")
    );
    // `listen` ends cleanly on SIGTERM.
    assert_eq!(l.child.wait().unwrap().code(), Some(0));
    assert_eq!(who_code(l.port(0)), 1);
    // Nothing holds it now: exit 1.
    assert_eq!(run(&["kill", &port]).0, 1);
}

#[test]
fn kill_ends_both_holders_of_a_forked_listener() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let mut l = Listener::start(&["0", "--fork"]);
    let pids = l.opened[0].pids.clone();
    assert_eq!(pids.len(), 2);
    let fds: Vec<Pidfd> = pids.iter().map(|&p| Pidfd::open(p).unwrap()).collect();
    let port = l.port(0).to_string();
    // Two processes: without a terminal that needs -y.
    let (code, _, err) = run(&["kill", &port]);
    assert_eq!(code, 2);
    assert!(err.contains("confirmation needed (2 processes)"), "{err}");
    assert!(!fds[0].exited_within(Duration::ZERO) && !fds[1].exited_within(Duration::ZERO));
    let (code, out, err) = run(&["kill", &port, "-y", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let r = act_doc(&out).result.unwrap();
    let mut signalled: Vec<u32> = r.steps.iter().filter_map(|s| s.pid).collect();
    signalled.sort_unstable();
    assert_eq!(signalled, pids);
    assert!(fds.iter().all(exited));
    l.child.wait().unwrap();
    assert_eq!(who_code(l.port(0)), 1);
}

#[test]
fn kill_escalates_to_sigkill_for_a_holder_that_ignores_sigterm() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let sock = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port().to_string();
    let mut h = hold(sock.as_raw_fd(), true);
    drop(sock);
    // --no-escalate: still held after the grace period, exit 4, the process untouched.
    let t = Instant::now();
    let (code, out, err) = run(&["kill", &port, "--grace", "200ms", "--no-escalate", "--json"]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(t.elapsed() >= Duration::from_millis(200));
    let r = act_doc(&out).result.unwrap();
    assert_eq!(r.status, Status::StillHeld);
    assert_eq!(r.remaining[0].pid, Some(h.id()));
    assert!(!r.remaining[0].new);
    assert_eq!(
        r.notes,
        [format!(
            "pid {} is still running (it was not sent SIGKILL, or has not ended yet)",
            h.id()
        )]
    );
    assert!(h.try_wait().unwrap().is_none(), "SIGTERM is ignored");
    // Default: SIGKILL after the grace period.
    let (code, out, err) = run(&["kill", &port, "--grace", "200ms", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let r = act_doc(&out).result.unwrap();
    let actions: Vec<&str> = r.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(actions, ["SIGTERM", "SIGKILL"]);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(h.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn kill_names_the_new_pid_of_a_restarted_holder() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let sock = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port().to_string();
    let flight = InFlight::new();
    let first = hold(sock.as_raw_fd(), false);
    flight.send(sock.as_raw_fd());
    drop(sock);
    // The supervisor: when its worker dies, it starts another on the same socket.
    let (tx, rx) = std::sync::mpsc::channel();
    let sup = std::thread::spawn(move || {
        let mut first = first;
        first.wait().unwrap();
        let fd = flight.recv();
        let second = hold(fd.as_raw_fd(), false);
        flight.send(fd.as_raw_fd());
        drop(fd);
        tx.send(second.id()).unwrap();
        (second, flight)
    });
    let (code, out, err) = run(&["kill", &port, "--grace", "300ms", "--json"]);
    let (second, flight) = sup.join().unwrap();
    let new_pid = rx.recv().unwrap();
    assert_eq!(code, 4, "{out}{err}");
    let r = act_doc(&out).result.unwrap();
    assert_eq!(r.status, Status::StillHeld);
    let named: Vec<(Option<u32>, bool)> = r.remaining.iter().map(|m| (m.pid, m.new)).collect();
    assert_eq!(named, [(Some(new_pid), true)]);
    end(second);
    drop(flight);
}

#[test]
fn dry_run_signals_nothing_and_prints_the_plan() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let mut l = Listener::start(&["0", "0/udp"]);
    let (code, out, err) = run(&[
        "kill",
        &l.port(0).to_string(),
        &format!("{}/udp", l.port(1)),
        "--dry-run",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let d = act_doc(&out);
    assert!(d.dry_run);
    assert_eq!(d.result, None);
    assert_eq!(d.plan.targets.len(), 1);
    assert_eq!(d.plan.targets[0].pid, l.pid());
    assert_eq!(d.plan.targets[0].inodes.len(), 2);
    assert_eq!(d.plan.sockets.len(), 2);
    assert!(l.child.try_wait().unwrap().is_none(), "still running");
    assert_eq!(who_code(l.port(0)), 0);
}

#[test]
fn a_target_that_let_go_of_the_socket_before_the_signal_is_skipped_exit_5() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let sock = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let flight = InFlight::new();
    // The target closes descriptor 3 when told to, and lives on.
    let mut target = {
        let fd = sock.as_raw_fd();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "read x; exec 3<&-; echo closed; exec sleep 1000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        // SAFETY: dup2 only, between fork and exec.
        unsafe {
            cmd.pre_exec(move || place(&[fd]));
        }
        Kid(cmd.spawn().unwrap())
    };
    flight.send(sock.as_raw_fd());
    drop(sock);
    let mut c = portscope::cmd::args::collector(&Default::default()).unwrap();
    let (sel, flags) = portscope::cmd::act::selection(&act_args(&[&port.to_string()])).unwrap();
    let opts = portscope::act::kill::KillOptions {
        signal: libc::SIGTERM,
        signal_name: "SIGTERM".into(),
        grace: Duration::from_millis(100),
        escalate: false,
    };
    let mut other = None;
    let mut hook = |pid: u32| {
        assert_eq!(pid, target.id());
        // Between plan and signal: the target lets go, another process takes the socket.
        target.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let mut line = [0u8; 7];
        target
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut line)
            .unwrap();
        let fd = flight.recv();
        other = Some(hold(fd.as_raw_fd(), false));
    };
    let mut out = Vec::new();
    let code = portscope::cmd::kill::run_with(
        &mut c,
        &sel,
        flags,
        &opts,
        portscope::act::confirm::Asker::None,
        Some(&mut hook),
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let other = other.unwrap();
    assert_eq!(code, 5, "{text}");
    assert!(
        text.contains(&format!(
            "pid {}: skipped: no longer holds the socket",
            target.id()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("by pid {} sleep (new", other.id())),
        "{text}"
    );
    assert!(target.try_wait().unwrap().is_none(), "not signalled");
    end(target);
    end(other);
}

// ---------------------------------------------------------------------------------------
// A fake host: PID 1 and a hidden holder, which no test may create for real.

mod fake {
    use crate::common::fake::{tcp, FakeHost};
    use portscope::collect::Collector;
    use portscope::model::{Process, SocketHarvest};

    pub fn listener(port: u16, inode: u64) -> SocketHarvest {
        tcp(&format!("0.0.0.0:{port}"))
            .inode(inode)
            .uid(Some(0))
            .send_queue(128)
            .build()
    }

    /// Every pid is root's: 1 is init, any other web.
    fn process(pid: u32) -> Process {
        Process {
            pid,
            name: if pid == 1 {
                "init".into()
            } else {
                "web".into()
            },
            cmdline: vec![],
            user: Some("root".into()),
            uid: Some(0),
            ppid: Some(0),
            tid: None,
            container: None,
            unit: None,
        }
    }

    pub fn host(sockets: Vec<SocketHarvest>, holders: Vec<(u64, u32)>, denied: usize) -> Collector {
        host_seeing(sockets, holders, denied, false)
    }

    /// `all`: every process was visible (root in the initial PID namespace).
    pub fn host_seeing(
        sockets: Vec<SocketHarvest>,
        holders: Vec<(u64, u32)>,
        denied: usize,
        all: bool,
    ) -> Collector {
        FakeHost {
            process_of: Some(process),
            any_user: Some("root"),
            denied,
            sees_every_process: all,
            ..FakeHost::new(sockets, holders)
        }
        .collector()
        .1
    }
}

/// A listener nobody holds a descriptor to (in flight in an SCM_RIGHTS message), on a
/// host where every process was seen: the port is held, nobody can be signalled. It said
/// "nothing held it" (exit 1).
#[test]
fn a_listener_no_process_holds_is_still_held_not_nothing() {
    let _alone = common::serial();
    let mut c = fake::host_seeing(vec![fake::listener(83, 10)], vec![], 0, true);
    let (code, out) = kill_on(&mut c, "83");
    assert_eq!(code, 4, "{out}");
    assert!(out.ends_with("result: still held\n"), "{out}");
}

fn kill_on(c: &mut portscope::collect::Collector, spec: &str) -> (i32, String) {
    let (sel, flags) = portscope::cmd::act::selection(&act_args(&[spec])).unwrap();
    let opts = portscope::act::kill::KillOptions {
        signal: libc::SIGTERM,
        signal_name: "SIGTERM".into(),
        grace: Duration::from_millis(10),
        escalate: true,
    };
    let mut out = Vec::new();
    let mut hook = |pid: u32| panic!("pid {pid} would have been signalled");
    let code = portscope::cmd::kill::run_with(
        c,
        &sel,
        flags,
        &opts,
        portscope::act::confirm::Asker::None,
        Some(&mut hook),
        &mut out,
    )
    .unwrap();
    (code, String::from_utf8(out).unwrap())
}

#[test]
fn pid_1_is_refused_and_nothing_is_signalled() {
    let _alone = common::serial();
    // PID 1 and an ordinary process share the listener: neither is signalled.
    let mut c = fake::host(vec![fake::listener(80, 7)], vec![(7, 1), (7, 4242)], 0);
    let (code, out) = kill_on(&mut c, "80");
    assert_eq!(code, 2, "{out}");
    assert_eq!(
        out,
        "portscope kill 80: plan\n  SIGTERM pid 4242 web user root: holds tcp listen 0.0.0.0:80\n  \
         refused: pid 1 init: PID 1 (init): ending it takes the system or container down\nresult: error\n"
    );
}

#[test]
fn a_hidden_holder_stops_kill_with_exit_3() {
    let _alone = common::serial();
    // Inode 8 is held by nobody portscope can see (a denied descriptor table).
    let mut c = fake::host(vec![fake::listener(81, 8)], vec![], 1);
    let (code, out) = kill_on(&mut c, "81");
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("  hidden: tcp listen 0.0.0.0:81: permission denied"),
        "{out}"
    );
}

#[test]
fn a_no_at_the_prompt_signals_nothing() {
    let _alone = common::serial();
    let mut c = fake::host(vec![fake::listener(82, 9)], vec![(9, 4242), (9, 4243)], 0);
    let mut a = act_args(&["82"]);
    a.yes = false;
    let (sel, flags) = portscope::cmd::act::selection(&a).unwrap();
    let opts = portscope::act::kill::KillOptions {
        signal: libc::SIGTERM,
        signal_name: "SIGTERM".into(),
        grace: Duration::from_millis(10),
        escalate: true,
    };
    let mut input: &[u8] = b"n\n";
    let mut prompt = Vec::new();
    let asker = portscope::act::confirm::Asker::Terminal {
        input: &mut input,
        prompt: &mut prompt,
    };
    let mut hook = |pid: u32| panic!("pid {pid} would have been signalled");
    let mut out = Vec::new();
    let code = portscope::cmd::kill::run_with(
        &mut c,
        &sel,
        flags,
        &opts,
        asker,
        Some(&mut hook),
        &mut out,
    )
    .unwrap();
    assert_eq!(code, 2);
    let prompt = String::from_utf8(prompt).unwrap();
    assert!(
        prompt.ends_with("Signal 2 processes with SIGTERM? [y/N] "),
        "{prompt}"
    );
    assert!(
        prompt.contains("  SIGTERM pid 4243 web user root: holds tcp listen 0.0.0.0:82\n"),
        "{prompt}"
    );
}

#[test]
fn a_user_who_cannot_see_the_holder_gets_exit_3_and_nothing_is_signalled() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0"]);
    let out = match common::as_nobody(&["kill", &l.port(0).to_string(), "--json"]) {
        Ok(out) => out,
        Err(e) => {
            skip(&format!("setpriv (util-linux) cannot be started: {e}"));
            return;
        }
    };
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    let d = act_doc(&stdout);
    assert_eq!(d.result.unwrap().status, Status::Hidden);
    assert_eq!(d.plan.hidden.len(), 1);
    assert!(d.plan.targets.is_empty());
    let mut l = l;
    assert!(l.child.try_wait().unwrap().is_none(), "not signalled");
}
