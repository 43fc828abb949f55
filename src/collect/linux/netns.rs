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
//!
//! Finding the namespaces is `netns/discover.rs`, reading one `netns/read.rs`; here the
//! table source that ties them, and the labelling of what was read: one `sources` entry and
//! warning per namespace, and the namespaces known only through a process inside them.

mod discover;
mod read;

use self::discover::ns_inode;
pub use self::discover::{current_inode, discover_all, resolve, Discovery, Target};
pub use self::read::in_namespace;
use self::read::{diag_for, dump_entered, inodes_of, read_procnet, read_target, Read};
use super::nsid::Peers;
use crate::collect::{Harvest, NetnsChoice, TableSource};
use crate::error::Error;
use crate::fast_hash::InodeSet;
use crate::model::{Netns, NetnsSource, SocketHarvest, TableQuery, TableSourceKind};
use std::path::Path;
use std::sync::Arc;

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
            if let Ok(mut d) = diag_for(t) {
                found.extend(super::exact::confirm(&mut d, &socks));
            }
        }
        found
    }

    fn harvest(&mut self, query: &TableQuery) -> Result<Harvest, Error> {
        let busy_before = super::fdscan::runnable_now();
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
            false => {
                let threads = super::fdscan::free_cpus_since(busy_before).min(4);
                dump_entered(&found.targets, query, threads)
            }
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
        skipped(&found.skipped, &mut h);
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

/// The entries that were no namespace (a FIFO in /run/netns): in `sources.netns`, and
/// one warning each.
fn skipped(skipped: &[NetnsSource], h: &mut Harvest) {
    for s in skipped {
        h.warnings.push(format!(
            "skipped {}: {}",
            s.path.as_deref().unwrap_or("?"),
            s.detail.as_deref().unwrap_or("not a network namespace")
        ));
        h.per_netns.push(s.clone());
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
