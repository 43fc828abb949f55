//! Collect stage, Linux: sock_diag replies parsed in place (netlink headers,
//! `inet_diag_msg` and its attributes), and the message constants requests share.

use crate::model::{Endpoint, Family, Protocol, SockState, SocketHarvest};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(super) const SOCK_DIAG_BY_FAMILY: u16 = 20;
pub(super) const NLM_F_REQUEST: u16 = 0x1;
pub(super) const NLM_F_DUMP: u16 = 0x300;
pub(super) const NLMSG_ERROR: u16 = 2;
pub(super) const NLMSG_DONE: u16 = 3;
pub(super) const INET_DIAG_SKV6ONLY: u16 = 11;
/// The socket's cgroup v2 id (a u64); the kernel adds it to every full socket unasked.
pub(super) const INET_DIAG_CGROUP_ID: u16 = 21;
pub(super) const NLMSG_HDRLEN: usize = 16;
pub(super) const DIAG_MSG_LEN: usize = 72;
pub(super) const REQ_LEN: usize = NLMSG_HDRLEN + 56;

/// Why a table could not be dumped.
#[derive(Debug)]
pub enum DiagError {
    /// The kernel has no diag handler for this protocol (module not loaded): ENOENT.
    NoHandler,
    Io(io::Error),
}

pub(super) enum Batch {
    More,
    Done,
}

/// Parses raw sock_diag reply bytes as `dump` does (for the fuzzer: kernel bytes are
/// input too). Returns the sockets found; errors and stale replies are skipped.
#[doc(hidden)]
pub fn parse_sock_diag_dump(buf: &[u8], proto: Protocol) -> Vec<SocketHarvest> {
    let mut out = Vec::new();
    if buf.len() >= 12 {
        let _ = parse_batch(buf, u32_ne(buf, 8), proto, &mut out);
    }
    out
}

pub(super) fn u16_ne(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

pub(super) fn u32_ne(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(super) fn parse_batch(
    mut buf: &[u8],
    seq: u32,
    proto: Protocol,
    out: &mut Vec<SocketHarvest>,
) -> Result<Batch, DiagError> {
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32_ne(buf, 0) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(DiagError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated netlink message",
            )));
        }
        let ty = u16_ne(buf, 4);
        let msg_seq = u32_ne(buf, 8);
        let body = &buf[NLMSG_HDRLEN..len];
        buf = &buf[((len + 3) & !3).min(buf.len())..];
        if msg_seq != seq {
            continue; // a stale reply to an earlier request
        }
        match ty {
            NLMSG_DONE => return Ok(Batch::Done),
            NLMSG_ERROR => {
                // A negative errno; i32::MIN must not overflow (found by the fuzzer).
                let code = if body.len() >= 4 {
                    (u32_ne(body, 0) as i32).wrapping_neg()
                } else {
                    libc::EIO
                };
                if code == 0 {
                    continue;
                }
                return Err(if code == libc::ENOENT {
                    DiagError::NoHandler
                } else {
                    DiagError::Io(io::Error::from_raw_os_error(code))
                });
            }
            SOCK_DIAG_BY_FAMILY => {
                if let Some(s) = parse_diag_msg(body, proto) {
                    out.push(s);
                }
            }
            _ => {}
        }
    }
    Ok(Batch::More)
}

pub(super) fn ip_from(family: u8, raw: &[u8]) -> Option<IpAddr> {
    if family == libc::AF_INET as u8 {
        Some(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])))
    } else if family == libc::AF_INET6 as u8 {
        let mut a = [0u8; 16];
        a.copy_from_slice(&raw[..16]);
        Some(IpAddr::V6(Ipv6Addr::from(a)))
    } else {
        None
    }
}

/// Parses one `inet_diag_msg` and its attributes.
pub(super) fn parse_diag_msg(b: &[u8], proto: Protocol) -> Option<SocketHarvest> {
    if b.len() < DIAG_MSG_LEN {
        return None;
    }
    let fam = b[0];
    let state = match proto {
        Protocol::Tcp => SockState::from_tcp_kernel(b[1])?,
        Protocol::Udp => SockState::from_udp_kernel(b[1]),
    };
    let sport = u16::from_be_bytes([b[4], b[5]]);
    let dport = u16::from_be_bytes([b[6], b[7]]);
    let src = ip_from(fam, &b[8..24])?;
    let dst = ip_from(fam, &b[24..40])?;
    let family = Family::of(&src);
    let mut v6only = None;
    let mut cgroup_id = None;
    let mut attrs = &b[DIAG_MSG_LEN..];
    while attrs.len() >= 4 {
        let alen = u16_ne(attrs, 0) as usize;
        let aty = u16_ne(attrs, 2) & 0x3fff;
        if alen < 4 || alen > attrs.len() {
            break;
        }
        if aty == INET_DIAG_SKV6ONLY && alen >= 5 {
            v6only = Some(attrs[4] != 0);
        }
        if aty == INET_DIAG_CGROUP_ID && alen >= 12 {
            let mut v = [0u8; 8];
            v.copy_from_slice(&attrs[4..12]);
            cgroup_id = Some(u64::from_ne_bytes(v));
        }
        let step = (alen + 3) & !3;
        attrs = &attrs[step.min(attrs.len())..];
    }
    if family == Family::Ipv6 && v6only.is_none() {
        // Mini-sockets (time_wait, request) carry no attributes; a v4-mapped address
        // can only exist on a socket that is not v6-only.
        if let IpAddr::V6(a) = src {
            if a.to_ipv4_mapped().is_some() {
                v6only = Some(false);
            }
        }
    }
    let remote = if dport == 0 && dst.is_unspecified() {
        None
    } else {
        Some(Endpoint {
            address: dst,
            port: dport,
        })
    };
    Some(SocketHarvest {
        protocol: proto,
        family,
        local: Endpoint {
            address: src,
            port: sport,
        },
        remote,
        state,
        v6only: if family == Family::Ipv6 { v6only } else { None },
        recv_queue: Some(u32_ne(b, 56)),
        send_queue: Some(u32_ne(b, 60)),
        // The kernel gives mini-sockets (time_wait, requests) uid 0: no owner at all.
        uid: (u32_ne(b, 68) != 0).then(|| u32_ne(b, 64)),
        inode: u64::from(u32_ne(b, 68)),
        netns: 0,
        cgroup_id,
    })
}
