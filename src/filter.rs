//! Filter stage: pure predicates over model types. Socket-level tests run before the owner
//! scan (so `who` on a free port never touches /proc); owner-level tests run after the join.

use crate::classify::{port_class, Classifier};
use crate::model::{PortClass, Socket, SocketHarvest};
use crate::query::{ClassFilter, Query};

/// Everything that can be decided from the kernel's record alone.
pub fn socket_matches(q: &Query, s: &SocketHarvest, c: &Classifier) -> bool {
    if !q.table.protocols.contains(&s.protocol) || !q.table.families.contains(&s.family) {
        return false;
    }
    if !q.table.wants_state(s.state) {
        return false;
    }
    if !q.ports.is_empty() {
        // The v6-only flag belongs to the local end; a remote end is one address.
        let (end, v6only) = if q.remote {
            match &s.remote {
                Some(r) => (r, None),
                None => return false,
            }
        } else {
            (&s.local, s.v6only)
        };
        if !q.ports.iter().any(|p| p.matches(s.protocol, end, v6only)) {
            return false;
        }
    }
    if !q.classes.is_empty() {
        let port = s.local.port;
        let ok = q.classes.iter().any(|c2| match c2 {
            ClassFilter::WellKnown => port_class(port) == PortClass::WellKnown,
            ClassFilter::Registered => port_class(port) == PortClass::Registered,
            ClassFilter::Dynamic => port_class(port) == PortClass::Dynamic,
            ClassFilter::Ephemeral => c.is_ephemeral(port),
        });
        if !ok {
            return false;
        }
    }
    true
}

/// Whether the owner filters (--pid, --process, --user) are in use at all.
pub fn has_owner_filters(q: &Query) -> bool {
    !q.pids.is_empty() || !q.processes.is_empty() || !q.uids.is_empty()
}

/// Everything that needs the holders: --pid, --process, --user (each, when given, must hold).
pub fn owner_matches(q: &Query, s: &Socket) -> bool {
    if !q.pids.is_empty() && !s.processes.iter().any(|p| q.pids.contains(&p.pid)) {
        return false;
    }
    if !q.processes.is_empty() {
        let hit = s.processes.iter().any(|p| {
            let exe = p
                .cmdline
                .first()
                .map(|a| a.rsplit('/').next().unwrap_or(a).to_lowercase());
            let name = p.name.to_lowercase();
            q.processes
                .iter()
                .any(|want| name.contains(want) || exe.as_deref().is_some_and(|e| e.contains(want)))
        });
        if !hit {
            return false;
        }
    }
    if !q.uids.is_empty() {
        // Sockets no process holds (time_wait...) carry uid 0 from the kernel: no owner.
        let socket_uid = s.inode != 0 && q.uids.contains(&s.uid);
        let holder_uid = s
            .processes
            .iter()
            .any(|p| p.uid.is_some_and(|u| q.uids.contains(&u)));
        if !socket_uid && !holder_uid {
            return false;
        }
    }
    true
}

/// Orders rows by `key`, then port, protocol, family, address, remote (stable and total).
pub fn sort(sockets: &mut [Socket], key: crate::cli::SortKey, reverse: bool) {
    use crate::cli::SortKey;
    use std::cmp::Ordering;
    fn base(a: &Socket, b: &Socket) -> Ordering {
        a.local
            .port
            .cmp(&b.local.port)
            .then(a.protocol.cmp(&b.protocol))
            .then(a.family.cmp(&b.family))
            .then(a.local.address.cmp(&b.local.address))
            .then(a.remote.cmp(&b.remote))
            .then(a.state.cmp(&b.state))
            .then(a.inode.cmp(&b.inode))
    }
    fn first_pid(s: &Socket) -> u32 {
        s.processes.first().map_or(u32::MAX, |p| p.pid)
    }
    fn first_name(s: &Socket) -> Option<String> {
        s.processes.first().map(|p| p.name.to_lowercase())
    }
    fn user(s: &Socket) -> Option<String> {
        s.processes
            .first()
            .and_then(|p| p.user.clone())
            .or_else(|| s.user.as_deref().map(str::to_string))
    }
    sockets.sort_by(|a, b| {
        let primary = match key {
            SortKey::Port => Ordering::Equal,
            SortKey::Proto => a.protocol.cmp(&b.protocol).then(a.family.cmp(&b.family)),
            SortKey::Pid => first_pid(a).cmp(&first_pid(b)),
            // Rows without an owner sort last.
            SortKey::Process => match (first_name(a), first_name(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (x, y) => y.is_none().cmp(&x.is_none()).reverse(),
            },
            SortKey::State => a.state.cmp(&b.state),
            SortKey::User => user(a).cmp(&user(b)),
        };
        let o = primary.then_with(|| base(a, b));
        if reverse {
            o.reverse()
        } else {
            o
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::TableQuery;
    use crate::model::*;
    use crate::services::Services;
    use crate::spec::PortSpec;

    fn harvest(proto: Protocol, local: &str, port: u16, state: SockState) -> SocketHarvest {
        let address: std::net::IpAddr = local.parse().unwrap();
        SocketHarvest {
            protocol: proto,
            family: Family::of(&address),
            local: Endpoint { address, port },
            remote: None,
            state,
            v6only: None,
            recv_queue: 0,
            send_queue: 0,
            inode: 1,
            uid: 1000,
        }
    }

    fn query() -> Query {
        Query::new(TableQuery {
            protocols: Protocol::ALL.to_vec(),
            families: Family::ALL.to_vec(),
            states: None,
            ports: None,
        })
    }

    fn cls() -> Classifier {
        Classifier {
            ephemeral: Some((32768, 60999)),
            services: None,
        }
    }

    #[test]
    fn port_protocol_family_state_and_class_filters() {
        let l = harvest(Protocol::Tcp, "127.0.0.1", 8080, SockState::Listen);
        let mut q = query();
        assert!(socket_matches(&q, &l, &cls()));
        q.ports = vec![PortSpec::parse("8080/udp", &Services::builtin()).unwrap()];
        assert!(!socket_matches(&q, &l, &cls()));
        q.ports = vec![PortSpec::parse("80,8080", &Services::builtin()).unwrap()];
        assert!(socket_matches(&q, &l, &cls()));
        q.table.families = vec![Family::Ipv6];
        assert!(!socket_matches(&q, &l, &cls()));
        let mut q = query();
        q.table.states = Some(vec![SockState::Established]);
        assert!(!socket_matches(&q, &l, &cls()));
        let mut q = query();
        q.classes = vec![ClassFilter::WellKnown, ClassFilter::Dynamic];
        assert!(!socket_matches(&q, &l, &cls()));
        q.classes = vec![ClassFilter::Registered];
        assert!(socket_matches(&q, &l, &cls()));
        q.classes = vec![ClassFilter::Ephemeral];
        let e = harvest(Protocol::Udp, "::1", 40000, SockState::Unconnected);
        assert!(socket_matches(&q, &e, &cls()));
        assert!(!socket_matches(&q, &l, &cls()));
    }

    #[test]
    fn remote_matching_needs_a_remote() {
        let mut q = query();
        q.remote = true;
        q.ports = vec![PortSpec::parse("5432", &Services::builtin()).unwrap()];
        let mut c = harvest(Protocol::Tcp, "127.0.0.1", 40000, SockState::Established);
        assert!(!socket_matches(&q, &c, &cls()));
        c.remote = Some(Endpoint {
            address: "127.0.0.1".parse().unwrap(),
            port: 5432,
        });
        assert!(socket_matches(&q, &c, &cls()));
    }

    fn sock_with(name: &str, argv0: &str, pid: u32, uid: u32) -> Socket {
        Socket {
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
            recv_queue: 0,
            send_queue: 0,
            inode: 9,
            uid: 0,
            user: None,
            owner: Owner::Visible,
            owner_reason: None,
            processes: vec![std::sync::Arc::new(Process {
                pid,
                name: name.into(),
                cmdline: vec![argv0.into()],
                user: None,
                uid: Some(uid),
                ppid: None,
            })],
        }
    }

    #[test]
    fn owner_filters() {
        let s = sock_with("nginx-worker-lo", "/usr/sbin/NGINX-long-name", 42, 33);
        let mut q = query();
        q.pids = vec![42];
        assert!(owner_matches(&q, &s));
        q.pids = vec![43];
        assert!(!owner_matches(&q, &s));
        let mut q = query();
        q.processes = vec!["worker".into()];
        assert!(owner_matches(&q, &s));
        q.processes = vec!["long-name".into()]; // beyond comm's 15 bytes: argv[0] basename
        assert!(owner_matches(&q, &s));
        q.processes = vec!["sbin".into()]; // directories are not the name
        assert!(!owner_matches(&q, &s));
        let mut q = query();
        q.uids = vec![0]; // the socket's own uid
        assert!(owner_matches(&q, &s));
        q.uids = vec![33]; // a holder's uid
        assert!(owner_matches(&q, &s));
        q.uids = vec![1000];
        assert!(!owner_matches(&q, &s));
    }
}
