//! Workload helpers for the reliability, churn, scale and hostile-input tests: a seeded PRNG,
//! strict parsers for `ss -tuanpH` and `lsof -F` output, a comparable socket key, a wait for
//! TCP close handshakes to finish, and helper processes (this test binary re-executed) that
//! hold or churn sockets. Loopback only; every helper exits when its stdin closes.
//!
//! Include with `#[path = "common/workload.rs"] mod workload;` next to `mod common;`.
//! The helper processes live in helper.rs beside this file.
#![allow(dead_code)]

use portscope::model::{Family, Socket};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, UdpSocket};
use std::time::{Duration, Instant};

/// splitmix64: small, seedable, good enough to pick a workload.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64().is_multiple_of(n)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() - 1)]
    }
}

/// A seed from the clock, for runs that are not replaying one.
pub fn clock_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)
}

/// Whether `name` is an executable on PATH.
pub fn have(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(d.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Whether IPv6 loopback works in the current network namespace.
pub fn ipv6_loopback() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}

/// What two socket listings are compared on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub proto: &'static str,
    pub family: &'static str,
    pub local: (IpAddr, u16),
    /// None for a wildcard peer (`0.0.0.0:*`, `*:*`).
    pub remote: Option<(IpAddr, u16)>,
    pub state: &'static str,
    /// Sorted, deduplicated.
    pub pids: Vec<u32>,
}

fn end(a: &(IpAddr, u16)) -> String {
    match a.0 {
        IpAddr::V4(v4) => format!("{v4}:{}", a.1),
        IpAddr::V6(v6) => format!("[{v6}]:{}", a.1),
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} -> {} {} pids {:?}",
            self.proto,
            self.family,
            end(&self.local),
            self.remote.as_ref().map_or("*".into(), end),
            self.state,
            self.pids
        )
    }
}

fn remote_or_none(addr: IpAddr, port: u16) -> Option<(IpAddr, u16)> {
    (!(addr.is_unspecified() && port == 0)).then_some((addr, port))
}

/// portscope's view of one socket as a [`Key`].
pub fn key_of(s: &Socket) -> Key {
    let mut pids: Vec<u32> = s.processes.iter().map(|p| p.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    Key {
        proto: s.protocol.as_str(),
        family: match s.family {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        },
        local: (s.local.address, s.local.port),
        remote: s.remote.and_then(|r| remote_or_none(r.address, r.port)),
        state: s.state.as_str(),
        pids,
    }
}

/// `127.0.0.1:80`, `[::1]:80`, `[::ffff:127.0.0.1]:80`, `*:80`, `0.0.0.0:*`, `127.0.0.53%lo:53`.
/// Returns (address, port, written as IPv6). ss writes `*` only for the IPv6 wildcard.
pub fn parse_ss_endpoint(s: &str) -> Result<(IpAddr, u16, bool), String> {
    let bad = |why: &str| format!("bad ss endpoint '{s}': {why}");
    let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("no ':PORT'"))?;
    let port = if port == "*" {
        0
    } else {
        port.parse::<u16>().map_err(|_| bad("port"))?
    };
    if host == "*" {
        return Ok((IpAddr::V6(Ipv6Addr::UNSPECIFIED), port, true));
    }
    let (host, v6) = match host.strip_prefix('[') {
        Some(h) => {
            // `[fe80::1%eth0]` or `[fe80::1]%eth0`
            let h = h
                .split_once(']')
                .map(|(a, _)| a)
                .ok_or_else(|| bad("no ']'"))?;
            (h, true)
        }
        None => (host, false),
    };
    let host = host.split('%').next().unwrap_or(host);
    let addr: IpAddr = host.parse().map_err(|_| bad("address"))?;
    if addr.is_ipv6() != v6 {
        return Err(bad("IPv6 address without brackets"));
    }
    Ok((addr, port, v6))
}

/// ss's state names (`ESTAB`, `TIME-WAIT`, `UNCONN`, ...) as portscope's JSON names.
pub fn ss_state(netid: &str, state: &str) -> Result<&'static str, String> {
    Ok(match (netid, state) {
        ("udp", "ESTAB") => "connected",
        ("udp", "UNCONN") => "unconnected",
        ("tcp", "ESTAB") => "established",
        ("tcp", "LISTEN") => "listen",
        ("tcp", "SYN-SENT") => "syn_sent",
        ("tcp", "SYN-RECV") => "syn_received",
        ("tcp", "FIN-WAIT-1") => "fin_wait_1",
        ("tcp", "FIN-WAIT-2") => "fin_wait_2",
        ("tcp", "TIME-WAIT") => "time_wait",
        ("tcp", "CLOSE-WAIT") => "close_wait",
        ("tcp", "LAST-ACK") => "last_ack",
        ("tcp", "CLOSING") => "closing",
        ("tcp", "UNCONN") => "closed",
        _ => return Err(format!("unknown ss state '{state}' for {netid}")),
    })
}

/// The PIDs in `users:(("name",pid=12,fd=3),("name",pid=13,fd=4))`.
pub fn ss_pids(process: &str) -> Result<Vec<u32>, String> {
    let mut pids = Vec::new();
    let mut rest = process;
    while let Some(i) = rest.find(",pid=") {
        rest = &rest[i + 5..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() || !rest[digits.len()..].starts_with(",fd=") {
            return Err(format!("bad ss process column '{process}'"));
        }
        pids.push(digits.parse::<u32>().map_err(|e| e.to_string())?);
    }
    if !process.is_empty() && pids.is_empty() {
        return Err(format!("no pid in ss process column '{process}'"));
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// Parses `ss -tuanpH`: `Netid State Recv-Q Send-Q Local Peer [users:(...)]`.
pub fn parse_ss(text: &str) -> Result<Vec<Key>, String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_whitespace();
        let mut next = |what: &str| {
            f.next()
                .ok_or_else(|| format!("no {what} in ss line '{line}'"))
        };
        let netid = next("netid")?;
        let state = next("state")?;
        next("recv-q")?
            .parse::<u64>()
            .map_err(|_| format!("recv-q in '{line}'"))?;
        next("send-q")?
            .parse::<u64>()
            .map_err(|_| format!("send-q in '{line}'"))?;
        let local = next("local")?;
        let peer = next("peer")?;
        let process: Vec<&str> = f.collect();
        let proto = match netid {
            "tcp" => "tcp",
            "udp" => "udp",
            other => return Err(format!("unexpected netid '{other}' in '{line}'")),
        };
        let (la, lp, l6) = parse_ss_endpoint(local)?;
        let (ra, rp, _) = parse_ss_endpoint(peer)?;
        out.push(Key {
            proto,
            family: if l6 { "ipv6" } else { "ipv4" },
            local: (la, lp),
            remote: remote_or_none(ra, rp),
            state: ss_state(netid, state)?,
            pids: ss_pids(&process.join(" "))?,
        });
    }
    Ok(out)
}

/// Parses `lsof -nP -i -F pPn` into (protocol, local port) → PIDs.
pub fn parse_lsof(text: &str) -> Result<BTreeMap<(String, u16), BTreeSet<u32>>, String> {
    let mut map: BTreeMap<(String, u16), BTreeSet<u32>> = BTreeMap::new();
    let mut pid = None;
    let mut proto: Option<String> = None;
    for line in text.lines() {
        let (tag, val) = line.split_at(line.len().min(1));
        match tag {
            "p" => {
                pid = Some(
                    val.parse::<u32>()
                        .map_err(|_| format!("lsof pid '{line}'"))?,
                )
            }
            "f" => proto = None,
            "P" => proto = Some(val.to_ascii_lowercase()),
            "n" => {
                let local = val.split("->").next().unwrap_or(val);
                let port = local
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                    .ok_or_else(|| format!("lsof name '{line}'"))?;
                let (Some(pid), Some(proto)) = (pid, proto.take()) else {
                    return Err(format!("lsof name before pid/protocol: '{line}'"));
                };
                map.entry((proto, port)).or_default().insert(pid);
            }
            _ => {}
        }
    }
    Ok(map)
}

/// (protocol, local port) → PIDs, portscope's side of the lsof comparison.
pub fn owners_by_port(sockets: &[Socket]) -> BTreeMap<(String, u16), BTreeSet<u32>> {
    let mut map: BTreeMap<(String, u16), BTreeSet<u32>> = BTreeMap::new();
    for s in sockets.iter().filter(|s| !s.processes.is_empty()) {
        map.entry((s.protocol.as_str().to_string(), s.local.port))
            .or_default()
            .extend(s.processes.iter().map(|p| p.pid));
    }
    map
}

/// Multiset difference both ways: (only in a, only in b).
pub fn diff(a: &[Key], b: &[Key]) -> (Vec<Key>, Vec<Key>) {
    let mut count: BTreeMap<&Key, i64> = BTreeMap::new();
    for k in a {
        *count.entry(k).or_default() += 1;
    }
    for k in b {
        *count.entry(k).or_default() -= 1;
    }
    let mut only_a = Vec::new();
    let mut only_b = Vec::new();
    for (k, n) in count {
        for _ in 0..n.max(0) {
            only_a.push(k.clone());
        }
        for _ in 0..(-n).max(0) {
            only_b.push(k.clone());
        }
    }
    (only_a, only_b)
}

pub fn show(keys: &[Key]) -> String {
    keys.iter().map(|k| format!("\n    {k}")).collect()
}

/// Waits until no TCP socket of this thread's network namespace is mid-handshake or
/// mid-close (SYN_SENT, SYN_RECV, FIN_WAIT1, LAST_ACK, CLOSING, NEW_SYN_RECV), so two
/// tools reading the tables one after the other see the same states. Reads
/// /proc/thread-self/net: /proc/self/net is the main thread's namespace, not ours.
pub fn settle(timeout: Duration) -> Result<(), String> {
    const MOVING: [&str; 6] = ["02", "03", "04", "09", "0B", "0C"];
    let end = Instant::now() + timeout;
    loop {
        let mut moving = Vec::new();
        for f in ["tcp", "tcp6"] {
            let text = std::fs::read_to_string(format!("/proc/thread-self/net/{f}"))
                .map_err(|e| format!("/proc/thread-self/net/{f}: {e}"))?;
            for line in text.lines().skip(1) {
                let st = line.split_whitespace().nth(3).unwrap_or("");
                if MOVING.contains(&st) {
                    moving.push(line.trim().to_string());
                }
            }
        }
        if moving.is_empty() {
            return Ok(());
        }
        if Instant::now() > end {
            return Err(format!("TCP sockets still changing state: {moving:?}"));
        }
        std::thread::yield_now();
    }
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        }
        r.rlim_cur as u64
    }
}

#[path = "helper.rs"]
mod helper;
#[allow(unused_imports)] // not every test binary uses the helpers
pub use helper::*;
