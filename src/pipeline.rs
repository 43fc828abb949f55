//! The pipeline every command shares: collect → join → classify → filter, ready to render.

use crate::classify::Classifier;
use crate::collect::{self, fast_hash::InodeSet, OwnerScan, UserNames};
use crate::error::Error;
use crate::filter;
use crate::join::{self, ScanFacts};
use crate::model::Socket;
use crate::query::Query;
use crate::services::Services;
use std::collections::HashMap;

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
}

pub fn classifier(numeric: bool) -> Classifier {
    Classifier {
        ephemeral: collect::ephemeral_range(),
        services: (!numeric).then(Services::system),
    }
}

pub fn run(q: &Query, want_parents: bool) -> Result<Outcome, Error> {
    let classifier = classifier(q.numeric);
    let mut harvest = collect::harvest(&q.table)?;
    let mut warnings = std::mem::take(&mut harvest.warnings);
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
                    denied: 1,
                    ..OwnerScan::default()
                }
            }
        }
    };

    // Sockets nobody was found holding: still there (hidden), or closed meanwhile?
    let mut found = InodeSet::default();
    found.extend(scan.holders.iter().map(|&(i, _)| i));
    let unresolved = wanted.iter().any(|i| !found.contains(i));
    let still_present: Option<InodeSet> = if unresolved && !scan.stopped_early {
        collect::harvest(&q.table)
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
    let user_names: HashMap<u32, Option<String>> = sockets
        .iter()
        .map(|s| s.uid)
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .map(|u| (u, users.name(u)))
        .collect();

    let mut joined = join::join(
        sockets,
        ScanFacts {
            holders: &mut scan.holders,
            processes: &processes,
            denied: scan.denied > 0,
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
    })
}
