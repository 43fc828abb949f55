//! Facts stage: everything the rules look at, read from the system: the trial bind, the
//! sysctls, the interface addresses, the security policy in effect, and the sockets on the
//! port (with owners, through the same pipeline as `who`).
//!
//! Network-namespace-dependent reads use the calling thread's namespace (/proc/sys/net and
//! /proc/thread-self/net), so all of this could run in a thread that has entered another.

use crate::collect::Collector;
use crate::model::{Family, Protocol, Socket, TableQuery};
use crate::pipeline;
use crate::query::{Query, Selection};
use crate::services::Services;
use crate::spec::PortSpec;
use crate::why::{trial, BindRequest, Facts, IfAddr, PolicyFacts, RunAs, Sysctls};
use std::net::{IpAddr, Ipv6Addr};

/// What one namespace says about a request: the trial bind and its sysctls, interfaces
/// and policy, all read in the calling thread's network namespace (so a thread that
/// entered another namespace answers for that one).
pub struct Local {
    trial: crate::why::Trial,
    as_needs_root: bool,
    sysctls: Sysctls,
    interfaces: Vec<IfAddr>,
    policy: PolicyFacts,
}

pub fn gather_local(req: &BindRequest, as_user: Option<&RunAs>) -> anyhow::Result<Local> {
    let me = crate::collect::effective_uid();
    let (trial, as_needs_root) = match as_user {
        Some(u) if me == 0 => (trial::run_as(req, u)?, false),
        Some(u) if u.uid == me => (trial::run_here(req), false),
        Some(_) => (trial::run_here(req), true),
        None => (trial::run_here(req), false),
    };
    Ok(Local {
        trial,
        as_needs_root,
        sysctls: sysctls(),
        interfaces: interfaces(),
        policy: policy(),
    })
}

/// Gathers the facts for one request. `as_user`: `--as`; without root the trial runs as
/// portscope's own user and the facts say so. `local`: already gathered in another
/// namespace (--netns), else here.
pub fn gather(
    c: &mut Collector,
    req: &BindRequest,
    as_user: Option<&RunAs>,
    local: Option<Local>,
) -> anyhow::Result<(Facts, Vec<String>)> {
    let local = match local {
        Some(l) => l,
        None => gather_local(req, as_user)?,
    };
    // The trial is the answer; without the tables only the evidence is missing.
    let (sockets, notes, tables_unreadable) =
        match sockets_on_port(c, req.protocol, req.addr.port()) {
            Ok((s, n)) => (s, n, false),
            Err(e) => (
                vec![],
                vec![format!("{e:#}: the sockets on the port are not shown")],
                true,
            ),
        };
    Ok((
        Facts {
            request: req.clone(),
            trial: local.trial,
            as_user: as_user.cloned(),
            as_needs_root: local.as_needs_root,
            sysctls: local.sysctls,
            interfaces: local.interfaces,
            policy: local.policy,
            sockets,
            tables_unreadable,
        },
        notes,
    ))
}

/// Every socket of `proto` on `port`, any state, with owners: what `who PORT/PROTO -a`
/// shows. The one place `why` uses the pipeline.
pub fn sockets_on_port(
    c: &mut Collector,
    proto: Protocol,
    port: u16,
) -> anyhow::Result<(Vec<Socket>, Vec<String>)> {
    let spec = PortSpec::parse(&format!("{port}/{proto}"), &Services::default())?;
    let table = TableQuery {
        protocols: vec![proto],
        families: Family::ALL.to_vec(),
        states: None,
        ports: None,
    };
    let q = Query::lookup(Selection::ports(table, vec![spec]));
    let outcome = pipeline::run(c, &q)?;
    Ok((outcome.sockets, outcome.warnings))
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn flag(path: &str) -> Option<bool> {
    read(path)
        .and_then(|v| v.parse::<u8>().ok())
        .map(|v| v != 0)
}

pub fn sysctls() -> Sysctls {
    let v4 = "/proc/sys/net/ipv4";
    let v6 = "/proc/sys/net/ipv6";
    let mut disable_ipv6 = Vec::new();
    if let Ok(dir) = std::fs::read_dir(format!("{v6}/conf")) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(d) = flag(&format!("{v6}/conf/{name}/disable_ipv6")) {
                disable_ipv6.push((name, d));
            }
        }
    }
    disable_ipv6.sort();
    Sysctls {
        unprivileged_port_start: read(&format!("{v4}/ip_unprivileged_port_start"))
            .and_then(|v| v.parse().ok()),
        local_port_range: read(&format!("{v4}/ip_local_port_range")).and_then(|v| {
            let mut it = v.split_whitespace().map(|w| w.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        }),
        reserved_ports: read(&format!("{v4}/ip_local_reserved_ports")).map(|v| parse_ranges(&v)),
        ipv4_nonlocal_bind: flag(&format!("{v4}/ip_nonlocal_bind")),
        ipv6_nonlocal_bind: flag(&format!("{v6}/ip_nonlocal_bind")),
        bindv6only: flag(&format!("{v6}/bindv6only")),
        ipv6_present: std::path::Path::new(v6).exists(),
        disable_ipv6,
    }
}

/// `ip_local_reserved_ports`: "8080,9000-9100" (empty: none).
pub fn parse_ranges(text: &str) -> Vec<(u16, u16)> {
    text.split(',')
        .filter_map(|item| {
            let item = item.trim();
            match item.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => item.parse().ok().map(|p| (p, p)),
            }
        })
        .collect()
}

/// Interface addresses: IPv4 from getifaddrs, IPv6 from /proc/thread-self/net/if_inet6,
/// which also carries the tentative and DAD-failed flags.
pub fn interfaces() -> Vec<IfAddr> {
    let mut out: Vec<IfAddr> = crate::sys::ifaddrs::ipv4()
        .into_iter()
        .map(|(interface, ip)| IfAddr {
            interface,
            address: IpAddr::V4(ip),
            tentative: false,
            dad_failed: false,
        })
        .collect();
    if let Some(text) = read("/proc/thread-self/net/if_inet6") {
        out.extend(parse_if_inet6(&text));
    }
    out
}

/// Lines of `/proc/net/if_inet6`: address, ifindex, prefix, scope, flags (hex), name.
pub fn parse_if_inet6(text: &str) -> Vec<IfAddr> {
    const IFA_F_DADFAILED: u32 = 0x08;
    const IFA_F_TENTATIVE: u32 = 0x40;
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (hex, flags, name) = (f.first()?, f.get(4)?, f.get(5)?);
            let bits = u128::from_str_radix(hex, 16).ok()?;
            let flags = u32::from_str_radix(flags, 16).ok()?;
            Some(IfAddr {
                interface: name.to_string(),
                address: IpAddr::V6(Ipv6Addr::from(bits)),
                tentative: flags & IFA_F_TENTATIVE != 0 && flags & IFA_F_DADFAILED == 0,
                dad_failed: flags & IFA_F_DADFAILED != 0,
            })
        })
        .collect()
}

/// What could refuse a bind on policy: cgroup BPF bind programs, SELinux.
pub fn policy() -> PolicyFacts {
    let cgroup = read("/proc/self/cgroup").and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("0::").map(str::to_string))
    });
    let bind_programs = match (&cgroup, cgroup2_mount()) {
        (Some(path), Some(mount)) => {
            crate::sys::bpf_query::bind_programs(&format!("{mount}{path}"))
        }
        (None, _) => Err("no cgroup v2 membership in /proc/self/cgroup".into()),
        (_, None) => Err("no cgroup2 file system mounted".into()),
    };
    PolicyFacts {
        cgroup,
        bind_programs,
        selinux_enforcing: flag("/sys/fs/selinux/enforce"),
    }
}

fn cgroup2_mount() -> Option<String> {
    let text = read("/proc/self/mountinfo")?;
    text.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split_whitespace().next() == Some("cgroup2"))
            .then(|| left.split_whitespace().nth(4).map(str::to_string))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_parse_as_ranges() {
        assert_eq!(parse_ranges(""), vec![]);
        assert_eq!(parse_ranges("8080"), vec![(8080, 8080)]);
        assert_eq!(
            parse_ranges("8080,9000-9100\n"),
            vec![(8080, 8080), (9000, 9100)]
        );
    }

    #[test]
    fn if_inet6_flags_mark_tentative_and_failed_addresses() {
        let text = "00000000000000000000000000000001 01 80 10 80       lo\n\
                    fd000000000000000000000000000001 02 40 00 c0     eth0\n\
                    fd000000000000000000000000000002 02 40 00 48     eth0\n";
        let v = parse_if_inet6(text);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].address, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(
            (v[0].interface.as_str(), v[0].tentative, v[0].dad_failed),
            ("lo", false, false)
        );
        assert_eq!(
            (v[1].address.to_string().as_str(), v[1].tentative),
            ("fd00::1", true)
        );
        assert_eq!((v[2].tentative, v[2].dad_failed), (false, true));
    }
}
