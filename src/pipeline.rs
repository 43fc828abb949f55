//! The pipeline every command shares: harvest → classify → filter → join, ready to sort and
//! render. The host comes in as a [`Collector`] value, so the whole flow runs on a fake host
//! in tests.

use crate::classify::{Classification, Classifier};
use crate::collect::{Collector, OwnerScan};
use crate::error::Error;
use crate::fast_hash::InodeSet;
use crate::filter;
use crate::join::{self, ScanFacts};
use crate::model::{
    OwnerSourceKind, OwnerWalk, PortFilter, ProcessTable, Publication, Socket, SocketHarvest,
    Sources, TableQuery,
};
use crate::query::{Query, SortKey};
use crate::services::Services;
use crate::sort;

mod follow;
mod place;
pub use place::place;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What the pipeline produces for a renderer.
#[derive(Debug)]
pub struct Outcome {
    pub sockets: Vec<Socket>,
    /// One line each: fallbacks used, degraded answers.
    pub warnings: Vec<String>,
    /// Parent processes of the holders (for `who`), when the query asks for them.
    pub parents: ProcessTable,
    /// Which backends produced the answer.
    pub sources: Sources,
    /// Published host ports followed to their containers, when the query asks.
    pub published: Vec<Publication>,
}

pub fn classifier(numeric: bool, ephemeral: Option<(u16, u16)>) -> Classifier {
    Classifier {
        ephemeral,
        services: (!numeric).then(Services::system),
    }
}

/// A query for the sockets in `unresolved`, to ask again cheaply whether they still exist.
/// It selects by port and protocol only, never by state: a socket that moved from
/// established to fin_wait_2 during the scan still exists, and identity is the inode.
fn recheck_query(base: &TableQuery, unresolved: &[&SocketHarvest]) -> TableQuery {
    let mut protocols = Vec::new();
    let mut families = Vec::new();
    let mut ports: Vec<(u16, u16, Option<_>)> = Vec::new();
    for s in unresolved {
        if !protocols.contains(&s.protocol) {
            protocols.push(s.protocol);
        }
        if !families.contains(&s.family) {
            families.push(s.family);
        }
        let r = (s.local.port, s.local.port, Some(s.protocol));
        if !ports.contains(&r) {
            ports.push(r);
        }
    }
    TableQuery {
        protocols,
        families,
        states: None,
        ports: if ports.len() <= 64 {
            Some(PortFilter {
                ranges: ports,
                remote: false,
            })
        } else {
            // Many ports: the base port filter still covers every one of them.
            base.ports.clone().filter(|p| !p.remote)
        },
    }
}

/// Finds the holders of `wanted` (the kept sockets' inodes), or says why none can be found;
/// true when the chosen owner source failed as a whole (the BPF iterator refused), which
/// is not "/proc could not be read".
fn scan(c: &mut Collector, q: &Query, wanted: &InodeSet) -> (OwnerScan, bool) {
    if wanted.is_empty() || c.owners.kind() == OwnerSourceKind::None {
        return (OwnerScan::default(), false);
    }
    match c.owners.scan(wanted, q.stages().first) {
        Ok(s) => (s, false),
        Err(e) => {
            let bpf = c.owners.kind() == OwnerSourceKind::Bpf;
            let warning = match bpf {
                true => format!("--owner-source bpf failed ({e}): no owner was looked up"),
                false => format!("cannot read /proc ({e}): owners are not shown"),
            };
            let scan = OwnerScan {
                unavailable: !bpf,
                warnings: vec![warning],
                ..OwnerScan::default()
            };
            (scan, bpf)
        }
    }
}

/// Sockets nobody was found holding: still there (hidden), or closed meanwhile? Asks the
/// table source again, about just those, and answers by identity.
fn recheck(
    c: &mut Collector,
    table: &TableQuery,
    kept: &[(SocketHarvest, Classification)],
    scan: &OwnerScan,
) -> Option<InodeSet> {
    if scan.stopped_early || c.owners.kind() == OwnerSourceKind::None {
        return None;
    }
    let found: InodeSet = scan.holders.iter().map(|&(i, _)| i).collect();
    let unresolved: Vec<&SocketHarvest> = kept
        .iter()
        .map(|(s, _)| s)
        .filter(|s| s.inode != 0 && !found.contains(&s.inode))
        .collect();
    if unresolved.is_empty() {
        return None;
    }
    // Exact lookups first (a hash lookup each where the source can), then one dump
    // for whatever they did not confirm.
    let mut present = c.tables.confirm(&unresolved);
    let rest: Vec<&SocketHarvest> = unresolved
        .into_iter()
        .filter(|s| !present.contains(&s.inode))
        .collect();
    if !rest.is_empty() {
        let again = c.tables.harvest(&recheck_query(table, &rest)).ok()?;
        present.extend(again.sockets.iter().map(|s| s.inode));
    }
    Some(present)
}

/// The holders' details, and their parents' where the query asks for them.
fn holder_details(c: &mut Collector, q: &Query, scan: &OwnerScan) -> (ProcessTable, ProcessTable) {
    let mut pids: Vec<u32> = scan.holders.iter().map(|&(_, p)| p).collect();
    pids.sort_unstable();
    pids.dedup();
    let processes = c.owners.details(&pids);
    let parents = if q.stages().parents {
        let mut pp: Vec<u32> = processes.values().filter_map(|p| p.ppid).collect();
        pp.sort_unstable();
        pp.dedup();
        pp.retain(|p| *p != 0);
        c.owners.details(&pp)
    } else {
        ProcessTable::new()
    };
    (processes, parents)
}

/// Cgroup id → path, UID → user name.
type SocketNames = (HashMap<u64, Arc<str>>, HashMap<u32, Option<Arc<str>>>);

/// What the join takes from the sockets themselves, not their owners: each one's cgroup
/// path (where the query shows it) and the name of its UID.
fn socket_names(
    c: &mut Collector,
    q: &Query,
    kept: &[(SocketHarvest, Classification)],
) -> SocketNames {
    let uids: HashSet<u32> = kept.iter().filter_map(|(s, _)| s.uid).collect();
    let cgroup_ids: HashSet<u64> = match q.stages().cgroup_paths {
        true => kept.iter().filter_map(|(s, _)| s.cgroup_id).collect(),
        false => HashSet::new(),
    };
    let cgroups = cgroup_ids
        .into_iter()
        .filter_map(|id| Some((id, Arc::from(c.owners.cgroup_path(id)?))))
        .collect();
    let user_names = uids
        .into_iter()
        .map(|u| (u, c.owners.user_name(u).map(Arc::from)))
        .collect();
    (cgroups, user_names)
}

/// The inodes an owner scan looks for: every kept socket a process could hold.
fn wanted_inodes(kept: &[(SocketHarvest, Classification)]) -> InodeSet {
    kept.iter()
        .map(|(s, _)| s.inode)
        .filter(|&i| i != 0)
        .collect()
}

/// Classifies each harvested socket and keeps those the query's socket-level filters pass.
fn classify_and_filter(
    classifier: &Classifier,
    q: &Query,
    sockets: Vec<SocketHarvest>,
) -> Vec<(SocketHarvest, Classification)> {
    sockets
        .into_iter()
        .map(|s| {
            let class = classifier.classify(&s);
            (s, class)
        })
        .filter(|(s, class)| filter::socket_matches(q.selection(), s, class))
        .collect()
}

/// The owner scan's warnings, and one for the descriptor tables it could not open.
fn scan_warnings(scan: &mut OwnerScan, warnings: &mut Vec<String>) {
    warnings.append(&mut scan.warnings);
    if scan.fd_limited > 0 {
        warnings.push(format!(
            "{} descriptor tables could not be opened: portscope ran out of file descriptors (raise ulimit -n); their owners are unknown",
            scan.fd_limited
        ));
    }
}

/// Which owner source answered (an owner source may fall back, bpf to procfs; none did
/// when the chosen one failed), and how much its walk read.
fn record_scan(sources: &mut Sources, c: &Collector, scan: &OwnerScan, source_failed: bool) {
    sources.owners = match source_failed {
        true => OwnerSourceKind::None,
        false => c.owners.kind(),
    };
    sources.owner_walk = scan.descriptors.map(|descriptors| OwnerWalk {
        descriptors,
        program: scan.walk_program,
    });
}

/// The rows with their owners: placed, filtered by owner, published ports followed.
fn finish(
    c: &mut Collector,
    q: &Query,
    mut rows: Vec<Socket>,
    mut warnings: Vec<String>,
    parents: ProcessTable,
    sources: Sources,
) -> Result<Outcome, Error> {
    place::place(c.owners.as_mut(), &mut rows);
    if q.selection().has_owner_filters() {
        rows.retain(|s| filter::owner_matches(q.selection(), s));
    }
    let published = match q.stages().follow_published {
        true => follow::follow(c, q, &rows, &mut warnings)?,
        false => Vec::new(),
    };
    Ok(Outcome {
        sockets: rows,
        warnings,
        parents,
        sources,
        published,
    })
}

pub fn run(c: &mut Collector, q: &Query) -> Result<Outcome, Error> {
    let classifier = classifier(q.view().numeric, c.ephemeral);
    let mut table = q.selection().table.clone();
    table.ports = q.selection().port_filter();
    c.owners.prepare();
    c.tables.begin();
    let harvest = c.tables.harvest(&table)?;
    // A walk can start now, while the sockets are classified and filtered: wherever the
    // tables hold a socket a process could hold (a free port's filtered dump holds none).
    if harvest.sockets.iter().any(|s| s.inode != 0) {
        c.owners.begin_scan();
    }
    let mut warnings = harvest.warnings;
    let mut sources = Sources {
        table: harvest.source,
        owners: c.owners.kind(),
        netns: harvest.per_netns,
        owner_walk: None,
    };
    let namespaces = harvest.namespaces;
    let mut kept = classify_and_filter(&classifier, q, harvest.sockets);
    let wanted = wanted_inodes(&kept);
    // What needs no owners, done while a walk may be running: the default order (the
    // final sort then finds the rows in place), the sockets' cgroup paths and user names,
    // and the rows themselves.
    if q.stages().presort && q.view().sort == SortKey::Port {
        kept.sort_by(|a, b| sort::harvest_order(&a.0, &b.0));
    }
    let (cgroups, user_names) = socket_names(c, q, &kept);
    let socket_facts = join::SocketFacts {
        namespaces: &namespaces,
        cgroups: &cgroups,
        user_names: &user_names,
    };
    let mut rows = join::rows(&kept, &socket_facts);

    let (mut scan, source_failed) = scan(c, q, &wanted);
    record_scan(&mut sources, c, &scan, source_failed);
    scan_warnings(&mut scan, &mut warnings);
    let still_present = recheck(c, &table, &kept, &scan);
    drop(kept);
    let (processes, parents) = holder_details(c, q, &scan);
    join::attach_owners(
        &mut rows,
        ScanFacts {
            holders: &mut scan.holders,
            processes: &processes,
            denied: scan.denied > 0,
            proc_unavailable: scan.unavailable,
            stopped_early: scan.stopped_early,
            not_looked_up: sources.owners == OwnerSourceKind::None,
            source_failed,
            fd_limited: scan.fd_limited > 0,
            sees_every_process: scan.sees_every_process,
            thread_holders: &scan.thread_holders,
            namespaces: &namespaces,
            cgroups: &cgroups,
            still_present: still_present.as_ref(),
            user_names: &user_names,
        },
    );
    finish(c, q, rows, warnings, parents, sources)
}
