//! `portscope who`: every SPEC form, the exit-status contract (0 found, 1 nobody, 2 bad
//! input, 3 owner hidden), forked holders, UDP, v6-only, --remote, --quiet, --json, --first.

// Live kernel socket tables, network namespaces and Linux-only libc calls.
#![cfg(target_os = "linux")]

use crate::common;
use common::*;
use std::net::TcpStream;

fn who(args: &[&str]) -> (i32, String, String) {
    let mut full = vec!["who"];
    full.extend_from_slice(args);
    run(&full)
}

fn quiet_pids(args: &[&str]) -> Vec<u32> {
    let mut full = vec!["-q"];
    full.extend_from_slice(args);
    let (code, out, err) = who(&full);
    assert!(code == 0 || code == 1, "{args:?}: {code} {err}");
    out.lines().map(|l| l.parse().unwrap()).collect()
}

#[test]
fn every_spec_form_finds_its_sockets() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let tcp = Listener::start(&["127.0.0.1:8080", "[::1]:8081", "127.0.0.1:22"]);
    let udp = Listener::start(&["127.0.0.1:8080/udp", "[::1]:5353/udp"]);
    let (t, u) = (tcp.pid(), udp.pid());
    let cases: &[(&str, &[u32])] = &[
        ("8080", &[t, u]),
        (":8080", &[t, u]),
        ("*:8080", &[t, u]),
        ("8080/tcp", &[t]),
        ("8080/udp", &[u]),
        ("127.0.0.1:8080", &[t, u]),
        ("127.0.0.1:8080/udp", &[u]),
        ("127.0.0.2:8080", &[]),
        ("[::1]:8081", &[t]),
        ("[::1]:8080", &[]),
        ("8000-8100", &[t, u]),
        ("8081-8081", &[t]),
        ("22,5353", &[t, u]),
        ("ssh", &[t]),
        ("ssh/tcp", &[t]),
        ("mdns", &[u]),
        ("9999", &[]),
    ];
    for (spec, want) in cases {
        let mut want = want.to_vec();
        want.sort_unstable();
        assert_eq!(quiet_pids(&[spec]), want, "who {spec}");
    }
    // Several SPECs: the union.
    let mut both = vec![t, u];
    both.sort_unstable();
    assert_eq!(quiet_pids(&["8081", "5353"]), both);
}

#[test]
fn people_output_has_a_block_per_owner() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["127.0.0.1:8080", "[::1]:8080", "--fork"]);
    let (parent, child) = (l.opened[0].pids[0], l.opened[0].pids[1]);
    let c1 = TcpStream::connect("127.0.0.1:8080").unwrap();
    let (code, out, err) = who(&["8080"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "");
    let me = std::process::id();
    let head = |pid: u32| format!("8080/tcp  portscope (pid {pid}, user root)");
    let blocks: Vec<&str> = out.split("\n8080/tcp").collect();
    // One block per holder, and one for the connection waiting in the accept queue.
    assert_eq!(blocks.len(), 3, "{out}");
    assert!(out.contains(&head(parent)[8..]), "{out}");
    assert!(out.contains(&head(child)[8..]), "{out}");
    // Blocks follow PID order, which need not be fork order once PIDs wrap.
    let block_of = |pid: u32| -> &str {
        let tag = format!("portscope (pid {pid}, user root)");
        blocks.iter().find(|b| b.contains(&tag)).copied().unwrap()
    };
    let first = block_of(parent);
    assert!(
        first.contains(&format!(
            "  command      {} listen --json 127.0.0.1:8080 [::1]:8080 --fork",
            bin_path()
        )),
        "{first}"
    );
    assert!(first.contains("  parent       "), "{first}");
    assert!(
        first.contains("  listening    127.0.0.1:8080 (IPv4)"),
        "{first}"
    );
    assert!(
        first.contains("  listening    [::1]:8080 (IPv6 only)"),
        "{first}"
    );
    // The pending connection sits in the accept queue: the kernel holds it, not a process.
    assert!(
        blocks[2].starts_with(
            "  no process holds it\n  why          kernel-held (in a listener's accept queue"
        ),
        "{}",
        blocks[2]
    );
    assert!(
        blocks[2].contains("  connections  1 established\n"),
        "{}",
        blocks[2]
    );
    let _ = (c1, me);
    // The child's parent is the listen process.
    let second = block_of(child);
    assert!(
        second.contains(&format!("portscope (pid {parent})")),
        "{second}"
    );
}

#[test]
fn free_port_is_exit_1_with_one_line() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let (code, out, err) = who(&["8080"]);
    assert_eq!(code, 1);
    assert_eq!(out, "8080: free: no socket uses this port\n");
    assert_eq!(err, "");
    let (code, out, _) = who(&["--json", "8080"]);
    assert_eq!(code, 1);
    assert!(doc(out.as_bytes()).sockets.is_empty());
    let (code, out, _) = who(&["-q", "8080"]);
    assert_eq!((code, out.as_str()), (1, ""));
}

#[test]
fn bad_input_names_the_token_and_the_forms() {
    let _serial = serial();
    for bad in [
        "70000", "abc", "-1", "90-80", ":", "1.2.3.4:", "[::1]", "80/sctp", "::1:80",
    ] {
        let (code, out, err) = who(&[bad]);
        assert_eq!(code, 2, "{bad}: {out}{err}");
        assert_eq!(out, "", "{bad}");
        assert_eq!(err.lines().count(), 1, "{bad}: {err}");
        assert!(
            err.starts_with(&format!("portscope: invalid port '{bad}': ")),
            "{bad}: {err}"
        );
        assert!(
            err.contains("expected PORT, :PORT, PORT/tcp|udp"),
            "{bad}: {err}"
        );
    }
    let (code, _, err) = who(&[]);
    assert_eq!(code, 2);
    assert!(err.contains("SPEC"), "{err}");
}

#[test]
fn forked_pair_udp_only_and_v6_only() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let pair = Listener::start(&["0", "--fork"]);
    let port = pair.port(0).to_string();
    let mut want = pair.opened[0].pids.clone();
    want.sort_unstable();
    assert_eq!(quiet_pids(&[&port]), want);
    // --first stops at one holder, and says it may be incomplete only in its help.
    let first = quiet_pids(&["--first", &port]);
    assert_eq!(first.len(), 1);
    assert!(want.contains(&first[0]));

    let u = Listener::start(&["0/udp"]);
    let uport = u.port(0).to_string();
    assert_eq!(quiet_pids(&[&uport]), vec![u.pid()]);
    assert_eq!(quiet_pids(&[&format!("{uport}/tcp")]), Vec::<u32>::new());
    let (_, out, _) = who(&[&uport]);
    assert!(
        out.contains(&format!("  bound        127.0.0.1:{uport} (IPv4)")),
        "{out}"
    );

    let v6 = Listener::start(&["[::1]:0"]);
    let p6 = v6.port(0).to_string();
    let (code, out, _) = who(&["--json", &p6]);
    assert_eq!(code, 0);
    let d = doc(out.as_bytes());
    assert_eq!(d.sockets.len(), 1);
    assert_eq!(d.sockets[0].v6only, Some(true));
    assert_eq!(d.sockets[0].processes[0].pid, v6.pid());
}

#[test]
fn remote_matches_the_peer_port() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0"]);
    let port = l.port(0);
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let me = std::process::id();
    // The client end, held by this test, is connected *to* the port.
    let (code, out, _) = who(&["--remote", "--json", &port.to_string()]);
    assert_eq!(code, 0);
    let d = doc(out.as_bytes());
    assert_eq!(d.sockets.len(), 1, "{out}");
    assert_eq!(d.sockets[0].remote.unwrap().port, port);
    assert_eq!(d.sockets[0].local.port, c.local_addr().unwrap().port());
    assert_eq!(d.sockets[0].processes[0].pid, me);
    // Without --remote the same port finds the listener (and the queued server end).
    let pids = quiet_pids(&[&port.to_string()]);
    assert_eq!(pids, vec![l.pid()]);
    let (code, out, _) = who(&["--remote", &c.local_addr().unwrap().port().to_string()]);
    assert_eq!(
        code, 0,
        "the accepted end's remote is the client port: {out}"
    );
}

#[test]
fn owner_hidden_from_an_unprivileged_user_is_exit_3() {
    let _serial = serial();
    if !is_root() {
        skip("not root: cannot run portscope as another user");
        return;
    }
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        skip("setpriv (util-linux) is not installed");
        return;
    }
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    let as_nobody = |args: &[&str]| common::as_nobody(&[&["who"], args].concat()).unwrap();
    let probe = as_nobody(&["--version"]);
    if !probe.status.success() && probe.status.code() != Some(2) {
        skip("the test binary is not executable by nobody");
        return;
    }
    let out = as_nobody(&[&port]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("held by a process portscope cannot see (socket uid 0, root)"),
        "{text}"
    );
    assert!(text.contains("run as root"), "{text}");
    let out = as_nobody(&["--json", &port]);
    assert_eq!(out.status.code(), Some(3));
    let d = doc(&out.stdout);
    assert_eq!(d.sockets[0].owner, portscope::model::Owner::Hidden);
    assert!(d.sockets[0].processes.is_empty());
    let out = as_nobody(&["-q", &port]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    // A free port is still "free" (1) for nobody: the socket table needs no privilege.
    drop(l);
    let out = as_nobody(&[&port]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn filters_say_no_match_rather_than_free_and_echo_is_escaped() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["127.0.0.1:8080"]);
    let (code, out, _) = who(&["-u", "8080"]);
    assert_eq!(code, 1);
    assert_eq!(out, "8080: no matching socket uses this port\n");
    let (code, out, _) = who(&["--state", "established", "8080"]);
    assert_eq!(
        (code, out.as_str()),
        (1, "8080: no matching socket uses this port\n")
    );
    // What the user typed is echoed escaped.
    let (code, out, _) = who(&["\x0c8081\x0b"]);
    assert_eq!(code, 1);
    assert_eq!(out, "\\x0c8081\\x0b: free: no socket uses this port\n");
    drop(l);
}

#[test]
fn ipv4_spec_does_not_match_a_v6_only_wildcard() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let s = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    s.set_only_v6(true).unwrap();
    s.bind(&"[::]:0".parse::<std::net::SocketAddr>().unwrap().into())
        .unwrap();
    s.listen(8).unwrap();
    let port = s.local_addr().unwrap().as_socket().unwrap().port();
    assert_eq!(
        quiet_pids(&[&format!("127.0.0.1:{port}")]),
        Vec::<u32>::new()
    );
    assert_eq!(
        quiet_pids(&[&format!("[::1]:{port}")]),
        vec![std::process::id()]
    );
    assert_eq!(quiet_pids(&[&port.to_string()]), vec![std::process::id()]);
}

#[test]
fn who_wildcard_spec_is_not_free_when_loopback_held() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let v4 = Listener::start(&["127.0.0.1:8080"]);
    let v6 = Listener::start(&["[::1]:8081"]);
    // Binding the wildcard must fail here; the table must agree before claiming "free".
    for (spec, held_by) in [
        ("0.0.0.0:8080", v4.pid()),
        ("[::]:8080", v4.pid()),
        ("[::ffff:0.0.0.0]:8080", v4.pid()),
        ("[::]:8081", v6.pid()),
    ] {
        let addr: std::net::SocketAddr = spec.parse().unwrap();
        let bind = std::net::TcpListener::bind(addr)
            .map(|_| ())
            .map_err(|e| e.kind());
        assert_eq!(bind, Err(std::io::ErrorKind::AddrInUse), "bind {spec}");
        assert_eq!(quiet_pids(&[spec]), vec![held_by], "who {spec}");
        let (code, out, _) = who(&[spec]);
        assert_eq!(code, 0, "who {spec}: {out}");
        assert!(!out.contains("free"), "who {spec}: {out}");
    }
    // An IPv4 wildcard bind does not collide with an IPv6-only socket: free, and bindable.
    let (code, out, _) = who(&["0.0.0.0:8081"]);
    assert_eq!(
        (code, out.as_str()),
        (1, "0.0.0.0:8081: free: no socket uses this port\n")
    );
    assert!(std::net::TcpListener::bind("0.0.0.0:8081").is_ok());
}

#[test]
fn who_shows_a_bound_only_socket_as_bound_not_as_a_connection() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    s.bind(&addr.into()).unwrap();
    let port = s.local_addr().unwrap().as_socket().unwrap().port();
    let (code, out, err) = who(&[&port.to_string()]);
    if code == 1 {
        skip("this kernel (< 6.6) does not report bound-only TCP sockets");
        return;
    }
    assert_eq!(code, 0, "{err}");
    let me = std::process::id();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with(&format!("{port}/tcp  ")), "{out}");
    assert!(lines[0].contains(&format!("(pid {me}, ")), "{out}");
    assert!(
        out.contains(&format!("\n  bound        127.0.0.1:{port} (IPv4)\n")),
        "{out}"
    );
    assert!(!out.contains("connections"), "{out}");
    assert!(!out.contains("->"), "{out}");
}
