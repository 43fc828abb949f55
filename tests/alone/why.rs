//! `portscope why`: each rule provoked for real in a private network namespace (listeners
//! on the exact address, on 0.0.0.0 and on a dual-stack [::], TIME_WAIT, SO_REUSEPORT of
//! another user, a bound-only socket, privileged ports, absent addresses, IPv6 disabled,
//! ephemeral ports), asserting the rule named, its evidence and the exit status.
#![cfg(target_os = "linux")]

use crate::common;
use common::*;
use portscope::model::SockState;
use portscope::render::why::Document;
use portscope::why::{Evidence, Reason, Verdict};
use socket2::{Domain, Socket, Type};
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};

/// Runs `portscope why --json ARGS`: (exit status, the one result per SPEC, stderr).
fn why(args: &[&str]) -> (i32, Vec<Verdict>, String) {
    let out = portscope()
        .arg("why")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let d: Document = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("invalid why document ({e}): {text}"));
    assert_eq!(d.schema_version, 1);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), d.results, err)
}

fn rules(v: &[Reason]) -> Vec<&str> {
    v.iter().map(|r| r.rule.as_str()).collect()
}

/// The sockets a reason shows: "LOCAL STATE pid,pid".
fn sockets(r: &Reason) -> Vec<String> {
    r.evidence
        .iter()
        .filter_map(|e| match e {
            Evidence::Socket { socket } => {
                let pids: Vec<String> =
                    socket.processes.iter().map(|p| p.pid.to_string()).collect();
                Some(
                    format!("{} {} {}", socket.local, socket.state, pids.join(","))
                        .trim_end()
                        .to_string(),
                )
            }
            _ => None,
        })
        .collect()
}

fn sysctl(name: &str, value: &str) -> Evidence {
    Evidence::Sysctl {
        name: name.into(),
        value: value.into(),
    }
}

/// Writes a sysctl of this thread's (private) network namespace.
fn set_sysctl(path: &str, value: &str) {
    std::fs::write(format!("/proc/sys/net/{path}"), value)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
}

#[test]
fn a_free_port_is_bindable_with_no_reasons() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let (code, r, err) = why(&["127.0.0.1:8080", "8080/udp"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r.len(), 2);
    for v in &r {
        assert!(v.bindable);
        assert_eq!(
            (v.errno.clone(), v.reasons.len(), v.warnings.len()),
            (None, 0, 0),
            "{v:#?}"
        );
    }
    assert_eq!(r[1].address.to_string(), "0.0.0.0");
    assert_eq!(r[1].protocol, portscope::model::Protocol::Udp);
    let text = portscope()
        .args(["why", "127.0.0.1:8080"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&text.stdout),
        "127.0.0.1:8080/tcp: bindable\n"
    );
}

#[test]
fn a_listener_on_the_exact_address() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["127.0.0.1:8080", "127.0.0.1:5353/udp"]);
    let (code, r, _) = why(&["127.0.0.1:8080", "127.0.0.1:5353/udp"]);
    assert_eq!(code, 1);
    assert!(!r[0].bindable);
    assert_eq!(r[0].errno.as_ref().unwrap().name, "EADDRINUSE");
    assert_eq!(rules(&r[0].reasons), ["same_address"]);
    assert_eq!(
        sockets(&r[0].reasons[0]),
        [format!("127.0.0.1:8080 listen {}", l.pid())]
    );
    assert_eq!(rules(&r[1].reasons), ["same_address"]);
    assert_eq!(
        sockets(&r[1].reasons[0]),
        [format!("127.0.0.1:5353 unconnected {}", l.pid())]
    );
    let out = portscope()
        .args(["why", "127.0.0.1:8080"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "127.0.0.1:8080/tcp: not bindable: Address already in use (EADDRINUSE)"
    );
    assert_eq!(
        lines[1],
        "  reason same_address: a listening socket is already on 127.0.0.1:8080/tcp"
    );
    assert_eq!(
        lines[2],
        format!(
            "    evidence  tcp listen 127.0.0.1:8080  portscope (pid {}, user root)",
            l.pid()
        )
    );
    assert!(
        lines[3].starts_with("    fix       stop or reconfigure the holder"),
        "{text}"
    );
}

#[test]
fn a_listener_on_the_ipv4_wildcard() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["*:8080"]);
    let (code, r, _) = why(&["127.0.0.1:8080", "[::]:8080"]);
    assert_eq!(code, 1);
    assert_eq!(rules(&r[0].reasons), ["wildcard_holder"]);
    assert_eq!(
        sockets(&r[0].reasons[0]),
        [format!("0.0.0.0:8080 listen {}", l.pid())]
    );
    // [::] without V6ONLY needs the IPv4 port too.
    assert_eq!(rules(&r[1].reasons), ["dual_stack_request"]);
    assert!(r[1].reasons[0].fix.contains("--v6only"));
    // With V6ONLY it binds, and says what dual-stack would hit.
    let (code, r, _) = why(&["--v6only", "[::]:8080"]);
    assert_eq!(code, 0);
    assert_eq!(rules(&r[0].reasons), Vec::<&str>::new());
    assert_eq!(rules(&r[0].warnings), ["other_family_wildcard"]);
    assert_eq!(
        sockets(&r[0].warnings[0]),
        [format!("0.0.0.0:8080 listen {}", l.pid())]
    );
}

#[test]
fn a_dual_stack_listener_covers_ipv4() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["[::]:8080"]);
    assert_eq!(
        l.opened[0].v6only,
        Some(false),
        "the system default is dual-stack"
    );
    let (code, r, _) = why(&["0.0.0.0:8080", "127.0.0.1:8080", "[::1]:8080"]);
    assert_eq!(code, 1);
    assert_eq!(rules(&r[0].reasons), ["dual_stack_holder"]);
    assert_eq!(rules(&r[1].reasons), ["dual_stack_holder"]);
    assert_eq!(
        sockets(&r[1].reasons[0]),
        [format!("[::]:8080 listen {}", l.pid())]
    );
    assert!(r[1].reasons[0].fix.contains("ipv6only=on"));
    assert_eq!(rules(&r[2].reasons), ["wildcard_holder"]);
}

/// Leaves the server end of a loopback connection on `port` in TIME_WAIT (the side that
/// closes first waits), its listener opened with SO_REUSEADDR as servers do; then closes
/// the listener.
fn time_wait_on(port: u16) {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.set_reuse_address(true).unwrap();
    l.bind(&addr.into()).unwrap();
    l.listen(4).unwrap();
    let mut c = TcpStream::connect(addr).unwrap();
    let (a, _) = l.accept().unwrap();
    drop(a);
    // The client sees the server's FIN, then closes too: the server end goes to TIME_WAIT.
    assert_eq!(c.read(&mut [0u8; 1]).unwrap(), 0);
    drop(c);
    drop(l);
    // The last ACK crosses loopback at once; poll the table (bounded) until it shows.
    for _ in 0..100 {
        let out = portscope()
            .args(["who", "--state", "time_wait", &port.to_string()])
            .output()
            .unwrap();
        if out.status.code() == Some(0) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("no time_wait socket on port {port}");
}

#[test]
fn time_wait_without_and_with_reuseaddr() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    time_wait_on(8080);
    let (code, r, _) = why(&["127.0.0.1:8080"]);
    assert_eq!(code, 1);
    assert_eq!(rules(&r[0].reasons), ["same_address", "time_wait"]);
    assert_eq!(sockets(&r[0].reasons[1]), ["127.0.0.1:8080 time_wait"]);
    assert!(r[0].reasons[1].fix.contains("--reuseaddr"));
    let (code, r, _) = why(&["--reuseaddr", "127.0.0.1:8080"]);
    assert_eq!(code, 0);
    assert!(r[0].bindable);
    assert_eq!(rules(&r[0].reasons), Vec::<&str>::new());
    assert_eq!(rules(&r[0].warnings), ["time_wait"]);
    assert_eq!(sockets(&r[0].warnings[0]), ["127.0.0.1:8080 time_wait"]);
}

#[test]
fn a_bound_only_socket() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&"0.0.0.0:8080".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let (code, r, _) = why(&["127.0.0.1:8080"]);
    assert_eq!(code, 1);
    assert_eq!(rules(&r[0].reasons), ["wildcard_holder", "bound_only"]);
    let me = std::process::id();
    assert_eq!(
        sockets(&r[0].reasons[1]),
        [format!("0.0.0.0:8080 closed {me}")]
    );
}

/// This test binary, re-executed as `nobody`, holding a SO_REUSEPORT listener.
const HELPER_ENV: &str = "PORTSCOPE_WHY_HELPER";

/// The helper process's body (started through the crate root's `helper`): exits the
/// process when it ran, returns at once when this helper was not asked for.
pub fn helper_process() {
    let Ok(addr) = std::env::var(HELPER_ENV) else {
        return;
    };
    // SAFETY: prctl with constant arguments: end with the test.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let addr: SocketAddr = addr.parse().unwrap();
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    s.set_reuse_port(true).unwrap();
    s.bind(&addr.into()).unwrap();
    s.listen(4).unwrap();
    println!("@@ ready");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    std::process::exit(0);
}

fn reuseport_holder_as_nobody(addr: &str) -> Option<Child> {
    // setpriv, as every other nobody run (common::as_nobody): a checkout's private parent
    // directory does not stop it.
    let (uid, gid) = (format!("--reuid={NOBODY}"), format!("--regid={NOBODY}"));
    let mut child = Command::new("setpriv")
        .args([uid.as_str(), gid.as_str(), "--clear-groups", "--"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "helper",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, addr)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let out = BufReader::new(child.stdout.take().unwrap());
    for line in out.lines() {
        if line.ok()?.contains("@@ ready") {
            return Some(child);
        }
    }
    let _ = child.wait();
    None
}

#[test]
fn a_reuseport_listener_of_another_user() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let Some(mut child) = reuseport_holder_as_nobody("127.0.0.1:8080") else {
        skip("the test binary cannot run as nobody (setpriv missing?)");
        return;
    };
    let (code, r, _) = why(&["--reuseport", "127.0.0.1:8080"]);
    let (code_as, r_as, err_as) = why(&["--reuseport", "--as", "nobody", "127.0.0.1:8080"]);
    drop(child.stdin.take());
    let _ = child.wait();
    assert_eq!(code, 1);
    assert_eq!(rules(&r[0].reasons), ["same_address", "reuseport_uid"]);
    assert_eq!(
        sockets(&r[0].reasons[1]),
        [format!("127.0.0.1:8080 listen {}", child.id())]
    );
    assert!(r[0].reasons[1]
        .detail
        .contains(&format!("uid {NOBODY}, this bind runs as uid 0")));
    // As the same user, the SO_REUSEPORT group takes it in.
    assert_eq!(code_as, 0, "{err_as}{r_as:#?}");
    assert_eq!(r_as[0].as_user.as_ref().unwrap().uid, NOBODY);
}

#[test]
fn port_80_as_nobody_at_the_default_and_a_lowered_start() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let (code, r, _) = why(&["--as", "nobody", "80"]);
    assert_eq!(code, 1);
    assert_eq!(r[0].errno.as_ref().unwrap().name, "EACCES");
    assert_eq!(rules(&r[0].reasons), ["privileged_port"]);
    assert_eq!(
        r[0].reasons[0].evidence,
        vec![
            sysctl("net.ipv4.ip_unprivileged_port_start", "1024"),
            Evidence::Capability {
                name: "CAP_NET_BIND_SERVICE".into(),
                present: false,
                uid: NOBODY
            },
        ]
    );
    assert!(r[0].reasons[0]
        .fix
        .contains("setcap cap_net_bind_service=+ep BINARY"));
    // As root without --as: it binds, with a warning that only root makes it work.
    let (code, r, _) = why(&["80"]);
    assert_eq!(code, 0);
    assert_eq!(rules(&r[0].warnings), ["root_only"]);
    // The start is per network namespace: lowered here, the host keeps its own.
    set_sysctl("ipv4/ip_unprivileged_port_start", "77");
    let (code, r, _) = why(&["--as", "nobody", "80"]);
    assert_eq!(code, 0, "{r:#?}");
    assert_eq!(
        (rules(&r[0].reasons).len(), rules(&r[0].warnings).len()),
        (0, 0)
    );
    let (code, r, _) = why(&["--as", "nobody", "76"]);
    assert_eq!(code, 1);
    assert_eq!(
        r[0].reasons[0].evidence[0],
        sysctl("net.ipv4.ip_unprivileged_port_start", "77")
    );
    if let Ok(out) = Command::new("nsenter")
        .args([
            "--net=/proc/1/ns/net",
            "cat",
            "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        ])
        .output()
    {
        assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), "77");
    }
}

#[test]
fn an_address_on_no_interface_and_with_freebind() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let (code, r, _) = why(&["10.255.0.1:8080"]);
    assert_eq!(code, 1);
    assert_eq!(r[0].errno.as_ref().unwrap().name, "EADDRNOTAVAIL");
    assert_eq!(rules(&r[0].reasons), ["address_not_local"]);
    let Evidence::Interfaces { addresses } = &r[0].reasons[0].evidence[0] else {
        panic!("{:#?}", r[0].reasons[0]);
    };
    let shown: Vec<String> = addresses
        .iter()
        .map(|a| format!("{} {}", a.interface, a.address))
        .collect();
    assert_eq!(shown, ["lo 127.0.0.1", "lo ::1"]);
    assert_eq!(
        r[0].reasons[0].evidence[1],
        sysctl("net.ipv4.ip_nonlocal_bind", "0")
    );
    let (code, r, _) = why(&["--freebind", "10.255.0.1:8080"]);
    assert_eq!(code, 0);
    assert!(r[0].bindable && r[0].reasons.is_empty() && r[0].warnings.is_empty());
}

#[test]
fn ipv6_disabled_on_lo() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    if !std::path::Path::new("/proc/sys/net/ipv6/conf/lo/disable_ipv6").exists() {
        skip("this kernel has no IPv6");
        return;
    }
    set_sysctl("ipv6/conf/lo/disable_ipv6", "1");
    let (code, r, _) = why(&["[::1]:8080"]);
    assert_eq!(code, 1);
    assert_eq!(r[0].errno.as_ref().unwrap().name, "EADDRNOTAVAIL");
    assert_eq!(rules(&r[0].reasons), ["ipv6_disabled"]);
    assert_eq!(
        r[0].reasons[0].evidence,
        vec![sysctl("net.ipv6.conf.lo.disable_ipv6", "1")]
    );
}

#[test]
fn an_ephemeral_port_warns_and_says_whether_reserved() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    set_sysctl("ipv4/ip_local_port_range", "40000 40100");
    let (code, r, _) = why(&["127.0.0.1:40050"]);
    assert_eq!(code, 0);
    assert_eq!(rules(&r[0].warnings), ["ephemeral_port"]);
    let w = &r[0].warnings[0];
    assert_eq!(
        w.evidence,
        vec![
            sysctl("net.ipv4.ip_local_port_range", "40000 40100"),
            sysctl("net.ipv4.ip_local_reserved_ports", ""),
        ]
    );
    assert!(w.fix.contains("ip_local_reserved_ports=40050"), "{w:#?}");
    set_sysctl("ipv4/ip_local_reserved_ports", "40050");
    let (_, r, _) = why(&["127.0.0.1:40050"]);
    assert!(r[0].warnings[0]
        .detail
        .contains("is in net.ipv4.ip_local_reserved_ports"));
    assert_eq!(r[0].warnings[0].fix, "");
}

/// Runs the binary as nobody (setpriv), or None when that is not possible here.
fn as_nobody(args: &[&str]) -> Option<std::process::Output> {
    let out = common::as_nobody(args).ok()?;
    (out.status.code() != Some(126) && !out.stdout.is_empty()).then_some(out)
}

#[test]
fn as_nobody_without_as_the_holder_is_hidden_and_as_needs_root() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["127.0.0.1:8080"]);
    let Some(out) = as_nobody(&["why", "--json", "80", "127.0.0.1:8080"]) else {
        skip("setpriv missing, or the binary is not executable by nobody");
        return;
    };
    let d: Document = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{d:#?}");
    assert_eq!(rules(&d.results[0].reasons), ["privileged_port"]);
    assert!(!d.results[0].partial);
    assert_eq!(rules(&d.results[1].reasons), ["same_address"]);
    assert!(d.results[1].partial);
    let Evidence::Socket { socket } = &d.results[1].reasons[0].evidence[0] else {
        panic!();
    };
    assert_eq!(
        (socket.owner, socket.uid, socket.processes.len()),
        (portscope::model::Owner::Hidden, Some(0), 0)
    );
    assert_eq!(socket.state, SockState::Listen);
    drop(l);
    let out = as_nobody(&["why", "--json", "127.0.0.1:8081"]).unwrap();
    assert_eq!(out.status.code(), Some(0));
    let d: Document = serde_json::from_slice(&out.stdout).unwrap();
    assert!(d.results[0].bindable && d.results[0].reasons.is_empty());
    assert!(d.results[0].warnings.is_empty() && !d.results[0].partial);
    let out = as_nobody(&["why", "--json", "--as", "root", "8080"]).unwrap();
    let d: Document = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(d.results[0].bindable);
    assert_eq!(rules(&d.results[0].warnings), ["as_needs_root"]);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let _alone = common::serial();
    for (args, want) in [
        (
            vec!["80-90"],
            "portscope: invalid port '80-90': name one port",
        ),
        (
            vec!["--as", "no-such-user-x", "80"],
            "portscope: invalid user 'no-such-user-x': no such user name or UID",
        ),
        (
            vec!["--v6only", "127.0.0.1:80"],
            "portscope: invalid port '127.0.0.1:80': --v6only and --dual-stack apply to IPv6",
        ),
    ] {
        let out = portscope().arg("why").args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(want) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = portscope()
        .args(["why", "--v6only", "--dual-stack", "[::]:80"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = portscope()
        .args(["why", "-t", "-u", "80"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Regression: under `setpriv --securebits +no_setuid_fixup` the change of user kept every
/// capability, so `why --as nobody 80` tried the bind with CAP_NET_BIND_SERVICE and
/// answered "bindable". The child now drops every capability and checks: the answer is
/// nobody's (EACCES, the capability missing).
#[test]
fn why_as_nobody_under_no_setuid_fixup_is_never_bindable() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let out = std::process::Command::new("setpriv")
        .args(["--securebits", "+no_setuid_fixup", "--", bin_path()])
        .args(["why", "--json", "--as", "nobody", "80"])
        .output()
        .expect("run setpriv");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    let d: Document = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("invalid why document ({e}): {text} {err}"));
    let r = &d.results;
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!r[0].bindable);
    assert_eq!(r[0].errno.as_ref().unwrap().name, "EACCES");
    assert_eq!(rules(&r[0].reasons), ["privileged_port"]);
    assert_eq!(
        r[0].reasons[0].evidence[1],
        Evidence::Capability {
            name: "CAP_NET_BIND_SERVICE".into(),
            present: false,
            uid: NOBODY
        }
    );
}
