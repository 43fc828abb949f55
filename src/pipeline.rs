//! The pipeline every command shares: collect → join → classify → filter, ready to render.

use crate::classify::Classifier;
use crate::collect::{self, fast_hash::InodeSet, OwnerScan, PortFilter, TableQuery, UserNames};
use crate::error::Error;
use crate::filter;
use crate::join::{self, ScanFacts};
use crate::model::{Socket, SocketHarvest};
use crate::query::Query;
use crate::services::Services;
use std::collections::HashMap;
use std::sync::Arc;

/// Test hook for `verify`'s own tests: drop sockets on this local port after collection,
/// so a deliberately wrong answer can be shown to fail verification.
pub const FAULT_DROP_PORT_ENV: &str = "PORTSCOPE_FAULT_DROP_PORT";

/// What the pipeline produces for a renderer.
#[derive(Debug, Default)]
pub struct Outcome {
    pub sockets: Vec<Socket>,
    /// One line each: fallbacks used, degraded answers.
    pub warnings: Vec<String>,
    /// Parent processes of the holders (for `who`), when asked for.
    pub parents: collect::ProcessTable,
    /// The tables came (at least partly) from /proc/net: v6-only flags are unknown.
    pub procfs: bool,
}

pub fn classifier(numeric: bool) -> Classifier {
    Classifier {
        ephemeral: collect::ephemeral_range(),
        services: (!numeric).then(Services::system),
    }
}

/// The port ranges of the query, for the kernel to filter on.
fn port_filter(q: &Query) -> Option<PortFilter> {
    if q.ports.is_empty() {
        return None;
    }
    let ranges = q
        .ports
        .iter()
        .flat_map(|spec| {
            spec.ranges
                .iter()
                .map(|r| (r.low, r.high, r.proto.or(spec.proto)))
        })
        .collect();
    Some(PortFilter {
        ranges,
        remote: q.remote,
    })
}

/// A query for just the tables, states and ports of `sockets`, to ask again cheaply
/// whether they still exist.
fn recheck_query(base: &TableQuery, sockets: &[&SocketHarvest]) -> TableQuery {
    fn uniq<T: PartialEq + Copy>(it: impl Iterator<Item = T>) -> Vec<T> {
        let mut v: Vec<T> = Vec::new();
        for x in it {
            if !v.contains(&x) {
                v.push(x);
            }
        }
        v
    }
    let ports = uniq(
        sockets
            .iter()
            .map(|s| (s.local.port, s.local.port, Some(s.protocol))),
    );
    TableQuery {
        protocols: uniq(sockets.iter().map(|s| s.protocol)),
        families: uniq(sockets.iter().map(|s| s.family)),
        states: Some(uniq(sockets.iter().map(|s| s.state))),
        ports: if ports.len() <= 64 {
            Some(PortFilter {
                ranges: ports,
                remote: false,
            })
        } else {
            base.ports.clone()
        },
    }
}

pub fn run(q: &Query, want_parents: bool) -> Result<Outcome, Error> {
    let classifier = classifier(q.numeric);
    let mut table = q.table.clone();
    table.ports = port_filter(q);
    let mut harvest = collect::harvest(&table)?;
    let mut warnings = std::mem::take(&mut harvest.warnings);
    let procfs = harvest.procfs;
    let mut sockets = harvest.sockets;
    if let Some(port) = std::env::var(FAULT_DROP_PORT_ENV)
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
    {
        sockets.retain(|s| s.local.port != port);
    }
    sockets.retain(|s| filter::socket_matches(q, s, &classifier));

    let wanted: InodeSet = sockets
        .iter()
        .map(|s| s.inode)
        .filter(|&i| i != 0)
        .collect();
    let mut scan = if wanted.is_empty() {
        OwnerScan::default()
    } else {
        match collect::scan_owners(&wanted, q.first) {
            Ok(s) => s,
            Err(e) => {
                warnings.push(format!("cannot read /proc ({e}): owners are not shown"));
                OwnerScan {
                    unavailable: true,
                    ..OwnerScan::default()
                }
            }
        }
    };

    // Sockets nobody was found holding: still there (hidden), or closed meanwhile? Ask the
    // kernel again, about just those.
    let mut found = InodeSet::default();
    found.extend(scan.holders.iter().map(|&(i, _)| i));
    let unresolved: Vec<&SocketHarvest> = sockets
        .iter()
        .filter(|s| s.inode != 0 && !found.contains(&s.inode))
        .collect();
    let still_present: Option<InodeSet> = if !unresolved.is_empty() && !scan.stopped_early {
        collect::harvest(&recheck_query(&table, &unresolved))
            .ok()
            .map(|h| h.sockets.iter().map(|s| s.inode).collect())
    } else {
        None
    };

    let mut users = UserNames::default();
    let mut pids: Vec<u32> = scan.holders.iter().map(|&(_, p)| p).collect();
    pids.sort_unstable();
    pids.dedup();
    let processes = collect::process_details(&pids, &mut users);
    let parents = if want_parents {
        let mut pp: Vec<u32> = processes.values().filter_map(|p| p.ppid).collect();
        pp.sort_unstable();
        pp.dedup();
        pp.retain(|p| *p != 0);
        collect::process_details(&pp, &mut users)
    } else {
        collect::ProcessTable::new()
    };
    let user_names: HashMap<u32, Option<Arc<str>>> = sockets
        .iter()
        .map(|s| s.uid)
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .map(|u| (u, users.name(u).map(Arc::from)))
        .collect();

    let mut joined = join::join(
        sockets,
        ScanFacts {
            holders: &mut scan.holders,
            processes: &processes,
            denied: scan.denied > 0,
            proc_unavailable: scan.unavailable,
            stopped_early: scan.stopped_early,
            still_present: still_present.as_ref(),
            user_names: &user_names,
        },
    );
    classifier.apply(&mut joined);
    if filter::has_owner_filters(q) {
        joined.retain(|s| filter::owner_matches(q, s));
    }
    Ok(Outcome {
        sockets: joined,
        warnings,
        parents,
        procfs,
    })
}
