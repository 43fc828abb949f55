//! Collect stage, Linux, every network namespace: finding them. `--netns all` gathers the
//! `/proc/*/ns/net` links of running processes, `ip netns` names in /run/netns and docker's
//! /run/docker/netns, one target per namespace (named where a name is known, with a member
//! process where one is seen); `--netns NAME|PID|PATH` resolves one, or says why not.

use super::super::nsfs::checked_inode;
use super::super::procdir::pids;
use crate::collect::NetnsChoice;
use crate::error::Error;
use crate::model::{Netns, NetnsReason, NetnsSource};
use std::collections::HashMap;
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
pub(super) fn ns_inode(path: &Path) -> std::io::Result<u64> {
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
