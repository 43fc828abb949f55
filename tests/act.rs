//! `kill`, `close` and `wait` on real processes in a private network namespace. Every
//! process a test signals is one it started, and it ends the rest itself, by PID.

// Live sockets, pidfds, namespaces: Linux only.
#![cfg(target_os = "linux")]

mod common;
use common::*;
use portscope::act::{ActDocument, Status};
use portscope::collect::linux::pidfd::Pidfd;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn act_doc(stdout: &str) -> ActDocument {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("invalid document ({e}): {stdout}"))
}

/// In a forked child before exec: makes `fds` the child's descriptors 3, 4, ... without
/// the close-on-exec flag, whatever numbers they had (one of them may already be 3).
fn place(fds: &[RawFd]) -> std::io::Result<()> {
    let mut tmp = Vec::with_capacity(fds.len());
    for &fd in fds {
        // SAFETY: fcntl/dup2 on descriptors this process holds; async-signal-safe.
        let t = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) };
        if t < 0 {
            return Err(std::io::Error::last_os_error());
        }
        tmp.push(t);
    }
    for (i, &t) in tmp.iter().enumerate() {
        // SAFETY: as above; dup2 onto another number clears close-on-exec.
        if unsafe { libc::dup2(t, 3 + i as RawFd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `sleep 1000` holding `fd` as its descriptor 3 (SIGTERM ignored if asked): a holder the
/// test starts, so the test may end it.
fn hold(fd: RawFd, ignore_term: bool) -> Kid {
    let mut cmd = Command::new("sleep");
    cmd.arg("1000").stdin(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls (dup2, signal).
    unsafe {
        cmd.pre_exec(move || {
            place(&[fd])?;
            if ignore_term {
                libc::signal(libc::SIGTERM, libc::SIG_IGN);
            }
            Ok(())
        });
    }
    Kid(cmd.spawn().expect("spawn sleep"))
}

/// A datagram socket pair that keeps a descriptor "in flight" (SCM_RIGHTS, sent and not
/// yet received): the socket stays open while no process holds it, as a supervisor's
/// socket activation does.
struct InFlight {
    tx: OwnedFd,
    rx: OwnedFd,
}

impl InFlight {
    fn new() -> InFlight {
        let mut sv = [0; 2];
        // SAFETY: socketpair into a local array; checked.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                0,
                sv.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0);
        // SAFETY: fresh descriptors we own.
        unsafe {
            InFlight {
                tx: OwnedFd::from_raw_fd(sv[0]),
                rx: OwnedFd::from_raw_fd(sv[1]),
            }
        }
    }

    fn send(&self, fd: RawFd) {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut cbuf = [0u64; 8];
        // SAFETY: msghdr and cmsg built over local buffers that outlive sendmsg.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
            assert_eq!(libc::sendmsg(self.tx.as_raw_fd(), &msg, 0), 1);
        }
    }

    fn recv(&self) -> OwnedFd {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut cbuf = [0u64; 8];
        // SAFETY: as in send; the received descriptor is new and ours.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&cbuf);
            assert_eq!(
                libc::recvmsg(self.rx.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC),
                1
            );
            let c = libc::CMSG_FIRSTHDR(&msg);
            assert!(!c.is_null());
            OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>()))
        }
    }
}

/// A process this test started: ended (by its PID) and reaped when dropped, so a failing
/// assertion leaks nothing.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Kid {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Kid {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

fn exited(p: &Pidfd) -> bool {
    p.exited_within(Duration::from_secs(10))
}

fn end(c: Kid) {
    drop(c);
}

fn who_code(port: u16) -> i32 {
    run(&["who", "-t", &port.to_string()]).0
}

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

fn act_args(specs: &[&str]) -> portscope::cli::ActArgs {
    portscope::cli::ActArgs {
        specs: specs.iter().map(|s| s.to_string()).collect(),
        proto: Default::default(),
        all_states: false,
        yes: true,
        dry_run: false,
        json: false,
    }
}

#[test]
fn close_destroys_a_listener_and_a_connection_while_the_process_lives() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let sock = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    let (accepted, _) = sock.accept().unwrap();
    let holder = {
        let (l, a) = (sock.as_raw_fd(), accepted.as_raw_fd());
        let mut cmd = Command::new("sleep");
        cmd.arg("1000");
        // SAFETY: dup2 only, between fork and exec.
        unsafe {
            cmd.pre_exec(move || place(&[l, a]));
        }
        Kid(cmd.spawn().unwrap())
    };
    drop((sock, accepted));
    let mut holder = holder;
    let port = addr.port().to_string();
    let (code, out, err) = run(&["close", &port, "--all-states", "-y", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let r = act_doc(&out).result.unwrap();
    let mut closed: Vec<String> = r
        .steps
        .iter()
        .map(|s| format!("{} {}", s.action, s.socket.as_ref().unwrap().state))
        .collect();
    closed.sort();
    assert_eq!(closed, ["destroyed established", "destroyed listen"]);
    assert!(
        err.contains(&format!(
            "pid {} (sleep) keeps a dead descriptor for 2 closed sockets",
            holder.id()
        )),
        "{err}"
    );
    assert!(holder.try_wait().unwrap().is_none(), "the process lives on");
    // The connection was reset, and no listener or connection is left on the port.
    let mut b = [0u8; 1];
    assert_eq!(
        client.read(&mut b).unwrap_err().kind(),
        std::io::ErrorKind::ConnectionReset
    );
    let (_, list, _) = run(&["list", "-a", "-t", "-p", &port, "--json"]);
    let left: Vec<String> = doc(list.as_bytes())
        .sockets
        .iter()
        .filter(|s| s.local.port == addr.port())
        .map(|s| s.state.to_string())
        .collect();
    assert!(left.iter().all(|s| s == "closed"), "{left:?}");
    end(holder);
}

/// A port nothing uses in this (quiet) namespace.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_wait(args: &[&str]) -> (Child, Instant) {
    let c = Command::new(bin_path())
        .arg("wait")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (c, Instant::now())
}

fn finish(c: Child) -> (i32, String, String) {
    let o = c.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn accept_queue(port: u16) -> Option<u32> {
    let (_, out, _) = run(&["list", "-t", "-p", &port.to_string(), "--json"]);
    doc(out.as_bytes())
        .sockets
        .first()
        .and_then(|s| s.recv_queue)
}

/// Waits for a listener that appears later: returns soon after, without connecting unless
/// --connect (then the accept queue shows the connection).
fn wait_for_late_listener(extra: &[&str]) -> (Duration, Option<u32>, String) {
    let port = free_port();
    let spec = format!("127.0.0.1:{port}");
    let mut args = vec![spec.as_str(), "--timeout", "5s"];
    args.extend_from_slice(extra);
    let (child, _) = spawn_wait(&args);
    // The delay under test: the listener appears while wait is polling.
    std::thread::sleep(Duration::from_millis(300));
    let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let up = Instant::now();
    let (code, out, err) = finish(child);
    let took = up.elapsed();
    assert_eq!(code, 0, "{out}{err}");
    let q = accept_queue(port);
    drop(l);
    (took, q, out)
}

#[test]
fn wait_up_returns_soon_after_listen_and_never_connects() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let (took, queue, out) = wait_for_late_listener(&[]);
    eprintln!("wait up: returned {took:?} after bind+listen");
    assert!(took < Duration::from_millis(100), "{took:?}");
    assert_eq!(queue, Some(0), "no connection was made");
    assert!(out.starts_with("127.0.0.1:"), "{out}");
    assert!(out.contains(": up: tcp listen 127.0.0.1:"), "{out}");
    // With --connect the accept queue holds the proof connection.
    let (_, queue, _) = wait_for_late_listener(&["--connect"]);
    assert_eq!(queue, Some(1));
}

#[test]
fn wait_localhost_says_which_family_matched() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["[::1]:0"]);
    let (code, out, err) = run(&[
        "wait",
        &format!("localhost:{}", l.port(0)),
        "--timeout",
        "2s",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("localhost:{}: up as ::1 (IPv6)", l.port(0))),
        "{out}"
    );
    // An IPv4 SPEC is not met by an IPv6-only listener.
    let (code, _, _) = run(&[
        "wait",
        &format!("127.0.0.1:{}", l.port(0)),
        "--timeout",
        "100ms",
    ]);
    assert_eq!(code, 1);
}

#[test]
fn wait_free_returns_soon_after_the_last_holder_closes() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    let (child, _) = spawn_wait(&[&port, "--until", "free", "--timeout", "5s"]);
    std::thread::sleep(Duration::from_millis(300));
    drop(l); // closes stdin and waits for `listen` to exit
    let gone = Instant::now();
    let (code, out, err) = finish(child);
    let took = gone.elapsed();
    eprintln!("wait free: returned {took:?} after the holder exited");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{port}: free\n"));
    assert!(took < Duration::from_millis(100), "{took:?}");
}

#[test]
fn wait_times_out_within_50ms_of_the_deadline() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let port = free_port().to_string();
    let (child, start) = spawn_wait(&[&port, "--timeout", "300ms"]);
    let (code, out, err) = finish(child);
    let took = start.elapsed();
    eprintln!("wait timeout 300ms: exited after {took:?}");
    assert_eq!(code, 1, "{out}");
    assert!(err.contains(&format!("timed out: not up: {port}")), "{err}");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_millis(350), "{took:?}");
}

#[test]
fn wait_runs_the_command_only_when_met_unless_run_anyway() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0"]);
    let up = l.port(0).to_string();
    let (code, out, err) = run(&[
        "wait",
        &up,
        "--timeout",
        "2s",
        "--",
        "sh",
        "-c",
        "echo ran; exit 7",
    ]);
    assert_eq!(code, 7, "{err}");
    assert_eq!(out, "ran\n", "portscope's own line goes to stderr");
    assert!(err.contains(": up: tcp listen"), "{err}");
    let down = free_port().to_string();
    let (code, out, _) = run(&["wait", &down, "--timeout", "50ms", "--", "echo", "ran"]);
    assert_eq!((code, out.as_str()), (1, ""));
    let (code, out, _) = run(&[
        "wait",
        &down,
        "--timeout",
        "50ms",
        "--run-anyway",
        "--",
        "sh",
        "-c",
        "echo ran; exit 3",
    ]);
    assert_eq!((code, out.as_str()), (3, "ran\n"));
}

#[test]
fn destroy_notifications_name_a_closed_listener() {
    use portscope::collect::linux::destroy::DestroyEvents;
    use portscope::model::{Family, Protocol};
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let mut ev = match DestroyEvents::subscribe(&[Protocol::Tcp], &Family::ALL) {
        Ok(e) => e,
        Err(e) => {
            skip(&format!("cannot join the sock_diag destroy groups: {e}"));
            return;
        }
    };
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = Instant::now();
    drop(l);
    let mut ports = Vec::new();
    while !ports.contains(&port) && t.elapsed() < Duration::from_secs(2) {
        ports.extend(ev.wait(Duration::from_secs(2)).unwrap().ports);
    }
    eprintln!("destroy notification after {:?}", t.elapsed());
    assert!(ports.contains(&port), "{ports:?}");
}

// ---------------------------------------------------------------------------------------
// A fake host: PID 1 and a hidden holder, which no test may create for real.

mod fake {
    use portscope::collect::{Collector, Harvest, OwnerScan, OwnerSource, TableSource};
    use portscope::error::Error;
    use portscope::fast_hash::InodeSet;
    use portscope::model::*;
    use std::sync::Arc;

    pub struct Tables(pub Vec<SocketHarvest>);

    impl TableSource for Tables {
        fn kind(&self) -> TableSourceKind {
            TableSourceKind::Netlink
        }
        fn harvest(&mut self, q: &TableQuery) -> Result<Harvest, Error> {
            let mut h = Harvest::new(TableSourceKind::Netlink);
            h.sockets = self
                .0
                .iter()
                .filter(|s| q.wants_state(s.state))
                .cloned()
                .collect();
            Ok(h)
        }
    }

    pub struct Owners {
        pub holders: Vec<(u64, u32)>,
        pub denied: usize,
    }

    impl OwnerSource for Owners {
        fn kind(&self) -> OwnerSourceKind {
            OwnerSourceKind::Procfs
        }
        fn scan(&mut self, wanted: &InodeSet, _: bool) -> std::io::Result<OwnerScan> {
            Ok(OwnerScan {
                holders: self
                    .holders
                    .iter()
                    .filter(|(i, _)| wanted.contains(i))
                    .copied()
                    .collect(),
                denied: self.denied,
                ..OwnerScan::default()
            })
        }
        fn details(&mut self, pids: &[u32]) -> ProcessTable {
            pids.iter()
                .map(|&pid| {
                    let p = Process {
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
                    };
                    (pid, Arc::new(p))
                })
                .collect()
        }
        fn user_name(&mut self, _: u32) -> Option<String> {
            Some("root".into())
        }
    }

    pub fn listener(port: u16, inode: u64) -> SocketHarvest {
        SocketHarvest {
            protocol: Protocol::Tcp,
            family: Family::Ipv4,
            local: Endpoint {
                address: "0.0.0.0".parse().unwrap(),
                port,
            },
            remote: None,
            state: SockState::Listen,
            v6only: None,
            recv_queue: Some(0),
            send_queue: Some(128),
            inode,
            uid: Some(0),
        }
    }

    pub fn host(sockets: Vec<SocketHarvest>, holders: Vec<(u64, u32)>, denied: usize) -> Collector {
        Collector {
            tables: Box::new(Tables(sockets)),
            owners: Box::new(Owners { holders, denied }),
            ephemeral: Some((32768, 60999)),
        }
    }
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
fn wait_up_counts_only_the_wanted_owner() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    let pid = l.pid().to_string();
    let (code, out, err) = run(&[
        "wait",
        &port,
        "--owner",
        "portscope",
        "--pid",
        &pid,
        "--timeout",
        "2s",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!(", pid {pid} portscope")), "{out}");
    // A proxy is not the backend: someone else holding the port does not count.
    let (code, _, err) = run(&["wait", &port, "--owner", "nginx", "--timeout", "100ms"]);
    assert_eq!(code, 1, "{err}");
    let (code, _, _) = run(&[
        "wait",
        &port,
        "--unit",
        "no-such.service",
        "--timeout",
        "100ms",
    ]);
    assert_eq!(code, 1);
}

#[test]
fn a_no_at_the_prompt_signals_nothing() {
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
