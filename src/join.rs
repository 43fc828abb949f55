//! Join stage: attaches to every socket all the processes that hold it, and says why when
//! none can be shown. Pure: the scan results come in as data.

use crate::collect::fast_hash::InodeSet;
use crate::collect::ProcessTable;
use crate::model::{Owner, PortClass, SockState, Socket, SocketHarvest};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

pub const REASON_DENIED: &str =
    "permission denied: held by a process portscope cannot inspect; run as root";
pub const REASON_NAMESPACE: &str =
    "no process in this PID namespace holds it (another namespace or a kernel socket)";
pub const REASON_CLOSED: &str = "closed during the scan";
pub const REASON_EXITED: &str = "process exited during the scan";
pub const REASON_NOT_SEARCHED: &str = "not searched: --first stopped at the first owner";
pub const REASON_NO_PROC: &str = "/proc could not be read: owner unknown";

/// Why a socket with no inode has no process: the kernel holds it alone.
pub fn kernel_reason(state: SockState) -> &'static str {
    match state {
        SockState::TimeWait => "kernel-held (time_wait)",
        SockState::SynReceived => "kernel-held (handshake in progress)",
        SockState::Established | SockState::CloseWait => {
            "kernel-held (in a listener's accept queue, not yet accepted)"
        }
        SockState::FinWait1 | SockState::FinWait2 | SockState::Closing | SockState::LastAck => {
            "kernel-held (orphaned: closed by its process, the kernel finishes the close)"
        }
        _ => "kernel-held (no file descriptor)",
    }
}

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
    /// Inodes still in the kernel's tables after the scan; None when not re-checked.
    pub still_present: Option<&'a InodeSet>,
    /// User names for socket UIDs.
    pub user_names: &'a HashMap<u32, Option<Arc<str>>>,
}

pub fn join(harvest: Vec<SocketHarvest>, facts: ScanFacts<'_>) -> Vec<Socket> {
    facts.holders.sort_unstable();
    facts.holders.dedup();
    let holders: &[(u64, u32)] = facts.holders;
    harvest
        .into_iter()
        .map(|h| {
            let start = holders.partition_point(|&(i, _)| i < h.inode);
            let end = start + holders[start..].partition_point(|&(i, _)| i == h.inode);
            let pids = &holders[start..end];
            let mut processes: Vec<_> = pids
                .iter()
                .filter_map(|&(_, pid)| facts.processes.get(&pid).cloned())
                .collect();
            processes.sort_by_key(|p| p.pid);
            let (owner, reason) = if h.inode == 0 {
                (Owner::None, Some(kernel_reason(h.state)))
            } else if !processes.is_empty() {
                (Owner::Visible, None)
            } else if !pids.is_empty() {
                (Owner::None, Some(REASON_EXITED))
            } else if facts.still_present.is_some_and(|s| !s.contains(&h.inode)) {
                (Owner::None, Some(REASON_CLOSED))
            } else if facts.proc_unavailable {
                (Owner::Hidden, Some(REASON_NO_PROC))
            } else if facts.stopped_early {
                (Owner::Hidden, Some(REASON_NOT_SEARCHED))
            } else if facts.denied {
                (Owner::Hidden, Some(REASON_DENIED))
            } else {
                (Owner::Hidden, Some(REASON_NAMESPACE))
            };
            Socket {
                protocol: h.protocol,
                family: h.family,
                v6only: h.v6only,
                local: h.local,
                remote: h.remote,
                state: h.state,
                port_class: PortClass::WellKnown, // set by classify
                ephemeral: false,
                service: None,
                recv_queue: h.recv_queue,
                send_queue: h.send_queue,
                inode: h.inode,
                uid: h.uid,
                // The kernel gives mini-sockets (time_wait, requests) uid 0: no user.
                user: if h.inode == 0 {
                    None
                } else {
                    facts.user_names.get(&h.uid).cloned().flatten()
                },
                owner,
                owner_reason: reason.map(Cow::Borrowed),
                processes,
            }
        })
        .collect()
}

/// One line summing up the owners that are not shown, by reason; None when all are.
pub fn hidden_summary(sockets: &[Socket]) -> Option<String> {
    let mut by_reason: Vec<(&str, usize)> = Vec::new();
    for s in sockets {
        if let Some(r) = s.owner_reason.as_deref() {
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

    fn h(inode: u64, state: SockState) -> SocketHarvest {
        SocketHarvest {
            protocol: Protocol::Tcp,
            family: Family::Ipv4,
            local: Endpoint {
                address: "127.0.0.1".parse().unwrap(),
                port: 8080,
            },
            remote: None,
            state,
            v6only: None,
            recv_queue: 0,
            send_queue: 0,
            inode,
            uid: 0,
        }
    }

    fn proc_(pid: u32) -> Process {
        Process {
            pid,
            name: format!("p{pid}"),
            cmdline: vec![],
            user: Some("root".into()),
            uid: Some(0),
            ppid: Some(1),
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
                still_present: Some(&still),
                user_names: &names,
            },
        );
        let pids: Vec<u32> = out[0].processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, vec![100, 200]);
        assert_eq!(out[0].owner, Owner::Visible);
        assert_eq!(out[0].user.as_deref(), Some("root"));
        assert_eq!(out[1].processes[0].pid, 300);
        assert_eq!(out[2].owner, Owner::None);
        assert_eq!(out[2].owner_reason.as_deref(), Some(REASON_EXITED));
        assert_eq!(out[3].owner, Owner::None);
        assert_eq!(
            out[3].owner_reason.as_deref(),
            Some("kernel-held (time_wait)")
        );
        assert_eq!(out[4].owner, Owner::Hidden);
        assert_eq!(out[4].owner_reason.as_deref(), Some(REASON_DENIED));
        assert_eq!(out[5].owner, Owner::None);
        assert_eq!(out[5].owner_reason.as_deref(), Some(REASON_CLOSED));
        let summary = hidden_summary(&out).unwrap();
        assert!(
            summary.starts_with("4 sockets shown without an owner ('-'): "),
            "{summary}"
        );
        assert!(summary.contains("1 kernel-held (time_wait)"));
        assert_eq!(hidden_summary(&out[..2]), None);
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
                still_present: None,
                user_names: &names,
            },
        );
        assert_eq!(out[0].owner, Owner::Hidden);
        assert_eq!(out[0].owner_reason.as_deref(), Some(REASON_NAMESPACE));
    }
}
