//! Filter stage: pure predicates over model types. Socket-level tests run before the owner
//! scan (so `who` on a free port never touches /proc); owner-level tests run after the join.

use crate::classify::Classification;
use crate::model::{Container, PortClass, Socket, SocketHarvest};
use crate::query::{ClassFilter, Selection};

/// Everything that can be decided from the kernel's record and its classification.
pub fn socket_matches(sel: &Selection, s: &SocketHarvest, c: &Classification) -> bool {
    if !sel.table.protocols.contains(&s.protocol) || !sel.table.families.contains(&s.family) {
        return false;
    }
    if !sel.table.wants_state(s.state) {
        return false;
    }
    if !sel.ports.is_empty() {
        // The v6-only flag belongs to the local end; a remote end is one address.
        let (end, v6only) = if sel.remote {
            match &s.remote {
                Some(r) => (r, None),
                None => return false,
            }
        } else {
            (&s.local, s.v6only)
        };
        if !sel.ports.iter().any(|p| p.matches(s.protocol, end, v6only)) {
            return false;
        }
    }
    if !sel.classes.is_empty() {
        let ok = sel.classes.iter().any(|want| match want {
            ClassFilter::WellKnown => c.port_class == PortClass::WellKnown,
            ClassFilter::Registered => c.port_class == PortClass::Registered,
            ClassFilter::Dynamic => c.port_class == PortClass::Dynamic,
            ClassFilter::Ephemeral => c.ephemeral,
        });
        if !ok {
            return false;
        }
    }
    true
}

/// A container named or id-prefixed by `want` (ids need 4 digits, as short ones collide).
fn container_matches(c: &Container, want: &str) -> bool {
    c.name.as_deref() == Some(want) || (want.len() >= 4 && c.id.starts_with(want))
}

/// The 64-hex container ids a cgroup path names (`docker-ID.scope`, `libpod-ID`, ...).
fn ids_in(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|part| {
        let b = part.as_bytes();
        (0..b.len().saturating_sub(63))
            .find(|&i| b[i..i + 64].iter().all(u8::is_ascii_hexdigit))
            .map(|i| &part[i..i + 64])
    })
}

/// --container and --unit: a holder's placement, or for a socket whose owner is hidden,
/// its cgroup path, by the same rules (an id prefix of 4+ digits; a unit by its whole
/// name). The socket's placement (a hidden owner's cgroup resolved to its container, by
/// name too) matches as well.
fn placement_matches(sel: &Selection, s: &Socket) -> bool {
    let hidden = s.processes.is_empty();
    let path = s.cgroup.as_deref().unwrap_or("");
    if !sel.containers.is_empty() {
        let hit = sel.containers.iter().any(|want| {
            s.processes.iter().any(|p| {
                p.container
                    .as_ref()
                    .is_some_and(|c| container_matches(c, want))
            }) || s
                .placement
                .container
                .as_ref()
                .is_some_and(|c| container_matches(c, want))
                || (hidden
                    && want.len() >= 4
                    && ids_in(path).any(|id| id.starts_with(want.as_str())))
        });
        if !hit {
            return false;
        }
    }
    if !sel.units.is_empty() {
        let hit = sel.units.iter().any(|want| {
            s.processes.iter().any(|p| p.unit.as_deref() == Some(want))
                || s.placement.unit.as_deref() == Some(want)
                || (hidden && path.split('/').any(|part| part == want))
        });
        if !hit {
            return false;
        }
    }
    true
}

/// Everything that needs the holders: --pid, --process, --user, --container, --unit (each,
/// when given, must hold).
pub fn owner_matches(sel: &Selection, s: &Socket) -> bool {
    if !placement_matches(sel, s) {
        return false;
    }
    if !sel.pids.is_empty() && !s.processes.iter().any(|p| sel.pids.contains(&p.pid)) {
        return false;
    }
    if !sel.processes.is_empty() {
        let hit = s.processes.iter().any(|p| {
            let exe = p
                .cmdline
                .first()
                .map(|a| a.rsplit('/').next().unwrap_or(a).to_lowercase());
            let name = p.name.to_lowercase();
            sel.processes
                .iter()
                .any(|want| name.contains(want) || exe.as_deref().is_some_and(|e| e.contains(want)))
        });
        if !hit {
            return false;
        }
    }
    if !sel.uids.is_empty() {
        // Sockets no process holds (time_wait...) have no uid (the kernel says 0).
        let socket_uid = s.uid.is_some_and(|u| sel.uids.contains(&u));
        let holder_uid = s
            .processes
            .iter()
            .any(|p| p.uid.is_some_and(|u| sel.uids.contains(&u)));
        if !socket_uid && !holder_uid {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Classifier;
    use crate::model::*;
    use crate::services::Services;
    use crate::spec::PortSpec;

    fn harvest(proto: Protocol, local: &str, port: u16, state: SockState) -> SocketHarvest {
        let address: std::net::IpAddr = local.parse().unwrap();
        SocketHarvest {
            netns: 0,
            protocol: proto,
            family: Family::of(&address),
            local: Endpoint { address, port },
            remote: None,
            state,
            v6only: None,
            recv_queue: Some(0),
            send_queue: Some(0),
            inode: 1,
            uid: Some(1000),
            cgroup_id: None,
        }
    }

    fn all() -> Selection {
        Selection::all(TableQuery::everything())
    }

    fn ports(spec: &str) -> Vec<PortSpec> {
        vec![PortSpec::parse(spec, &Services::builtin()).unwrap()]
    }

    /// Matches `s` as the pipeline does: classified first, with a 32768-60999 range.
    fn matches(sel: &Selection, s: &SocketHarvest) -> bool {
        let c = Classifier {
            ephemeral: Some((32768, 60999)),
            services: None,
        };
        socket_matches(sel, s, &c.classify(s))
    }

    #[test]
    fn port_protocol_family_state_and_class_filters() {
        let l = harvest(Protocol::Tcp, "127.0.0.1", 8080, SockState::Listen);
        assert!(matches(&all(), &l));
        let on = |spec| Selection::ports(TableQuery::everything(), ports(spec));
        assert!(!matches(&on("8080/udp"), &l));
        assert!(matches(&on("80,8080"), &l));
        let v6 = TableQuery {
            families: vec![Family::Ipv6],
            ..TableQuery::everything()
        };
        assert!(!matches(&Selection::ports(v6, ports("80,8080")), &l));
        let established = TableQuery {
            states: Some(vec![SockState::Established]),
            ..TableQuery::everything()
        };
        assert!(!matches(&Selection::all(established), &l));
        let classes = |classes: &[ClassFilter]| Selection {
            classes: classes.to_vec(),
            ..all()
        };
        assert!(!matches(
            &classes(&[ClassFilter::WellKnown, ClassFilter::Dynamic]),
            &l
        ));
        assert!(matches(&classes(&[ClassFilter::Registered]), &l));
        let ephemeral = classes(&[ClassFilter::Ephemeral]);
        let e = harvest(Protocol::Udp, "::1", 40000, SockState::Unconnected);
        assert!(matches(&ephemeral, &e));
        assert!(!matches(&ephemeral, &l));
    }

    #[test]
    fn remote_matching_needs_a_remote() {
        let sel = Selection {
            remote: true,
            ..Selection::ports(TableQuery::everything(), ports("5432"))
        };
        let mut c = harvest(Protocol::Tcp, "127.0.0.1", 40000, SockState::Established);
        assert!(!matches(&sel, &c));
        c.remote = Some(Endpoint {
            address: "127.0.0.1".parse().unwrap(),
            port: 5432,
        });
        assert!(matches(&sel, &c));
    }
    fn sock_with(name: &str, argv0: &str, pid: u32, uid: u32) -> Socket {
        Socket {
            netns: Default::default(),
            cgroup: None,
            protocol: Protocol::Tcp,
            family: Family::Ipv4,
            v6only: None,
            local: Endpoint {
                address: "0.0.0.0".parse().unwrap(),
                port: 80,
            },
            remote: None,
            state: SockState::Listen,
            port_class: PortClass::WellKnown,
            ephemeral: false,
            service: None,
            recv_queue: Some(0),
            send_queue: Some(0),
            inode: 9,
            uid: Some(0),
            user: None,
            owner: Owner::Visible,
            owner_reason: None,
            owner_reason_code: None,
            placement: Default::default(),
            processes: vec![std::sync::Arc::new(Process {
                pid,
                name: name.into(),
                cmdline: vec![argv0.into()],
                user: None,
                uid: Some(uid),
                ppid: None,
                tid: None,
                container: None,
                unit: None,
            })],
        }
    }

    #[test]
    fn owner_filters() {
        let s = sock_with("nginx-worker-lo", "/usr/sbin/NGINX-long-name", 42, 33);
        let pids = |pids: &[u32]| Selection {
            pids: pids.to_vec(),
            ..all()
        };
        assert!(owner_matches(&pids(&[42]), &s));
        assert!(!owner_matches(&pids(&[43]), &s));
        let named = |name: &str| Selection {
            processes: vec![name.into()],
            ..all()
        };
        assert!(owner_matches(&named("worker"), &s));
        // Beyond comm's 15 bytes: argv[0]'s basename.
        assert!(owner_matches(&named("long-name"), &s));
        // Directories are not the name.
        assert!(!owner_matches(&named("sbin"), &s));
        let uids = |uids: &[u32]| Selection {
            uids: uids.to_vec(),
            ..all()
        };
        assert!(owner_matches(&uids(&[0]), &s), "the socket's own uid");
        assert!(owner_matches(&uids(&[33]), &s), "a holder's uid");
        assert!(!owner_matches(&uids(&[1000]), &s));
    }

    /// --unit and --container follow one rule whether the owner is visible or hidden
    /// (hidden: by the socket's cgroup path).
    #[test]
    fn unit_and_container_filters_are_the_same_for_hidden_and_visible_owners() {
        let id = "3f2a".to_string() + &"0".repeat(60);
        let mut hidden = sock_with("x", "x", 1, 0);
        hidden.processes.clear();
        hidden.cgroup = Some(format!("/system.slice/notfoo.service/docker-{id}.scope").into());
        let unit = |unit: &str| Selection {
            units: vec![unit.into()],
            ..all()
        };
        assert!(
            !owner_matches(&unit("foo.service"), &hidden),
            "no substring match on units"
        );
        assert!(owner_matches(&unit("notfoo.service"), &hidden));
        let container = |c: &str| Selection {
            containers: vec![c.into()],
            ..all()
        };
        assert!(owner_matches(&container("3f2a"), &hidden), "an id prefix");
        assert!(
            !owner_matches(&container("0000"), &hidden),
            "a prefix, not a substring"
        );
        assert!(
            !owner_matches(&container("3f2"), &hidden),
            "at least 4 digits"
        );
    }
}
