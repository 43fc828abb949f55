//! Acting on a port, `wait`: watch the socket table (never connecting unless asked) until
//! every SPEC is up or free. Polls the kernel-side port filter with a backoff, and for
//! `free` wakes on the sock_diag destroy notifications where the kernel lets us join them.

use super::supervisor;
use crate::collect::linux::bpf::events::EventSource;
use crate::collect::linux::destroy::DestroyEvents;
use crate::collect::Collector;
use crate::filter;
use crate::model::{Owner, Protocol, Socket};
use crate::pipeline;
use crate::query::Query;
use crate::spec::{canonical, PortSpec};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The longest pause between two looks at the table: the reaction time when nothing else
/// wakes us (a listener appearing has no notification).
pub const MAX_STEP: Duration = Duration::from_millis(10);
/// With destroy notifications, looks are only a fallback (a socket that stops listening
/// without being destroyed, a lost notification).
pub const MAX_STEP_WITH_EVENTS: Duration = Duration::from_millis(50);
/// With BPF events every change wakes the wait: the table is read again this often only
/// in case an event was missed.
pub const MAX_STEP_WITH_BPF: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    Up,
    Free,
}

/// One SPEC; `localhost` means 127.0.0.1 or ::1, whichever is up.
#[derive(Debug, Clone)]
pub struct WaitSpec {
    pub spec: PortSpec,
    pub localhost: bool,
}

/// Who must hold the socket for it to count (each given constraint must hold).
#[derive(Debug, Clone, Default)]
pub struct OwnerWanted {
    /// --pid/--user, checked as `list` checks them.
    pub query: Option<Query>,
    /// --owner: whole process names (the name the kernel keeps, or argv[0]'s file name),
    /// never a part of one: `--owner web` does not count `webproxy`.
    pub names: Vec<String>,
    pub containers: Vec<String>,
    pub units: Vec<String>,
}

impl OwnerWanted {
    pub fn any(&self) -> bool {
        self.query.is_some()
            || !self.names.is_empty()
            || !self.containers.is_empty()
            || !self.units.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct WaitOptions {
    pub until: Until,
    pub timeout: Option<Duration>,
    pub connect: bool,
    pub http: Option<String>,
    pub owner: OwnerWanted,
    /// `--until free` for a bind with SO_REUSEADDR: only listening and bound sockets count
    /// (the query then asks for those states only); otherwise every socket on the port.
    pub reuseaddr: bool,
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// One line per SPEC saying what met it.
    Met(Vec<String>),
    TimedOut(Vec<String>),
    /// Up, but the owner cannot be seen: the constraint cannot be checked.
    OwnerHidden(Vec<String>),
}

/// `localhost:PORT` is accepted here on top of the `who` grammar.
pub fn parse_spec(text: &str, services: &crate::services::Services) -> anyhow::Result<WaitSpec> {
    if let Some(rest) = text.trim().strip_prefix("localhost:") {
        let mut spec = PortSpec::parse(rest, services)?;
        spec.text = text.to_string();
        return Ok(WaitSpec {
            spec,
            localhost: true,
        });
    }
    Ok(WaitSpec {
        spec: PortSpec::parse(text, services)?,
        localhost: false,
    })
}

/// Whether a listener bound to `end` answers at `want`: an IPv4 address is reached through
/// itself, 0.0.0.0, or a dual-stack [::]; an IPv6 one through itself or [::].
pub fn reachable(want: IpAddr, end: IpAddr, v6only: Option<bool>) -> bool {
    let (want, end_c) = (canonical(want), canonical(end));
    match want {
        IpAddr::V4(_) => {
            end_c == want
                || end_c == IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                || (end == IpAddr::V6(Ipv6Addr::UNSPECIFIED) && v6only == Some(false))
        }
        IpAddr::V6(_) => end == want || end == IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

fn on_port(spec: &PortSpec, s: &Socket) -> bool {
    spec.proto.is_none_or(|p| p == s.protocol)
        && spec.ranges.iter().any(|r| {
            r.low <= s.local.port
                && s.local.port <= r.high
                && r.proto.is_none_or(|p| p == s.protocol)
        })
}

/// The address a SPEC is met at by `s`, for the output, or None.
fn up_at(w: &WaitSpec, s: &Socket) -> Option<IpAddr> {
    if !s.state.is_listening() || !on_port(&w.spec, s) {
        return None;
    }
    let wants: Vec<IpAddr> = if w.localhost {
        vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]
    } else {
        match w.spec.addr {
            Some(a) => vec![a],
            None => return Some(s.local.address),
        }
    };
    wants
        .into_iter()
        .find(|&a| reachable(a, s.local.address, s.v6only))
}

fn describe(w: &WaitSpec, s: &Socket, at: IpAddr) -> String {
    let fam = if canonical(at).is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    };
    let via = if w.localhost {
        format!(" as {at} ({fam})")
    } else {
        String::new()
    };
    let holder = s
        .processes
        .first()
        .map_or(String::new(), |p| format!(", pid {} {}", p.pid, p.name));
    format!(
        "{}: up{via}: {} {} {}{holder}",
        w.spec.text,
        s.proto_label(),
        s.state,
        s.local
    )
}

/// Whether the owners of `s` satisfy the constraint: Some(true/false), or None when the
/// owner is hidden and nothing can be said.
fn owner_ok(want: &OwnerWanted, s: &Socket) -> Option<bool> {
    if s.processes.is_empty() {
        return if s.owner == Owner::Hidden {
            None
        } else {
            Some(false)
        };
    }
    if let Some(q) = &want.query {
        if !filter::owner_matches(q.selection(), s) {
            return Some(false);
        }
    }
    if !want.names.is_empty() && !s.processes.iter().any(|p| named(&want.names, p)) {
        return Some(false);
    }
    if want.containers.is_empty() && want.units.is_empty() {
        return Some(true);
    }
    Some(s.processes.iter().any(|p| {
        let sup = supervisor::of(p);
        let c_ok = want.containers.is_empty()
            || sup.container.as_deref().is_some_and(|c| {
                let id = c.split_once(':').map_or(c, |(_, id)| id);
                want.containers
                    .iter()
                    .any(|w| w.starts_with(id) || id.starts_with(w.as_str()))
            });
        let u_ok = want.units.is_empty()
            || sup.unit.as_deref().is_some_and(|u| {
                want.units
                    .iter()
                    .any(|w| u == w || u.strip_suffix(".service") == Some(w.as_str()))
            });
        c_ok && u_ok
    }))
}

/// Whether `p`'s whole name is one of `names`: its kernel name (comm, which keeps 15
/// bytes: a longer wanted name matches those), or argv[0]'s file name.
fn named(names: &[String], p: &crate::model::Process) -> bool {
    let arg0 = p.cmdline.first().map(|a| a.rsplit('/').next().unwrap_or(a));
    names.iter().any(|w| {
        let comm_of_w = w.get(..15).filter(|_| p.name.len() == 15).unwrap_or(w);
        p.name == *w || p.name == comm_of_w || arg0 == Some(w.as_str())
    })
}

/// Where to connect for `--connect`/`--http`: the SPEC's address, else the socket's, a
/// wildcard replaced by the loopback address of its family.
fn probe_addr(w: &WaitSpec, s: &Socket, at: IpAddr) -> SocketAddr {
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
fn probe(addr: SocketAddr, http: Option<&str>, until: Instant) -> bool {
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

/// How long an owner lookup is trusted while the same sockets are there: a proxy holding
/// the port while the backend is awaited costs one /proc scan per this, not one per look.
const OWNER_TTL: Duration = Duration::from_millis(250);

/// The last owner lookup and the sockets (by inode) it was made for.
#[derive(Default)]
struct OwnerCache {
    inodes: Vec<u64>,
    at: Option<Instant>,
    sockets: Vec<Socket>,
}

/// The sockets with their owners: looked up again when the sockets changed or the last
/// lookup is older than OWNER_TTL.
fn owned(
    c: &mut Collector,
    q: &Query,
    table: &[Socket],
    cache: &mut OwnerCache,
) -> anyhow::Result<Vec<Socket>> {
    let mut inodes: Vec<u64> = table.iter().map(|s| s.inode).collect();
    inodes.sort_unstable();
    if cache.inodes == inodes && cache.at.is_some_and(|t| t.elapsed() < OWNER_TTL) {
        return Ok(cache.sockets.clone());
    }
    let sockets = pipeline::run(c, q)?.sockets;
    *cache = OwnerCache {
        inodes,
        at: Some(Instant::now()),
        sockets: sockets.clone(),
    };
    Ok(sockets)
}

enum Look {
    Met(Vec<String>),
    NotYet(Vec<String>),
    Hidden(Vec<String>),
}

/// One look at the table (owners only once something is up and a constraint needs them).
fn look(
    c: &mut Collector,
    q: &Query,
    specs: &[WaitSpec],
    o: &WaitOptions,
    left: Duration,
    cache: &mut OwnerCache,
) -> anyhow::Result<Look> {
    let mut sockets = super::kill::table_only(c, q)?;
    let pending = |socks: &[Socket]| -> Vec<String> {
        specs
            .iter()
            .filter(|w| match o.until {
                Until::Up => !socks.iter().any(|s| up_at(w, s).is_some()),
                Until::Free => socks.iter().any(|s| blocks(w, s)),
            })
            .map(|w| match o.until {
                Until::Up => w.spec.text.clone(),
                // Say what is left: `8080 (time_wait)`.
                Until::Free => {
                    let mut states: Vec<&str> = socks
                        .iter()
                        .filter(|s| blocks(w, s))
                        .map(|s| s.state.as_str())
                        .collect();
                    states.sort_unstable();
                    states.dedup();
                    format!("{} ({})", w.spec.text, states.join(", "))
                }
            })
            .collect()
    };
    let free_line = |w: &WaitSpec| {
        if o.reuseaddr {
            format!("{}: free for a bind with SO_REUSEADDR", w.spec.text)
        } else {
            format!("{}: free", w.spec.text)
        }
    };
    // Cheap answer first: from the table alone, is the condition possible yet?
    let waiting = pending(&sockets);
    match o.until {
        Until::Up if !waiting.is_empty() => return Ok(Look::NotYet(waiting)),
        Until::Free if waiting.is_empty() => {
            return Ok(Look::Met(specs.iter().map(free_line).collect()))
        }
        _ => {}
    }
    if o.owner.any() {
        sockets = owned(c, q, &sockets, cache)?;
        let mut hidden = Vec::new();
        sockets.retain(|s| match owner_ok(&o.owner, s) {
            Some(ok) => ok,
            None => {
                hidden.push(s.clone());
                o.until == Until::Free // hidden might be it: not proven free
            }
        });
        if o.until == Until::Up && !hidden.is_empty() && !pending(&sockets).is_empty() {
            return Ok(Look::Hidden(pending(&sockets)));
        }
    }
    match o.until {
        Until::Free => {
            let waiting = pending(&sockets);
            if waiting.is_empty() {
                return Ok(Look::Met(specs.iter().map(free_line).collect()));
            }
            Ok(Look::NotYet(waiting))
        }
        Until::Up => up_lines(specs, &sockets, o, left),
    }
}

/// For `free`: a socket on the SPEC's port that keeps a bind of it from working. A request
/// socket (syn_recv) hangs off its listener and is not bound itself.
fn blocks(w: &WaitSpec, s: &Socket) -> bool {
    s.state != crate::model::SockState::SynReceived && on_port(&w.spec, s) && w_matches(w, s)
}

/// For `free`, what a bind of the SPEC would collide with (as `who` decides it).
fn w_matches(w: &WaitSpec, s: &Socket) -> bool {
    if w.localhost {
        return [
            IpAddr::from(Ipv4Addr::LOCALHOST),
            Ipv6Addr::LOCALHOST.into(),
        ]
        .iter()
        .any(|&a| {
            let mut sp = w.spec.clone();
            sp.addr = Some(a);
            sp.matches(s.protocol, &s.local, s.v6only)
        });
    }
    w.spec.matches(s.protocol, &s.local, s.v6only)
}

fn up_lines(
    specs: &[WaitSpec],
    sockets: &[Socket],
    o: &WaitOptions,
    left: Duration,
) -> anyhow::Result<Look> {
    let mut lines = Vec::new();
    let mut waiting = Vec::new();
    // One deadline for every probe of this look (several SPECs must not add up), and at
    // most a second per probe so that a look without --timeout still comes back.
    let until = Instant::now() + left;
    for w in specs {
        let hit = sockets.iter().find_map(|s| {
            let at = up_at(w, s)?;
            if (o.connect || o.http.is_some())
                && (s.protocol != Protocol::Tcp
                    || !probe(
                        probe_addr(w, s, at),
                        o.http.as_deref(),
                        until.min(Instant::now() + Duration::from_secs(1)),
                    ))
            {
                return None;
            }
            Some(describe(w, s, at))
        });
        match hit {
            Some(l) => lines.push(l),
            None => waiting.push(w.spec.text.clone()),
        }
    }
    Ok(if waiting.is_empty() {
        Look::Met(lines)
    } else {
        Look::NotYet(waiting)
    })
}

/// Waits for the condition. `q` selects the candidate sockets (protocols, families,
/// listening states, the SPECs' ports for the kernel filter).
pub fn run(
    c: &mut Collector,
    q: &Query,
    specs: &[WaitSpec],
    o: &WaitOptions,
) -> anyhow::Result<Ending> {
    let deadline = o.timeout.map(|t| Instant::now() + t);
    let mut events = match o.until {
        Until::Free => DestroyEvents::subscribe(
            &q.selection().table.protocols,
            &q.selection().table.families,
        )
        .ok(),
        Until::Up => None,
    };
    // Kernel events (as watch takes them) wake the wait the moment a bind, listen or
    // close happens; the table is then read again only on events and every MAX_STEP_WITH_BPF.
    let mut bpf = EventSource::open(64 * 1024, None).ok();
    let cap = if bpf.is_some() {
        MAX_STEP_WITH_BPF
    } else if events.is_some() {
        MAX_STEP_WITH_EVENTS
    } else {
        MAX_STEP
    };
    let ports: Vec<(u16, u16)> = specs
        .iter()
        .flat_map(|w| w.spec.ranges.iter().map(|r| (r.low, r.high)))
        .collect();
    let mut step = Duration::from_millis(1);
    let mut cache = OwnerCache::default();
    loop {
        let left = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        match look(c, q, specs, o, left, &mut cache)? {
            Look::Met(lines) => return Ok(Ending::Met(lines)),
            Look::Hidden(w) => return Ok(Ending::OwnerHidden(w)),
            Look::NotYet(w) => {
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                if left.is_some_and(|l| l.is_zero()) {
                    return Ok(Ending::TimedOut(w));
                }
                let pause = left.map_or(step, |l| l.min(step));
                match bpf.as_mut() {
                    Some(src) => pause_for_bpf(src, pause, &ports),
                    None => pause_for(events.as_mut(), pause, &ports),
                }
                step = (step * 2).min(cap);
            }
        }
    }
}

/// Sleeps `pause`, or less when a kernel event touches one of `ports` (a listener's
/// close may carry port 0: any such close wakes it too) or events were lost.
fn pause_for_bpf(src: &mut EventSource, pause: Duration, ports: &[(u16, u16)]) {
    let end = Instant::now() + pause;
    let mut busy_until = None;
    loop {
        let now = Instant::now();
        if now >= end {
            return;
        }
        let mut hit = false;
        let n = src.drain(|e| {
            let p = e.local.port();
            hit |= p == 0 || ports.iter().any(|&(lo, hi)| lo <= p && p <= hi);
        });
        if hit || src.lost().map_or(true, |l| l > 0) {
            return;
        }
        if n > 0 {
            busy_until = Some(now + EventSource::READ_ON);
        }
        // Not every record is announced: look again soon for a while after events.
        let d = match busy_until {
            Some(b) if now < b => EventSource::READ_EVERY,
            _ => end - now,
        };
        src.wait_readable(d.min(end - now));
    }
}

/// Sleeps `pause`, or less when a socket on one of `ports` is destroyed.
fn pause_for(events: Option<&mut DestroyEvents>, pause: Duration, ports: &[(u16, u16)]) {
    let Some(ev) = events else {
        std::thread::sleep(pause);
        return;
    };
    let end = Instant::now() + pause;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match ev.wait(left) {
            Ok(d) if d.overflowed => return,
            Ok(d)
                if d.ports
                    .iter()
                    .any(|&p| ports.iter().any(|&(lo, hi)| lo <= p && p <= hi)) =>
            {
                return
            }
            Ok(_) => {}
            Err(_) => {
                std::thread::sleep(left);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_reached_through_itself_the_wildcard_or_dual_stack_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let lo = ip("127.0.0.1");
        assert!(reachable(lo, ip("127.0.0.1"), None));
        assert!(reachable(lo, ip("0.0.0.0"), None));
        assert!(reachable(lo, ip("::"), Some(false)));
        assert!(!reachable(lo, ip("::"), Some(true)));
        assert!(
            !reachable(lo, ip("::"), None),
            "unknown v6only proves nothing"
        );
        assert!(!reachable(lo, ip("127.0.0.2"), None));
        assert!(!reachable(lo, ip("::1"), Some(true)));
        assert!(reachable(lo, ip("::ffff:127.0.0.1"), Some(false)));
        let lo6 = ip("::1");
        assert!(reachable(lo6, ip("::1"), Some(true)));
        assert!(reachable(lo6, ip("::"), Some(true)));
        assert!(!reachable(lo6, ip("0.0.0.0"), None));
        assert!(!reachable(lo6, ip("127.0.0.1"), None));
    }

    #[test]
    fn localhost_spec_keeps_its_text_and_port() {
        let s = crate::services::Services::builtin();
        let w = parse_spec("localhost:8080", &s).unwrap();
        assert!(w.localhost);
        assert_eq!(w.spec.text, "localhost:8080");
        assert_eq!(w.spec.single(), Some((None, 8080, None)));
        assert!(parse_spec("localhost:x", &s).is_err());
        assert!(!parse_spec("8080", &s).unwrap().localhost);
    }
}
