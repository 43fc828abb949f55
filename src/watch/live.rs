//! Diff stage, event mode: the sockets as the snapshot and the kernel's events since left
//! them, and the `added`/`removed` events each new kernel event makes of it. Pure: the
//! command turns kernel records into [`Change`]s (classified, filtered and joined like any
//! row), the tests write them as literals.
//!
//! Reconciliation with the snapshot: events are attached before the snapshot is taken, so
//! the first events read may describe what the snapshot already shows. A change that
//! leaves a socket as the snapshot has it is dropped (nothing twice); one that removes a
//! socket the snapshot never had is dropped while `settling` (it closed before the dump),
//! and reported afterwards (its `added` was lost with a full ring, or came before).

use super::{Actor, Event, EventKind};
use crate::model::{Endpoint, Protocol, Socket};
use std::collections::HashMap;

/// A socket's identity: (network namespace inode, socket inode).
pub type Key = (u64, u64);

/// What one kernel event did to one socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: Key,
    /// The socket after the event, if it still exists and the query selects it.
    pub now: Option<Socket>,
    /// The socket before the event, as the event itself describes it, if the query
    /// selects it: what a removal reports when the socket was not known.
    pub then: Option<Socket>,
    /// None where the change was not any process's doing (a TCP state change on a packet's
    /// arrival, in whatever task the kernel was running): `now` then has no holders, and
    /// keeps those it had.
    pub by: Option<Actor>,
}

/// The selected sockets as of the last event.
#[derive(Debug, Default)]
pub struct Live {
    sockets: HashMap<Key, Socket>,
}

/// A socket's key; the current namespace's sockets may carry no inode in their netns.
pub fn key_of(s: &Socket, current_netns: u64) -> Key {
    let ns = match (s.netns.inode, s.netns.current) {
        (Some(i), _) => i,
        (None, true) => current_netns,
        (None, false) => 0,
    };
    (ns, s.inode)
}

/// Same row: what the snapshot (or an earlier event) already said.
fn same_row(a: &Socket, b: &Socket) -> bool {
    a.state == b.state && a.local == b.local && a.remote == b.remote && a.protocol == b.protocol
}

fn event(kind: EventKind, socket: Socket, by: &Option<Actor>) -> Event {
    Event {
        kind,
        socket,
        previous: None,
        by: by.clone(),
    }
}

impl Live {
    /// The sockets of a snapshot (those with an inode: a kernel event names sockets by it).
    pub fn new(snapshot: &[Socket], current_netns: u64) -> Live {
        let mut live = Live::default();
        live.replace(snapshot, current_netns);
        live
    }

    pub fn replace(&mut self, snapshot: &[Socket], current_netns: u64) {
        self.sockets = snapshot
            .iter()
            .filter(|s| s.inode != 0)
            .map(|s| (key_of(s, current_netns), s.clone()))
            .collect();
    }

    /// The key of the TCP connection with these ends in namespace `netns`: a socket that
    /// lost its file (closed while the connection winds down) is named by them alone. A
    /// local port 0 matches any: the kernel gives the port back before it reports CLOSE.
    pub fn key_by_ends(&self, netns: u64, local: Endpoint, remote: Endpoint) -> Option<Key> {
        self.sockets
            .iter()
            .find(|(k, s)| {
                k.0 == netns
                    && s.protocol == Protocol::Tcp
                    && s.local.address == local.address
                    && (local.port == 0 || s.local.port == local.port)
                    && s.remote == Some(remote)
            })
            .map(|(k, _)| *k)
    }

    /// The sockets as events left them, in no particular order.
    pub fn sockets(&self) -> Vec<Socket> {
        self.sockets.values().cloned().collect()
    }

    /// The events `c` makes: none, `added`, `removed`, or `removed` then `added` (a state
    /// change, as polling reports it).
    pub fn apply(&mut self, c: Change, settling: bool) -> Vec<Event> {
        match (self.sockets.remove(&c.key), c.now) {
            (Some(old), Some(new)) if same_row(&old, &new) => {
                self.sockets.insert(c.key, old);
                Vec::new()
            }
            (Some(old), Some(mut new)) => {
                if c.by.is_none() {
                    new.processes = old.processes.clone();
                    new.owner = old.owner;
                    new.owner_reason = old.owner_reason;
                }
                self.sockets.insert(c.key, new.clone());
                vec![
                    event(EventKind::Removed, old, &c.by),
                    event(EventKind::Added, new, &c.by),
                ]
            }
            (Some(old), None) => vec![event(EventKind::Removed, old, &c.by)],
            (None, Some(new)) => {
                self.sockets.insert(c.key, new.clone());
                vec![event(EventKind::Added, new, &c.by)]
            }
            (None, None) => match c.then {
                Some(then) if !settling => vec![event(EventKind::Removed, then, &c.by)],
                _ => Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use std::sync::Arc;

    fn sock(port: u16, inode: u64, state: SockState) -> Socket {
        Socket {
            netns: Arc::new(Netns::current(None)),
            cgroup: None,
            protocol: state.protocol(),
            family: Family::Ipv4,
            v6only: None,
            local: Endpoint {
                address: "127.0.0.1".parse().unwrap(),
                port,
            },
            remote: None,
            state,
            port_class: PortClass::Registered,
            ephemeral: false,
            service: None,
            recv_queue: None,
            send_queue: None,
            inode,
            uid: Some(0),
            user: None,
            owner: Owner::Visible,
            owner_reason: None,
            owner_reason_code: None,
            processes: vec![],
            placement: Default::default(),
        }
    }

    fn by(pid: u32) -> Actor {
        Actor {
            pid,
            comm: "srv".into(),
            uid: 0,
            user: Some("root".into()),
            container: None,
            unit: None,
        }
    }

    fn change(inode: u64, now: Option<Socket>, then: Option<Socket>) -> Change {
        Change {
            key: (7, inode),
            now,
            then,
            by: Some(by(42)),
        }
    }

    fn kinds(e: &[Event]) -> Vec<(char, u16, u64)> {
        e.iter()
            .map(|e| (e.kind.sign(), e.socket.local.port, e.socket.inode))
            .collect()
    }

    /// Events racing the snapshot: a listener the snapshot shows is not added twice; one
    /// that closed before the dump is neither added nor removed; one that opened and
    /// closed between attach and dump is a normal pair; one closed after the dump is
    /// removed with its snapshot row.
    #[test]
    fn events_racing_the_snapshot_are_reported_once_each() {
        let listen = |p, i| sock(p, i, SockState::Listen);
        let mut live = Live::new(&[listen(80, 1), listen(81, 2)], 7);
        let mut out = Vec::new();
        // 80 opened after attach, before the dump: its event repeats the snapshot.
        out.extend(live.apply(change(1, Some(listen(80, 1)), None), true));
        // 90 existed before attach and closed before the dump: no trace.
        out.extend(live.apply(change(3, None, Some(listen(90, 3))), true));
        // 91 opened and closed before the dump: both reported.
        out.extend(live.apply(change(4, Some(listen(91, 4)), None), true));
        out.extend(live.apply(change(4, None, Some(listen(0, 4))), true));
        // 81 closed after the dump.
        out.extend(live.apply(change(2, None, Some(listen(0, 2))), false));
        assert_eq!(kinds(&out), vec![('+', 91, 4), ('-', 91, 4), ('-', 81, 2)]);
        assert!(out.iter().all(|e| e.by.as_ref().unwrap().pid == 42));
        assert_eq!(
            kinds(&crate::watch::snapshot(&live.sockets())),
            [('=', 80, 1)]
        );
    }

    /// A connection closed by its holder winds down without a file (inode 0): found by
    /// its ends, also once the kernel has cleared its local port.
    #[test]
    fn a_connection_without_its_file_is_found_by_its_ends() {
        let mut est = sock(5000, 8, SockState::Established);
        let peer = Endpoint {
            address: "127.0.0.1".parse().unwrap(),
            port: 80,
        };
        est.remote = Some(peer);
        let live = Live::new(&[est.clone()], 7);
        let at = |port| Endpoint {
            address: est.local.address,
            port,
        };
        assert_eq!(live.key_by_ends(7, at(5000), peer), Some((7, 8)));
        assert_eq!(live.key_by_ends(7, at(0), peer), Some((7, 8)));
        assert_eq!(live.key_by_ends(7, at(5001), peer), None);
        assert_eq!(live.key_by_ends(9, at(5000), peer), None);
        let other = Endpoint { port: 81, ..peer };
        assert_eq!(live.key_by_ends(7, at(5000), other), None);
    }

    #[test]
    fn after_settling_an_unknown_removal_is_reported_and_a_state_change_is_a_pair() {
        let mut live = Live::new(&[], 7);
        let out = live.apply(change(5, None, Some(sock(0, 5, SockState::Listen))), false);
        assert_eq!(kinds(&out), vec![('-', 0, 5)]);
        // A socket the query does not select (then: None) leaves nothing.
        assert!(live.apply(change(6, None, None), false).is_empty());
        let est = sock(5000, 8, SockState::Established);
        live.apply(change(8, Some(est.clone()), None), false);
        let out = live.apply(
            change(8, Some(sock(5000, 8, SockState::FinWait1)), Some(est)),
            false,
        );
        assert_eq!(kinds(&out), vec![('-', 5000, 8), ('+', 5000, 8)]);
        assert_eq!(out[0].socket.state, SockState::Established);
        assert_eq!(out[1].socket.state, SockState::FinWait1);
        // A packet's doing: no actor, and the holders stay what they were.
        let mut fw1 = sock(5000, 8, SockState::FinWait1);
        fw1.processes = vec![Arc::new(Process {
            pid: 42,
            name: "srv".into(),
            cmdline: vec![],
            user: None,
            uid: Some(0),
            ppid: None,
            tid: None,
            container: None,
            unit: None,
        })];
        let mut live = Live::new(&[fw1], 7);
        let mut fw2 = sock(5000, 8, SockState::FinWait2);
        fw2.owner = Owner::Hidden;
        let mut c = change(8, Some(fw2), None);
        c.by = None;
        let out = live.apply(c, false);
        assert_eq!(out[1].socket.processes[0].pid, 42);
        assert_eq!(out[1].socket.owner, Owner::Visible);
        assert!(out.iter().all(|e| e.by.is_none()));
    }
}
