//! Collect stage, Linux: sock_diag dump requests, with the state mask and the port-filter
//! bytecode the kernel runs over each socket (as iproute2's ss builds it).

use super::diag_wire::{NLM_F_DUMP, NLM_F_REQUEST, REQ_LEN, SOCK_DIAG_BY_FAMILY};
use crate::model::{Family, Protocol, SockState, TableQuery};

pub(super) const INET_DIAG_REQ_BYTECODE: u16 = 1;
pub(super) const BC_JMP: u8 = 1;
pub(super) const BC_S_GE: u8 = 2;
pub(super) const BC_S_LE: u8 = 3;
pub(super) const BC_D_GE: u8 = 4;
pub(super) const BC_D_LE: u8 = 5;
/// More ranges than this are filtered in user space only (the bytecode grows linearly).
pub(super) const MAX_BC_RANGES: usize = 64;

/// The kernel's state bitmask for the states the query wants.
pub(super) fn state_mask(proto: Protocol, query: &TableQuery) -> u32 {
    let Some(states) = &query.states else {
        return u32::MAX;
    };
    let mut mask = 0u32;
    for st in states {
        let codes: &[u32] = match (proto, st) {
            (Protocol::Tcp, SockState::Established) => &[1],
            (Protocol::Tcp, SockState::SynSent) => &[2],
            (Protocol::Tcp, SockState::SynReceived) => &[3, 12],
            (Protocol::Tcp, SockState::FinWait1) => &[4],
            (Protocol::Tcp, SockState::FinWait2) => &[5],
            (Protocol::Tcp, SockState::TimeWait) => &[6],
            // 13: TCP_BOUND_INACTIVE, a socket bound to a port but neither listening nor
            // connected (reported since Linux 6.6): it holds the port, shown as closed.
            (Protocol::Tcp, SockState::Closed) => &[7, 13],
            (Protocol::Tcp, SockState::CloseWait) => &[8],
            (Protocol::Tcp, SockState::LastAck) => &[9],
            (Protocol::Tcp, SockState::Listen) => &[10],
            (Protocol::Tcp, SockState::Closing) => &[11],
            (Protocol::Udp, SockState::Connected) => &[1],
            (Protocol::Udp, SockState::Unconnected) => &[7],
            _ => &[],
        };
        for c in codes {
            mask |= 1 << c;
        }
    }
    mask
}

/// sock_diag bytecode that accepts a socket whose source (or, `remote`, destination) port
/// lies in any of `ranges`. Built as iproute2's ss builds it: each range is `GE lo AND LE
/// hi`, ranges are joined by OR through a JMP; every op's "yes" goes to the next op (the
/// kernel's audit walks that chain) and a failed test jumps past its clause.
pub fn compile_ports(ranges: &[(u16, u16)], remote: bool) -> Vec<u8> {
    let (ge, le) = if remote {
        (BC_D_GE, BC_D_LE)
    } else {
        (BC_S_GE, BC_S_LE)
    };
    // One clause: [GE yes=8 no=20][port lo][LE yes=8 no=12][port hi]: 16 bytes, whose
    // failures land 4 bytes past its end, where the next clause (after a JMP) starts.
    let clause = |lo: u16, hi: u16| -> Vec<u8> {
        let mut c = Vec::with_capacity(16);
        for (code, port, no) in [(ge, lo, 20u16), (le, hi, 12u16)] {
            c.extend_from_slice(&[code, 8]);
            c.extend_from_slice(&no.to_ne_bytes());
            c.extend_from_slice(&[0, 0]);
            c.extend_from_slice(&port.to_ne_bytes());
        }
        c
    };
    let mut bc = clause(ranges[0].0, ranges[0].1);
    for &(lo, hi) in &ranges[1..] {
        // A OR B: [A][JMP yes=4 no=len(B)+4][B]; A's failures land on B.
        let b = clause(lo, hi);
        bc.extend_from_slice(&[BC_JMP, 4]);
        bc.extend_from_slice(&((b.len() + 4) as u16).to_ne_bytes());
        bc.extend_from_slice(&b);
    }
    bc
}

pub(super) fn build_request(
    proto: Protocol,
    family: Family,
    states: u32,
    seq: u32,
    bytecode: Option<&[u8]>,
) -> Vec<u8> {
    let bc_len = bytecode.map_or(0, |b| 4 + b.len());
    let total = REQ_LEN + bc_len;
    let mut r = vec![0u8; total];
    r[0..4].copy_from_slice(&(total as u32).to_ne_bytes());
    r[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    r[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    r[8..12].copy_from_slice(&seq.to_ne_bytes());
    // inet_diag_req_v2 at offset 16: family, protocol, ext, pad, states, sockid (zeros)
    r[16] = match family {
        Family::Ipv4 => libc::AF_INET as u8,
        Family::Ipv6 => libc::AF_INET6 as u8,
    };
    r[17] = match proto {
        Protocol::Tcp => libc::IPPROTO_TCP as u8,
        Protocol::Udp => libc::IPPROTO_UDP as u8,
    };
    r[20..24].copy_from_slice(&states.to_ne_bytes());
    if let Some(bc) = bytecode {
        r[REQ_LEN..REQ_LEN + 2].copy_from_slice(&(bc_len as u16).to_ne_bytes());
        r[REQ_LEN + 2..REQ_LEN + 4].copy_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        r[REQ_LEN + 4..].copy_from_slice(bc);
    }
    r
}
