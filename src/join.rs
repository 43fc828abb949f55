//! Join stage: attaches to every socket all the processes that hold it, and says why when
//! none can be shown. Pure: the scan results and the classification come in as data.

use crate::classify::Classification;
use crate::fast_hash::{InodeMap, InodeSet};
use crate::model::{Netns, Owner, OwnerReason, Process, ProcessTable, Socket, SocketHarvest};
use std::collections::HashMap;
use std::sync::Arc;

/// What the owner scan learnt, beyond the holders themselves.
pub struct ScanFacts<'a> {
    /// (inode, pid), any order, duplicates allowed.
    pub holders: &'a mut Vec<(u64, u32)>,
    pub processes: &'a ProcessTable,
    /// Some descriptor tables could not be read.
    pub denied: bool,
    /// /proc could not be read at all.
    pub proc_unavailable: bool,
    /// The scan stopped at the first holder.
    pub stopped_early: bool,
    /// No owner source ran (--owner-source none).
    pub not_looked_up: bool,
    /// The owner source the user chose failed: nothing was looked up.
    pub source_failed: bool,
    /// Some descriptor tables could not be opened: portscope ran out of descriptors.
    pub fd_limited: bool,
    /// Every process on the host was visible to the scan (root in the initial PID
    /// namespace, no hidepid): a socket nobody holds is then held by no process at all.
    pub sees_every_process: bool,
    /// (inode, pid, tid): holders found in a thread's own descriptor table.
    pub thread_holders: &'a [(u64, u32, u32)],
    /// The namespaces the harvest read; a socket's `netns` indexes this.
    pub namespaces: &'a [Arc<Netns>],
    /// cgroup id → path, for the sockets' `cgroup`.
    pub cgroups: &'a HashMap<u64, Arc<str>>,
    /// Inodes still in the kernel's tables after the scan; None when not re-checked.
    pub still_present: Option<&'a InodeSet>,
    /// User names for socket UIDs.
    pub user_names: &'a HashMap<u32, Option<Arc<str>>>,
}

/// Why nobody is shown for a socket that has an inode, no visible holder, and `pids`
/// found by the scan (whose details were lost: they exited).
fn reason(inode: u64, pids: &[(u64, u32)], facts: &ScanFacts<'_>) -> (Owner, OwnerReason) {
    if facts.source_failed {
        (Owner::Hidden, OwnerReason::SourceFailed)
    } else if facts.not_looked_up {
        (Owner::Hidden, OwnerReason::NotLookedUp)
    } else if !pids.is_empty() {
        (Owner::None, OwnerReason::Exited)
    } else if facts.still_present.is_some_and(|s| !s.contains(&inode)) {
        (Owner::None, OwnerReason::Closed)
    } else if facts.proc_unavailable {
        (Owner::Hidden, OwnerReason::ProcUnreadable)
    } else if facts.fd_limited {
        (Owner::Hidden, OwnerReason::FdLimit)
    } else if facts.stopped_early {
        (Owner::Hidden, OwnerReason::NotSearched)
    } else if facts.denied {
        (Owner::Hidden, OwnerReason::Denied)
    } else if facts.sees_every_process {
        (Owner::None, OwnerReason::NoDescriptor)
    } else {
        (Owner::Hidden, OwnerReason::Namespace)
    }
}

/// The process record, naming the thread when the socket sits in a thread's own table.
fn with_tid(p: &Arc<Process>, inode: u64, facts: &ScanFacts<'_>) -> Arc<Process> {
    match facts
        .thread_holders
        .iter()
        .find(|&&(i, pid, _)| i == inode && pid == p.pid)
    {
        Some(&(_, _, tid)) => Arc::new(Process {
            tid: Some(tid),
            ..(**p).clone()
        }),
        None => Arc::clone(p),
    }
}

/// Where each inode's run of holders is in `holders` (sorted by inode): one hash lookup a
/// socket instead of two binary searches, which cost more than the rest of the join on
/// 10,000 sockets (each step a dependent load).
fn runs_by_inode(holders: &[(u64, u32)]) -> InodeMap<std::ops::Range<usize>> {
    let mut runs = InodeMap::default();
    runs.reserve(holders.len());
    let mut start = 0;
    for (i, w) in holders.windows(2).enumerate() {
        if w[0].0 != w[1].0 {
            runs.insert(w[0].0, start..i + 1);
            start = i + 1;
        }
    }
    if let Some(&(inode, _)) = holders.last() {
        runs.insert(inode, start..holders.len());
    }
    runs
}

/// What the rows take from the sockets themselves, known before any owner is.
pub struct SocketFacts<'a> {
    /// The namespaces the harvest read; a socket's `netns` indexes this.
    pub namespaces: &'a [Arc<Netns>],
    /// cgroup id → path, for the sockets' `cgroup`.
    pub cgroups: &'a HashMap<u64, Arc<str>>,
    /// User names for socket UIDs.
    pub user_names: &'a HashMap<u32, Option<Arc<str>>>,
}

/// Every socket as a row, its owners not yet attached ([`attach_owners`] does that): all
/// a row says of the socket itself needs no owner scan, so the pipeline builds the rows
/// while a scan runs.
pub fn rows(harvest: &[(SocketHarvest, Classification)], facts: &SocketFacts<'_>) -> Vec<Socket> {
    // A service name is shared by every row on its port: one allocation per name.
    let mut services: HashMap<&'static str, Arc<str>> = HashMap::new();
    let current = Arc::new(Netns::current(None));
    harvest
        .iter()
        .map(|(h, class)| Socket {
            netns: facts
                .namespaces
                .get(usize::from(h.netns))
                .map_or_else(|| Arc::clone(&current), Arc::clone),
            cgroup: h.cgroup_id.and_then(|id| facts.cgroups.get(&id).cloned()),
            protocol: h.protocol,
            family: h.family,
            v6only: h.v6only,
            local: h.local,
            remote: h.remote,
            state: h.state,
            port_class: class.port_class,
            ephemeral: class.ephemeral,
            service: class
                .service
                .map(|n| Arc::clone(services.entry(n).or_insert_with(|| Arc::from(n)))),
            recv_queue: h.recv_queue,
            send_queue: h.send_queue,
            inode: h.inode,
            uid: h.uid,
            user: h
                .uid
                .and_then(|u| facts.user_names.get(&u).cloned().flatten()),
            owner: Owner::None,
            owner_reason: None,
            owner_reason_code: None,
            placement: Default::default(),
            processes: Vec::new(),
        })
        .collect()
}

/// Attaches to every row all the processes that hold its socket, or the reason none is
/// shown.
pub fn attach_owners(rows: &mut [Socket], facts: ScanFacts<'_>) {
    facts.holders.sort_unstable();
    facts.holders.dedup();
    let holders: &[(u64, u32)] = facts.holders;
    let runs = runs_by_inode(holders);
    for row in rows {
        let pids = runs
            .get(&row.inode)
            .map_or(&[][..], |r| &holders[r.clone()]);
        let mut processes: Vec<_> = pids
            .iter()
            .filter_map(|&(_, pid)| {
                facts
                    .processes
                    .get(&pid)
                    .map(|p| with_tid(p, row.inode, &facts))
            })
            .collect();
        processes.sort_by_key(|p| p.pid);
        let (owner, reason) = if row.inode == 0 {
            (Owner::None, Some(OwnerReason::kernel_held(row.state)))
        } else if !processes.is_empty() {
            (Owner::Visible, None)
        } else {
            let (o, r) = reason(row.inode, pids, &facts);
            (o, Some(r))
        };
        row.owner = owner;
        row.owner_reason = reason;
        row.owner_reason_code = reason.map(OwnerReason::code);
        row.processes = processes;
    }
}

/// [`rows`] and [`attach_owners`] in one step.
pub fn join(harvest: Vec<(SocketHarvest, Classification)>, facts: ScanFacts<'_>) -> Vec<Socket> {
    let mut out = rows(
        &harvest,
        &SocketFacts {
            namespaces: facts.namespaces,
            cgroups: facts.cgroups,
            user_names: facts.user_names,
        },
    );
    attach_owners(&mut out, facts);
    out
}

/// What to tell a user about owners portscope could not see: run as root, unless it
/// already runs as root (then another PID namespace or the kernel's ptrace rules hide
/// them, and running as root again would change nothing).
pub fn hidden_hint(as_root: bool) -> &'static str {
    if as_root {
        "hidden even from root here: another PID namespace or the kernel's ptrace rules"
    } else {
        "run as root"
    }
}

/// A reason as the note on stderr words it. To root, "run as root" is no advice: what
/// refuses root a process's descriptors is the kernel's ptrace check (no CAP_SYS_PTRACE
/// over the process, as for a container's root; Yama; another LSM). The JSON keeps the
/// published reason.
pub fn note_text(r: OwnerReason, as_root: bool) -> &'static str {
    match r {
        OwnerReason::Denied if as_root => {
            "permission denied: held by a process whose descriptors the kernel refuses even to root here (ptrace rules: no CAP_SYS_PTRACE over it, Yama or another security module)"
        }
        OwnerReason::Denied => {
            "permission denied: held by a process whose descriptors portscope may not read; run as root"
        }
        _ => r.as_str(),
    }
}

/// One line summing up the owners that are not shown, by reason; None when all are.
/// (`as_root`: portscope runs as root, which changes the advice: see [`note_text`].)
pub fn hidden_summary(sockets: &[Socket], as_root: bool) -> Option<String> {
    let mut by_reason: Vec<(&str, usize)> = Vec::new();
    for s in sockets {
        if let Some(r) = s.owner_reason.map(|r| note_text(r, as_root)) {
            match by_reason.iter_mut().find(|(k, _)| *k == r) {
                Some((_, n)) => *n += 1,
                None => by_reason.push((r, 1)),
            }
        }
    }
    if by_reason.is_empty() {
        return None;
    }
    let total: usize = by_reason.iter().map(|(_, n)| n).sum();
    by_reason.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = by_reason.iter().map(|(r, n)| format!("{n} {r}")).collect();
    let noun = if total == 1 { "socket" } else { "sockets" };
    Some(format!(
        "{total} {noun} shown without an owner ('-'): {}",
        parts.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    #[test]
    fn runs_by_inode_covers_each_inodes_holders_exactly() {
        let holders = [(5, 1), (5, 2), (7, 3), (9, 4), (9, 5), (9, 6)];
        let runs = runs_by_inode(&holders);
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[&5], 0..2);
        assert_eq!(runs[&7], 2..3);
        assert_eq!(runs[&9], 3..6);
        assert!(runs_by_inode(&[]).is_empty());
        assert_eq!(runs_by_inode(&[(1, 1)])[&1], 0..1);
    }

    fn h(inode: u64, state: SockState) -> (SocketHarvest, Classification) {
        let class = Classification {
            port_class: PortClass::Registered,
            ephemeral: false,
            service: Some("http-alt"),
        };
        let rec = SocketHarvest {
            netns: 0,
            protocol: Protocol::Tcp,
            family: Family::Ipv4,
            local: Endpoint {
                address: "127.0.0.1".parse().unwrap(),
                port: 8080,
            },
            remote: None,
            state,
            v6only: None,
            recv_queue: Some(0),
            send_queue: Some(0),
            inode,
            uid: (inode != 0).then_some(0),
            cgroup_id: None,
        };
        (rec, class)
    }

    fn proc_(pid: u32) -> Process {
        Process {
            pid,
            name: format!("p{pid}"),
            cmdline: vec![],
            user: Some("root".into()),
            uid: Some(0),
            ppid: Some(1),
            tid: None,
            container: None,
            unit: None,
        }
    }

    #[test]
    fn every_holder_is_listed_and_reasons_are_given() {
        let mut holders = vec![(10, 200), (10, 100), (10, 100), (11, 300), (12, 999)];
        let procs: ProcessTable = [(100, proc_(100)), (200, proc_(200)), (300, proc_(300))]
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect();
        let mut still = InodeSet::default();
        still.insert(13);
        let names: HashMap<u32, Option<Arc<str>>> = [(0, Some("root".into()))].into();
        let out = join(
            vec![
                h(10, SockState::Listen),
                h(11, SockState::Established),
                h(12, SockState::Listen),
                h(0, SockState::TimeWait),
                h(13, SockState::Listen),
                h(14, SockState::Listen),
            ],
            ScanFacts {
                holders: &mut holders,
                processes: &procs,
                denied: true,
                proc_unavailable: false,
                stopped_early: false,
                not_looked_up: false,
                source_failed: false,
                fd_limited: false,
                sees_every_process: false,
                thread_holders: &[],
                namespaces: &[],
                cgroups: &HashMap::new(),
                still_present: Some(&still),
                user_names: &names,
            },
        );
        let pids: Vec<u32> = out[0].processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, vec![100, 200]);
        assert_eq!(out[0].owner, Owner::Visible);
        assert_eq!(out[0].user.as_deref(), Some("root"));
        assert_eq!(out[0].service.as_deref(), Some("http-alt"));
        assert_eq!(out[0].port_class, PortClass::Registered);
        assert_eq!(out[1].processes[0].pid, 300);
        assert_eq!(out[2].owner, Owner::None);
        assert_eq!(out[2].owner_reason, Some(OwnerReason::Exited));
        assert_eq!(out[3].owner, Owner::None);
        assert_eq!(out[3].owner_reason, Some(OwnerReason::KernelTimeWait));
        assert_eq!(out[3].user, None);
        assert_eq!(out[4].owner, Owner::Hidden);
        assert_eq!(out[4].owner_reason, Some(OwnerReason::Denied));
        assert_eq!(out[5].owner, Owner::None);
        assert_eq!(out[5].owner_reason, Some(OwnerReason::Closed));
        let summary = hidden_summary(&out, false).unwrap();
        assert!(
            summary.starts_with("4 sockets shown without an owner ('-'): "),
            "{summary}"
        );
        assert!(summary.contains("1 kernel-held (time_wait)"));
        assert!(summary.contains(
            "1 permission denied: held by a process whose descriptors portscope may not read; run as root"
        ));
        assert_eq!(hidden_summary(&out[..2], false), None);
        // As root, the note never tells root to run as root.
        let summary = hidden_summary(&out, true).unwrap();
        assert!(!summary.contains("run as root"), "{summary}");
        assert!(summary.contains("1 permission denied: held by a process whose descriptors the kernel refuses even to root here"), "{summary}");
        assert!(summary.contains("1 kernel-held (time_wait)"));
        assert_eq!(hidden_hint(false), "run as root");
        assert!(!hidden_hint(true).contains("run as root"));
    }

    #[test]
    fn owner_source_none_says_not_looked_up() {
        let mut holders = vec![];
        let names = HashMap::new();
        let out = join(
            vec![h(5, SockState::Listen), h(0, SockState::TimeWait)],
            ScanFacts {
                holders: &mut holders,
                processes: &ProcessTable::new(),
                denied: true,
                proc_unavailable: false,
                stopped_early: false,
                not_looked_up: true,
                source_failed: false,
                fd_limited: false,
                sees_every_process: false,
                thread_holders: &[],
                namespaces: &[],
                cgroups: &HashMap::new(),
                still_present: None,
                user_names: &names,
            },
        );
        assert_eq!(out[0].owner, Owner::Hidden);
        assert_eq!(out[0].owner_reason, Some(OwnerReason::NotLookedUp));
        assert!(!OwnerReason::NotLookedUp.is_partial());
        // The kernel's own sockets need no lookup to explain.
        assert_eq!(out[1].owner_reason, Some(OwnerReason::KernelTimeWait));
    }

    #[test]
    fn owner_reasons_serialise_to_the_published_strings() {
        // The JSON contract, spelled out literally (README "Owner reasons").
        let published = [
            (
                OwnerReason::Denied,
                "permission denied: held by a process whose descriptors portscope may not read",
            ),
            (
                OwnerReason::Namespace,
                "no process in this PID namespace holds it (another namespace or a kernel socket)",
            ),
            (OwnerReason::Closed, "closed during the scan"),
            (OwnerReason::Exited, "process exited during the scan"),
            (
                OwnerReason::NotSearched,
                "not searched: --first stopped at the first owner",
            ),
            (
                OwnerReason::ProcUnreadable,
                "/proc could not be read: owner unknown",
            ),
            (OwnerReason::KernelTimeWait, "kernel-held (time_wait)"),
            (
                OwnerReason::KernelAcceptQueue,
                "kernel-held (in a listener's accept queue, not yet accepted)",
            ),
        ];
        for (r, text) in published {
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{text}\""));
            let back: OwnerReason = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(back, r);
        }
        assert!(serde_json::from_str::<OwnerReason>("\"made up\"").is_err());
    }

    #[test]
    fn namespace_reason_without_denials() {
        let mut holders = vec![];
        let names = HashMap::new();
        let out = join(
            vec![h(5, SockState::Listen)],
            ScanFacts {
                holders: &mut holders,
                processes: &ProcessTable::new(),
                denied: false,
                proc_unavailable: false,
                stopped_early: false,
                not_looked_up: false,
                source_failed: false,
                fd_limited: false,
                sees_every_process: false,
                thread_holders: &[],
                namespaces: &[],
                cgroups: &HashMap::new(),
                still_present: None,
                user_names: &names,
            },
        );
        assert_eq!(out[0].owner, Owner::Hidden);
        assert_eq!(out[0].owner_reason, Some(OwnerReason::Namespace));
    }
}
