//! Collect stage, Linux: every network namespace on the machine. Finds them (the
//! `/proc/*/ns/net` links of running processes, `ip netns` names in /run/netns, docker's
//! /run/docker/netns) and reads each one's socket table: as root through a sock_diag
//! socket created inside it (setns on a short-lived thread: the socket keeps answering
//! for that namespace), otherwise through /proc/PID/net of a member process, which even
//! an unprivileged user may read. A namespace that cannot be read is named in a warning,
//! never silently dropped.
//!
//! Identity: socket inodes come from one counter for the whole machine (sockfs), so an
//! inode names one socket across every namespace; (namespace, inode) is kept anyway, so
//! the output never conflates the same address and port bound in two namespaces.

use super::netlink::{Diag, DiagError};
use super::nsfs::{checked_inode, open_netns};
use super::nsid::Peers;
use super::procdir::pids;
use super::procnet;
use crate::collect::{Harvest, NetnsChoice, TableSource};
use crate::error::Error;
use crate::fast_hash::InodeSet;
use crate::model::{
    Family, Netns, NetnsReason, NetnsSource, SocketHarvest, TableQuery, TableSourceKind,
};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One namespace to read, and how it can be reached.
#[derive(Debug, Clone)]
pub struct Target {
    pub netns: Arc<Netns>,
    /// An nsfs path to setns into (None for the current namespace).
    pub path: Option<PathBuf>,
    /// A process inside it, for /proc/PID/net.
    pub member: Option<u32>,
}

/// The inode of an nsfs file (or of the namespace a /proc/PID/ns/net link names).
fn ns_inode(path: &Path) -> std::io::Result<u64> {
    std::fs::metadata(path).map(|m| m.ino())
}

pub fn current_inode() -> Option<u64> {
    ns_inode(Path::new("/proc/self/ns/net")).ok()
}

/// A bind-mounted namespace: (inode, its `ip netns` name, its path).
type Mounted = (u64, Option<String>, PathBuf);

/// Named namespaces: /run/netns (ip netns) and /run/docker/netns (docker sandboxes). An
/// entry that is not a network namespace (a FIFO, a regular file, a stale mount) is
/// returned apart, to be named, never opened for reading.
fn bind_mounted() -> (Vec<Mounted>, Vec<NetnsSource>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (dir, named) in [("/run/netns", true), ("/run/docker/netns", false)] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = named.then(|| e.file_name().to_string_lossy().into_owned());
            match checked_inode(&path) {
                Ok(ino) => out.push((ino, name, path)),
                Err(err) => {
                    let mut s = NetnsSource::unread(None, name, err.reason, err.detail);
                    s.path = Some(path.display().to_string());
                    skipped.push(s);
                }
            }
        }
    }
    (out, skipped)
}

/// What `--netns all` found: the namespaces to read, the PIDs whose namespace link may not
/// be read (read later through /proc/PID/net), and the entries that are not namespaces.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    pub targets: Vec<Target>,
    pub unidentified: Vec<u32>,
    pub skipped: Vec<NetnsSource>,
}

/// Every namespace in use. `unidentified`: PIDs whose namespace link we may not read
/// (another user's process, without root): read later through /proc/PID/net.
pub fn discover_all() -> Discovery {
    let current = current_inode();
    let mut by_inode: HashMap<u64, Target> = HashMap::new();
    let mut order: Vec<u64> = Vec::new();
    let mut add = |ino: u64, t: Target, order: &mut Vec<u64>| {
        by_inode
            .entry(ino)
            .and_modify(|old| {
                if old.member.is_none() {
                    old.member = t.member;
                }
                if old.netns.name.is_none() && t.netns.name.is_some() {
                    old.netns = Arc::clone(&t.netns);
                    old.path = t.path.clone();
                }
            })
            .or_insert_with(|| {
                order.push(ino);
                t
            });
    };
    if let Some(ino) = current {
        let t = Target {
            netns: Arc::new(Netns::current(Some(ino))),
            path: None,
            member: Some(std::process::id()),
        };
        add(ino, t, &mut order);
    }
    let (mounted, skipped) = bind_mounted();
    for (ino, name, path) in mounted {
        let t = Target {
            netns: Arc::new(Netns {
                inode: Some(ino),
                name,
                current: Some(ino) == current,
            }),
            path: Some(path),
            member: None,
        };
        add(ino, t, &mut order);
    }
    let mut unidentified = Vec::new();
    for pid in pids() {
        let link = PathBuf::from(format!("/proc/{pid}/ns/net"));
        match ns_inode(&link) {
            Ok(ino) => {
                let t = Target {
                    netns: Arc::new(Netns {
                        inode: Some(ino),
                        name: None,
                        current: Some(ino) == current,
                    }),
                    path: Some(link),
                    member: Some(pid),
                };
                add(ino, t, &mut order);
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => unidentified.push(pid),
            Err(_) => {} // exited, or a kernel thread without a namespace link
        }
    }
    let targets = order
        .into_iter()
        .filter_map(|i| by_inode.remove(&i))
        .collect();
    Discovery {
        targets,
        unidentified,
        skipped,
    }
}

/// One named namespace (`--netns NAME|PID|PATH`), or a clear error naming the value.
pub fn resolve(choice: &NetnsChoice) -> Result<Target, Error> {
    let current = current_inode();
    let (path, name, member, what, value) = match choice {
        NetnsChoice::Name(n) => {
            if n.is_empty() || n.contains('/') || n == "." || n == ".." {
                return Err(Error::invalid(
                    "network namespace",
                    n,
                    "not an ip netns name",
                ));
            }
            let p = PathBuf::from("/run/netns").join(n);
            (p, Some(n.clone()), None, "network namespace", n.clone())
        }
        NetnsChoice::Pid(pid) => (
            PathBuf::from(format!("/proc/{pid}/ns/net")),
            None,
            Some(*pid),
            "network namespace of pid",
            pid.to_string(),
        ),
        NetnsChoice::Path(p) => (
            p.clone(),
            None,
            None,
            "network namespace file",
            p.display().to_string(),
        ),
        NetnsChoice::Current | NetnsChoice::All => {
            return Ok(Target {
                netns: Arc::new(Netns::current(current)),
                path: None,
                member: Some(std::process::id()),
            })
        }
    };
    let ino = match checked_inode(&path) {
        Ok(ino) => ino,
        // It exists, but this user may not open it (another user's process): reading it
        // may still work through /proc/PID/net, or it is reported unreadable (exit 3).
        Err(e) if e.reason == NetnsReason::PermissionDenied => {
            return Ok(Target {
                netns: Arc::new(Netns {
                    inode: None,
                    name,
                    current: false,
                }),
                path: Some(path),
                member,
            })
        }
        // Not there or not a namespace: bad input (exit 2).
        Err(e) => return Err(Error::invalid(what, value, e.detail)),
    };
    let name = name.or_else(|| {
        bind_mounted()
            .0
            .into_iter()
            .find(|(i, n, _)| *i == ino && n.is_some())
            .and_then(|(_, n, _)| n)
    });
    Ok(Target {
        netns: Arc::new(Netns {
            inode: Some(ino),
            name,
            current: Some(ino) == current,
        }),
        path: Some(path),
        member,
    })
}

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
fn read_procnet(
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
fn inodes_of(pid: u32) -> Option<InodeSet> {
    let mut out = Vec::new();
    read_procnet(pid, &TableQuery::everything(), 0, &mut out).ok()?;
    Some(out.iter().map(|s| s.inode).filter(|&i| i != 0).collect())
}

/// `--netns` other than current: reads each chosen namespace, netlink first.
pub struct NamespacedTables {
    choice: NetnsChoice,
    /// netlink (auto) or procnet only.
    procnet_only: bool,
    /// Resolved once and kept for the re-check, so identities stay put.
    targets: Option<Discovery>,
    /// A namespace that exists but cannot be read ends the harvest with an error (exit
    /// 3) instead of a warning: for a namespace named explicitly, and for commands that
    /// act or answer "free" (kill, close, wait, why).
    refuse_unreadable: bool,
}

impl NamespacedTables {
    pub fn new(choice: NetnsChoice, procnet_only: bool) -> Result<NamespacedTables, Error> {
        let targets = match &choice {
            NetnsChoice::All => None,
            other => Some(Discovery {
                targets: vec![resolve(other)?],
                ..Discovery::default()
            }),
        };
        Ok(NamespacedTables {
            refuse_unreadable: choice != NetnsChoice::All,
            choice,
            procnet_only,
            targets,
        })
    }
}

/// Where one namespace's rows came from, or why they could not be read.
enum Read {
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
type Dumped = Result<Vec<SocketHarvest>, (Option<io::ErrorKind>, String)>;

/// The netlink reads of every target entered through a path, on `workers` threads that
/// each enter one namespace after another (a thread per namespace cost more in thread
/// start-ups and hand-offs than the dumps, on a busy machine), so the dumps of several
/// namespaces run at once. Targets without a path (the current namespace) are left to the
/// caller's thread. A worker's namespace changes; no other thread's does.
fn dump_entered(targets: &[Target], query: &TableQuery, workers: usize) -> Vec<Option<Dumped>> {
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

/// On this thread: `t`'s namespace dumped through a socket made inside it.
fn dump_here(t: &Target, query: &TableQuery, index: u16) -> Dumped {
    let diag = match &t.path {
        None => Diag::open(),
        Some(p) => diag_in(p),
    };
    dump(diag, query, index)
}

fn dump(diag: io::Result<Diag>, query: &TableQuery, index: u16) -> Dumped {
    let mut d = diag.map_err(|e| (Some(e.kind()), format!("entering it: {e}")))?;
    let mut out = Vec::new();
    read_netlink(&mut d, query, index, &mut out).map_err(|e| (None, format!("netlink: {e}")))?;
    Ok(out)
}

fn read_target(
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

impl TableSource for NamespacedTables {
    fn kind(&self) -> TableSourceKind {
        if self.procnet_only {
            TableSourceKind::Procnet
        } else {
            TableSourceKind::Netlink
        }
    }

    fn every_namespace(&self) -> Option<Box<dyn TableSource>> {
        let all = NamespacedTables::new(NetnsChoice::All, self.procnet_only);
        Some(Box::new(all.ok()?))
    }

    /// With `all`, the namespaces are found again for each question: a container started
    /// while `watch` runs appears on its next tick.
    fn begin(&mut self) {
        if self.choice == NetnsChoice::All {
            self.targets = None;
        }
    }

    fn refuse_unreadable_netns(&mut self, refuse: bool) {
        self.refuse_unreadable = refuse;
    }

    /// Exact lookups in the namespaces the sockets were read in (one entry each), not a
    /// read of every namespace again.
    fn confirm(&mut self, sockets: &[&SocketHarvest]) -> InodeSet {
        let mut found = InodeSet::default();
        let Some(discovery) = &self.targets else {
            return found;
        };
        if self.procnet_only || sockets.len() > super::exact::MAX_LOOKUPS {
            return found;
        }
        let mut by_netns: std::collections::BTreeMap<u16, Vec<&SocketHarvest>> = Default::default();
        for &s in sockets {
            by_netns.entry(s.netns).or_default().push(s);
        }
        for (index, socks) in by_netns {
            // Namespaces found only through a process's /proc/PID/net have no target.
            let Some(t) = discovery.targets.get(usize::from(index)) else {
                continue;
            };
            let diag = match &t.path {
                None => Diag::open(),
                Some(p) => diag_in(p),
            };
            if let Ok(mut d) = diag {
                found.extend(super::exact::confirm(&mut d, &socks));
            }
        }
        found
    }

    fn harvest(&mut self, query: &TableQuery) -> Result<Harvest, Error> {
        if self.targets.is_none() {
            self.targets = Some(discover_all());
        }
        let found = self.targets.clone().unwrap_or_default();
        let mut h = Harvest::new(self.kind());
        h.namespaces.clear();
        let mut peers = Peers::default();
        // Members found by nsid: their namespaces are read, not to be read again.
        let mut reached = Vec::new();
        let mut refused = None;
        let mut dumped = match self.procnet_only {
            true => Vec::new(),
            false => dump_entered(&found.targets, query, super::fdscan::free_cpus().min(4)),
        };
        for (i, t) in found.targets.iter().enumerate() {
            let index = h.namespaces.len() as u16;
            h.namespaces.push(Arc::clone(&t.netns));
            let pid = match self.choice {
                NetnsChoice::Pid(p) => Some(p),
                _ => None,
            };
            let pre = dumped.get_mut(i).and_then(Option::take);
            let how = (self.procnet_only, pre);
            let read = read_target(t, query, index, how, &mut peers, &mut h.sockets);
            let table = match read {
                Read::Netlink => TableSourceKind::Netlink,
                Read::Procnet(pid) => {
                    if t.member != Some(pid) {
                        reached.push(pid);
                    }
                    TableSourceKind::Procnet
                }
                Read::Failed(reason, why) => {
                    let mut s =
                        NetnsSource::unread(t.netns.inode, t.netns.name.clone(), reason, why);
                    s.path = t.path.as_ref().map(|p| p.display().to_string());
                    s.pid = pid;
                    if self.refuse_unreadable && reason.hides_sockets() && refused.is_none() {
                        refused = Some(s.unread_line());
                    }
                    h.warnings.push(s.unread_line());
                    h.per_netns.push(s);
                    continue;
                }
            };
            if table == TableSourceKind::Procnet {
                h.source = TableSourceKind::Procnet;
            }
            let mut s = NetnsSource::read(t.netns.inode, t.netns.name.clone(), table);
            s.path = t.path.as_ref().map(|p| p.display().to_string());
            s.pid = match read {
                Read::Procnet(member) => Some(member),
                _ => pid,
            };
            h.per_netns.push(s);
        }
        for s in &found.skipped {
            h.warnings.push(format!(
                "skipped {}: {}",
                s.path.as_deref().unwrap_or("?"),
                s.detail.as_deref().unwrap_or("not a network namespace")
            ));
            h.per_netns.push(s.clone());
        }
        if let Some(line) = refused {
            return Err(Error::NetnsUnreadable(line));
        }
        if self.choice == NetnsChoice::All {
            read_unidentified(&found.unidentified, &found.targets, &reached, query, &mut h);
        }
        if h.source == TableSourceKind::Procnet {
            h.warnings.push(
                "some network namespaces were read through /proc/PID/net: their IPv6 v6-only flags are unknown"
                    .into(),
            );
        }
        Ok(h)
    }
}

/// Which namespace's /proc/net a process sees, without reading it: /proc/PID/net/tcp is a
/// procfs entry made once per network namespace, so its inode number tells namespaces
/// apart (and the link /proc/PID/ns/net, which may be refused, is not needed). One stat.
fn proc_net_key(pid: u32) -> Option<u64> {
    ns_inode(Path::new(&format!("/proc/{pid}/net/tcp"))).ok()
}

/// Namespaces of processes whose namespace link we may not read (another user's, as an
/// unprivileged user; PID 1 in some sandboxes): through /proc/PID/net, one per namespace
/// not read already. A namespace is known by its /proc/net entries ([`proc_net_key`]) where
/// a member of it was read (a target's member, or a process reached through its nsid);
/// otherwise by a shared socket inode (a socket inode lives in one namespace), which costs
/// a /proc/PID/net read per namespace, so it is done only for a process no key places.
/// Their inode is unknown.
fn read_unidentified(
    pids: &[u32],
    targets: &[Target],
    reached: &[u32],
    query: &TableQuery,
    h: &mut Harvest,
) {
    if pids.is_empty() {
        return;
    }
    let member = |t: &Target| t.member.or(t.netns.current.then(std::process::id));
    let mut keys: std::collections::HashSet<u64> = targets
        .iter()
        .filter_map(member)
        .chain(reached.iter().copied())
        .filter_map(proc_net_key)
        .collect();
    // Every socket of the namespaces already read, not only those the query kept: made
    // only for a process whose key is not among the namespaces read.
    let mut seen: Option<InodeSet> = None;
    for &pid in pids {
        let key = proc_net_key(pid);
        if key.is_some_and(|k| keys.contains(&k)) {
            continue; // a namespace already read
        }
        let Some(inodes) = inodes_of(pid) else {
            continue; // exited, or not readable either: nothing to tell apart
        };
        let seen = seen.get_or_insert_with(|| {
            let mut seen: InodeSet = h
                .sockets
                .iter()
                .map(|s| s.inode)
                .filter(|&i| i != 0)
                .collect();
            let members = targets
                .iter()
                .filter_map(|t| t.member)
                .chain(reached.iter().copied());
            for pid in members {
                if let Some(all) = inodes_of(pid) {
                    seen.extend(all);
                }
            }
            seen
        });
        keys.extend(key);
        if inodes.is_empty() || inodes.iter().any(|i| seen.contains(i)) {
            continue; // no sockets, or a namespace already read
        }
        let index = h.namespaces.len() as u16;
        let ns = Arc::new(Netns {
            inode: None,
            name: None,
            current: false,
        });
        if read_procnet(pid, query, index, &mut h.sockets).is_ok() {
            h.namespaces.push(Arc::clone(&ns));
            h.source = TableSourceKind::Procnet;
            let mut s = NetnsSource::read(None, None, TableSourceKind::Procnet);
            s.pid = Some(pid);
            h.per_netns.push(s);
            seen.extend(inodes);
        }
    }
}

/// The netns of the current process in a harvest of the current namespace only.
pub fn tag_current(h: &mut Harvest) {
    if let Some(first) = h.namespaces.first_mut() {
        if first.inode.is_none() {
            *first = Arc::new(Netns::current(current_inode()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_with_the_value() {
        for bad in ["", "a/b", ".."] {
            let e = resolve(&NetnsChoice::Name(bad.into())).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("invalid network namespace '{bad}': not an ip netns name")
            );
        }
        let e = resolve(&NetnsChoice::Name("no-such-ns-portscope".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid network namespace 'no-such-ns-portscope': No such file or directory (os error 2)"
        );
        let e = resolve(&NetnsChoice::Path("/etc/hostname".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid network namespace file '/etc/hostname': a regular file, not a network namespace"
        );
        let e = resolve(&NetnsChoice::Path("/proc/self/ns/mnt".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid network namespace file '/proc/self/ns/mnt': a namespace of another kind, not a network namespace"
        );
    }

    /// /proc/PID/net/tcp's inode is the same for two processes of one namespace and
    /// differs for a process in another: what places a process whose namespace link is
    /// refused without reading its tables.
    #[test]
    fn proc_net_entries_tell_namespaces_apart() {
        use std::process::{Command, Stdio};
        let spawn = |argv: &[&str]| {
            Command::new(argv[0])
                .args(&argv[1..])
                .stdin(Stdio::piped())
                .spawn()
        };
        let me = proc_net_key(std::process::id()).unwrap();
        let mut here = spawn(&["cat"]).unwrap();
        assert_eq!(proc_net_key(here.id()), Some(me));
        drop(here.stdin.take());
        here.wait().unwrap();
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return crate::test_skip::skip("not root: cannot create a network namespace");
        }
        // `unshare -n cat` is in its own namespace once exec'd: wait for the exec (its
        // comm turns to cat), a readiness signal rather than a sleep.
        let Ok(mut there) = spawn(&["unshare", "-n", "cat"]) else {
            return crate::test_skip::skip("unshare (util-linux) is not installed");
        };
        let comm = format!("/proc/{}/comm", there.id());
        while std::fs::read_to_string(&comm).is_ok_and(|c| c.trim() != "cat") {
            std::thread::yield_now();
        }
        let key = proc_net_key(there.id());
        drop(there.stdin.take());
        there.wait().unwrap();
        assert!(key.is_some_and(|k| k != me), "{key:?} vs {me}");
    }

    #[test]
    fn our_own_pid_is_the_current_namespace() {
        let t = resolve(&NetnsChoice::Pid(std::process::id())).unwrap();
        assert!(t.netns.current);
        assert_eq!(t.netns.inode, current_inode());
        let all = discover_all().targets;
        assert!(all[0].netns.current, "the current namespace comes first");
        assert_eq!(all.iter().filter(|t| t.netns.current).count(), 1);
    }
}
