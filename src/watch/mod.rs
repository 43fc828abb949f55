//! Diff stage (after join and sort, before render): two snapshots of the joined socket
//! table in, the changes between them out. Pure: `watch` feeds it one tick after another,
//! `diff` two saved documents, and the tests literals.

pub mod live;

use crate::model::{
    Container, Endpoint, Family, Owner, OwnerReason, Process, Protocol, SockState, Socket,
};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// What happened to a socket. The strings are the JSON Lines contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The socket as it is (at the start, and every --snapshot-every).
    Snapshot,
    Added,
    Removed,
    /// Same socket, other holders (or the holders' visibility changed).
    OwnerChanged,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Snapshot => "snapshot",
            EventKind::Added => "added",
            EventKind::Removed => "removed",
            EventKind::OwnerChanged => "owner_changed",
        }
    }

    /// The mark of a text line.
    pub fn sign(self) -> char {
        match self {
            EventKind::Snapshot => '=',
            EventKind::Added => '+',
            EventKind::Removed => '-',
            EventKind::OwnerChanged => '~',
        }
    }
}

/// One change. `socket` is the socket as it is now (as it was, for `removed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub socket: Socket,
    /// `owner_changed`: the holders before the change.
    pub previous: Option<Vec<Arc<Process>>>,
    /// Who made the change, where a kernel event said (event mode); None when polling.
    pub by: Option<Actor>,
}

/// The process whose system call (or exit) made a change, as the kernel reported it at
/// that moment: the `by` of an event. Its container and unit are named as holders' are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub pid: u32,
    /// The thread's name (comm) when it acted.
    pub comm: String,
    pub uid: u32,
    pub user: Option<String>,
    pub container: Option<Container>,
    pub unit: Option<String>,
}

/// How sockets are matched across the two snapshots and how owners are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// Identity: the inode is part of the key and owners compare by PID, name and user.
    /// What `watch` uses (one host, one moment to the next) and `diff --strict`.
    Strict,
    /// Inodes and PIDs ignored: owners compare as the set of (name, user) pairs, so two
    /// hosts running the same services (with other PIDs and worker counts) diff clean.
    Loose,
}

/// Sort order first (port, protocol, family, address), then the rest of the identity.
type Key = (
    u16,
    Protocol,
    Family,
    IpAddr,
    Option<Endpoint>,
    SockState,
    NetnsKey,
    Option<u64>,
);

/// Where a socket lives, as two hosts can share it: ours, or another namespace by its
/// `ip netns` name; strictly, also by its inode. The same address in two namespaces is two
/// sockets. (Loosely, unnamed namespaces, whose inodes differ on every host, are one.)
type NetnsKey = (bool, Option<String>, Option<u64>);

fn netns_key(s: &Socket, m: Matching) -> NetnsKey {
    let n = &s.netns;
    let inode = (m == Matching::Strict && !n.current)
        .then_some(n.inode)
        .flatten();
    (n.current, n.name.clone(), inode)
}

fn key(s: &Socket, m: Matching) -> Key {
    (
        s.local.port,
        s.protocol,
        s.family,
        s.local.address,
        s.remote,
        s.state,
        netns_key(s, m),
        (m == Matching::Strict).then_some(s.inode),
    )
}

/// What "the same owners" means: visibility plus the holders, sorted and deduplicated.
type Owners = (Owner, Vec<(Option<u32>, String, String)>);

fn owners(s: &Socket, m: Matching) -> Owners {
    let mut v: Vec<(Option<u32>, String, String)> = s
        .processes
        .iter()
        .map(|p| {
            let user = match (&p.user, p.uid) {
                (Some(u), _) => u.clone(),
                (None, Some(uid)) => uid.to_string(),
                (None, None) => String::new(),
            };
            let pid = (m == Matching::Strict).then_some(p.pid);
            (pid, p.name.clone(), user)
        })
        .collect();
    v.sort();
    v.dedup();
    (s.owner, v)
}

/// The changes from `old` to `new`, in key order (port first, as `list` sorts). Several
/// sockets may share a key (SO_REUSEPORT listeners, or any two under `Loose`): those with
/// the same owners pair up first, then the rest pair as `owner_changed`, and what is left
/// over is `removed` or `added`.
pub fn diff(old: &[Socket], new: &[Socket], m: Matching) -> Vec<Event> {
    let mut groups: BTreeMap<Key, (Vec<&Socket>, Vec<&Socket>)> = BTreeMap::new();
    for s in old {
        groups.entry(key(s, m)).or_default().0.push(s);
    }
    for s in new {
        groups.entry(key(s, m)).or_default().1.push(s);
    }
    let mut events = Vec::new();
    for (_, (mut before, mut after)) in groups {
        // Pairs with equal owners: unchanged.
        before.retain(|b| {
            let o = owners(b, m);
            match after.iter().position(|a| owners(a, m) == o) {
                Some(i) => {
                    after.remove(i);
                    false
                }
                None => true,
            }
        });
        let paired = before.len().min(after.len());
        for (b, a) in before.iter().zip(&after) {
            events.push(Event {
                kind: EventKind::OwnerChanged,
                socket: (*a).clone(),
                previous: Some(b.processes.clone()),
                by: None,
            });
        }
        let removed = before[paired..].iter().map(|s| (EventKind::Removed, s));
        let added = after[paired..].iter().map(|s| (EventKind::Added, s));
        events.extend(removed.chain(added).map(|(kind, s)| Event {
            kind,
            socket: (*s).clone(),
            previous: None,
            by: None,
        }));
    }
    events
}

/// Whether the owner scan caught this socket mid-change (its holder exited, or it closed,
/// between the table dump and the scan): an answer the next tick will correct.
fn unsettled(s: &Socket) -> bool {
    matches!(
        s.owner_reason,
        Some(OwnerReason::Exited) | Some(OwnerReason::Closed)
    )
}

/// `current`, with sockets caught mid-change replaced by what `last` said of them (or left
/// out, if `last` did not have them), so a server shutting down reads as one `removed`
/// with its owners, not an owner change to "-" first. The next tick settles them.
pub fn settle(last: &[Socket], current: Vec<Socket>) -> Vec<Socket> {
    if !current.iter().any(unsettled) {
        return current;
    }
    let before: BTreeMap<Key, &Socket> =
        last.iter().map(|s| (key(s, Matching::Strict), s)).collect();
    current
        .into_iter()
        .filter_map(|s| {
            if !unsettled(&s) {
                return Some(s);
            }
            before.get(&key(&s, Matching::Strict)).map(|b| (*b).clone())
        })
        .collect()
}

/// One `snapshot` event per socket.
pub fn snapshot(sockets: &[Socket]) -> Vec<Event> {
    sockets
        .iter()
        .map(|s| Event {
            kind: EventKind::Snapshot,
            socket: s.clone(),
            previous: None,
            by: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortClass;

    fn proc_(pid: u32, name: &str, user: &str) -> Arc<Process> {
        Arc::new(Process {
            pid,
            name: name.into(),
            cmdline: vec![],
            user: Some(user.into()),
            uid: Some(1000),
            ppid: None,
            tid: None,
            container: None,
            unit: None,
        })
    }

    fn sock(port: u16, inode: u64, holders: &[(u32, &str)]) -> Socket {
        Socket {
            netns: Default::default(),
            cgroup: None,
            protocol: Protocol::Tcp,
            family: Family::Ipv4,
            v6only: None,
            local: Endpoint {
                address: "127.0.0.1".parse().unwrap(),
                port,
            },
            remote: None,
            state: SockState::Listen,
            port_class: PortClass::Registered,
            ephemeral: false,
            service: None,
            recv_queue: Some(0),
            send_queue: Some(128),
            inode,
            uid: Some(1000),
            user: Some("alice".into()),
            owner: if holders.is_empty() {
                Owner::Hidden
            } else {
                Owner::Visible
            },
            owner_reason: None,
            owner_reason_code: None,
            placement: Default::default(),
            processes: holders.iter().map(|&(p, n)| proc_(p, n, "alice")).collect(),
        }
    }

    fn kinds(events: &[Event]) -> Vec<(char, u16, u64)> {
        events
            .iter()
            .map(|e| (e.kind.sign(), e.socket.local.port, e.socket.inode))
            .collect()
    }

    #[test]
    fn added_removed_and_unchanged() {
        let old = [sock(80, 1, &[(10, "nginx")]), sock(22, 2, &[(5, "sshd")])];
        let new = [
            sock(22, 2, &[(5, "sshd")]),
            sock(8080, 3, &[(11, "python3")]),
        ];
        let e = diff(&old, &new, Matching::Strict);
        assert_eq!(kinds(&e), vec![('-', 80, 1), ('+', 8080, 3)]);
        assert_eq!(e[0].socket, old[0]);
        assert_eq!(e[1].socket, new[1]);
        assert!(diff(&new, &new, Matching::Strict).is_empty());
    }

    #[test]
    fn a_forked_worker_is_an_owner_change_with_the_holders_before() {
        let old = [sock(80, 1, &[(10, "nginx")])];
        let new = [sock(80, 1, &[(10, "nginx"), (12, "nginx")])];
        let e = diff(&old, &new, Matching::Strict);
        assert_eq!(kinds(&e), vec![('~', 80, 1)]);
        assert_eq!(e[0].socket.processes.len(), 2);
        assert_eq!(e[0].previous.as_ref().unwrap()[0].pid, 10);
        assert_eq!(e[0].previous.as_ref().unwrap().len(), 1);
        // The same names and users: not a change once PIDs are ignored.
        assert!(diff(&old, &new, Matching::Loose).is_empty());
    }

    #[test]
    fn a_new_inode_is_a_new_socket_in_strict_mode_only() {
        let old = [sock(80, 1, &[(10, "nginx")])];
        let new = [sock(80, 7, &[(99, "nginx")])];
        assert_eq!(
            kinds(&diff(&old, &new, Matching::Strict)),
            vec![('-', 80, 1), ('+', 80, 7)]
        );
        assert!(diff(&old, &new, Matching::Loose).is_empty());
        // Another program on the same port: an owner change under Loose.
        let other = [sock(80, 7, &[(99, "apache2")])];
        let e = diff(&old, &other, Matching::Loose);
        assert_eq!(kinds(&e), vec![('~', 80, 7)]);
        assert_eq!(e[0].previous.as_ref().unwrap()[0].name, "nginx");
    }

    #[test]
    fn hidden_to_visible_is_an_owner_change() {
        let old = [sock(80, 1, &[])];
        let new = [sock(80, 1, &[(10, "nginx")])];
        assert_eq!(
            kinds(&diff(&old, &new, Matching::Strict)),
            vec![('~', 80, 1)]
        );
    }

    #[test]
    fn reuseport_groups_pair_equal_owners_first() {
        // Three listeners on one port under Loose: a, b unchanged, c's owner changed, d new.
        let old = [
            sock(443, 1, &[(1, "a")]),
            sock(443, 2, &[(2, "b")]),
            sock(443, 3, &[(3, "c")]),
        ];
        let new = [
            sock(443, 4, &[(7, "b")]),
            sock(443, 5, &[(8, "x")]),
            sock(443, 6, &[(9, "a")]),
            sock(443, 9, &[(9, "a")]),
        ];
        let e = diff(&old, &new, Matching::Loose);
        assert_eq!(kinds(&e), vec![('~', 443, 5), ('+', 443, 9)]);
        assert_eq!(e[0].previous.as_ref().unwrap()[0].name, "c");
        // A state change is a different row: removed in one state, added in the other.
        let mut closing = sock(443, 1, &[(1, "a")]);
        closing.state = SockState::CloseWait;
        let e = diff(&old[..1], &[closing], Matching::Strict);
        assert_eq!(kinds(&e), vec![('-', 443, 1), ('+', 443, 1)]);
    }

    #[test]
    fn sockets_caught_mid_change_wait_for_the_next_tick() {
        let last = [sock(80, 1, &[(10, "nginx")]), sock(81, 2, &[(11, "a")])];
        let mut exiting = sock(80, 1, &[]);
        exiting.owner = Owner::None;
        exiting.owner_reason = Some(OwnerReason::Exited);
        let mut closing_new = sock(82, 3, &[]);
        closing_new.owner = Owner::None;
        closing_new.owner_reason = Some(OwnerReason::Closed);
        let mut hidden = sock(81, 2, &[]);
        hidden.owner_reason = Some(OwnerReason::Denied);
        let current = vec![exiting, hidden.clone(), closing_new];
        let settled = settle(&last, current);
        // The exiting one keeps its owners, the new closing one waits, a hidden one is news.
        assert_eq!(settled, vec![last[0].clone(), hidden]);
        let e = diff(&last, &settled, Matching::Strict);
        assert_eq!(kinds(&e), vec![('~', 81, 2)]);
    }

    #[test]
    fn events_come_in_port_order_and_snapshots_keep_the_input() {
        let old = [sock(9000, 1, &[(1, "a")])];
        let new = [sock(22, 2, &[(2, "b")]), sock(8080, 3, &[(3, "c")])];
        let e = diff(&old, &new, Matching::Strict);
        assert_eq!(
            kinds(&e),
            vec![('+', 22, 2), ('+', 8080, 3), ('-', 9000, 1)]
        );
        let s = snapshot(&new);
        assert_eq!(kinds(&s), vec![('=', 22, 2), ('=', 8080, 3)]);
        assert_eq!(s[0].kind.as_str(), "snapshot");
    }

    /// A listener that moved from one named namespace to another is a change, also loosely
    /// (diff said nothing: the namespace was not part of the identity).
    #[test]
    fn diff_sees_a_listener_move_between_namespaces() {
        let mut blue = sock(7791, 5, &[(10, "web")]);
        blue.netns = std::sync::Arc::new(crate::model::Netns {
            inode: Some(1),
            name: Some("blue".into()),
            current: false,
        });
        let mut red = blue.clone();
        red.netns = std::sync::Arc::new(crate::model::Netns {
            inode: Some(2),
            name: Some("red".into()),
            current: false,
        });
        for m in [Matching::Loose, Matching::Strict] {
            let e = diff(std::slice::from_ref(&blue), std::slice::from_ref(&red), m);
            let kinds: Vec<EventKind> = e.iter().map(|e| e.kind).collect();
            assert_eq!(kinds, vec![EventKind::Removed, EventKind::Added], "{m:?}");
        }
    }
}
