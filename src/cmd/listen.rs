//! `portscope listen SPEC...`: holds test sockets open for checking by hand or by tests,
//! until Ctrl-C, `--for`, or stdin closing. Binds 127.0.0.1 unless an address is given:
//! a test listener must never be reachable from the network by accident.

use crate::cli::{ListenArgs, SourceArgs};
use crate::collect::Collector;
use crate::error::Error;
use crate::model::{Family, Owner, Protocol, Socket, TableQuery};
use crate::pipeline;
use crate::probe::{self, Opened, Probe};
pub use crate::query::parse_duration;
use crate::query::{Query, Selection};
use crate::services::Services;
use crate::spec::{PortRange, PortSpec};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// What to open for one SPEC: (protocol, address).
fn targets(text: &str, services: &Services) -> Result<Vec<(Protocol, SocketAddr)>, Error> {
    let spec = PortSpec::parse(text, services)?;
    // Loopback unless asked: `*:PORT` is an explicit request for the IPv4 wildcard.
    let default = if text.trim_start().starts_with("*:") {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    let ip = spec.addr.unwrap_or(default);
    let mut out = Vec::new();
    for r in &spec.ranges {
        if r.low != r.high {
            return Err(Error::invalid(
                "listen spec",
                text,
                "a range cannot be opened; name single ports (0 for any free port)",
            ));
        }
        let proto = r.proto.or(spec.proto).unwrap_or(Protocol::Tcp);
        out.push((proto, SocketAddr::new(ip, r.low)));
    }
    Ok(out)
}

/// Names whoever holds a port we could not bind, through the `who` pipeline. Any socket a
/// bind of `addr` collides with counts, in any state: an established connection's local
/// port is held as firmly as a listener's.
fn holder_of(c: &mut Collector, proto: Protocol, addr: SocketAddr) -> String {
    let spec = PortSpec {
        text: addr.to_string(),
        addr: Some(addr.ip()),
        proto: Some(proto),
        ranges: vec![PortRange {
            low: addr.port(),
            high: addr.port(),
            proto: None,
        }],
    };
    let table = TableQuery {
        protocols: vec![proto],
        families: Family::ALL.to_vec(),
        states: None,
        ports: None,
    };
    let q = Query::lookup(Selection::ports(table, vec![spec]));
    let Ok(outcome) = pipeline::run(c, &q) else {
        return String::new();
    };
    held_by(&outcome.sockets)
}

/// `, held by NAME (pid N), ...`, or why no process can be named. Names stay raw: the whole
/// message is sanitized once, by `error_line`.
fn held_by(sockets: &[Socket]) -> String {
    let mut owners: Vec<(u32, &str)> = sockets
        .iter()
        .flat_map(|s| s.processes.iter().map(|p| (p.pid, p.name.as_str())))
        .collect();
    owners.sort_unstable();
    owners.dedup();
    if !owners.is_empty() {
        let names: Vec<String> = owners
            .iter()
            .map(|(pid, name)| format!("{name} (pid {pid})"))
            .collect();
        return format!(", held by {}", names.join(", "));
    }
    if let Some(s) = sockets.iter().find(|s| s.owner == Owner::Hidden) {
        let why = s.owner_reason.map_or("owner hidden", |r| r.as_str());
        return format!(", held by a process portscope cannot see ({why})");
    }
    match sockets.first() {
        // time_wait and the like: the kernel keeps the port, no process does.
        Some(s) => format!(
            ", no process holds it: {} {} socket {}{}",
            s.protocol,
            s.state,
            s.local,
            s.owner_reason.map_or(String::new(), |r| format!(", {r}"))
        ),
        None => String::new(),
    }
}

pub fn run(a: &ListenArgs, sources: &SourceArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let deadline = a.duration.as_deref().map(parse_duration).transpose()?;
    let services = Services::system();
    let mut wanted = Vec::new();
    for s in &a.specs {
        wanted.extend(targets(s, services)?);
    }
    let pid = std::process::id();
    let mut held: Vec<Probe> = Vec::new();
    let mut opened_all = Vec::new();
    for (proto, addr) in wanted {
        let v6only = v6only_for(addr.ip());
        let p = probe::open(proto, addr, v6only).map_err(|e| {
            let who = if e.kind() == std::io::ErrorKind::AddrInUse {
                super::args::collector(sources)
                    .map(|mut c| holder_of(&mut c, proto, addr))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            anyhow::anyhow!("cannot listen on '{addr}/{proto}': {e}{who}")
        })?;
        let opened = Opened {
            protocol: proto,
            family: Family::of(&p.local.ip()),
            address: p.local.ip(),
            port: p.local.port(),
            v6only: p.v6only,
            pid,
            pids: vec![pid],
        };
        held.push(p);
        if a.fork {
            // Announced once the child holds them all.
            opened_all.push(opened);
        } else {
            announce(out, &opened, a.json)?;
        }
    }
    let _child = if a.fork {
        let child = probe::Holder::spawn(&[])?;
        for mut o in opened_all {
            o.pids.push(child.pid);
            announce(out, &o, a.json)?;
        }
        Some(child)
    } else {
        None
    };
    wait::until_done(deadline);
    drop(held);
    Ok(0)
}

/// An explicit IPv6 address is v6-only; `[::]` keeps the system default (dual-stack); a
/// v4-mapped address (`::ffff:127.0.0.1`) is IPv4 through an IPv6 socket, which V6ONLY
/// would forbid (the kernel refuses that bind with EINVAL).
fn v6only_for(ip: IpAddr) -> Option<bool> {
    match ip {
        IpAddr::V6(v6) if !v6.is_unspecified() && v6.to_ipv4_mapped().is_none() => Some(true),
        _ => None,
    }
}

fn announce(out: &mut dyn Write, o: &Opened, json: bool) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, o)?;
        writeln!(out)?;
    } else {
        let what = if o.protocol == Protocol::Tcp {
            "listening"
        } else {
            "bound"
        };
        let addr = SocketAddr::new(o.address, o.port);
        let pids: Vec<String> = o.pids.iter().map(u32::to_string).collect();
        writeln!(out, "{what} {addr}/{} pid {}", o.protocol, pids.join(","))?;
    }
    // Readiness: each line is out as soon as its socket is open.
    out.flush()?;
    Ok(())
}

#[cfg(target_os = "linux")]
mod wait {
    use crate::sys::event_loop::{self, Woke};
    use crate::sys::signals::StopSignals;
    use rustix::fs::FileType;
    use std::io;
    use std::os::fd::AsFd;
    use std::time::Duration;

    /// Whether stdin is /dev/null (a background job's): then it cannot signal anything.
    fn stdin_is_devnull() -> bool {
        let (Ok(a), Ok(b)) = (
            rustix::fs::fstat(io::stdin().as_fd()),
            rustix::fs::stat("/dev/null"),
        ) else {
            return false;
        };
        a.st_rdev == b.st_rdev && FileType::from_raw_mode(a.st_mode).is_char_device()
    }

    const STOP: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    /// Blocks until SIGINT/SIGTERM/SIGHUP, stdin EOF, or the deadline. Without a signal
    /// descriptor (out of descriptors), signals keep their default action: they still end the
    /// process, and the kernel closes its sockets.
    pub fn until_done(deadline: Option<Duration>) {
        let end = deadline.and_then(event_loop::deadline_after);
        let sfd = StopSignals::install(&STOP).ok();
        let stdin = (!stdin_is_devnull()).then(io::stdin);
        let fds: Vec<_> = stdin.iter().map(|s| s.as_fd()).collect();
        let mut buf = [0u8; 512];
        // A signal, the deadline, or an error: return normally so everything is closed.
        while let Ok(Woke::Ready(_)) = event_loop::wait(sfd.as_ref(), &fds, end) {
            match rustix::io::read(fds[0], &mut buf) {
                Ok(0) => return, // stdin closed
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod wait {
    use std::io::Read;
    use std::time::Duration;

    pub fn until_done(deadline: Option<Duration>) {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
            let _ = tx.send(());
        });
        match deadline {
            Some(d) => {
                let _ = rx.recv_timeout(d);
            }
            None => {
                let _ = rx.recv();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        for bad in ["", "x", "10y", "-1s", "1e99s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn v4_mapped_address_is_not_forced_v6_only() {
        let v = |a: &str| v6only_for(a.parse().unwrap());
        assert_eq!(v("::1"), Some(true));
        assert_eq!(v("::"), None);
        assert_eq!(v("127.0.0.1"), None);
        assert_eq!(v("::ffff:127.0.0.1"), None);
        let p = probe::open(
            Protocol::Tcp,
            "[::ffff:127.0.0.1]:0".parse().unwrap(),
            v6only_for("::ffff:127.0.0.1".parse().unwrap()),
        )
        .expect("a v4-mapped listener opens");
        assert_eq!(p.v6only, Some(false));
    }

    #[test]
    fn listen_targets_default_to_loopback_tcp() {
        let s = Services::builtin();
        assert_eq!(
            targets("8080", &s).unwrap(),
            vec![(Protocol::Tcp, "127.0.0.1:8080".parse().unwrap())]
        );
        assert_eq!(
            targets("9000/udp", &s).unwrap(),
            vec![(Protocol::Udp, "127.0.0.1:9000".parse().unwrap())]
        );
        assert_eq!(
            targets("[::1]:7000", &s).unwrap(),
            vec![(Protocol::Tcp, "[::1]:7000".parse().unwrap())]
        );
        assert!(targets("8000-8100", &s).is_err());
        assert_eq!(
            targets("*:8080", &s).unwrap(),
            vec![(Protocol::Tcp, "0.0.0.0:8080".parse().unwrap())]
        );
        assert_eq!(targets("domain", &s).unwrap().len(), 2);
    }
}
