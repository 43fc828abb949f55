//! Rules stage (pure): what could still bite a bind that worked. Facts in, warnings out.

use crate::model::{SockState, Socket};
use crate::why::conflict::{self, View};
use crate::why::evidence::{new_view, privileged, reason, state_phrase, sysctl};
use crate::why::{Evidence, Facts, Reason};

pub fn on_success(f: &Facts, out: &mut Vec<Reason>) {
    if let Some(r) = ephemeral(f) {
        out.push(r);
    }
    if let Some(r) = time_wait(f) {
        out.push(r);
    }
    out.extend(other_family(f));
    if let Some(r) = root_only(f) {
        out.push(r);
    }
}

fn on_port(f: &Facts) -> impl Iterator<Item = &Socket> {
    let req = &f.request;
    f.sockets
        .iter()
        .filter(move |s| s.protocol == req.protocol && s.local.port == req.addr.port())
}

fn ev(s: &Socket) -> Evidence {
    Evidence::Socket {
        socket: Box::new(s.clone()),
    }
}

fn ephemeral(f: &Facts) -> Option<Reason> {
    let port = f.request.addr.port();
    let (lo, hi) = f.sysctls.local_port_range?;
    if port < lo || port > hi {
        return None;
    }
    let reserved = f
        .sysctls
        .reserved_ports
        .as_ref()
        .is_some_and(|r| r.iter().any(|&(a, b)| a <= port && port <= b));
    let mut evidence = vec![sysctl("net.ipv4.ip_local_port_range", format!("{lo} {hi}"))];
    if let Some(r) = &f.sysctls.reserved_ports {
        let text: Vec<String> = r
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        evidence.push(sysctl("net.ipv4.ip_local_reserved_ports", text.join(",")));
    }
    let (detail, fix) = if reserved {
        (
            format!("port {port} is inside the ephemeral range {lo}-{hi}, but it is in net.ipv4.ip_local_reserved_ports, so outgoing connections and port-0 binds never take it (a bind that names it still can)"),
            String::new(),
        )
    } else {
        (
            format!("port {port} is inside the ephemeral range {lo}-{hi}: while nothing holds it, any outgoing connection or port-0 bind may take it, and then this bind fails"),
            format!("use a port outside {lo}-{hi}, or reserve it: `sysctl -w net.ipv4.ip_local_reserved_ports={port}` (this only stops automatic assignment)"),
        )
    };
    Some(reason("ephemeral_port", detail, evidence, &fix))
}

/// TIME_WAIT sockets this bind skipped thanks to SO_REUSEADDR: without it, it would fail.
fn time_wait(f: &Facts) -> Option<Reason> {
    let new = new_view(f);
    let tw: Vec<Evidence> = on_port(f)
        .filter(|s| s.state == SockState::TimeWait && conflict::overlaps(&new, &View::of(s)))
        .map(ev)
        .collect();
    if tw.is_empty() {
        return None;
    }
    Some(reason(
        "time_wait",
        format!("{} connection(s) on this port are in TIME_WAIT: this bind works with SO_REUSEADDR, but the same bind without it fails until they expire (up to 60 s)", tw.len()),
        tw,
        "keep SO_REUSEADDR set in the application before bind()",
    ))
}

/// A wildcard of the other family that only a dual-stack socket would run into.
fn other_family(f: &Facts) -> Vec<Reason> {
    let new = new_view(f);
    let dual = View {
        v6only: false,
        ..new
    };
    let port = f.request.addr.port();
    let mut out = Vec::new();
    for s in on_port(f).filter(|s| {
        matches!(
            s.state,
            SockState::Listen | SockState::Unconnected | SockState::Closed
        )
    }) {
        let old = View::of(s);
        if conflict::overlaps(&new, &old) {
            continue;
        }
        if new.v6only && conflict::overlaps(&dual, &old) {
            out.push(reason(
                "other_family_wildcard",
                format!("{} holds IPv4 {}: this bind works because it is IPv6-only; the same [::]:{port} bind with IPV6_V6ONLY off (dual-stack, the default unless net.ipv6.bindv6only=1) would fail", state_phrase(s), s.local),
                vec![ev(s)],
                "keep IPV6_V6ONLY set on this socket (nginx: `ipv6only=on`)",
            ));
        } else if old.is_wildcard()
            && old.v6only
            && conflict::overlaps(
                &new,
                &View {
                    v6only: false,
                    ..old
                },
            )
        {
            out.push(reason(
                "other_family_wildcard",
                format!("{} on {} is IPv6-only; if it were dual-stack (IPV6_V6ONLY off, the usual default) it would hold port {port} for IPv4 too, and this bind would fail", state_phrase(s), s.local),
                vec![ev(s)],
                "keep IPV6_V6ONLY set on that socket",
            ));
        }
    }
    out
}

/// A privileged port that binds only because portscope itself is privileged.
fn root_only(f: &Facts) -> Option<Reason> {
    let (is_privileged, start) = privileged(f);
    if f.as_user.is_some() || !is_privileged || !f.trial.cap_net_bind_service {
        return None;
    }
    let port = f.request.addr.port();
    Some(reason(
        "root_only",
        format!("port {port} is below net.ipv4.ip_unprivileged_port_start ({start}): it binds here only because portscope (uid {}) has CAP_NET_BIND_SERVICE; a program without it gets EACCES", f.trial.uid),
        vec![
            sysctl("net.ipv4.ip_unprivileged_port_start", start),
            Evidence::Capability { name: "CAP_NET_BIND_SERVICE".into(), present: true, uid: f.trial.uid },
        ],
        "check as the program's user (`portscope why --as USER ...`); give the program `setcap cap_net_bind_service=+ep BINARY` or AmbientCapabilities=CAP_NET_BIND_SERVICE in its unit",
    ))
}
