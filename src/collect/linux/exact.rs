//! Collect stage, Linux: sockets looked up one by one by their addresses (sock_diag
//! without NLM_F_DUMP, as `ss -K` and the kernel's own tests do): a hash lookup in the
//! kernel instead of a walk over the whole table, for the re-check of the few sockets
//! nobody was found holding.
//!
//! A lookup only ever confirms: the kernel answers with the socket its lookup finds for
//! those addresses (as for an incoming packet), which may be another one (a reuseport
//! group, a more specific bind, a device-bound socket, an sk_lookup program) or none at
//! all for a socket that exists (bound but neither listening nor connected). So a socket
//! counts as still there only when the reply carries its inode; everything else is left
//! for the dump to decide.

use super::netlink::{build_request, Diag, NLMSG_HDRLEN, NLM_F_REQUEST};
use crate::fast_hash::InodeSet;
use crate::model::{Endpoint, Family, Protocol, SocketHarvest};
use std::net::IpAddr;

/// More sockets than this are re-checked by one dump: each lookup is a round trip.
pub const MAX_LOOKUPS: usize = 64;

/// The inodes of `sockets` that the kernel still finds at their addresses.
pub fn confirm(diag: &mut Diag, sockets: &[&SocketHarvest]) -> InodeSet {
    let mut found = InodeSet::default();
    let mut reply = Vec::new();
    for s in sockets.iter().take(MAX_LOOKUPS) {
        let Some(req) = request(s) else { continue };
        reply.clear();
        // An error (ENOENT: nothing there, or not found this way) confirms nothing.
        if diag.ask_one(req, s.protocol, &mut reply).is_ok()
            && reply.iter().any(|r| r.inode == s.inode && r.inode != 0)
        {
            found.insert(s.inode);
        }
    }
    found
}

/// INET_DIAG_NOCOOKIE: look up by addresses alone.
const NO_COOKIE: [u8; 8] = [0xff; 8];

/// The exact-lookup request for `s`; None for an address the lookup cannot express.
///
/// The kernel reads the addresses differently per protocol: TCP looks up `src` as the
/// local end and `dst` as the peer (inet_diag_find_one_icsk), UDP the other way round
/// ("src and dst are swapped for historical reasons", udp_dump_one).
fn request(s: &SocketHarvest) -> Option<Vec<u8>> {
    let unset = Endpoint {
        address: match s.family {
            Family::Ipv4 => IpAddr::from([0u8; 4]),
            Family::Ipv6 => IpAddr::from([0u8; 16]),
        },
        port: 0,
    };
    let peer = s.remote.unwrap_or(unset);
    let (src, dst) = match s.protocol {
        Protocol::Tcp => (s.local, peer),
        Protocol::Udp => (peer, s.local),
    };
    // The dump request's header and family, protocol and states, as one message: an
    // exact lookup is the same request without NLM_F_DUMP, with the sockid filled in.
    let mut r = build_request(s.protocol, s.family, u32::MAX, 0, None);
    r[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    // inet_diag_sockid at 16 + 8: sport, dport (network order), src, dst (16 bytes
    // each), interface, cookie.
    let b = NLMSG_HDRLEN;
    r[b + 8..b + 10].copy_from_slice(&src.port.to_be_bytes());
    r[b + 10..b + 12].copy_from_slice(&dst.port.to_be_bytes());
    put_addr(&mut r[b + 12..b + 28], src.address, s.family)?;
    put_addr(&mut r[b + 28..b + 44], dst.address, s.family)?;
    r[b + 48..b + 56].copy_from_slice(&NO_COOKIE);
    Some(r)
}

/// An address as inet_diag_sockid holds it: IPv4 in the first 4 bytes, IPv6 in all 16.
fn put_addr(out: &mut [u8], a: IpAddr, family: Family) -> Option<()> {
    match (a, family) {
        (IpAddr::V4(v4), Family::Ipv4) => out[..4].copy_from_slice(&v4.octets()),
        (IpAddr::V6(v6), Family::Ipv6) => out.copy_from_slice(&v6.octets()),
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SockState;
    use std::os::unix::fs::MetadataExt;

    fn inode(fd: &impl std::os::fd::AsRawFd) -> u64 {
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        std::fs::metadata(path).unwrap().ino()
    }

    fn harvest(
        proto: Protocol,
        local: std::net::SocketAddr,
        remote: Option<std::net::SocketAddr>,
        inode: u64,
    ) -> SocketHarvest {
        let ep = |a: std::net::SocketAddr| Endpoint {
            address: a.ip(),
            port: a.port(),
        };
        SocketHarvest {
            protocol: proto,
            family: Family::of(&local.ip()),
            local: ep(local),
            remote: remote.map(ep),
            state: SockState::Listen,
            v6only: None,
            recv_queue: None,
            send_queue: None,
            inode,
            uid: None,
            netns: 0,
            cgroup_id: None,
        }
    }

    /// Live sockets of every kind are confirmed by inode; a closed one, and one whose
    /// inode is not the socket at those addresses, are not.
    #[test]
    fn confirms_live_sockets_by_inode_only() {
        use std::net::{TcpListener, TcpStream, UdpSocket};
        let l4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let l6 = TcpListener::bind("[::1]:0").unwrap();
        let c = TcpStream::connect(l4.local_addr().unwrap()).unwrap();
        let (a, _) = l4.accept().unwrap();
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let uc = UdpSocket::bind("127.0.0.1:0").unwrap();
        uc.connect(u.local_addr().unwrap()).unwrap();
        let u6 = UdpSocket::bind("[::1]:0").unwrap();
        let gone = TcpListener::bind("127.0.0.1:0").unwrap();
        let gone_h = harvest(
            Protocol::Tcp,
            gone.local_addr().unwrap(),
            None,
            inode(&gone),
        );
        drop(gone);
        let live = [
            harvest(Protocol::Tcp, l4.local_addr().unwrap(), None, inode(&l4)),
            harvest(Protocol::Tcp, l6.local_addr().unwrap(), None, inode(&l6)),
            harvest(
                Protocol::Tcp,
                c.local_addr().unwrap(),
                Some(c.peer_addr().unwrap()),
                inode(&c),
            ),
            harvest(
                Protocol::Tcp,
                a.local_addr().unwrap(),
                Some(a.peer_addr().unwrap()),
                inode(&a),
            ),
            harvest(Protocol::Udp, u.local_addr().unwrap(), None, inode(&u)),
            harvest(
                Protocol::Udp,
                uc.local_addr().unwrap(),
                Some(uc.peer_addr().unwrap()),
                inode(&uc),
            ),
            harvest(Protocol::Udp, u6.local_addr().unwrap(), None, inode(&u6)),
        ];
        // The listener's addresses with the client's inode: another socket is there.
        let wrong = harvest(Protocol::Tcp, l4.local_addr().unwrap(), None, inode(&c));
        let mut diag = Diag::open().unwrap();
        let all: Vec<&SocketHarvest> = live.iter().chain([&gone_h, &wrong]).collect();
        let found = confirm(&mut diag, &all);
        let want: InodeSet = live.iter().map(|s| s.inode).collect();
        assert_eq!(found, want);
    }
}
