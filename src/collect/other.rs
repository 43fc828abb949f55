//! Collect stage, macOS and Windows: netstat2 stays the backend there. It reports holders
//! with each socket, so the "scan" hands back what the harvest saw, keyed by a synthetic
//! inode (these systems have none to report).

use crate::collect::fast_hash::{InodeMap, InodeSet};
use crate::collect::{Harvest, OwnerScan, TableQuery};
use crate::error::Error;
use crate::model::{Endpoint, Family, Protocol, SockState, SocketHarvest};
use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, TcpState};
use std::sync::Mutex;

static HOLDERS: Mutex<Option<InodeMap<Vec<u32>>>> = Mutex::new(None);

fn state_of(s: &TcpState) -> SockState {
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
        _ => SockState::Closed,
    }
}

pub fn harvest(query: &TableQuery) -> Result<Harvest, Error> {
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
    let infos = netstat2::get_sockets_info(af, pf).map_err(|e| Error::Tables(e.to_string()))?;
    let mut h = Harvest::default();
    let mut holders = InodeMap::default();
    for (i, info) in infos.into_iter().enumerate() {
        let inode = i as u64 + 1;
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
                state_of(&t.state),
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
            continue;
        }
        holders.insert(inode, info.associated_pids.clone());
        h.sockets.push(SocketHarvest {
            protocol,
            family: Family::of(&local.address),
            local,
            remote,
            state,
            v6only: None,
            recv_queue: 0,
            send_queue: 0,
            inode,
            uid: 0,
        });
    }
    if let Ok(mut g) = HOLDERS.lock() {
        *g = Some(holders);
    }
    Ok(h)
}

pub fn scan_owners(wanted: &InodeSet, first: bool) -> std::io::Result<OwnerScan> {
    let mut scan = OwnerScan::default();
    if let Ok(g) = HOLDERS.lock() {
        if let Some(map) = g.as_ref() {
            for ino in wanted {
                for &pid in map.get(ino).into_iter().flatten() {
                    scan.holders.push((*ino, pid));
                    if first {
                        scan.stopped_early = true;
                        return Ok(scan);
                    }
                }
            }
        }
    }
    Ok(scan)
}

/// The IANA dynamic range, which macOS and Windows use by default.
pub fn ephemeral_range() -> Option<(u16, u16)> {
    Some((49152, 65535))
}
