//! `portscope close` on real processes in a private network namespace: the sockets go,
//! the processes live on.

// Live sockets, pidfds, namespaces: Linux only.
#![cfg(target_os = "linux")]

use crate::common;
use crate::common::act;
use act::*;
use common::*;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

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

#[test]
fn close_of_udp_frees_an_autobound_port_but_not_an_explicit_one() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    // Bound to port 0: the kernel picked the port and releases it with the socket.
    let auto = Listener::start(&["0/udp"]);
    let (code, out, err) = run(&["close", &format!("{}/udp", auto.port(0))]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with(": destroyed\nresult: freed\n"), "{out}");
    // Bound to a port by number: the kernel keeps it bound (state unchanged).
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let fixed = Listener::start(&[&format!("{port}/udp")]);
    let (code, out, err) = run(&["close", &format!("{port}/udp")]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.ends_with(": destroyed\nresult: still held\n"), "{out}");
    assert!(
        err.contains(&format!(
            "udp 127.0.0.1:{port} is still bound after SOCK_DESTROY"
        )),
        "{err}"
    );
    drop((auto, fixed));
}
