//! `who` on a published container port: a host port held by docker-proxy or by podman's
//! conmon (a reservation socket) is followed to the container's own listener and its
//! owner; a port published by DNAT alone (no host socket) is named from the engine's
//! state on disk. Reads the engines' files only, never their APIs.

pub use crate::collect::linux::placement::Placer;
use crate::collect::linux::placement::{Published, PublishedVia, Roots};

/// The engines' state on disk, read once for one `who`.
pub fn placer() -> Placer {
    Placer::new(Roots::system())
}
use crate::collect::{Collector, NetnsChoice, OwnerChoice, TableChoice};
use crate::model::{Socket, TableQuery};
use crate::pipeline;
use crate::query::Query;
use crate::spec::{PortRange, PortSpec};

/// A host socket that publishes a container's port, and the container's own sockets.
pub struct Backend {
    pub published: Published,
    /// The container's listeners on its port, with their owners (any namespace).
    pub sockets: Vec<Socket>,
}

/// The container sockets on `port` that belong to `p`'s container (or, when the engine
/// does not name the container, any socket on that port outside our namespace).
fn backend_sockets(p: &Published) -> Vec<Socket> {
    let Some(port) = p.container_port else {
        return Vec::new();
    };
    let Ok(mut c) = Collector::system(TableChoice::Auto, OwnerChoice::Auto, NetnsChoice::All)
    else {
        return Vec::new();
    };
    let mut q = Query::new(TableQuery {
        protocols: vec![p.protocol],
        states: Some(vec![
            crate::model::SockState::Listen,
            crate::model::SockState::Unconnected,
        ]),
        ..TableQuery::everything()
    });
    q.ports = vec![PortSpec {
        text: port.to_string(),
        addr: None,
        proto: Some(p.protocol),
        ranges: vec![PortRange {
            low: port,
            high: port,
            proto: None,
        }],
    }];
    q.numeric = true;
    let Ok(outcome) = pipeline::run(&mut c, &q) else {
        return Vec::new();
    };
    // Only the named container's own sockets, on the address traffic is sent to: a guess
    // would name the wrong backend.
    let Some(id) = p.container.as_ref().map(|c| c.id.as_str()) else {
        return Vec::new();
    };
    outcome
        .sockets
        .into_iter()
        .filter(|s| !s.netns.current)
        .filter(|s| {
            s.processes
                .iter()
                .any(|q| q.container.as_ref().is_some_and(|c| c.id == id))
                || s.cgroup.as_deref().is_some_and(|g| g.contains(id))
        })
        .filter(|s| {
            s.local.address.is_unspecified()
                || p.container_ip.is_none_or(|ip| s.local.address == ip)
        })
        .collect()
}

/// For each socket held by a proxy or a reservation holder, what it publishes.
pub fn backends(placer: &mut Placer, sockets: &[Socket]) -> Vec<Backend> {
    let mut out: Vec<Backend> = Vec::new();
    for s in sockets.iter().filter(|s| s.state.is_listening()) {
        // Engines run their proxies as root: anyone else can call a process "conmon".
        for p in s.processes.iter().filter(|p| p.uid == Some(0)) {
            let Some(published) = placer.published_backend(&p.cmdline, s.protocol, s.local.port)
            else {
                continue;
            };
            if out.iter().any(|b| b.published == published) {
                continue;
            }
            let sockets = backend_sockets(&published);
            out.push(Backend { published, sockets });
        }
    }
    out
}

/// Containers publishing `port` by DNAT alone (docker without its proxy).
pub fn dnat(placer: &mut Placer, port: u16, proto: crate::model::Protocol) -> Vec<Published> {
    placer
        .dnat_published(port, proto)
        .into_iter()
        .filter(|p| p.via == PublishedVia::Dnat)
        .collect()
}

/// Listeners systemd holds for socket activation (PID 1, named systemd): the `.socket`
/// unit that declares each, where the unit files say (best effort: see the README).
pub fn activations(placer: &mut Placer, sockets: &[Socket]) -> Vec<(String, String)> {
    sockets
        .iter()
        .filter(|s| s.state.is_listening())
        .filter(|s| {
            s.processes
                .iter()
                .any(|p| p.pid == 1 && p.name == "systemd")
        })
        .filter_map(|s| {
            let addr = std::net::SocketAddr::new(s.local.address, s.local.port);
            let unit = placer.socket_unit(s.protocol, addr)?;
            Some((format!("{}/{}", s.local.port, s.protocol), unit))
        })
        .collect()
}
