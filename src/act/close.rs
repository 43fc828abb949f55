//! Acting on a port, `close`: destroy the planned sockets in the kernel (SOCK_DESTROY)
//! while their processes live on; every socket not closed is named with the reason.

use super::{Plan, Report, SocketRef, Status, Step};
use crate::collect::linux::destroy::{Destroyer, KernelSocket};
use crate::model::{Family, Protocol};
use std::io;

/// Finds the kernel's record of a planned socket: by inode, or for a socket no process
/// holds (inode 0, time_wait and the like) by its two ends.
fn find<'a>(found: &'a [KernelSocket], s: &SocketRef) -> Option<&'a KernelSocket> {
    found.iter().find(|k| {
        k.protocol == s.protocol
            && if s.inode != 0 {
                k.inode == s.inode
            } else {
                k.inode == 0 && k.local == s.local && k.remote == s.remote
            }
    })
}

/// Every socket of the planned (protocol, family) tables on the planned ports, now.
fn dump(d: &mut Destroyer, sockets: &[SocketRef]) -> io::Result<Vec<KernelSocket>> {
    let mut out = Vec::new();
    for proto in Protocol::ALL {
        for family in Family::ALL {
            let mut ranges: Vec<(u16, u16)> = sockets
                .iter()
                .filter(|s| s.protocol == proto && Family::of(&s.local.address) == family)
                .map(|s| (s.local.port, s.local.port))
                .collect();
            ranges.sort_unstable();
            ranges.dedup();
            if !ranges.is_empty() {
                out.extend(d.find(proto, family, &ranges)?);
            }
        }
    }
    Ok(out)
}

/// What an errno from SOCK_DESTROY means, and the status it leads to.
fn failure(e: &io::Error) -> (Status, String) {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => (
            Status::Hidden,
            "permission denied: destroying a socket needs CAP_NET_ADMIN".into(),
        ),
        Some(libc::EOPNOTSUPP) => (
            Status::Error,
            "not supported: this kernel was built without CONFIG_INET_DIAG_DESTROY".into(),
        ),
        Some(libc::ENOENT) => (
            Status::Changed,
            "closed or replaced before it could be destroyed".into(),
        ),
        _ => (Status::Error, e.to_string()),
    }
}

/// Which of several failures decides the exit status: an error first, then a change,
/// then a refusal.
fn worse(a: Status, b: Status) -> Status {
    let rank = |s| match s {
        Status::Error => 4,
        Status::Changed => 3,
        Status::Hidden => 2,
        Status::StillHeld => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

pub fn execute(plan: &Plan) -> anyhow::Result<Report> {
    let mut report = Report::new(Status::Freed);
    let mut d = Destroyer::open()?;
    let found = dump(&mut d, &plan.sockets)?;
    let mut done = Vec::new();
    for s in &plan.sockets {
        let pid = s.pids.first().copied();
        let result = match find(&found, s) {
            None => Err((
                Status::Changed,
                "closed or replaced before it could be destroyed".to_string(),
            )),
            Some(k) => d.destroy(k).map_err(|e| failure(&e)),
        };
        let error = match result {
            Ok(()) => {
                done.push(s.clone());
                None
            }
            Err((status, why)) => {
                report.status = worse(report.status, status);
                Some(why)
            }
        };
        report.steps.push(Step {
            pid,
            process: None,
            socket: Some(s.clone()),
            action: if error.is_none() {
                "destroyed".into()
            } else {
                "skipped".into()
            },
            error,
        });
    }
    // Proof, not hope: a destroyed socket no longer exists in the state it was in.
    let after = dump(&mut d, &done)?;
    for s in &done {
        let now = find(&after, s);
        if s.state == crate::model::SockState::Listen && now.is_some_and(|k| k.state_code == 7) {
            report.still_bound.push(s.clone());
            report.notes.push(format!(
                "{} {} no longer listens, but the dead descriptor keeps the port bound (state closed) until its process closes it: a server that binds with SO_REUSEADDR can take it now",
                s.protocol, s.local
            ));
        }
        if now.is_some_and(|k| same_state(k, s)) {
            report.status = worse(report.status, Status::StillHeld);
            report.notes.push(if s.protocol == Protocol::Udp {
                format!(
                    "udp {} is still bound after SOCK_DESTROY: for UDP the kernel only aborts the calls pending on it and keeps a port bound explicitly; end its process (portscope kill) to free the port",
                    s.local
                )
            } else {
                format!("{} {} is still there after SOCK_DESTROY", s.protocol, s.local)
            });
        }
    }
    Ok(report)
}

fn same_state(k: &KernelSocket, s: &SocketRef) -> bool {
    use crate::model::SockState;
    let code = match (s.protocol, s.state) {
        (Protocol::Tcp, SockState::Listen) => 10,
        (Protocol::Tcp, SockState::Established) => 1,
        (Protocol::Udp, SockState::Unconnected) => 7,
        (Protocol::Udp, SockState::Connected) => 1,
        _ => return false,
    };
    k.state_code == code
}
