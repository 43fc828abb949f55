//! Acting on a port, `wait`: watch the socket table (never connecting unless asked) until
//! every SPEC is up or free. Looks at the kernel-side port filter with a backoff; between
//! looks, kernel events wake it early where the kernel lets us have them (`wait/wake.rs`);
//! `--connect`/`--http` prove a listener answers (`wait/probe.rs`).

mod probe;
mod wake;

use self::probe::{probe, probe_addr};
use self::wake::Wakes;
use super::supervisor;
use crate::collect::Collector;
use crate::filter;
use crate::model::{Owner, Protocol, Socket};
use crate::pipeline;
use crate::query::Query;
use crate::spec::{canonical, PortSpec};
use crate::sys::event_loop;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

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
    deadline: Option<Instant>,
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
        Until::Up => up_lines(specs, &sockets, o, deadline),
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
    deadline: Option<Instant>,
) -> anyhow::Result<Look> {
    let mut lines = Vec::new();
    let mut waiting = Vec::new();
    // One deadline for every probe of this look (several SPECs must not add up), and at
    // most a second per probe so that a look without --timeout still comes back.
    let until = || {
        let cap = Instant::now() + Duration::from_secs(1);
        deadline.map_or(cap, |d| d.min(cap))
    };
    for w in specs {
        let hit = sockets.iter().find_map(|s| {
            let at = up_at(w, s)?;
            if (o.connect || o.http.is_some())
                && (s.protocol != Protocol::Tcp
                    || !probe(probe_addr(w, s, at), o.http.as_deref(), until()))
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
    let deadline = o.timeout.and_then(event_loop::deadline_after);
    let mut wakes = Wakes::open(o.until, q);
    let ports: Vec<(u16, u16)> = specs
        .iter()
        .flat_map(|w| w.spec.ranges.iter().map(|r| (r.low, r.high)))
        .collect();
    let mut step = Duration::from_millis(1);
    let mut cache = OwnerCache::default();
    loop {
        match look(c, q, specs, o, deadline, &mut cache)? {
            Look::Met(lines) => return Ok(Ending::Met(lines)),
            Look::Hidden(w) => return Ok(Ending::OwnerHidden(w)),
            Look::NotYet(w) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(Ending::TimedOut(w));
                }
                let next = Instant::now() + step;
                wakes.pause(deadline.map_or(next, |d| d.min(next)), &ports);
                step = (step * 2).min(wakes.max_step());
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
