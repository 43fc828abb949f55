//! `portscope list`: every field of the JSON contract and the visible table columns, on
//! sockets the test opens itself; exact where a private network namespace makes the table
//! quiet.

// Live kernel socket tables, network namespaces and Linux-only libc calls.
#![cfg(target_os = "linux")]

use crate::common;
use common::*;
use portscope::model::{Family, Owner, OwnerReason, PortClass, Protocol, SockState, Socket};
use std::net::{TcpListener, TcpStream, UdpSocket};

fn find(doc: &[Socket], proto: Protocol, port: u16, state: SockState) -> &Socket {
    doc.iter()
        .find(|s| s.protocol == proto && s.local.port == port && s.state == state)
        .unwrap_or_else(|| panic!("no {proto} {state} socket on port {port} in {doc:#?}"))
}

fn pids(s: &Socket) -> Vec<u32> {
    let mut v: Vec<u32> = s.processes.iter().map(|p| p.pid).collect();
    v.sort_unstable();
    v
}

fn ephemeral() -> (u16, u16) {
    let t = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let v: Vec<u16> = t.split_whitespace().map(|w| w.parse().unwrap()).collect();
    (v[0], v[1])
}

#[test]
fn json_reports_every_field_of_known_sockets_exactly() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let me = std::process::id();
    let l = Listener::start(&["0", "[::1]:0", "[::]:0", "0/udp", "[::1]:0/udp", "--fork"]);
    let owners = {
        let mut v = l.opened[0].pids.clone();
        v.sort_unstable();
        v
    };
    assert_eq!(owners.len(), 2, "listen --fork: two holders");
    // An established pair and connected UDP sockets, held by this test process.
    let srv = TcpListener::bind("127.0.0.1:0").unwrap();
    let cli = TcpStream::connect(srv.local_addr().unwrap()).unwrap();
    let (acc, _) = srv.accept().unwrap();
    let u4a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let u4b = UdpSocket::bind("127.0.0.1:0").unwrap();
    u4b.connect(u4a.local_addr().unwrap()).unwrap();
    let u6 = UdpSocket::bind("[::1]:0").unwrap();
    let u6c = UdpSocket::bind("[::1]:0").unwrap();
    u6c.connect(u6.local_addr().unwrap()).unwrap();

    let out = portscope()
        .args(["list", "--all", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = doc(&out.stdout);
    assert_eq!(d.schema_version, 1);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    // Quiet namespace: exactly what we opened, nothing else.
    assert_eq!(d.sockets.len(), 5 + 1 + 2 + 4, "{:#?}", d.sockets);
    let (lo, hi) = ephemeral();
    let eph = |p: u16| lo <= p && p <= hi;

    let t4 = find(&d.sockets, Protocol::Tcp, l.port(0), SockState::Listen);
    assert_eq!(t4.family, Family::Ipv4);
    assert_eq!(t4.v6only, None);
    assert_eq!(t4.local.address.to_string(), "127.0.0.1");
    assert_eq!(t4.remote, None);
    assert_eq!(t4.port_class, portscope::classify::port_class(l.port(0)));
    assert_eq!(t4.ephemeral, eph(l.port(0)));
    assert!(
        t4.ephemeral,
        "an OS-picked port lies in the ephemeral range"
    );
    assert_eq!(t4.service, None);
    assert_eq!(
        (t4.recv_queue, t4.send_queue),
        (Some(0), Some(128)),
        "backlog and its limit"
    );
    assert!(t4.inode > 0);
    assert_eq!(t4.uid, Some(0));
    assert_eq!(t4.owner, Owner::Visible);
    assert_eq!(t4.owner_reason, None);
    assert_eq!(pids(t4), owners);
    for p in &t4.processes {
        assert_eq!(p.name, "portscope");
        assert_eq!(p.cmdline[0], bin_path());
        assert_eq!(p.cmdline[1..4], ["listen", "--json", "0"]);
        assert_eq!(p.user.as_deref(), Some("root"));
        assert_eq!(p.uid, Some(0));
    }

    let t6 = find(&d.sockets, Protocol::Tcp, l.port(1), SockState::Listen);
    assert_eq!((t6.family, t6.v6only), (Family::Ipv6, Some(true)));
    assert_eq!(t6.local.address.to_string(), "::1");
    let dual = find(&d.sockets, Protocol::Tcp, l.port(2), SockState::Listen);
    assert_eq!((dual.family, dual.v6only), (Family::Ipv6, Some(false)));
    assert!(dual.is_dual_stack());
    let ub = find(&d.sockets, Protocol::Udp, l.port(3), SockState::Unconnected);
    assert_eq!(
        (ub.family, ub.v6only, ub.remote),
        (Family::Ipv4, None, None)
    );
    let ub6 = find(&d.sockets, Protocol::Udp, l.port(4), SockState::Unconnected);
    assert_eq!((ub6.family, ub6.v6only), (Family::Ipv6, Some(true)));
    assert_eq!(pids(ub6), owners);

    let c = find(
        &d.sockets,
        Protocol::Tcp,
        cli.local_addr().unwrap().port(),
        SockState::Established,
    );
    assert_eq!(c.remote.unwrap().port, srv.local_addr().unwrap().port());
    assert_eq!(pids(c), vec![me]);
    assert!(c.ephemeral);
    let a = find(
        &d.sockets,
        Protocol::Tcp,
        acc.local_addr().unwrap().port(),
        SockState::Established,
    );
    assert_eq!(a.remote.unwrap().port, cli.local_addr().unwrap().port());
    let uc = find(
        &d.sockets,
        Protocol::Udp,
        u4b.local_addr().unwrap().port(),
        SockState::Connected,
    );
    assert_eq!(
        uc.remote.unwrap().to_string(),
        u4a.local_addr().unwrap().to_string()
    );
    let uc6 = find(
        &d.sockets,
        Protocol::Udp,
        u6c.local_addr().unwrap().port(),
        SockState::Connected,
    );
    assert_eq!(
        uc6.remote.unwrap().to_string(),
        u6.local_addr().unwrap().to_string()
    );
    // The kernel reports IPV6_V6ONLY only for listening and unconnected sockets.
    assert_eq!(uc6.v6only, None);
    // Binding a specific IPv6 address makes the kernel set v6-only by itself (inet6_bind).
    let u6s = find(
        &d.sockets,
        Protocol::Udp,
        u6.local_addr().unwrap().port(),
        SockState::Unconnected,
    );
    assert_eq!(u6s.v6only, Some(true));
    drop((cli, acc, srv));
}

#[test]
fn default_view_is_listening_sockets_and_table_shows_the_columns() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0", "[::]:0", "0/udp"]);
    let c = TcpStream::connect(("127.0.0.1", l.port(0))).unwrap();
    // `listen` never accepts: the connection waits in the listener's accept queue.
    let (code, out, err) = run(&["list"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "PROTO", "LOCAL", "ADDRESS", "PORT", "SERVICE", "CLASS", "STATE", "RECV-Q", "SEND-Q",
            "PID", "PROCESS", "USER"
        ]
    );
    // The established pair is not in the default view.
    assert_eq!(lines.len(), 4, "{out}");
    let pid = l.pid().to_string();
    let row = |port: u16| -> Vec<String> {
        let p = port.to_string();
        lines
            .iter()
            .find(|l| l.split_whitespace().nth(2) == Some(&p))
            .unwrap_or_else(|| panic!("no row for {port}: {out}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let r = row(l.port(0));
    assert_eq!(r[0], "tcp");
    assert_eq!(r[1], "127.0.0.1");
    assert!(r[4].ends_with(",eph"), "{r:?}");
    assert_eq!(&r[5..], ["listen", "1", "128", &pid, "portscope", "root"]);
    let r = row(l.port(1));
    assert_eq!((r[0].as_str(), r[1].as_str()), ("tcp46", "[::]"));
    let r = row(l.port(2));
    assert_eq!((r[0].as_str(), r[5].as_str()), ("udp", "unconnected"));

    // --all adds REMOTE and the connection, both ends.
    let (_, out, _) = run(&["list", "--all", "-t", "-4"]);
    assert!(out.lines().next().unwrap().contains("REMOTE"));
    let est = out.lines().filter(|l| l.contains("established")).count();
    assert_eq!(est, 2, "{out}");
    drop(c);
}

#[test]
fn filters_combine() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let a = Listener::start(&[
        "127.0.0.1:8080",
        "[::1]:8443",
        "127.0.0.1:5353/udp",
        "[::1]:22",
    ]);
    let b = Listener::start(&["127.0.0.1:8090", "--fork"]);
    let ports = |args: &[&str]| -> Vec<(String, u16)> {
        let mut full = vec!["list", "--json"];
        full.extend_from_slice(args);
        let out = portscope().args(&full).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let mut v: Vec<(String, u16)> = doc(&out.stdout)
            .sockets
            .iter()
            .map(|s| (s.protocol.to_string(), s.local.port))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let tcp = |p: u16| ("tcp".to_string(), p);
    let udp = |p: u16| ("udp".to_string(), p);
    assert_eq!(
        ports(&["-t"]),
        vec![tcp(22), tcp(8080), tcp(8090), tcp(8443)]
    );
    assert_eq!(ports(&["-u"]), vec![udp(5353)]);
    assert_eq!(ports(&["-6"]), vec![tcp(22), tcp(8443)]);
    assert_eq!(ports(&["-4", "-t"]), vec![tcp(8080), tcp(8090)]);
    assert_eq!(ports(&["-p", "8080,8443"]), vec![tcp(8080), tcp(8443)]);
    assert_eq!(ports(&["-p", "8000-8100"]), vec![tcp(8080), tcp(8090)]);
    assert_eq!(ports(&["-p", "ssh"]), vec![tcp(22)]);
    assert_eq!(ports(&["-p", "[::1]:8443"]), vec![tcp(8443)]);
    assert_eq!(ports(&["-p", "5353/udp"]), vec![udp(5353)]);
    assert_eq!(ports(&["--class", "well-known"]), vec![tcp(22)]);
    assert_eq!(ports(&["--class", "registered", "-6"]), vec![tcp(8443)]);
    assert_eq!(ports(&["--state", "unconnected"]), vec![udp(5353)]);
    assert_eq!(ports(&["--state", "established"]), vec![]);
    assert_eq!(ports(&["--pid", &b.pid().to_string()]), vec![tcp(8090)]);
    assert_eq!(
        ports(&["--pid", &b.opened[0].pids[1].to_string()]),
        vec![tcp(8090)]
    );
    assert_eq!(ports(&["--process", "PORTSC", "-p", "22"]), vec![tcp(22)]);
    assert_eq!(ports(&["--process", "nginx"]), vec![]);
    assert_eq!(ports(&["--user", "root", "-u"]), vec![udp(5353)]);
    assert_eq!(ports(&["--user", "65534"]), vec![]);
    // Sorting: by pid puts the forked pair's socket after the first listener's.
    let out = portscope()
        .args(["list", "--json", "--sort", "pid", "-t", "-4"])
        .output()
        .unwrap();
    let order: Vec<u16> = doc(&out.stdout)
        .sockets
        .iter()
        .map(|s| s.local.port)
        .collect();
    assert_eq!(order, vec![8080, 8090]);
    let out = portscope()
        .args(["list", "--json", "--sort", "port", "-r", "-t", "-4"])
        .output()
        .unwrap();
    let order: Vec<u16> = doc(&out.stdout)
        .sockets
        .iter()
        .map(|s| s.local.port)
        .collect();
    assert_eq!(order, vec![8090, 8080]);
    // Service names unless -n.
    let out = portscope()
        .args(["list", "--json", "-p", "22"])
        .output()
        .unwrap();
    assert_eq!(doc(&out.stdout).sockets[0].service.as_deref(), Some("ssh"));
    let out = portscope()
        .args(["list", "--json", "-n", "-p", "22"])
        .output()
        .unwrap();
    assert_eq!(doc(&out.stdout).sockets[0].service, None);
    drop((a, b));
}

#[test]
fn empty_result_is_an_empty_document_and_exit_0() {
    let _serial = serial();
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    drop(l);
    let (code, out, err) = run(&[
        "list", "--json", "-p", &port, "-t", "-4", "--state", "listen",
    ]);
    assert_eq!(code, 0, "{err}");
    let d = doc(out.as_bytes());
    assert!(d.sockets.is_empty(), "{out}");
}

#[test]
fn no_subcommand_runs_list() {
    let _serial = serial();
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    // The host's table may hold a UDP socket on the same number: ask for TCP.
    let (code, out, _) = run(&["--json", "-t", "-p", &port]);
    assert_eq!(code, 0);
    let d = doc(out.as_bytes());
    assert_eq!(d.sockets.len(), 1);
    assert_eq!(d.sockets[0].processes[0].pid, l.pid());
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let _serial = serial();
    let cases: &[(&[&str], &str)] = &[
        (
            &["list", "-p", "70000"],
            "portscope: invalid port '70000': ports are 0-65535",
        ),
        (
            &["list", "-p", "abc"],
            "portscope: invalid port 'abc': unknown service name 'abc'",
        ),
        (
            &["list", "-p", "90-80"],
            "portscope: invalid port '90-80': range start 90",
        ),
        (&["list", "--pid", "x"], "portscope: invalid pid 'x'"),
        (
            &["list", "--user", "no-such-user-zz"],
            "portscope: invalid user 'no-such-user-zz'",
        ),
    ];
    for (args, want) in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with(want), "{args:?}: {err}");
    }
    // clap's own errors: the bad value named, exit 2, a suggestion for typos.
    let (code, _, err) = run(&["list", "--sort", "bogus"]);
    assert_eq!(code, 2);
    assert!(err.contains("'bogus'"), "{err}");
    let (code, _, err) = run(&["lsit"]);
    assert_eq!(code, 2);
    assert!(err.contains("list"), "{err}");
}

#[test]
fn closed_pipe_is_success_and_silent() {
    let _serial = serial();
    // A pipe whose reader is already gone: the first write fails with EPIPE.
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors into the array we own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the read end is ours, open, and not used again.
    unsafe { libc::close(fds[0]) };
    use std::os::fd::FromRawFd;
    // SAFETY: the write end is ours and open; Stdio takes it over, nothing else closes it.
    let w = unsafe { std::process::Stdio::from_raw_fd(fds[1]) };
    let l = Listener::start(&["0"]);
    let out = std::process::Command::new(bin_path())
        .args(["list", "--all"])
        .stdout(w)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    drop(l);
    // And through a real shell pipeline: `list | head -1`, portscope's own status.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' list --all | head -1 >/dev/null",
            bin_path()
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
}

#[test]
fn full_disk_is_an_error_not_a_panic() {
    let _serial = serial();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let l = Listener::start(&["0"]);
    let out = std::process::Command::new(bin_path())
        .args(["list", "--all", "--json"])
        .stdout(f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("portscope: ") && err.contains("No space left"),
        "{err}"
    );
    drop(l);
}

#[test]
fn no_colour_when_not_a_terminal_or_no_color() {
    let _serial = serial();
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    let (_, out, _) = run(&["list", "-p", &port]);
    assert!(!out.contains('\x1b'), "{out:?}");
    let out = portscope()
        .args(["list", "-p", &port, "--color", "always"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\x1b[1mPROTO"));
    let out = portscope()
        .args(["list", "-p", &port, "--color", "never"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));
}

#[test]
fn time_wait_sockets_have_no_owner_and_say_why() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let srv = TcpListener::bind("127.0.0.1:0").unwrap();
    let cli = TcpStream::connect(srv.local_addr().unwrap()).unwrap();
    let (acc, _) = srv.accept().unwrap();
    let port = cli.local_addr().unwrap().port();
    drop(cli); // the active closer goes to fin_wait, then time_wait once the peer closes
    drop(acc);
    let out = portscope()
        .args(["list", "--all", "--json", "--state", "time_wait"])
        .output()
        .unwrap();
    let d = doc(&out.stdout);
    let tw = find(&d.sockets, Protocol::Tcp, port, SockState::TimeWait);
    assert_eq!(tw.owner, Owner::None);
    assert_eq!(tw.owner_reason, Some(OwnerReason::KernelTimeWait));
    assert_eq!(
        tw.uid, None,
        "the kernel says 0 for a time_wait socket: no uid"
    );
    assert!(tw.processes.is_empty());
    assert_eq!(tw.inode, 0);
    // The kernel says uid 0 for time_wait mini-sockets: that is nobody's, not root's.
    assert_eq!(tw.user, None);
    let by_root = portscope()
        .args(["list", "--json", "--state", "time_wait", "--user", "root"])
        .output()
        .unwrap();
    assert!(doc(&by_root.stdout).sockets.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("1 kernel-held (time_wait)"), "{err}");
    assert_eq!(d.warnings.len(), 1);
    // The table shows '-' for its owner, never a blank.
    let (_, out, _) = run(&["list", "--state", "time_wait"]);
    let row = out.lines().nth(1).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[cells.len() - 3..], ["-", "-", "-"], "{row}");
    assert_eq!(
        portscope::classify::port_class(port),
        d.sockets[0].port_class
    );
    let _ = PortClass::Dynamic;
}

#[test]
fn bound_only_tcp_socket_is_closed_everywhere() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    // Bound, never listened: it holds the port (another bind fails) though ss 6.1 and
    // /proc/net do not show it; Linux 6.6+ reports it through sock_diag.
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    let port = s.local_addr().unwrap().as_socket().unwrap().port();
    let all = doc(&portscope()
        .args(["list", "--all", "--json"])
        .output()
        .unwrap()
        .stdout);
    if all.sockets.is_empty() {
        skip("this kernel (< 6.6) does not report bound-only TCP sockets");
        return;
    }
    let b = find(&all.sockets, Protocol::Tcp, port, SockState::Closed);
    assert_eq!(pids(b), vec![std::process::id()]);
    // The same socket through --state closed and through who.
    let closed = doc(&portscope()
        .args(["list", "--json", "--state", "closed"])
        .output()
        .unwrap()
        .stdout);
    assert_eq!(closed.sockets.len(), 1);
    let (code, _, _) = run(&["who", &port.to_string()]);
    assert_eq!(code, 0);
}

#[test]
fn unreadable_proc_degrades_or_fails_cleanly() {
    let _serial = serial();
    if !is_root() {
        skip("not root: cannot mount over /proc in a private mount namespace");
        return;
    }
    // A tmpfs over /proc, in a mount namespace of its own: no process, no /proc/net.
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    let sh = |env: &str, args: &str| {
        std::process::Command::new("unshare")
            .args(["-m", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs none /proc && {env} '{}' {args}",
                bin_path()
            ))
            .output()
            .unwrap()
    };
    // Netlink still gives the table: the socket is listed, its owner unknown, and why.
    let out = sh("", &format!("list --json -t -p {port}"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = doc(&out.stdout);
    assert_eq!(d.sockets.len(), 1);
    assert_eq!(d.sockets[0].owner, Owner::Hidden);
    assert_eq!(d.sockets[0].owner_reason, Some(OwnerReason::ProcUnreadable));
    assert!(
        d.warnings
            .iter()
            .any(|w| w.starts_with("cannot read /proc")),
        "{:?}",
        d.warnings
    );
    // Without netlink there is no table at all: one clear error, exit 2.
    let out = sh("", "list --table-source procnet");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap();
    assert_eq!(
        last,
        "portscope: cannot read the socket tables: /proc/net/tcp: No such file or directory (os error 2)"
    );
    drop(l);
}
