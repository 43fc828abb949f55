//! Hostile cases for the commands that act (`kill`, `close`, `wait`), on real processes,
//! namespaces and containers this test starts: a namespace's or container's init, an
//! engine's port holder, a holder that changes between the plan and the signal (driven
//! through a pty), a socket handed over by SCM_RIGHTS, a listener's accept queue, a port
//! held by TIME_WAIT alone. Every process signalled is one the test started.

// Live sockets, pidfds, ptys, namespaces: Linux only.
#![cfg(target_os = "linux")]

use crate::common;
use crate::common::act;
use crate::common::containers;

use act::*;
use common::*;
use portscope::act::Status;
use portscope::collect::linux::pidfd::Pidfd;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// A python3 holder running `script` (with `args`) that prints its port on its first line
/// once its socket is ready: the process (ended and reaped on drop) and that port.
fn python_holder(script: &str, args: &[&std::ffi::OsStr]) -> (Kid, String) {
    let mut holder = Kid(Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3"));
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    (holder, line.trim().to_string())
}

/// `portscope listen --json ADDR` as PID 1 of a new PID namespace (`unshare -pf
/// --mount-proc`): its first line says the socket is open.
fn init_of_a_pid_namespace(addr: &str) -> (Kid, u16) {
    let mut kid = Kid(Command::new("unshare")
        .args(["-pf", "--mount-proc", "--kill-child"])
        .arg(bin_path())
        .args(["listen", "--json", addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run unshare"));
    let mut line = String::new();
    let mut out = std::io::BufReader::new(kid.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    (kid, v["port"].as_u64().unwrap() as u16)
}

/// The host PID of the process holding `port`, from `who -q`.
fn holder(port: u16) -> u32 {
    let (code, out, err) = run(&["who", "-q", &port.to_string()]);
    assert_eq!(code, 0, "{err}");
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("one pid: {out}"))
}

/// The README promises PID 1 is refused; the check looked only at portscope's own PID
/// namespace, so a container's init was signalled (SIGTERM, then SIGKILL).
#[test]
fn pid_1_of_another_pid_namespace_is_refused_and_lives_on() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let (mut init, port) = init_of_a_pid_namespace("127.0.0.1:0");
    let pid = holder(port);
    let fd = Pidfd::open(pid).unwrap();
    let (code, out, err) = run(&[
        "kill",
        "-y",
        "--grace",
        "200ms",
        &port.to_string(),
        "--json",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    let d = act_doc(&out);
    assert!(d.plan.targets.is_empty(), "{out}");
    assert_eq!(d.plan.refused.len(), 1, "{out}");
    assert_eq!(d.plan.refused[0].pid, pid);
    assert!(
        d.plan.refused[0]
            .reason
            .starts_with("PID 1 of its own PID namespace"),
        "{out}"
    );
    let r = d.result.unwrap();
    assert_eq!(r.status, Status::Error);
    assert!(r.steps.is_empty(), "nothing signalled: {out}");
    assert!(!fd.exited_within(std::time::Duration::ZERO), "still alive");
    assert!(init.try_wait().unwrap().is_none());
    assert_eq!(who_code(port), 0, "still listening");
}

/// `kill --dry-run --json` of a blocked plan: the plan, `result` null, exit 0. It printed a
/// result (status hidden, exit 3) for a holder the user cannot see.
#[test]
fn a_dry_run_of_a_blocked_plan_has_no_result_and_exit_0() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    // As nobody, root's holder is hidden: a blocked plan.
    let out = match common::as_nobody(&["kill", "--dry-run", "--json", &port]) {
        Ok(out) => out,
        Err(e) => {
            skip(&format!("setpriv (util-linux) cannot be started: {e}"));
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let d = act_doc(&stdout);
    assert!(d.dry_run);
    assert_eq!(d.plan.hidden.len(), 1, "{stdout}");
    assert!(d.plan.targets.is_empty());
    assert_eq!(d.result, None);
    drop(l);
    // A refused plan (PID 1 of a PID namespace) likewise.
    let (init, port) = init_of_a_pid_namespace("127.0.0.1:0");
    let (code, out, err) = run(&["kill", "--dry-run", "--json", &port.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    let d = act_doc(&out);
    assert_eq!(d.plan.refused.len(), 1, "{out}");
    assert_eq!(d.result, None);
    // Nothing on the port (the namespace's init gone): still "nothing matched", exit 1.
    let pid = holder(port);
    let fd = Pidfd::open(pid).unwrap();
    drop(init);
    assert!(exited(&fd));
    let (code, out, _) = run(&["kill", "--dry-run", "--json", &port.to_string()]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(act_doc(&out).result, None);
}

/// A listener handed to a second process by SCM_RIGHTS: both hold it, both are in the
/// plan, both are signalled, and only then is the port free.
#[test]
fn a_socket_handed_over_by_scm_rights_names_both_holders() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let sock = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let flight = InFlight::new();
    let first = hold(sock.as_raw_fd(), false);
    // The second process receives it itself, from the datagram socket (its fd 3).
    let mut second = {
        let mut cmd = Command::new("python3");
        cmd.args([
            "-c",
            "import socket,sys,time\n\
             s=socket.socket(fileno=3)\n\
             m,fds,f,a=socket.recv_fds(s,1,1)\n\
             s.detach()\n\
             print(fds[0],flush=True)\n\
             time.sleep(1000)",
        ])
        .stdout(Stdio::piped());
        let fd = flight.rx_fd();
        // SAFETY: dup2 only, between fork and exec.
        unsafe {
            cmd.pre_exec(move || place(&[fd]));
        }
        Kid(cmd.spawn().expect("python3"))
    };
    flight.send(sock.as_raw_fd());
    drop(sock);
    let mut got = [0u8; 2];
    second
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut got)
        .unwrap();
    let (code, out, err) = run(&["kill", "--dry-run", "--json", &port.to_string()]);
    assert_eq!(code, 0, "{err}");
    let d = act_doc(&out);
    let mut pids: Vec<u32> = d.plan.targets.iter().map(|t| t.pid).collect();
    pids.sort_unstable();
    let mut want = vec![first.id(), second.id()];
    want.sort_unstable();
    assert_eq!(pids, want, "{out}");
    assert_eq!(d.plan.sockets.len(), 1);
    assert_eq!(d.plan.sockets[0].pids, want);
    let fds: Vec<Pidfd> = want.iter().map(|&p| Pidfd::open(p).unwrap()).collect();
    let (code, out, err) = run(&["kill", "-y", &port.to_string(), "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let r = act_doc(&out).result.unwrap();
    assert_eq!(r.status, Status::Freed);
    let mut signalled: Vec<u32> = r.steps.iter().filter_map(|s| s.pid).collect();
    signalled.sort_unstable();
    assert_eq!(signalled, want);
    assert!(fds.iter().all(exited));
    assert_eq!(who_code(port), 1);
}

/// A pty pair: the master for the test, the slave as portscope's terminal.
fn pty() -> (std::fs::File, OwnedFd) {
    let (mut m, mut s) = (0, 0);
    // SAFETY: openpty writes two descriptors into our locals; no name, termios or size.
    let rc = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: fresh descriptors we own.
    unsafe { (std::fs::File::from_raw_fd(m), OwnedFd::from_raw_fd(s)) }
}

/// Reads the terminal until `end` has appeared; returns everything read.
fn read_until(master: &mut std::fs::File, end: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&seen).contains(end) {
        let n = master.read(&mut buf).expect("read the terminal");
        assert!(n > 0, "terminal closed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// The confirmed process is the one signalled: a holder that exec'd another program
/// between the plan and the answer (same PID, same socket) was signalled anyway, since
/// the re-check compared socket inodes only. Now: exit 5, not signalled.
#[test]
fn a_holder_that_execs_between_plan_and_answer_is_not_signalled() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let sock = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    // Another user's process (nobody), so that portscope asks; it execs `sleep` when told,
    // keeping the listener as descriptor 3.
    let mut target = {
        let fd = sock.as_raw_fd();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "read x; exec sleep 1000"])
            .stdin(Stdio::piped())
            .uid(65534)
            .gid(65534);
        // SAFETY: dup2 only, between fork and exec.
        unsafe {
            cmd.pre_exec(move || place(&[fd]));
        }
        Kid(cmd.spawn().unwrap())
    };
    drop(sock);
    let fd = Pidfd::open(target.id()).unwrap();
    let exe_then = std::fs::read_link(format!("/proc/{}/exe", target.id())).unwrap();
    let (mut master, slave) = pty();
    let mut kill = Kid(Command::new(bin_path())
        .args(["kill", "--grace", "200ms", &port.to_string()])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap());
    let prompt = read_until(&mut master, "[y/N] ");
    // Between the plan and the answer: the holder becomes another program.
    target.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let sleep = which("sleep");
    // The exec is the readiness signal; the deadline only turns a failed exec into a failure.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_link(format!("/proc/{}/exe", target.id())).ok() != Some(sleep.clone()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the holder never exec'd {}",
            sleep.display()
        );
        std::thread::yield_now();
    }
    master.write_all(b"y\n").unwrap();
    let mut out = String::new();
    kill.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let code = kill.wait().unwrap().code();
    assert_eq!(code, Some(5), "{out}");
    assert!(
        out.contains(&format!(
            "pid {}: skipped: not the process of the plan any more: executable {} is now {}",
            target.id(),
            exe_then.display(),
            sleep.display()
        )),
        "{out}"
    );
    assert!(
        !fd.exited_within(std::time::Duration::ZERO),
        "not signalled"
    );
    assert!(target.try_wait().unwrap().is_none());
    // The question named exactly the process that would have been signalled.
    assert!(
        prompt.contains(&format!("SIGTERM pid {} sh user nobody", target.id())),
        "{prompt}"
    );
    assert!(
        prompt.contains(&format!("uid 65534, exe {}", exe_then.display())),
        "{prompt}"
    );
}

/// The path `name` resolves to, as /proc/PID/exe shows it.
fn which(name: &str) -> std::path::PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    let p = String::from_utf8(out.stdout).unwrap();
    std::fs::canonicalize(p.trim()).unwrap()
}

/// A podman-published port: conmon holds the host side (a reservation socket; traffic goes
/// by DNAT), the container's init holds the container side. `kill` SIGKILLed conmon and
/// said `freed` (exit 0) while the container kept serving; `kill` inside the container's
/// network namespace ended its init (Exited 137). Both are refused now, exit 3, with the
/// command that stops the container, and the container still runs.
#[test]
fn a_podman_containers_conmon_and_init_are_refused_with_podman_stop() {
    let _alone = common::serial();
    let Some(mut podman) = containers::Podman::start() else {
        return;
    };
    let name = format!("portscope-keystone-{}", std::process::id());
    let c = podman.run(&name, containers::Podman::HTTPD);
    let conmon = Pidfd::open(c.conmon_pid).unwrap();
    let init = Pidfd::open(c.pid).unwrap();
    let hint = format!("podman stop {name}");

    let (code, out, err) = run(&["kill", "-y", &c.host_port.to_string(), "--json"]);
    assert_eq!(code, 3, "{out}{err}");
    let d = act_doc(&out);
    assert!(d.plan.targets.is_empty(), "{out}");
    let r = &d.plan.refused;
    assert_eq!(r.len(), 1, "{out}");
    assert_eq!(r[0].pid, c.conmon_pid);
    assert!(r[0].reason.starts_with("conmon"), "{out}");
    assert_eq!(
        r[0].container.as_deref(),
        Some(format!("podman:{name}").as_str())
    );
    assert_eq!(r[0].hint.as_deref(), Some(hint.as_str()));
    assert!(r[0].engine);
    let res = d.result.unwrap();
    assert_eq!(res.status, Status::Hidden);
    assert!(res.steps.is_empty());
    assert!(err.contains(&format!("to stop it: {hint}")), "{err}");

    // Nor is conmon's reservation socket closed: the port stays the engine's.
    let (code, out, err) = run(&["close", "-y", &c.host_port.to_string()]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains("result: a holder is hidden or not permitted"),
        "{out}"
    );
    assert!(
        err.contains(&format!("to stop it: {hint}; nothing was closed")),
        "{err}"
    );
    assert_eq!(who_code(c.host_port), 0, "conmon still holds the host port");

    // Inside the container's network namespace: its init (httpd, PID 1 there).
    let ns = c.pid.to_string();
    let (code, out, err) = run(&["kill", "-y", "80", "--netns", &ns, "--json"]);
    assert_eq!(code, 3, "{out}{err}");
    let d = act_doc(&out);
    assert!(d.plan.targets.is_empty(), "{out}");
    assert_eq!(d.plan.refused.len(), 1, "{out}");
    assert_eq!(d.plan.refused[0].pid, c.pid);
    assert!(
        d.plan.refused[0]
            .reason
            .starts_with("PID 1 of its own PID namespace"),
        "{out}"
    );
    assert_eq!(d.plan.refused[0].hint.as_deref(), Some(hint.as_str()));

    assert!(
        !conmon.exited_within(std::time::Duration::ZERO),
        "conmon lives"
    );
    assert!(
        !init.exited_within(std::time::Duration::ZERO),
        "the container lives"
    );
    let state = podman.podman(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "running");
}

/// `close` on a listener resets the connections waiting in its accept queue: it did so
/// without a word, and said `freed` while its own note said the port stays bound. Now the
/// plan lists them (and without a terminal they need -y), the report names them as reset,
/// and the result says the port stays bound.
#[test]
fn close_lists_the_connections_its_listener_will_reset() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    // A port bound by number (one bound to port 0 is released when destroyed); the
    // namespace is ours alone, so the port picked is still free a moment later.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sock = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let addr = sock.local_addr().unwrap();
    // Two connections the listener never accepts.
    let clients: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let holder = hold(sock.as_raw_fd(), false);
    drop(sock);
    let port = addr.port().to_string();
    let mut remotes: Vec<u16> = clients
        .iter()
        .map(|c| c.local_addr().unwrap().port())
        .collect();
    remotes.sort_unstable();

    let (code, out, err) = run(&["close", "--dry-run", "--json", &port]);
    assert_eq!(code, 0, "{err}");
    let d = act_doc(&out);
    assert_eq!(d.plan.sockets.len(), 1, "{out}");
    let mut planned: Vec<u16> = d
        .plan
        .resets
        .iter()
        .map(|r| r.remote.unwrap().port)
        .collect();
    planned.sort_unstable();
    assert_eq!(planned, remotes, "{out}");
    // One socket of our own, but two connections would go with it: that needs a yes.
    let (code, _, err) = run(&["close", &port]);
    assert_eq!(code, 2);
    assert!(err.contains("confirmation needed"), "{err}");
    assert_eq!(who_code(addr.port()), 0, "nothing closed");

    let (code, out, err) = run(&["close", "-y", &port]);
    assert_eq!(code, 0, "{out}{err}");
    for p in &remotes {
        assert!(
            out.contains(&format!(
                "reset (was waiting in the accept queue): tcp established 127.0.0.1:{port} -> 127.0.0.1:{p}"
            )),
            "{out}"
        );
    }
    assert!(
        out.ends_with("result: closed, but the port stays bound\n"),
        "{out}"
    );
    assert!(!out.contains("freed"), "{out}");
    // The clients were reset, as the plan said.
    for mut c in clients {
        let mut b = [0u8; 1];
        let e = c.read(&mut b).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    drop(holder);
}

/// A connection that closed on our side waits out TIME_WAIT on the port; nothing listens.
fn time_wait_only() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (a, _) = l.accept().unwrap();
    drop(a); // the server side closes first: its end goes to TIME_WAIT
    let mut b = [0u8; 1];
    assert_eq!(c.read(&mut b).unwrap(), 0);
    drop(c);
    drop(l);
    port
}

/// One meaning of free: `wait --until free` said `free` while `why` said EADDRINUSE for a
/// port held by TIME_WAIT alone. Now who, why, wait and kill all say TIME_WAIT, and
/// `wait --until free` waits for it unless `--reuseaddr`.
#[test]
fn who_why_wait_and_kill_agree_on_a_time_wait_only_port() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let port = time_wait_only();
    let p = port.to_string();
    let tw = format!("{port}/tcp");

    let (code, out, _) = run(&["who", &p]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{tw}: only TIME_WAIT (1 connection): no process holds it, but a bind without SO_REUSEADDR fails (EADDRINUSE)")),
        "{out}"
    );
    let (code, out, _) = run(&["why", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("EADDRINUSE"), "{out}");
    assert!(out.contains("reason time_wait"), "{out}");

    let (code, out, err) = run(&["wait", &p, "--until", "free", "--timeout", "300ms"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("timed out: not free: {p} (time_wait)")),
        "{err}"
    );
    let (code, out, err) = run(&[
        "wait",
        &p,
        "--until",
        "free",
        "--reuseaddr",
        "--timeout",
        "2s",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{p}: free for a bind with SO_REUSEADDR\n"));

    // --reuseaddr says what free means; `up` has no such question.
    let (code, _, err) = run(&["wait", &p, "--reuseaddr", "--timeout", "1s"]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "portscope: invalid option '--reuseaddr': only with --until free\n"
    );

    let (code, out, err) = run(&["kill", &p]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("leftover (kernel-held, not a failure): tcp time_wait"),
        "{out}"
    );
    assert!(
        err.contains(&format!("{tw} still in TIME_WAIT: no process holds it, but a bind without SO_REUSEADDR fails (EADDRINUSE)")),
        "{err}"
    );
}

/// `wait --owner` matched a part of a name: `--owner port` counted `portscope`.
#[test]
fn wait_owner_matches_a_whole_name() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    let (code, _, err) = run(&["wait", &port, "--owner", "port", "--timeout", "200ms"]);
    assert_eq!(code, 1, "a part of the name does not count: {err}");
    let (code, _, err) = run(&["wait", &port, "--owner", "Portscope", "--timeout", "200ms"]);
    assert_eq!(code, 1, "nor another case: {err}");
    let (code, out, err) = run(&["wait", &port, "--owner", "portscope", "--timeout", "2s"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(", pid {} portscope", l.pid())),
        "{out}"
    );
}

/// SIGKILL after the grace period goes through the same pidfd, but a target that exec'd
/// another program on SIGTERM is no longer the process of the plan: it is not sent
/// SIGKILL (exit 5).
#[test]
fn a_holder_that_execs_on_sigterm_is_not_sent_sigkill() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let (mut holder, port) = python_holder(
        "import os,signal,socket\n\
             s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); s.set_inheritable(True)\n\
             signal.signal(signal.SIGTERM, lambda *a: os.execvp('sleep',['sleep','1000']))\n\
             print(s.getsockname()[1],flush=True)\n\
             while True: signal.pause()",
        &[],
    );
    let fd = Pidfd::open(holder.id()).unwrap();
    let (code, out, err) = run(&["kill", "--grace", "2s", &port, "--json"]);
    assert_eq!(code, 5, "{out}{err}");
    let r = act_doc(&out).result.unwrap();
    assert_eq!(r.status, Status::Changed);
    let actions: Vec<&str> = r.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(actions, ["SIGTERM", "skipped"], "{out}");
    assert!(
        r.steps[1]
            .error
            .as_deref()
            .unwrap()
            .starts_with("not sent SIGKILL: not the process of the plan any more: executable"),
        "{out}"
    );
    assert!(!fd.exited_within(std::time::Duration::ZERO), "not killed");
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/exe", holder.id())).unwrap(),
        which("sleep")
    );
    assert!(holder.try_wait().unwrap().is_none());
}

/// The skip reason names the program a target became, and that program's path is the
/// holder's to choose: an escape sequence in it reached the terminal raw in the report
/// (`skipped: not sent SIGKILL: ... executable X is now /tmp/ESC[31m.../sleep`). Now it is
/// escaped like every other untrusted name.
#[test]
fn the_program_a_target_became_is_escaped_in_the_report() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let dir = TempDir::new("esc-exe");
    let evil = dir.0.join("\x1b[31mRED\x1b]0;pwn\x07");
    std::fs::create_dir(&evil).unwrap();
    let prog = evil.join("sleep");
    std::fs::copy(which("sleep"), &prog).unwrap();
    let (mut holder, port) = python_holder(
        "import os,signal,socket,sys\n\
             s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); s.set_inheritable(True)\n\
             signal.signal(signal.SIGTERM, lambda *a: os.execv(sys.argv[1],['sleep','1000']))\n\
             print(s.getsockname()[1],flush=True)\n\
             while True: signal.pause()",
        &[prog.as_os_str()],
    );
    let (code, out, err) = run(&["kill", "--grace", "2s", &port]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(
        out.contains("executable")
            && out.contains("is now ")
            && out.contains("\\x1b[31mRED\\x1b]0;pwn\\x07/sleep"),
        "{out}"
    );
    assert!(!out.contains('\x1b') && !err.contains('\x1b'), "{out}{err}");
    assert!(!out.contains('\x07') && !err.contains('\x07'), "{out}{err}");
    assert!(holder.try_wait().unwrap().is_none(), "not killed");
}

/// `portscope listen --json ADDR` run from a copy of portscope at `exe`, as `uid`: the
/// holder, and its port from the first line.
fn listen_as(exe: &std::path::Path, uid: u32, addr: &str) -> (Kid, u16) {
    let mut kid = Kid(Command::new(exe)
        .args(["listen", "--json", addr])
        .uid(uid)
        .gid(uid)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the copy"));
    let mut line = String::new();
    let mut out = std::io::BufReader::new(kid.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    (kid, v["port"].as_u64().unwrap() as u16)
}

/// An engine is recognised by its executable, but a file's name is anyone's to choose:
/// another user's copy of a program named `dockerd` got itself refused (exit 3, "a
/// container engine's own process"), so root's `kill` could not end it. An executable
/// counts as an engine's only when root (or the user running portscope) owns it.
#[test]
fn a_program_merely_named_dockerd_by_another_user_is_not_an_engine() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let dir = TempDir::new("fake-engine");
    let exe = dir.0.join("dockerd");
    std::fs::copy(bin_path(), &exe).unwrap();
    std::os::unix::fs::chown(&exe, Some(65534), Some(65534)).unwrap();
    let (mut kid, port) = listen_as(&exe, 65534, "127.0.0.1:0");
    let (code, out, err) = run(&["kill", "-y", "--grace", "5s", &port.to_string(), "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let doc = act_doc(&out);
    assert!(doc.plan.refused.is_empty(), "{out}");
    assert_eq!(doc.plan.targets.len(), 1, "{out}");
    assert_eq!(doc.result.unwrap().status, Status::Freed);
    assert!(
        kid.try_wait().unwrap().is_some(),
        "it was signalled and ended"
    );
    // The same program owned by root is trusted to be what it is called: refused.
    std::os::unix::fs::chown(&exe, Some(0), Some(0)).unwrap();
    let (kid, port) = listen_as(&exe, 65534, "127.0.0.1:0");
    let fd = Pidfd::open(kid.id()).unwrap();
    let (code, out, err) = run(&["kill", "-y", "--grace", "5s", &port.to_string(), "--json"]);
    assert_eq!(code, 3, "{out}{err}");
    let doc = act_doc(&out);
    assert_eq!(doc.plan.refused.len(), 1, "{out}");
    assert!(
        doc.plan.refused[0]
            .reason
            .starts_with("dockerd (docker's engine)"),
        "{out}"
    );
    assert!(
        !fd.exited_within(std::time::Duration::ZERO),
        "not signalled"
    );
}

/// Regression: `kill` pinned its targets with pidfd_open(PID), which reads the PID in
/// portscope's own PID namespace, while every PID and every check came from /proc. Run
/// in a PID namespace over the host's /proc (`unshare -pf` without --mount-proc), the
/// holder's host PID named another process in that namespace: the checks read the holder,
/// and the SIGTERM went to the other one (here a `sleep` given that PID by ns_last_pid).
/// Now kill refuses to signal by PID there: exit 2, both processes untouched.
#[test]
fn a_pid_from_a_foreign_proc_never_signals_the_namesake() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let (mut holder, port) = python_holder(
        "import socket,time\n\
             s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n\
             print(s.getsockname()[1],flush=True); time.sleep(1000)",
        &[],
    );
    // Another host process: portscope takes its PID in the new namespace, so that the
    // host's /proc lists a process with portscope's own PID (the owner scan's sanity check).
    let other = Kid(Command::new("sleep").arg("1000").spawn().unwrap());
    let (h, s) = (holder.id(), other.id());
    let script = format!(
        "echo {} > /proc/sys/kernel/ns_last_pid || exit 77\n\
         sleep 1000 & v=$!\n\
         [ \"$v\" = {h} ] || {{ echo \"the namesake got $v\"; exit 77; }}\n\
         echo {} > /proc/sys/kernel/ns_last_pid\n\
         ( exec {} kill -y --grace 1s {port} ); rc=$?\n\
         if kill -0 $v; then echo \"rc=$rc namesake alive\"; else echo \"rc=$rc namesake dead\"; fi\n\
         kill $v",
        h - 1,
        s - 1,
        bin_path()
    );
    let out = Command::new("unshare")
        .args(["-p", "-f", "--kill-child", "bash", "-c", &script])
        .output()
        .expect("unshare");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    if out.status.code() == Some(77) {
        skip(&format!(
            "cannot place a PID with ns_last_pid: {stdout}{stderr}"
        ));
        return;
    }
    assert_eq!(stdout.trim(), "rc=2 namesake alive", "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "portscope: cannot signal by PID here: /proc belongs to another PID namespace"
        ),
        "{stderr}"
    );
    assert!(
        holder.try_wait().unwrap().is_none(),
        "the holder was not signalled"
    );
}

/// The identity compared start time, uids and the executable: a holder that exec'd the
/// same program again on SIGTERM (an interpreter running another script, keeping the
/// socket) passed for the process of the plan and was sent SIGKILL. An exec places the
/// argument block anew: now it is a change, not sent SIGKILL (exit 5).
#[test]
fn a_holder_that_execs_its_own_interpreter_on_sigterm_is_not_sent_sigkill() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let (mut holder, port) = python_holder(
        "import os,signal,socket,sys\n\
             s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); s.set_inheritable(True)\n\
             again=[sys.executable,'-c','import signal,time\\nsignal.signal(signal.SIGTERM,signal.SIG_IGN)\\ntime.sleep(1000)']\n\
             signal.signal(signal.SIGTERM, lambda *a: os.execv(sys.executable, again))\n\
             print(s.getsockname()[1],flush=True)\n\
             while True: signal.pause()",
        &[],
    );
    let fd = Pidfd::open(holder.id()).unwrap();
    let (code, out, err) = run(&["kill", "--grace", "2s", &port, "--json"]);
    assert_eq!(code, 5, "{out}{err}");
    let r = act_doc(&out).result.unwrap();
    let actions: Vec<&str> = r.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(actions, ["SIGTERM", "skipped"], "{out}");
    assert!(
        r.steps[1]
            .error
            .as_deref()
            .unwrap()
            .starts_with("not sent SIGKILL: not the process of the plan any more: it exec'd "),
        "{out}"
    );
    assert!(!fd.exited_within(std::time::Duration::ZERO), "not killed");
    assert!(holder.try_wait().unwrap().is_none());
}

/// Regression: `wait --until free --reuseaddr` said `free for a bind with SO_REUSEADDR`
/// while a process held a TCP socket bound to the port without listening (and without
/// SO_REUSEADDR): such a bind fails with EADDRINUSE, as `why --reuseaddr` says. A bound
/// socket now keeps the port not free (its own SO_REUSEADDR is not in the table).
#[test]
fn a_bound_tcp_socket_is_not_free_for_a_reuseaddr_bind() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = sock.local_addr().unwrap().as_socket().unwrap().port();
    // What the claim is about: a bind with SO_REUSEADDR really fails here.
    let trial = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    trial.set_reuse_address(true).unwrap();
    let e = trial
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EADDRINUSE));
    let (code, out, err) = run(&[
        "wait",
        "--until",
        "free",
        "--reuseaddr",
        "--timeout",
        "300ms",
        &port.to_string(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!out.contains("free for a bind"), "{out}");
    assert!(
        err.contains(&format!("timed out: not free: {port} (closed)")),
        "{err}"
    );
    drop(sock);
    let (code, out, err) = run(&[
        "wait",
        "--until",
        "free",
        "--reuseaddr",
        "--timeout",
        "5s",
        &port.to_string(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, format!("{port}: free for a bind with SO_REUSEADDR\n"));
}

/// A TCP socket bound but never listening blocks a bind as a listener does (`who` names its
/// holder, `why` says EADDRINUSE): `kill` ends its holder too, instead of "nothing held it".
#[test]
fn kill_frees_a_port_held_by_a_bound_tcp_socket_that_never_listened() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let (mut holder, port) = python_holder(
        "import socket,time\n\
             s=socket.socket(); s.bind(('127.0.0.1',0))\n\
             print(s.getsockname()[1], flush=True)\n\
             time.sleep(1000)",
        &[],
    );
    let (code, out, err) = run(&["kill", "-y", "--grace", "5s", &port]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("pid {}", holder.id())), "{out}");
    assert!(out.contains("freed"), "{out}");
    let status = holder.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGTERM),
        "{out}"
    );
}
