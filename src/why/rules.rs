//! Rules stage (pure): facts in, reasons out. No I/O: every rule is tested on literal facts.
//!
//! The kernel checks a bind in this order: the security hooks (SELinux `name_bind`, a
//! cgroup BPF bind program), the address (EADDRNOTAVAIL), the privileged port (EACCES),
//! then the bind tables (EADDRINUSE). The trial's errno says which check failed; the rules
//! of that check explain it, and the rules of the checks the kernel never reached are named
//! too when the facts show they would fail next.

use crate::model::{Owner, Protocol, SockState, Socket};
use crate::why::conflict::{self, Relation, Stops, View};
use crate::why::evidence::{new_view, reason, state_phrase, sysctl};
pub use crate::why::evidence::{privileged, DEFAULT_UNPRIVILEGED_PORT_START};
use crate::why::{Evidence, Facts, Reason};
use std::net::IpAddr;

/// What the rules conclude for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explanation {
    pub reasons: Vec<Reason>,
    pub warnings: Vec<Reason>,
    /// A holder's owner is hidden, or the trial could not run as `--as` asked.
    pub partial: bool,
}

/// Runs every rule over the facts.
pub fn explain(f: &Facts) -> Explanation {
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    match f.trial.errno {
        None => super::warnings::on_success(f, &mut warnings),
        Some(errno) => on_failure(f, errno, &mut reasons),
    }
    if f.as_needs_root {
        warnings.push(reason(
            "as_needs_root",
            format!(
                "--as needs root: the trial bind ran as uid {} (portscope's own user) instead",
                f.trial.uid
            ),
            vec![],
            "run portscope as root to try the bind as another user",
        ));
    }
    let hidden = reasons
        .iter()
        .chain(&warnings)
        .flat_map(|r| &r.evidence)
        .any(|e| matches!(e, Evidence::Socket { socket } if owner_hidden(socket)));
    Explanation {
        reasons,
        warnings,
        partial: hidden || f.as_needs_root || f.tables_unreadable,
    }
}

fn owner_hidden(s: &Socket) -> bool {
    s.owner == Owner::Hidden && s.owner_reason.is_some_and(|r| r.is_partial())
}

fn note(text: impl Into<String>) -> Evidence {
    Evidence::Note { text: text.into() }
}

fn on_failure(f: &Facts, errno: i32, out: &mut Vec<Reason>) {
    let (is_privileged, _) = privileged(f);
    let lacks_cap = is_privileged && !f.trial.cap_net_bind_service;
    // Which check failed (0 hooks, 1 address, 2 privileged port, 3 bind tables).
    let stage = match errno {
        libc::EAFNOSUPPORT => {
            out.push(ipv6_absent(f));
            return;
        }
        libc::EADDRNOTAVAIL => 1,
        libc::EACCES if lacks_cap => 2,
        libc::EACCES | libc::EPERM => 0,
        libc::EADDRINUSE => 3,
        _ => {
            out.push(unexplained(f, errno, vec![]));
            return;
        }
    };
    let before = out.len();
    if stage == 0 {
        out.push(policy(f, errno));
    }
    if stage == 1 {
        address_rules(f, out);
    }
    if stage <= 2 && lacks_cap {
        out.push(privileged_port(f));
    }
    if stage <= 3 {
        let certain_only = stage < 3;
        conflicts(f, certain_only, out);
    }
    if out.len() == before || (stage == 3 && !out.iter().any(|r| is_conflict_rule(&r.rule))) {
        let checked = match stage {
            1 => "the address is on an interface and usable",
            3 => "no socket in this network namespace's tables overlaps this address and port (it may have closed since)",
            _ => "nothing portscope checks explains it",
        };
        out.push(unexplained(f, errno, vec![note(checked)]));
    }
}

fn is_conflict_rule(rule: &str) -> bool {
    matches!(
        rule,
        "same_address"
            | "v4_mapped"
            | "wildcard_holder"
            | "dual_stack_holder"
            | "specific_holder"
            | "dual_stack_request"
            | "time_wait"
            | "bound_only"
            | "reuseport_uid"
    )
}

fn unexplained(f: &Facts, errno: i32, evidence: Vec<Evidence>) -> Reason {
    let e = super::ErrnoInfo::of(errno);
    let step = match f.trial.step {
        super::TrialStep::Socket => "socket()".to_string(),
        super::TrialStep::Option(o) => format!("setsockopt({o})"),
        super::TrialStep::Bind => "bind()".to_string(),
    };
    reason(
        "unexplained",
        format!(
            "{step} failed: {} ({}); no rule explains it",
            e.message, e.name
        ),
        evidence,
        "",
    )
}

fn ipv6_absent(f: &Facts) -> Reason {
    let what = if f.sysctls.ipv6_present {
        "the kernel refused an IPv6 socket"
    } else {
        "this kernel has IPv6 turned off (no /proc/sys/net/ipv6: booted with ipv6.disable=1, or no IPv6 module)"
    };
    reason(
        "ipv6_disabled",
        format!("{what}, so no IPv6 address can be bound"),
        vec![note(format!(
            "/proc/sys/net/ipv6 {}",
            if f.sysctls.ipv6_present {
                "exists"
            } else {
                "is absent"
            }
        ))],
        "bind an IPv4 address, or boot without ipv6.disable=1",
    )
}

/// Rules for EADDRNOTAVAIL: tentative IPv6, IPv6 disabled, address not on any interface.
fn address_rules(f: &Facts, out: &mut Vec<Reason>) {
    let ip = crate::spec::canonical(f.request.addr.ip());
    let on_ifaces: Vec<_> = f.interfaces.iter().filter(|a| a.address == ip).collect();
    let all = Evidence::Interfaces {
        addresses: f.interfaces.clone(),
    };
    if let Some(a) = on_ifaces.iter().find(|a| a.tentative || a.dad_failed) {
        let (detail, fix) = if a.dad_failed {
            (
                format!("{ip} on {} failed duplicate address detection: another host on the link uses it", a.interface),
                "give this host another address (or remove the duplicate), then re-add it",
            )
        } else {
            (
                format!("{ip} on {} is still tentative: IPv6 duplicate address detection has not finished, and a tentative address cannot be bound", a.interface),
                "wait for DAD to finish (about a second after the address is added; `ip -6 addr` stops showing 'tentative'), or bind with IP_FREEBIND (--freebind) or net.ipv6.ip_nonlocal_bind=1; `sysctl -w net.ipv6.conf.IFACE.accept_dad=0` turns DAD off",
            )
        };
        out.push(reason(
            "ipv6_tentative",
            detail,
            vec![Evidence::Interfaces {
                addresses: vec![(*a).clone()],
            }],
            fix,
        ));
        return;
    }
    if !on_ifaces.is_empty() {
        return;
    }
    if let IpAddr::V6(v6) = ip {
        let disabled: Vec<&(String, bool)> = f
            .sysctls
            .disable_ipv6
            .iter()
            .filter(|(i, d)| *d && (!v6.is_loopback() || i == "lo"))
            .collect();
        if !disabled.is_empty() {
            let names: Vec<&str> = disabled.iter().map(|(i, _)| i.as_str()).collect();
            let lo = v6.is_loopback();
            out.push(reason(
                "ipv6_disabled",
                format!(
                    "IPv6 is disabled on {} (disable_ipv6=1){}, so the interface has no IPv6 addresses",
                    names.join(", "),
                    if lo { ", where ::1 lives" } else { "" }
                ),
                disabled
                    .iter()
                    .map(|(i, _)| sysctl(&format!("net.ipv6.conf.{i}.disable_ipv6"), 1))
                    .collect(),
                &format!(
                    "sysctl -w net.ipv6.conf.{}.disable_ipv6=0, or bind an IPv4 address",
                    names[0]
                ),
            ));
            if lo {
                return;
            }
        }
    }
    let (name, value) = match ip {
        IpAddr::V4(_) => ("net.ipv4.ip_nonlocal_bind", f.sysctls.ipv4_nonlocal_bind),
        IpAddr::V6(_) => ("net.ipv6.ip_nonlocal_bind", f.sysctls.ipv6_nonlocal_bind),
    };
    let mut evidence = vec![all];
    if let Some(v) = value {
        evidence.push(sysctl(name, u8::from(v)));
    }
    out.push(reason(
        "address_not_local",
        format!("{ip} is not assigned to any interface in this network namespace, and a socket can only bind a local address"),
        evidence,
        &format!("assign it first (`ip addr add {ip}/PREFIX dev IFACE`), bind a wildcard address, or allow binding it before it exists: IP_FREEBIND (--freebind to try it) or `sysctl -w {name}=1`"),
    ));
}

fn privileged_port(f: &Facts) -> Reason {
    let (_, start) = privileged(f);
    let port = f.request.addr.port();
    let mut evidence = vec![];
    match f.sysctls.unprivileged_port_start {
        Some(v) => evidence.push(sysctl("net.ipv4.ip_unprivileged_port_start", v)),
        None => evidence.push(note(format!(
            "net.ipv4.ip_unprivileged_port_start unreadable: the kernel default {start} assumed"
        ))),
    }
    evidence.push(Evidence::Capability {
        name: "CAP_NET_BIND_SERVICE".into(),
        present: false,
        uid: f.trial.uid,
    });
    reason(
        "privileged_port",
        format!("port {port} is below net.ipv4.ip_unprivileged_port_start ({start}), and uid {} lacks CAP_NET_BIND_SERVICE", f.trial.uid),
        evidence,
        &format!("give the program the capability: `setcap cap_net_bind_service=+ep BINARY`, or AmbientCapabilities=CAP_NET_BIND_SERVICE in its systemd unit; or use a port of {start} or above; or `sysctl -w net.ipv4.ip_unprivileged_port_start={port}` (per network namespace)"),
    )
}

/// EPERM, or EACCES that privilege does not explain: a security hook refused the bind.
fn policy(f: &Facts, errno: i32) -> Reason {
    let p = &f.policy;
    let mut evidence = vec![];
    let mut found = vec![];
    let cg = p.cgroup.as_deref().unwrap_or("?");
    match &p.bind_programs {
        Ok((v4, v6)) => {
            let n = if f.request.addr.is_ipv4() { *v4 } else { *v6 };
            evidence.push(note(format!(
                "cgroup {cg}: {v4} inet4 and {v6} inet6 bind program(s) in effect"
            )));
            if n > 0 {
                found.push(format!("a cgroup BPF bind program is attached to {cg} (systemd SocketBindDeny=/SocketBindAllow=, or a container runtime)"));
            }
        }
        Err(e) => evidence.push(note(format!(
            "cgroup {cg}: bind programs could not be listed ({e})"
        ))),
    }
    match p.selinux_enforcing {
        Some(true) => {
            evidence.push(note("SELinux is enforcing"));
            found.push("SELinux may deny name_bind on this port for the caller's domain (see `ausearch -m avc`)".into());
        }
        Some(false) => evidence.push(note("SELinux is present, permissive")),
        None => evidence.push(note("SELinux is not present")),
    }
    if found.is_empty() {
        let mut r = unexplained(f, errno, evidence);
        r.detail.push_str(": privilege does not explain it, and no cgroup bind program or SELinux policy was found");
        return r;
    }
    reason(
        "bind_policy",
        format!("privilege does not explain {}: {}", super::ErrnoInfo::of(errno).name, found.join("; ")),
        evidence,
        "allow the port in the policy (the unit's SocketBindAllow=, or `semanage port -a -t TYPE -p PROTO PORT`), or use a port it allows",
    )
}

/// The sockets on the port that stop this bind, each with every rule it fires.
fn conflicts(f: &Facts, certain_only: bool, out: &mut Vec<Reason>) {
    let req = &f.request;
    let new = new_view(f);
    let mut found: Vec<(&Socket, Relation, Stops)> = f
        .sockets
        .iter()
        .filter(|s| s.protocol == req.protocol && s.local.port == req.addr.port())
        .filter(|s| conflict::holds_port(s) && conflict::overlaps(&new, &View::of(s)))
        .map(|s| {
            let same_uid = s.uid == Some(f.trial.uid);
            let stops = conflict::stops_bind(req.protocol, &req.options, s.state, same_uid);
            (s, conflict::relation(&new, &View::of(s)), stops)
        })
        .collect();
    if certain_only || found.iter().any(|c| c.2 == Stops::Certain) {
        found.retain(|c| c.2 == Stops::Certain);
    }
    let mut reasons: Vec<Reason> = Vec::new();
    for (s, rel, stops) in found {
        for r in socket_rules(f, s, rel, &stops) {
            match reasons
                .iter_mut()
                .find(|x| x.rule == r.rule && x.detail == r.detail && x.fix == r.fix)
            {
                Some(x) => x.evidence.extend(r.evidence),
                None => reasons.push(r),
            }
        }
    }
    out.extend(reasons);
}

fn socket_rules(f: &Facts, s: &Socket, rel: Relation, stops: &Stops) -> Vec<Reason> {
    let req = &f.request;
    let (port, ip) = (req.addr.port(), req.addr.ip());
    let ev = || {
        vec![Evidence::Socket {
            socket: Box::new(s.clone()),
        }]
    };
    let what = state_phrase(s);
    let fam = if ip.is_ipv4() || crate::spec::canonical(ip).is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    };
    let (detail, fix) = match rel {
        Relation::SameAddress => (
            format!("{what} is already on {}/{}", s.local, s.protocol),
            "stop or reconfigure the holder (see evidence), or use another port".to_string(),
        ),
        Relation::V4Mapped => (
            format!("{what} is on {}: {} and {} are one IPv4 address to the kernel (::ffff:a.b.c.d is IPv4-mapped)", s.local, ip, s.local.address),
            "stop or reconfigure the holder, or use another port".into(),
        ),
        Relation::WildcardHolder => (
            format!("{what} on {} holds port {port} for every {fam} address, {ip} included", s.local),
            format!("stop the holder, or make it bind only the addresses it serves (then {ip} is free)"),
        ),
        Relation::DualStackHolder => (
            format!("{what} on {} has IPV6_V6ONLY off (dual-stack), so it holds port {port} for IPv4 too, {ip} included", s.local),
            format!("make the holder IPv6-only (IPV6_V6ONLY; nginx `listen [::]:{port} ipv6only=on`; net.ipv6.bindv6only=1 sets the default), or let it serve IPv4 alone"),
        ),
        Relation::SpecificHolder => (
            format!("binding {} needs port {port} free on every address it covers, and {what} holds {}", req.addr, s.local),
            "bind the specific addresses you serve instead of the wildcard, or stop the holder".into(),
        ),
        Relation::DualStackRequest => (
            format!("this bind is [::] with IPV6_V6ONLY off (dual-stack), so it needs port {port} for IPv4 too, and {what} holds {}", s.local),
            "set IPV6_V6ONLY (--v6only to try it) so the two families bind separately, or stop the IPv4 holder".into(),
        ),
    };
    let detail = match stops {
        Stops::Certain => detail,
        Stops::Unless(opt) => format!("{detail} (it stops this bind unless it has {opt} too)"),
    };
    let mut v = vec![reason(rel.rule(), detail, ev(), &fix)];
    if s.state == SockState::TimeWait {
        let peer = s.remote.map_or_else(|| "*".into(), |r| r.to_string());
        let more = if req.options.reuseaddr {
            ", and its socket did not have SO_REUSEADDR either"
        } else {
            ""
        };
        v.push(reason(
            "time_wait",
            format!("the connection {} -> {peer} closed and waits out TIME_WAIT (up to 60 s); the kernel keeps its port from a bind without SO_REUSEADDR{more}", s.local),
            ev(),
            "set SO_REUSEADDR before bind() (--reuseaddr to try it), as servers normally do; or wait until it expires",
        ));
    }
    if s.protocol == Protocol::Tcp && s.state == SockState::Closed {
        v.push(reason(
            "bound_only",
            format!("a TCP socket is bound to {} but never listened (bind() without listen(): some tools do not show it), and holds the port all the same", s.local),
            ev(),
            "close that socket in its holder (see evidence), or make it listen; SO_REUSEADDR on both lets them share the port",
        ));
    }
    if req.options.reuseport && s.state != SockState::TimeWait && s.uid != Some(f.trial.uid) {
        v.push(reason(
            "reuseport_uid",
            format!("SO_REUSEPORT shares a port only among sockets of one user: the holder's socket belongs to uid {}, this bind runs as uid {}", s.uid.map_or("unknown".to_string(), |u| u.to_string()), f.trial.uid),
            ev(),
            "run both under the same user, or give them different ports",
        ));
    }
    v
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
