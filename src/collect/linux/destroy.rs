//! Collect stage, Linux: destroying sockets in the kernel (SOCK_DESTROY over netlink
//! sock_diag, what `ss -K` does) for `close`, and hearing that sockets were destroyed (the
//! sock_diag destroy multicast groups) for `wait --until free`.
//!
//! Invariant of [`Destroyer::destroy`]: it destroys only the socket a dump just reported,
//! named by its full sock_diag identity (addresses, ports, interface and the kernel's
//! cookie). A socket that closed meanwhile, even one replaced by another on the same
//! addresses, has another cookie: the kernel answers ENOENT and touches nothing.

use super::netlink::{
    build_request, open_socket, recv_into, send_to_kernel, set_recv_timeout, u16_ne, u32_ne,
    NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_REQUEST, SOCK_DIAG_BY_FAMILY,
};
use crate::model::{Endpoint, Family, Protocol};
use crate::sys::event_loop::{self, Woke};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Instant;

const SOCK_DESTROY: u16 = 21;
const NLM_F_ACK: u16 = 0x4;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_ADD_MEMBERSHIP: libc::c_int = 1;
/// SKNLGRP_INET_TCP_DESTROY, _INET_UDP_, _INET6_TCP_, _INET6_UDP_ (linux/sock_diag.h).
const DESTROY_GROUPS: [(Protocol, Family, u32); 4] = [
    (Protocol::Tcp, Family::Ipv4, 1),
    (Protocol::Udp, Family::Ipv4, 2),
    (Protocol::Tcp, Family::Ipv6, 3),
    (Protocol::Udp, Family::Ipv6, 4),
];
/// inet_diag_sockid: ports, addresses, interface, cookie.
const ID_LEN: usize = 48;

/// A socket as one dump reported it, with the identity SOCK_DESTROY needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSocket {
    pub protocol: Protocol,
    pub family: Family,
    pub local: Endpoint,
    pub remote: Option<Endpoint>,
    /// The kernel's state code (TCP_LISTEN is 10; 7 is TCP_CLOSE or unconnected UDP).
    pub state_code: u8,
    pub inode: u64,
    id: [u8; ID_LEN],
}

/// A netlink sock_diag socket that finds and destroys sockets.
pub struct Destroyer {
    fd: OwnedFd,
    buf: Vec<u8>,
    seq: u32,
}

/// Splits a netlink batch into (type, seq, body) messages.
fn messages(mut buf: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32_ne(buf, 0) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            break;
        }
        out.push((u16_ne(buf, 4), u32_ne(buf, 8), &buf[NLMSG_HDRLEN..len]));
        buf = &buf[((len + 3) & !3).min(buf.len())..];
    }
    out
}

fn ip(family: Family, raw: &[u8]) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
        Family::Ipv6 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&raw[..16]);
            IpAddr::V6(Ipv6Addr::from(a))
        }
    }
}

/// One `inet_diag_msg` of a dump.
fn parse_socket(b: &[u8], protocol: Protocol, family: Family) -> Option<KernelSocket> {
    if b.len() < 72 {
        return None;
    }
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(&b[4..4 + ID_LEN]);
    let dport = u16::from_be_bytes([b[6], b[7]]);
    let dst = ip(family, &b[24..40]);
    Some(KernelSocket {
        protocol,
        family,
        local: Endpoint {
            address: ip(family, &b[8..24]),
            port: u16::from_be_bytes([b[4], b[5]]),
        },
        remote: (dport != 0 || !dst.is_unspecified()).then_some(Endpoint {
            address: dst,
            port: dport,
        }),
        state_code: b[1],
        inode: u64::from(u32_ne(b, 68)),
        id,
    })
}

impl Destroyer {
    pub fn open() -> io::Result<Destroyer> {
        let fd = open_socket()?;
        set_recv_timeout(&fd, 3)?;
        Ok(Destroyer {
            fd,
            buf: vec![0u8; 64 * 1024],
            seq: 0,
        })
    }

    /// Every socket of `protocol`/`family` (any state) whose local port is in `ranges`.
    pub fn find(
        &mut self,
        protocol: Protocol,
        family: Family,
        ranges: &[(u16, u16)],
    ) -> io::Result<Vec<KernelSocket>> {
        self.seq = self.seq.wrapping_add(1);
        let bc = super::netlink::compile_ports(ranges, false);
        let req = build_request(protocol, family, u32::MAX, self.seq, Some(&bc));
        send_to_kernel(&self.fd, &req)?;
        let mut out = Vec::new();
        loop {
            let n = recv_into(&self.fd, &mut self.buf, 0)?;
            for (ty, seq, body) in messages(&self.buf[..n]) {
                if seq != self.seq {
                    continue;
                }
                match ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        return Err(errno_of(body).unwrap_or(io::ErrorKind::Other.into()))
                    }
                    SOCK_DIAG_BY_FAMILY => out.extend(parse_socket(body, protocol, family)),
                    _ => {}
                }
            }
        }
    }

    /// Destroys `s` (see the module invariant). EPERM: needs CAP_NET_ADMIN; EOPNOTSUPP: a
    /// kernel built without CONFIG_INET_DIAG_DESTROY; ENOENT: the socket is gone.
    pub fn destroy(&mut self, s: &KernelSocket) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let mut req = build_request(s.protocol, s.family, u32::MAX, self.seq, None);
        req[4..6].copy_from_slice(&SOCK_DESTROY.to_ne_bytes());
        req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        req[24..24 + ID_LEN].copy_from_slice(&s.id);
        send_to_kernel(&self.fd, &req)?;
        loop {
            let n = recv_into(&self.fd, &mut self.buf, 0)?;
            for (ty, seq, body) in messages(&self.buf[..n]) {
                if seq == self.seq && ty == NLMSG_ERROR {
                    return errno_of(body).map_or(Ok(()), Err);
                }
            }
        }
    }
}

/// The error an NLMSG_ERROR carries; None for an acknowledgement (error 0).
fn errno_of(body: &[u8]) -> Option<io::Error> {
    let code = if body.len() >= 4 {
        (u32_ne(body, 0) as i32).wrapping_neg()
    } else {
        libc::EIO
    };
    (code != 0).then(|| io::Error::from_raw_os_error(code))
}

/// A subscription to the kernel's "socket destroyed" notifications (needs CAP_NET_ADMIN).
pub struct DestroyEvents {
    fd: OwnedFd,
    buf: Vec<u8>,
}

/// What arrived while waiting.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Destroyed {
    /// Local ports of the destroyed sockets.
    pub ports: Vec<u16>,
    /// Notifications were lost (the socket's buffer overflowed): anything may have closed.
    pub overflowed: bool,
}

impl DestroyEvents {
    /// Joins the destroy groups of these protocols and families.
    pub fn subscribe(protocols: &[Protocol], families: &[Family]) -> io::Result<DestroyEvents> {
        let fd = open_socket()?;
        // Multicast is delivered only to a bound socket (port ID 0: the kernel picks one).
        // SAFETY: sockaddr_nl is plain data; zeroed with the family set is "any port ID".
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: sa outlives the call; the length is its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        for (p, f, group) in DESTROY_GROUPS {
            if !protocols.contains(&p) || !families.contains(&f) {
                continue;
            }
            // SAFETY: group is a live u32 for the duration of the call.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_NETLINK,
                    NETLINK_ADD_MEMBERSHIP,
                    (&group as *const u32).cast(),
                    4,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(DestroyEvents {
            fd,
            buf: vec![0u8; 64 * 1024],
        })
    }

    /// Waits until `deadline` for notifications, then takes every one queued.
    pub fn wait(&mut self, deadline: Instant) -> io::Result<Destroyed> {
        let mut got = Destroyed::default();
        if event_loop::wait(None, &[self.fd.as_fd()], Some(deadline))? == Woke::Deadline {
            return Ok(got);
        }
        loop {
            match recv_into(&self.fd, &mut self.buf, libc::MSG_DONTWAIT) {
                Ok(n) => {
                    for (ty, _, body) in messages(&self.buf[..n]) {
                        if ty == SOCK_DIAG_BY_FAMILY && body.len() >= 8 {
                            got.ports.push(u16::from_be_bytes([body[4], body[5]]));
                        }
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => got.overflowed = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(got),
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dumped_message_keeps_its_identity_and_endpoints() {
        let mut b = vec![0u8; 72];
        b[0] = libc::AF_INET as u8;
        b[1] = 1;
        b[4..6].copy_from_slice(&8080u16.to_be_bytes());
        b[6..8].copy_from_slice(&40000u16.to_be_bytes());
        b[8..12].copy_from_slice(&[127, 0, 0, 1]);
        b[24..28].copy_from_slice(&[127, 0, 0, 2]);
        b[44..52].copy_from_slice(&[9, 8, 7, 6, 5, 4, 3, 2]); // cookie
        b[68..72].copy_from_slice(&77u32.to_ne_bytes());
        let s = parse_socket(&b, Protocol::Tcp, Family::Ipv4).unwrap();
        assert_eq!(s.local.to_string(), "127.0.0.1:8080");
        assert_eq!(s.remote.unwrap().to_string(), "127.0.0.2:40000");
        assert_eq!((s.state_code, s.inode), (1, 77));
        assert_eq!(&s.id[40..48], &[9, 8, 7, 6, 5, 4, 3, 2]);
        assert!(parse_socket(&b[..71], Protocol::Tcp, Family::Ipv4).is_none());
    }
}
