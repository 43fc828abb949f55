//! Acting on a port, `wait`: `--connect` and `--http`, proving that a listener the table
//! shows answers, all within the look's deadline.

use super::WaitSpec;
use crate::model::Socket;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Where to connect for `--connect`/`--http`: the SPEC's address, else the socket's, a
/// wildcard replaced by the loopback address of its family.
pub(super) fn probe_addr(w: &WaitSpec, s: &Socket, at: IpAddr) -> SocketAddr {
    let ip = match (w.localhost, w.spec.addr) {
        (true, _) => at,
        (false, Some(a)) if !a.is_unspecified() => a,
        _ => match s.local.address {
            IpAddr::V4(a) if a.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(a) if a.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
            a => a,
        },
    };
    SocketAddr::new(ip, s.local.port)
}

/// What is left until `until`; None once it has passed (every step of a probe gets only
/// that, so a server that drips its answer cannot stretch --timeout).
fn remaining(until: Instant) -> Option<Duration> {
    let left = until.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

/// A TCP connect (and with `http`, one GET expecting 2xx/3xx), all done by `until`.
pub(super) fn probe(addr: SocketAddr, http: Option<&str>, until: Instant) -> bool {
    let Some(left) = remaining(until) else {
        return false;
    };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, left) else {
        return false;
    };
    let Some(path) = http else {
        return true;
    };
    let req = format!(
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: portscope-wait\r\nConnection: close\r\n\r\n"
    );
    let Some(left) = remaining(until) else {
        return false;
    };
    let _ = s.set_write_timeout(Some(left));
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let Some(left) = remaining(until) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(left));
        match s.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let line = String::from_utf8_lossy(&head[..n]);
    let code = line
        .strip_prefix("HTTP/")
        .and_then(|r| r.split_whitespace().nth(1));
    code.is_some_and(|c| c.starts_with('2') || c.starts_with('3'))
}
