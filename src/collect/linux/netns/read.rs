//! Collect stage, Linux, every network namespace: reading one namespace's table. As root,
//! through a sock_diag socket made inside it (the namespaces entered on a few worker
//! threads, so several dumps run at once); otherwise, or when that fails, through
//! /proc/PID/net of a process inside it. What failed is kept, to say why a namespace could
//! not be read.

use super::super::netlink::{Diag, DiagError};
use super::super::nsfs::open_netns;
use super::super::nsid::Peers;
use super::super::procnet;
use super::Target;
use crate::fast_hash::InodeSet;
use crate::model::{Family, NetnsReason, SocketHarvest, TableQuery};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Opens a sock_diag socket inside the namespace at `path`: a thread enters it, creates
/// the socket and ends (the socket answers for the namespace it was created in; this
/// thread's namespace is never changed).
fn diag_in(path: &Path) -> std::io::Result<Diag> {
    in_namespace(path, Diag::open)?
}

/// Runs `f` on a short-lived thread inside the network namespace at `path` and returns
/// its answer; this thread's namespace never changes. What `f` creates there (a netlink
/// socket, a forked child) keeps answering for that namespace. Err: the namespace could
/// not be opened or entered.
pub fn in_namespace<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    let fd: OwnedFd = open_netns(path)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns on a namespace descriptor we own; it changes only this
            // short-lived thread, which runs `f` and ends.
            if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("namespace thread failed")))
    })
}

/// Reads one namespace through netlink, appending its sockets with `index`.
fn read_netlink(
    diag: &mut Diag,
    query: &TableQuery,
    index: u16,
    out: &mut Vec<SocketHarvest>,
) -> Result<(), String> {
    let start = out.len();
    for &proto in &query.protocols {
        for &family in &query.families {
            let before = out.len();
            if let Err(e) = diag.dump(proto, family, query, out) {
                // Drop this namespace's rows read so far too: the caller falls back to
                // /proc/PID/net for the whole namespace.
                let _ = before;
                out.truncate(start);
                return Err(match e {
                    DiagError::NoHandler => format!("no sock_diag handler for {proto}"),
                    DiagError::Io(e) => e.to_string(),
                });
            }
        }
    }
    for s in &mut out[start..] {
        s.netns = index;
    }
    Ok(())
}

/// Reads one namespace through /proc/PID/net of a member.
pub(super) fn read_procnet(
    pid: u32,
    query: &TableQuery,
    index: u16,
    out: &mut Vec<SocketHarvest>,
) -> std::io::Result<()> {
    let base = format!("/proc/{pid}/net");
    let start = out.len();
    for &proto in &query.protocols {
        for &family in &query.families {
            match procnet::read_table_at(&base, proto, family, query, out) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && family == Family::Ipv6 => {}
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            }
        }
    }
    for s in &mut out[start..] {
        s.netns = index;
    }
    Ok(())
}

/// The socket inodes of one process's namespace, read through /proc/PID/net: enough to
/// tell whether it is a namespace already read (a socket inode lives in one namespace).
pub(super) fn inodes_of(pid: u32) -> Option<InodeSet> {
    let mut out = Vec::new();
    read_procnet(pid, &TableQuery::everything(), 0, &mut out).ok()?;
    Some(out.iter().map(|s| s.inode).filter(|&i| i != 0).collect())
}

/// Where one namespace's rows came from, or why they could not be read.
pub(super) enum Read {
    Netlink,
    /// Through /proc/PID/net of this member.
    Procnet(u32),
    Failed(NetnsReason, String),
}

/// The reason a namespace could not be read, from the errors of every way tried: a
/// refusal anywhere is a permission matter; otherwise gone, not a namespace, or other.
fn failure(errors: &[io::ErrorKind]) -> NetnsReason {
    if errors.contains(&io::ErrorKind::PermissionDenied) {
        NetnsReason::PermissionDenied
    } else if errors.contains(&io::ErrorKind::InvalidInput) {
        NetnsReason::NotANamespace
    } else if errors.contains(&io::ErrorKind::NotFound) {
        NetnsReason::Gone
    } else {
        NetnsReason::Unreadable
    }
}

/// One namespace's netlink read: its rows (tagged with its index), or why not.
/// Err: what failed, with the error's kind where entering the namespace failed (it tells
/// a refusal from a namespace that is gone).
pub(super) type Dumped = Result<Vec<SocketHarvest>, (Option<io::ErrorKind>, String)>;

/// The netlink reads of every target entered through a path, on `workers` threads that
/// each enter one namespace after another (a thread per namespace cost more in thread
/// start-ups and hand-offs than the dumps, on a busy machine), so the dumps of several
/// namespaces run at once. Targets without a path (the current namespace) are left to the
/// caller's thread. A worker's namespace changes; no other thread's does.
pub(super) fn dump_entered(
    targets: &[Target],
    query: &TableQuery,
    workers: usize,
) -> Vec<Option<Dumped>> {
    let entered: Vec<usize> = (0..targets.len())
        .filter(|&i| targets[i].path.is_some())
        .collect();
    let mut results: Vec<Option<Dumped>> = (0..targets.len()).map(|_| None).collect();
    if entered.is_empty() {
        return results;
    }
    let workers = workers.clamp(1, entered.len());
    let done: Vec<Vec<(usize, Dumped)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let mine: Vec<usize> = entered.iter().copied().skip(w).step_by(workers).collect();
                s.spawn(move || {
                    mine.into_iter()
                        .map(|i| (i, dump_one(&targets[i], query, i as u16)))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for (i, d) in done.into_iter().flatten() {
        results[i] = Some(d);
    }
    results
}

/// On a worker thread: enters `t`'s namespace (this thread only; the entry is checked as
/// every namespace file is, never opened blocking) and dumps it.
fn dump_one(t: &Target, query: &TableQuery, index: u16) -> Dumped {
    let Some(path) = &t.path else {
        return Err((None, "entering it: no path".into()));
    };
    let entered = open_netns(path).map_err(io::Error::from).and_then(|fd| {
        // SAFETY: setns on a namespace descriptor we own; it changes only this worker
        // thread, which does nothing else but enter namespaces and dump them, and ends.
        match unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    });
    dump(entered.and_then(|()| Diag::open()), query, index)
}

/// A sock_diag socket answering for `t`'s namespace, made on this thread (or a short-lived
/// one inside the namespace).
pub(super) fn diag_for(t: &Target) -> io::Result<Diag> {
    match &t.path {
        None => Diag::open(),
        Some(p) => diag_in(p),
    }
}

/// On this thread: `t`'s namespace dumped through a socket made inside it.
fn dump_here(t: &Target, query: &TableQuery, index: u16) -> Dumped {
    dump(diag_for(t), query, index)
}

fn dump(diag: io::Result<Diag>, query: &TableQuery, index: u16) -> Dumped {
    let mut d = diag.map_err(|e| (Some(e.kind()), format!("entering it: {e}")))?;
    let mut out = Vec::new();
    read_netlink(&mut d, query, index, &mut out).map_err(|e| (None, format!("netlink: {e}")))?;
    Ok(out)
}

pub(super) fn read_target(
    t: &Target,
    query: &TableQuery,
    index: u16,
    (procnet_only, dumped): (bool, Option<Dumped>),
    peers: &mut Peers,
    out: &mut Vec<SocketHarvest>,
) -> Read {
    let mut why = Vec::new();
    let mut kinds = Vec::new();
    let dumped = match dumped {
        Some(d) => Some(d),
        None if !procnet_only => Some(dump_here(t, query, index)),
        None => None,
    };
    match dumped {
        Some(Ok(mut rows)) => {
            out.append(&mut rows);
            return Read::Netlink;
        }
        Some(Err((kind, e))) => {
            kinds.extend(kind);
            why.push(e);
        }
        None => {}
    }
    let member = t.member.or(t.netns.current.then(std::process::id));
    if member.is_none() {
        // Not enterable and no member known: the kernel may still say, by nsid, which
        // processes are inside; the first whose /proc/PID/net reads is the way in.
        if let Some(path) = &t.path {
            for pid in peers.members_of(path) {
                if read_procnet(pid, query, index, out).is_ok() {
                    return Read::Procnet(pid);
                }
            }
        }
    }
    match member {
        Some(pid) => match read_procnet(pid, query, index, out) {
            Ok(()) => Read::Procnet(pid),
            Err(e) => {
                kinds.push(e.kind());
                why.push(format!("/proc/{pid}/net: {e}"));
                Read::Failed(failure(&kinds), why.join("; "))
            }
        },
        None => {
            if kinds.contains(&io::ErrorKind::PermissionDenied) {
                why.push("no process inside it that this user may inspect".into());
            } else if procnet_only {
                why.push(
                    "no process inside it to read /proc/PID/net through (procnet does not enter namespaces)"
                        .into(),
                );
            }
            Read::Failed(failure(&kinds), why.join("; "))
        }
    }
}
