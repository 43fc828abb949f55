//! Pipeline, after the join: where each socket lives (container, pod/compose, unit) and
//! what host port it publishes for a container, computed once so that every renderer reads
//! the same fact. The lookups go through the collector's owner source (its filesystem
//! roots), never to the host directly.

use crate::collect::OwnerSource;
use crate::model::{Placement, Process, Published, Socket};
use std::collections::HashMap;
use std::sync::Arc;

/// The holders' container and unit: the first holder that has each.
fn of_holders(processes: &[Arc<Process>]) -> Placement {
    Placement {
        container: processes.iter().find_map(|p| p.container.clone()),
        unit: processes.iter().find_map(|p| p.unit.clone()),
        published: None,
    }
}

/// What a listener held by a container engine's proxy publishes. Engines run their
/// proxies as root: anyone else can call a process "conmon".
fn published(owners: &mut dyn OwnerSource, s: &Socket) -> Option<Published> {
    if !s.state.is_listening() {
        return None;
    }
    s.processes
        .iter()
        .filter(|p| p.uid == Some(0))
        .find_map(|p| owners.published(&p.cmdline, s.protocol, s.local.port))
}

/// The `.socket` unit of a listener systemd (PID 1) holds for socket activation.
fn activation_unit(owners: &mut dyn OwnerSource, s: &Socket) -> Option<String> {
    if !s.state.is_listening()
        || !s
            .processes
            .iter()
            .any(|p| p.pid == 1 && p.name == "systemd")
    {
        return None;
    }
    let addr = std::net::SocketAddr::new(s.local.address, s.local.port);
    owners.socket_unit(s.protocol, addr)
}

/// Sets every socket's `placement`: from its holders, or for a socket whose owner is
/// hidden, from its cgroup path (where the query read it). Sockets of one holder (or one
/// cgroup) share one value.
pub fn place(owners: &mut dyn OwnerSource, sockets: &mut [Socket]) {
    let empty = Arc::new(Placement::default());
    let mut by_holder: HashMap<u32, Arc<Placement>> = HashMap::new();
    let mut by_cgroup: HashMap<Arc<str>, Arc<Placement>> = HashMap::new();
    for s in sockets.iter_mut() {
        let base = match (s.processes.as_slice(), &s.cgroup) {
            ([one], _) => Arc::clone(
                by_holder
                    .entry(one.pid)
                    .or_insert_with(|| Arc::new(of_holders(&s.processes))),
            ),
            ([], Some(cg)) => Arc::clone(
                by_cgroup
                    .entry(Arc::clone(cg))
                    .or_insert_with(|| Arc::new(owners.cgroup_placement(cg))),
            ),
            ([], None) => Arc::clone(&empty),
            (many, _) => Arc::new(of_holders(many)),
        };
        let published = published(owners, s);
        let unit = activation_unit(owners, s);
        s.placement = if published.is_none() && unit.is_none() {
            base
        } else {
            let mut p = (*base).clone();
            p.published = published;
            if unit.is_some() {
                p.unit = unit;
            }
            Arc::new(p)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::OwnerScan;
    use crate::fast_hash::InodeSet;
    use crate::model::{Container, OwnerSourceKind, ProcessTable, Protocol, PublishedVia};
    use crate::render::fixture::{process, socket};

    /// Placement lookups only; records which cgroups were asked.
    #[derive(Default)]
    struct Places {
        asked: Vec<String>,
    }

    impl OwnerSource for Places {
        fn kind(&self) -> OwnerSourceKind {
            OwnerSourceKind::Procfs
        }
        fn scan(&mut self, _: &InodeSet, _: bool) -> std::io::Result<OwnerScan> {
            Ok(OwnerScan::default())
        }
        fn details(&mut self, _: &[u32]) -> ProcessTable {
            ProcessTable::new()
        }
        fn user_name(&mut self, _: u32) -> Option<String> {
            None
        }
        fn cgroup_placement(&mut self, path: &str) -> Placement {
            self.asked.push(path.to_owned());
            Placement {
                container: None,
                unit: path.rsplit('/').next().map(str::to_owned),
                published: None,
            }
        }
        fn published(&mut self, argv: &[String], proto: Protocol, port: u16) -> Option<Published> {
            (argv.first().map(String::as_str) == Some("/usr/sbin/conmon")).then(|| Published {
                via: PublishedVia::Conmon,
                protocol: proto,
                host_ip: None,
                host_port: port,
                container: Some(container("web")),
                container_ip: Some("10.88.0.2".parse().unwrap()),
                container_port: Some(80),
            })
        }
    }

    fn container(name: &str) -> Container {
        Container {
            runtime: "podman".into(),
            id: "a".repeat(64),
            name: Some(name.into()),
            pod: None,
            compose: None,
        }
    }

    #[test]
    fn holders_cgroups_and_publishers_each_place_their_socket() {
        use crate::model::SockState::Listen;
        let mut web = (*process(10, "nginx", "root")).clone();
        web.container = Some(container("web"));
        web.unit = Some("libpod-x.scope".into());
        let web = Arc::new(web);
        let mut hidden = socket(Protocol::Tcp, "0.0.0.0", 5432, Listen, vec![]);
        hidden.cgroup = Some("/system.slice/postgresql.service".into());
        let mut sockets = vec![
            socket(Protocol::Tcp, "0.0.0.0", 80, Listen, vec![web.clone()]),
            socket(Protocol::Tcp, "::", 80, Listen, vec![web]),
            hidden.clone(),
            hidden,
            socket(
                Protocol::Tcp,
                "0.0.0.0",
                8080,
                Listen,
                vec![process(20, "conmon", "root")],
            ),
            socket(Protocol::Tcp, "0.0.0.0", 22, Listen, vec![]),
        ];
        let mut places = Places::default();
        place(&mut places, &mut sockets);
        let name = |s: &Socket| s.placement.container_label();
        assert_eq!(name(&sockets[0]).as_deref(), Some("web"));
        assert_eq!(sockets[0].placement.unit.as_deref(), Some("libpod-x.scope"));
        assert!(Arc::ptr_eq(&sockets[0].placement, &sockets[1].placement));
        assert_eq!(
            sockets[2].placement.unit.as_deref(),
            Some("postgresql.service")
        );
        assert_eq!(
            places.asked,
            vec!["/system.slice/postgresql.service"],
            "once per cgroup"
        );
        let p = sockets[4].placement.published.as_ref().unwrap();
        assert_eq!(
            p.container.as_ref().and_then(|c| c.name.as_deref()),
            Some("web")
        );
        assert_eq!((p.host_port, p.container_port), (8080, Some(80)));
        assert_eq!(*sockets[5].placement, Placement::default());
    }
}
