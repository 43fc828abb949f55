//! Pipeline, after placement (`who`): each published host port followed to the container
//! behind it, through the same collector (its tables over every namespace, its owner
//! source's engine lookups), before anything is rendered. A port nothing holds on the
//! host may still be published by DNAT alone: the engines' state names those.

use crate::collect::Collector;
use crate::error::Error;
use crate::model::{Publication, Published, PublishedVia, SockState, Socket, TableQuery};
use crate::query::{Query, Selection};
use crate::spec::{PortRange, PortSpec};

/// The query for a container's listeners on its forwarded port.
fn backend_query(p: &Published, port: u16) -> Query {
    let table = TableQuery {
        protocols: vec![p.protocol],
        states: Some(vec![SockState::Listen, SockState::Unconnected]),
        ..TableQuery::everything()
    };
    let spec = PortSpec {
        text: port.to_string(),
        addr: None,
        proto: Some(p.protocol),
        ranges: vec![PortRange {
            low: port,
            high: port,
            proto: None,
        }],
    };
    Query::lookup(Selection::ports(table, vec![spec]))
}

/// Whether `s` is the named container's own listener on the address traffic is sent
/// to: a guess would name the wrong backend.
fn is_backend(p: &Published, s: &Socket) -> bool {
    let Some(id) = p.container.as_ref().map(|c| c.id.as_str()) else {
        return false;
    };
    let ours = s.placement.container.as_ref().is_some_and(|c| c.id == id)
        || s.processes
            .iter()
            .any(|q| q.container.as_ref().is_some_and(|c| c.id == id))
        || s.cgroup.as_deref().is_some_and(|g| g.contains(id));
    !s.netns.current
        && ours
        && (s.local.address.is_unspecified()
            || p.container_ip.is_none_or(|ip| s.local.address == ip))
}

/// The container's listeners behind `p`, read over every namespace with the collector's
/// own backends (its table source swapped for one over every namespace meanwhile).
fn backend(c: &mut Collector, p: &Published, warnings: &mut Vec<String>) -> Vec<Socket> {
    let Some(port) = p.container_port else {
        return Vec::new();
    };
    let Some(all) = c.tables.every_namespace() else {
        warnings.push(format!(
            "{}/{}: the table source cannot read the container's namespace: its listener is not shown",
            p.host_port, p.protocol
        ));
        return Vec::new();
    };
    let mine = std::mem::replace(&mut c.tables, all);
    let found = super::run(c, &backend_query(p, port));
    c.tables = mine;
    match found {
        Ok(outcome) => outcome
            .sockets
            .into_iter()
            .filter(|s| is_backend(p, s))
            .collect(),
        Err(e) => {
            warnings.push(format!(
                "{}/{}: cannot read the container's listener: {e}",
                p.host_port, p.protocol
            ));
            Vec::new()
        }
    }
}

/// The publications among `sockets` (their placement says), then those by DNAT alone on
/// the query's single ports that no host socket holds, each with its backend.
pub fn follow(
    c: &mut Collector,
    q: &Query,
    sockets: &[Socket],
    warnings: &mut Vec<String>,
) -> Result<Vec<Publication>, Error> {
    let mut found: Vec<Published> = Vec::new();
    for p in sockets
        .iter()
        .filter_map(|s| s.placement.published.as_ref())
    {
        if !found.contains(p) {
            found.push(p.clone());
        }
    }
    if !q.selection().remote {
        for spec in &q.selection().ports {
            let Some((None, port, proto)) = spec.single() else {
                continue;
            };
            if sockets.iter().any(|s| s.local.port == port) {
                continue;
            }
            let proto = proto.unwrap_or(crate::model::Protocol::Tcp);
            found.extend(
                c.owners
                    .dnat_published(port, proto)
                    .into_iter()
                    .filter(|p| p.via == PublishedVia::Dnat),
            );
        }
    }
    Ok(found
        .into_iter()
        .map(|published| Publication {
            backend: backend(c, &published, warnings),
            published,
        })
        .collect())
}
