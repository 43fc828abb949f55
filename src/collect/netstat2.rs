//! Collect stage, every platform: the netstat2 crate as a socket-table backend. It is the
//! only backend on macOS and Windows (where it also names the holders) and a selectable one
//! on Linux (`--table-source netstat2`), where owners come from the /proc scan by inode.
//!
//! What netstat2 cannot know is left unknown, never guessed: queue sizes and v6-only flags
//! (null), the remote end and connectedness of UDP sockets (null; every UDP socket is
//! listed, as bound), and the socket's UID off Linux (null).

use crate::collect::{Harvest, OwnerScan, OwnerSource, TableSource, UserNames};
use crate::error::Error;
use crate::fast_hash::{InodeMap, InodeSet};
use crate::model::{
    Endpoint, Family, OwnerSourceKind, ProcessTable, Protocol, SockState, SocketHarvest,
    TableQuery, TableSourceKind,
};
use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, SocketInfo, TcpState};
use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// The holders netstat2 reported with the last harvest, by socket identity, for
/// [`Netstat2Owners`] (macOS and Windows report them in the same call).
pub type Holders = Rc<RefCell<InodeMap<Vec<u32>>>>;

#[derive(Default)]
pub struct Netstat2Tables {
    holders: Holders,
}

impl Netstat2Tables {
    pub fn new() -> Netstat2Tables {
        Netstat2Tables::default()
    }

    pub fn holders(&self) -> Holders {
        Rc::clone(&self.holders)
    }
}

/// The warning every netstat2 harvest carries, so no reader mistakes a null for a zero.
pub const LIMITS: &str = "netstat2 backend: queue sizes and v6-only flags are unknown (null), \
and UDP sockets are listed as bound without their remote end (netstat2 does not report it)";

fn state_of(s: &TcpState, has_inode: bool) -> SockState {
    match s {
        TcpState::Listen => SockState::Listen,
        TcpState::SynSent => SockState::SynSent,
        TcpState::SynReceived => SockState::SynReceived,
        TcpState::Established => SockState::Established,
        TcpState::FinWait1 => SockState::FinWait1,
        TcpState::FinWait2 => SockState::FinWait2,
        TcpState::CloseWait => SockState::CloseWait,
        TcpState::Closing => SockState::Closing,
        TcpState::LastAck => SockState::LastAck,
        TcpState::TimeWait => SockState::TimeWait,
        // Linux's NEW_SYN_RECV (a request socket, no inode) and BOUND_INACTIVE (bound,
        // never listened, with an inode) both arrive as Unknown.
        TcpState::Unknown if !has_inode => SockState::SynReceived,
        _ => SockState::Closed,
    }
}

fn flags(query: &TableQuery) -> (AddressFamilyFlags, ProtocolFlags) {
    let mut af = AddressFamilyFlags::empty();
    for f in &query.families {
        af |= match f {
            Family::Ipv4 => AddressFamilyFlags::IPV4,
            Family::Ipv6 => AddressFamilyFlags::IPV6,
        };
    }
    let mut pf = ProtocolFlags::empty();
    for p in &query.protocols {
        pf |= match p {
            Protocol::Tcp => ProtocolFlags::TCP,
            Protocol::Udp => ProtocolFlags::UDP,
        };
    }
    (af, pf)
}

/// The socket's inode and UID where the platform has them (Linux).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn native_identity(info: &SocketInfo) -> Option<(u64, Option<u32>)> {
    let inode = u64::from(info.inode);
    Some((inode, (inode != 0).then_some(info.uid)))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn native_identity(_info: &SocketInfo) -> Option<(u64, Option<u32>)> {
    None
}

/// A stable stand-in for an inode where the platform has none: the same socket gets the
/// same number in the first harvest and in the re-check (a hash of what identifies it).
fn synthetic_inode(protocol: Protocol, local: &Endpoint, remote: Option<&Endpoint>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (protocol, local, remote).hash(&mut h);
    h.finish() | 1 // never 0, which means "no process can hold it"
}

/// One netstat2 record as a harvest record (None when the state is not wanted).
fn record(info: &SocketInfo, query: &TableQuery) -> Option<SocketHarvest> {
    let native = native_identity(info);
    let (protocol, local, remote, state) = match &info.protocol_socket_info {
        ProtocolSocketInfo::Tcp(t) => (
            Protocol::Tcp,
            Endpoint {
                address: t.local_addr,
                port: t.local_port,
            },
            (t.remote_port != 0).then_some(Endpoint {
                address: t.remote_addr,
                port: t.remote_port,
            }),
            state_of(&t.state, native.is_none_or(|(i, _)| i != 0)),
        ),
        ProtocolSocketInfo::Udp(u) => (
            Protocol::Udp,
            Endpoint {
                address: u.local_addr,
                port: u.local_port,
            },
            None,
            SockState::Unconnected,
        ),
    };
    if !query.wants_state(state) {
        return None;
    }
    let (inode, uid) = match native {
        Some(n) => n,
        // A time_wait socket has no process: no identity to join on.
        None if state == SockState::TimeWait => (0, None),
        None => (synthetic_inode(protocol, &local, remote.as_ref()), None),
    };
    Some(SocketHarvest {
        protocol,
        family: Family::of(&local.address),
        local,
        remote,
        state,
        v6only: None,
        recv_queue: None,
        send_queue: None,
        inode,
        uid,
        netns: 0,
        cgroup_id: None,
    })
}

impl TableSource for Netstat2Tables {
    fn kind(&self) -> TableSourceKind {
        TableSourceKind::Netstat2
    }

    fn harvest(&mut self, query: &TableQuery) -> Result<Harvest, Error> {
        let (af, pf) = flags(query);
        let infos = fetch(af, pf).map_err(|e| Error::Tables(format!("netstat2: {e}")))?;
        let mut h = Harvest::new(TableSourceKind::Netstat2);
        h.warnings.push(LIMITS.to_string());
        let mut holders = self.holders.borrow_mut();
        holders.clear();
        for info in &infos {
            let Some(rec) = record(info, query) else {
                continue;
            };
            if rec.inode != 0 && !info.associated_pids.is_empty() {
                holders
                    .entry(rec.inode)
                    .or_default()
                    .extend(&info.associated_pids);
            }
            h.sockets.push(rec);
        }
        drop(holders);
        #[cfg(target_os = "linux")]
        crate::collect::linux::netns::tag_current(&mut h);
        Ok(h)
    }
}

/// On Linux the holders come from our own /proc scan (by the real inode), so netstat2's
/// own /proc walk is skipped.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn fetch(
    af: AddressFamilyFlags,
    pf: ProtocolFlags,
) -> Result<Vec<SocketInfo>, netstat2::error::Error> {
    netstat2::iterate_sockets_info_without_pids(af, pf)?.collect()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn fetch(
    af: AddressFamilyFlags,
    pf: ProtocolFlags,
) -> Result<Vec<SocketInfo>, netstat2::error::Error> {
    netstat2::get_sockets_info(af, pf)
}

/// The holders netstat2 reported with the harvest (macOS, Windows).
pub struct Netstat2Owners {
    holders: Holders,
    users: UserNames,
}

impl Netstat2Owners {
    pub fn new(holders: Holders) -> Netstat2Owners {
        Netstat2Owners {
            holders,
            users: UserNames::default(),
        }
    }
}

impl OwnerSource for Netstat2Owners {
    fn kind(&self) -> OwnerSourceKind {
        OwnerSourceKind::Netstat2
    }

    fn scan(&mut self, wanted: &InodeSet, first: bool) -> std::io::Result<OwnerScan> {
        let mut scan = OwnerScan::default();
        let map = self.holders.borrow();
        for ino in wanted {
            for &pid in map.get(ino).into_iter().flatten() {
                scan.holders.push((*ino, pid));
                if first {
                    scan.stopped_early = true;
                    return Ok(scan);
                }
            }
        }
        Ok(scan)
    }

    fn details(&mut self, pids: &[u32]) -> ProcessTable {
        crate::collect::process_details(pids, &mut self.users)
    }

    fn user_name(&mut self, uid: u32) -> Option<String> {
        self.users.name(uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_identity_is_stable_and_never_zero() {
        let l = Endpoint {
            address: "127.0.0.1".parse().unwrap(),
            port: 80,
        };
        let r = Endpoint {
            address: "127.0.0.1".parse().unwrap(),
            port: 4000,
        };
        let a = synthetic_inode(Protocol::Tcp, &l, Some(&r));
        assert_eq!(a, synthetic_inode(Protocol::Tcp, &l, Some(&r)));
        assert_ne!(a, synthetic_inode(Protocol::Tcp, &l, None));
        assert_ne!(a, synthetic_inode(Protocol::Udp, &l, Some(&r)));
        assert_ne!(a, 0);
    }

    #[test]
    fn unknown_tcp_states_follow_the_inode() {
        assert_eq!(state_of(&TcpState::Unknown, false), SockState::SynReceived);
        assert_eq!(state_of(&TcpState::Unknown, true), SockState::Closed);
        assert_eq!(state_of(&TcpState::TimeWait, false), SockState::TimeWait);
    }
}
