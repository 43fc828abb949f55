//! Every rule of rules.rs and warnings.rs on literal facts: no sockets, no system calls.

use super::*;
use crate::model::{Endpoint, Family, PortClass, Process};
use crate::why::{BindOptions, BindRequest, IfAddr, PolicyFacts, RunAs, Sysctls, Trial};
use std::net::SocketAddr;
use std::sync::Arc;

fn facts(addr: &str, proto: Protocol, errno: Option<i32>) -> Facts {
    let iface = |i: &str, a: &str| IfAddr {
        interface: i.into(),
        address: a.parse().unwrap(),
        tentative: false,
        dad_failed: false,
    };
    Facts {
        request: BindRequest {
            protocol: proto,
            addr: addr.parse().unwrap(),
            options: BindOptions::default(),
        },
        trial: Trial {
            errno,
            ..Trial::default()
        },
        as_user: None,
        as_needs_root: false,
        sysctls: Sysctls {
            unprivileged_port_start: Some(1024),
            local_port_range: Some((32768, 60999)),
            reserved_ports: Some(vec![]),
            ipv4_nonlocal_bind: Some(false),
            ipv6_nonlocal_bind: Some(false),
            bindv6only: Some(false),
            ipv6_present: true,
            disable_ipv6: vec![
                ("all".into(), false),
                ("default".into(), false),
                ("lo".into(), false),
            ],
        },
        interfaces: vec![iface("lo", "127.0.0.1"), iface("lo", "::1")],
        policy: PolicyFacts::default(),
        sockets: vec![],
        tables_unreadable: false,
    }
}

fn sock(proto: Protocol, local: &str, state: SockState, v6only: Option<bool>, uid: u32) -> Socket {
    let local: SocketAddr = local.parse().unwrap();
    Socket {
        netns: Default::default(),
        cgroup: None,
        protocol: proto,
        family: Family::of(&local.ip()),
        v6only,
        local: Endpoint {
            address: local.ip(),
            port: local.port(),
        },
        remote: (state == SockState::TimeWait).then(|| Endpoint {
            address: local.ip(),
            port: 40000,
        }),
        state,
        port_class: PortClass::Registered,
        ephemeral: false,
        service: None,
        recv_queue: Some(0),
        send_queue: Some(0),
        inode: if state == SockState::TimeWait { 0 } else { 7 },
        uid: Some(uid),
        user: None,
        owner: Owner::Visible,
        owner_reason: None,
        owner_reason_code: None,
        placement: Default::default(),
        processes: vec![Arc::new(Process {
            pid: 42,
            name: "server".into(),
            cmdline: vec!["server".into()],
            user: Some("alice".into()),
            uid: Some(uid),
            ppid: None,
            tid: None,
            container: None,
            unit: None,
        })],
    }
}

const INUSE: Option<i32> = Some(libc::EADDRINUSE);
const TCP: Protocol = Protocol::Tcp;

fn names(v: &[Reason]) -> Vec<&str> {
    v.iter().map(|r| r.rule.as_str()).collect()
}

fn sockets_of(r: &Reason) -> Vec<String> {
    r.evidence
        .iter()
        .filter_map(|e| match e {
            Evidence::Socket { socket } => Some(format!("{} {}", socket.local, socket.state)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_free_port_has_no_reasons_and_no_warnings() {
    let e = explain(&facts("127.0.0.1:8080", TCP, None));
    assert_eq!(e, Explanation::default());
}

#[test]
fn a_listener_on_the_same_address() {
    let mut f = facts("127.0.0.1:8080", TCP, INUSE);
    f.sockets = vec![sock(TCP, "127.0.0.1:8080", SockState::Listen, None, 1000)];
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["same_address"]);
    assert_eq!(sockets_of(&e.reasons[0]), ["127.0.0.1:8080 listen"]);
    assert_eq!(
        e.reasons[0].detail,
        "a listening socket is already on 127.0.0.1:8080/tcp"
    );
    assert!(!e.partial);
}

#[test]
fn wildcards_and_dual_stack_cover_specific_addresses() {
    let cases = [
        ("127.0.0.1:8080", "0.0.0.0:8080", None, "wildcard_holder"),
        ("[::1]:8080", "[::]:8080", Some(true), "wildcard_holder"),
        (
            "127.0.0.1:8080",
            "[::]:8080",
            Some(false),
            "dual_stack_holder",
        ),
        (
            "0.0.0.0:8080",
            "[::]:8080",
            Some(false),
            "dual_stack_holder",
        ),
        ("[::]:8080", "0.0.0.0:8080", None, "dual_stack_request"),
        ("0.0.0.0:8080", "127.0.0.1:8080", None, "specific_holder"),
        (
            "[::ffff:127.0.0.1]:8080",
            "127.0.0.1:8080",
            None,
            "v4_mapped",
        ),
    ];
    for (want, held, v6only, rule) in cases {
        let mut f = facts(want, TCP, INUSE);
        f.sockets = vec![sock(TCP, held, SockState::Listen, v6only, 0)];
        let e = explain(&f);
        assert_eq!(names(&e.reasons), [rule], "{want} vs {held}");
        assert_eq!(
            sockets_of(&e.reasons[0]),
            [format!("{} listen", f.sockets[0].local)]
        );
    }
}

#[test]
fn v6only_and_other_ports_and_protocols_do_not_conflict() {
    let mut f = facts("[::]:8080", TCP, INUSE);
    f.request.options.v6only = Some(true);
    f.sockets = vec![
        sock(TCP, "0.0.0.0:8080", SockState::Listen, None, 0),
        sock(TCP, "[::1]:8081", SockState::Listen, Some(true), 0),
        sock(
            Protocol::Udp,
            "[::1]:8080",
            SockState::Unconnected,
            Some(true),
            0,
        ),
    ];
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["unexplained"]);
    assert!(e.reasons[0]
        .detail
        .starts_with("bind() failed: Address already in use (EADDRINUSE)"));
}

#[test]
fn time_wait_without_and_with_reuseaddr() {
    let mut f = facts("127.0.0.1:8080", TCP, INUSE);
    f.sockets = vec![sock(TCP, "127.0.0.1:8080", SockState::TimeWait, None, 0)];
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["same_address", "time_wait"]);
    assert!(e.reasons[1].fix.contains("SO_REUSEADDR"));
    f.request.options.reuseaddr = true;
    f.trial.errno = None;
    let e = explain(&f);
    assert_eq!(names(&e.reasons), Vec::<&str>::new());
    assert_eq!(names(&e.warnings), ["time_wait"]);
    assert_eq!(sockets_of(&e.warnings[0]), ["127.0.0.1:8080 time_wait"]);
}

#[test]
fn a_bound_only_socket_and_a_reuseport_group_of_another_user() {
    let mut f = facts("127.0.0.1:8080", TCP, INUSE);
    f.sockets = vec![sock(TCP, "0.0.0.0:8080", SockState::Closed, None, 0)];
    assert_eq!(
        names(&explain(&f).reasons),
        ["wildcard_holder", "bound_only"]
    );
    f.request.options.reuseport = true;
    f.sockets = vec![sock(TCP, "127.0.0.1:8080", SockState::Listen, None, 65534)];
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["same_address", "reuseport_uid"]);
    assert!(e.reasons[1]
        .detail
        .contains("uid 65534, this bind runs as uid 0"));
    // Same user: the holder simply lacks SO_REUSEPORT (possible, so said with "unless").
    f.sockets[0].uid = Some(0);
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["same_address"]);
    assert!(e.reasons[0]
        .detail
        .ends_with("(it stops this bind unless it has SO_REUSEPORT too)"));
}

#[test]
fn certain_conflicts_hide_possible_ones() {
    let mut f = facts("127.0.0.1:8080", TCP, INUSE);
    f.request.options.reuseaddr = true;
    f.sockets = vec![
        sock(TCP, "127.0.0.1:8080", SockState::Closed, None, 0),
        sock(TCP, "0.0.0.0:8080", SockState::Listen, None, 0),
    ];
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["wildcard_holder"]);
    assert_eq!(sockets_of(&e.reasons[0]), ["0.0.0.0:8080 listen"]);
}

#[test]
fn udp_holders_conflict_like_bound_sockets() {
    let u = Protocol::Udp;
    let mut f = facts("0.0.0.0:5353", u, INUSE);
    f.sockets = vec![sock(u, "0.0.0.0:5353", SockState::Unconnected, None, 0)];
    assert_eq!(names(&explain(&f).reasons), ["same_address"]);
}

#[test]
fn privileged_port_without_the_capability() {
    let mut f = facts("0.0.0.0:80", TCP, Some(libc::EACCES));
    f.trial.cap_net_bind_service = false;
    f.trial.uid = 65534;
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["privileged_port"]);
    let r = &e.reasons[0];
    assert_eq!(
        r.evidence,
        vec![
            sysctl("net.ipv4.ip_unprivileged_port_start", 1024),
            Evidence::Capability {
                name: "CAP_NET_BIND_SERVICE".into(),
                present: false,
                uid: 65534
            },
        ]
    );
    assert!(r.fix.contains("setcap cap_net_bind_service=+ep BINARY"));
    assert!(r.fix.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE"));
    // The next checks are named too when the facts show they would fail.
    f.sockets = vec![sock(TCP, "0.0.0.0:80", SockState::Listen, None, 0)];
    assert_eq!(
        names(&explain(&f).reasons),
        ["privileged_port", "same_address"]
    );
    f.trial.errno = Some(libc::EADDRNOTAVAIL);
    f.request.addr = "10.9.9.9:80".parse().unwrap();
    f.sockets.clear();
    assert_eq!(
        names(&explain(&f).reasons),
        ["address_not_local", "privileged_port"]
    );
}

#[test]
fn eacces_that_privilege_does_not_explain_is_a_policy_or_unexplained() {
    let mut f = facts("0.0.0.0:8080", TCP, Some(libc::EPERM));
    f.policy.cgroup = Some("/system.slice/app.service".into());
    f.policy.bind_programs = Ok((1, 0));
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["bind_policy"]);
    assert!(e.reasons[0]
        .detail
        .contains("cgroup BPF bind program is attached to /system.slice/app.service"));
    f.policy.bind_programs = Ok((0, 0));
    f.trial.errno = Some(libc::EACCES);
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["unexplained"]);
    assert!(e.reasons[0].detail.contains("Permission denied (EACCES)"));
    assert!(e.reasons[0]
        .evidence
        .contains(&note("SELinux is not present")));
    f.policy.selinux_enforcing = Some(true);
    assert_eq!(names(&explain(&f).reasons), ["bind_policy"]);
}

#[test]
fn address_not_on_any_interface() {
    let f = facts("10.1.2.3:8080", TCP, Some(libc::EADDRNOTAVAIL));
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["address_not_local"]);
    let r = &e.reasons[0];
    assert_eq!(
        r.evidence[0],
        Evidence::Interfaces {
            addresses: f.interfaces.clone()
        }
    );
    assert_eq!(r.evidence[1], sysctl("net.ipv4.ip_nonlocal_bind", 0));
    assert!(r.fix.contains("IP_FREEBIND") && r.fix.contains("net.ipv4.ip_nonlocal_bind=1"));
}

#[test]
fn tentative_and_failed_ipv6_addresses() {
    let mut f = facts("[fd00::1]:8080", TCP, Some(libc::EADDRNOTAVAIL));
    f.interfaces.push(IfAddr {
        interface: "eth0".into(),
        address: "fd00::1".parse().unwrap(),
        tentative: true,
        dad_failed: false,
    });
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["ipv6_tentative"]);
    assert!(e.reasons[0].fix.starts_with("wait for DAD"));
    f.interfaces[2].dad_failed = true;
    let e = explain(&f);
    assert!(e.reasons[0]
        .detail
        .contains("failed duplicate address detection"));
}

#[test]
fn ipv6_disabled_on_lo_or_in_the_kernel() {
    let mut f = facts("[::1]:8080", TCP, Some(libc::EADDRNOTAVAIL));
    f.interfaces.pop();
    f.sysctls.disable_ipv6[2].1 = true;
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["ipv6_disabled"]);
    assert_eq!(
        e.reasons[0].evidence,
        vec![sysctl("net.ipv6.conf.lo.disable_ipv6", 1)]
    );
    let mut f = facts("[::1]:8080", TCP, Some(libc::EAFNOSUPPORT));
    f.sysctls.ipv6_present = false;
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["ipv6_disabled"]);
    assert!(e.reasons[0].detail.contains("ipv6.disable=1"));
}

#[test]
fn other_errors_keep_their_errno_text() {
    let mut f = facts("127.0.0.1:8080", TCP, Some(libc::EINVAL));
    f.trial.step = crate::why::TrialStep::Option("IP_FREEBIND");
    let e = explain(&f);
    assert_eq!(names(&e.reasons), ["unexplained"]);
    assert_eq!(
        e.reasons[0].detail,
        "setsockopt(IP_FREEBIND) failed: Invalid argument (EINVAL); no rule explains it"
    );
}

#[test]
fn ephemeral_ports_warn_and_say_whether_reserved() {
    let mut f = facts("127.0.0.1:40000", TCP, None);
    let e = explain(&f);
    assert_eq!(names(&e.warnings), ["ephemeral_port"]);
    assert!(e.warnings[0]
        .detail
        .contains("inside the ephemeral range 32768-60999"));
    assert!(e.warnings[0].fix.contains("ip_local_reserved_ports=40000"));
    f.sysctls.reserved_ports = Some(vec![(39000, 41000)]);
    let e = explain(&f);
    assert!(e.warnings[0]
        .detail
        .contains("it is in net.ipv4.ip_local_reserved_ports"));
    assert_eq!(e.warnings[0].fix, "");
    assert!(e.warnings[0]
        .evidence
        .contains(&sysctl("net.ipv4.ip_local_reserved_ports", "39000-41000")));
}

#[test]
fn other_family_wildcards_that_dual_stack_would_hit() {
    let mut f = facts("[::]:8080", TCP, None);
    f.request.options.v6only = Some(true);
    f.sockets = vec![sock(TCP, "0.0.0.0:8080", SockState::Listen, None, 0)];
    let e = explain(&f);
    assert_eq!(names(&e.warnings), ["other_family_wildcard"]);
    assert!(e.warnings[0].detail.contains("would fail"));
    let mut f = facts("0.0.0.0:8080", TCP, None);
    f.sockets = vec![sock(TCP, "[::]:8080", SockState::Listen, Some(true), 0)];
    assert_eq!(names(&explain(&f).warnings), ["other_family_wildcard"]);
    f.sockets = vec![sock(TCP, "[::1]:8080", SockState::Listen, Some(true), 0)];
    assert_eq!(names(&explain(&f).warnings), Vec::<&str>::new());
}

#[test]
fn a_privileged_port_that_works_only_as_root() {
    let mut f = facts("0.0.0.0:80", TCP, None);
    let e = explain(&f);
    assert_eq!(names(&e.warnings), ["root_only"]);
    f.as_user = Some(RunAs {
        name: Some("root".into()),
        uid: 0,
        gid: 0,
        groups: vec![0],
    });
    assert_eq!(names(&explain(&f).warnings), Vec::<&str>::new());
    f.as_user = None;
    f.sysctls.unprivileged_port_start = Some(0);
    assert_eq!(names(&explain(&f).warnings), Vec::<&str>::new());
}

#[test]
fn hidden_holders_and_as_without_root_make_the_answer_partial() {
    let mut f = facts("127.0.0.1:8080", TCP, INUSE);
    let mut s = sock(TCP, "127.0.0.1:8080", SockState::Listen, None, 1000);
    s.processes.clear();
    s.owner = Owner::Hidden;
    s.owner_reason = Some(crate::model::OwnerReason::Denied);
    f.sockets = vec![s];
    assert!(explain(&f).partial);
    let mut f = facts("127.0.0.1:8080", TCP, None);
    f.as_needs_root = true;
    let e = explain(&f);
    assert!(e.partial);
    assert_eq!(names(&e.warnings), ["as_needs_root"]);
    let mut f = facts("127.0.0.1:8080", TCP, None);
    f.tables_unreadable = true;
    assert!(explain(&f).partial);
}
