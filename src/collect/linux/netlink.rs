//! Collect stage, Linux: the socket tables through netlink sock_diag (what `ss` uses).
//!
//! Hand-rolled rather than netstat2's reader: netstat2 drops the UDP peer, the IPV6_V6ONLY
//! flag and the queue sizes, and allocates per attribute. One reused 64 KiB buffer here.
//! This file is the transport (the socket, send, receive, the dump loop); requests and
//! their port-filter bytecode are built in `diag_bytecode.rs`, replies parsed in
//! `diag_wire.rs`.

use crate::model::{Family, Protocol, SocketHarvest, TableQuery};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub(super) use super::diag_bytecode::*;
pub(super) use super::diag_wire::*;

pub(super) const NETLINK_SOCK_DIAG: libc::c_int = 4;
/// Seconds to wait for each netlink reply before giving up on netlink.
const RECV_TIMEOUT_SECS: i64 = 3;

/// A netlink sock_diag socket, reused for every table of one run.
pub struct Diag {
    fd: OwnedFd,
    buf: Vec<u8>,
    seq: u32,
}

/// Each reply must come within `secs`, else the read fails with EAGAIN.
pub(super) fn set_recv_timeout(fd: &OwnedFd, secs: i64) -> io::Result<()> {
    // time_t by inference: the alias is deprecated on musl (its width changes there), and
    // it is i64 on some targets only.
    #[allow(clippy::useless_conversion)]
    let tv_sec = secs
        .try_into()
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let tv = libc::timeval { tv_sec, tv_usec: 0 };
    // SAFETY: tv is a valid timeval for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Diag {
    pub fn open() -> io::Result<Diag> {
        let fd = open_socket()?;
        // A sandbox that swallows netlink must not hang us: each reply must come within
        // this long (a dump of 100k sockets takes well under a second), else EAGAIN and
        // the caller falls back to /proc/net.
        set_recv_timeout(&fd, RECV_TIMEOUT_SECS)?;
        Ok(Diag {
            fd,
            buf: vec![0u8; 64 * 1024],
            seq: 0,
        })
    }

    /// Dumps one (protocol, family) table, appending the sockets in `states` to `out`.
    pub fn dump(
        &mut self,
        proto: Protocol,
        family: Family,
        query: &TableQuery,
        out: &mut Vec<SocketHarvest>,
    ) -> Result<(), DiagError> {
        let states = state_mask(proto, query);
        if states == 0 {
            return Ok(()); // no state of this protocol is wanted
        }
        let bytecode = match &query.ports {
            Some(pf) => {
                let ranges = pf.for_protocol(proto);
                if ranges.is_empty() {
                    return Ok(()); // no port of this protocol is wanted
                }
                (ranges.len() <= MAX_BC_RANGES).then(|| compile_ports(&ranges, pf.remote))
            }
            None => None,
        };
        match self.dump_with(proto, family, states, bytecode.as_deref(), out) {
            // A kernel that refuses the filter still answers without it.
            Err(DiagError::Io(e))
                if bytecode.is_some() && e.raw_os_error() == Some(libc::EINVAL) =>
            {
                self.dump_with(proto, family, states, None, out)
            }
            r => r,
        }
    }

    fn dump_with(
        &mut self,
        proto: Protocol,
        family: Family,
        states: u32,
        bytecode: Option<&[u8]>,
        out: &mut Vec<SocketHarvest>,
    ) -> Result<(), DiagError> {
        self.seq = self.seq.wrapping_add(1);
        let req = build_request(proto, family, states, self.seq, bytecode);
        self.exchange(&req, proto, true, out)
    }

    /// Sends one request that is not a dump (an exact lookup: its reply is one message,
    /// with no NLMSG_DONE after it), its sequence number set here.
    pub(super) fn ask_one(
        &mut self,
        mut req: Vec<u8>,
        proto: Protocol,
        out: &mut Vec<SocketHarvest>,
    ) -> Result<(), DiagError> {
        self.seq = self.seq.wrapping_add(1);
        req[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        self.exchange(&req, proto, false, out)
    }

    /// Sends `req` and reads replies until NLMSG_DONE (`dump`), or one reply.
    fn exchange(
        &mut self,
        req: &[u8],
        proto: Protocol,
        dump: bool,
        out: &mut Vec<SocketHarvest>,
    ) -> Result<(), DiagError> {
        send_to_kernel(&self.fd, req).map_err(DiagError::Io)?;
        loop {
            let n = recv_into(&self.fd, &mut self.buf, 0).map_err(DiagError::Io)?;
            // Not a dump: one reply, whatever it held (a stale or unparsable message only
            // leaves the socket unconfirmed, for the dump to decide).
            match parse_batch(&self.buf[..n], self.seq, proto, out)? {
                Batch::More if dump => continue,
                _ => return Ok(()),
            }
        }
    }
}

/// A fresh NETLINK_SOCK_DIAG socket (also used by `destroy.rs`).
pub(super) fn open_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends one netlink request to the kernel.
pub(super) fn send_to_kernel(fd: &OwnedFd, req: &[u8]) -> io::Result<()> {
    // SAFETY: sockaddr_nl is plain data; zeroed is the kernel's address.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: req and sa outlive the call; the lengths are theirs.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One netlink reply into `buf`, retried when a signal interrupts the wait.
pub(super) fn recv_into(fd: &OwnedFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    loop {
        // SAFETY: buf is a live, writable allocation of buf.len() bytes.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SockState;

    fn msg(fam: u8, state: u8, sport: u16, inode: u32, attrs: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; DIAG_MSG_LEN];
        b[0] = fam;
        b[1] = state;
        b[4..6].copy_from_slice(&sport.to_be_bytes());
        if fam == libc::AF_INET as u8 {
            b[8..12].copy_from_slice(&[127, 0, 0, 1]);
        } else {
            b[8 + 15] = 1; // ::1
        }
        b[56..60].copy_from_slice(&3u32.to_ne_bytes());
        b[60..64].copy_from_slice(&128u32.to_ne_bytes());
        b[64..68].copy_from_slice(&1000u32.to_ne_bytes());
        b[68..72].copy_from_slice(&inode.to_ne_bytes());
        b.extend_from_slice(attrs);
        b
    }

    #[test]
    fn parses_a_v4_listener() {
        let s =
            parse_diag_msg(&msg(libc::AF_INET as u8, 10, 8080, 42, &[]), Protocol::Tcp).unwrap();
        assert_eq!(s.state, SockState::Listen);
        assert_eq!(s.local.to_string(), "127.0.0.1:8080");
        assert_eq!(s.remote, None);
        assert_eq!(
            (s.recv_queue, s.send_queue, s.uid, s.inode),
            (Some(3), Some(128), Some(1000), 42)
        );
        assert_eq!(s.v6only, None);
        assert_eq!(s.family, Family::Ipv4);
    }

    #[test]
    fn reads_the_cgroup_id_attribute_after_padding() {
        // INET_DIAG_PAD (len 4, type 20), then INET_DIAG_CGROUP_ID: len 12, type 21, u64.
        let mut attrs = vec![4, 0, 20, 0, 12, 0, 21, 0];
        attrs.extend_from_slice(&0x1234_5678_9abc_u64.to_ne_bytes());
        let s = parse_diag_msg(&msg(libc::AF_INET as u8, 10, 80, 9, &attrs), Protocol::Tcp);
        assert_eq!(s.unwrap().cgroup_id, Some(0x1234_5678_9abc));
        // A truncated attribute is ignored, not misread.
        let short = [8, 0, 21, 0, 1, 0, 0, 0];
        let s = parse_diag_msg(&msg(libc::AF_INET as u8, 10, 80, 9, &short), Protocol::Tcp);
        assert_eq!(s.unwrap().cgroup_id, None);
    }

    #[test]
    fn reads_the_v6only_attribute() {
        // rtattr: len 5, type 11, value 1, padded to 8
        let attr = [5, 0, 11, 0, 1, 0, 0, 0];
        let s = parse_diag_msg(&msg(libc::AF_INET6 as u8, 7, 53, 7, &attr), Protocol::Udp).unwrap();
        assert_eq!(s.v6only, Some(true));
        assert_eq!(s.state, SockState::Unconnected);
        assert_eq!(s.family, Family::Ipv6);
        let s = parse_diag_msg(&msg(libc::AF_INET6 as u8, 10, 53, 7, &[]), Protocol::Tcp).unwrap();
        assert_eq!(s.v6only, None);
    }

    /// The kernel's inet_diag_bc_audit and inet_diag_bc_run (net/ipv4/inet_diag.c),
    /// transcribed for port ops only, so the bytecode is checked as the kernel checks it.
    fn op(bc: &[u8], at: usize) -> (u8, usize, usize) {
        (bc[at], bc[at + 1] as usize, u16_ne(bc, at + 2) as usize)
    }

    fn valid_cc(bc: &[u8], cc: isize) -> bool {
        let (mut at, mut len) = (0usize, bc.len() as isize);
        while len >= 0 {
            if cc > len {
                return false;
            }
            if cc == len {
                return true;
            }
            let (_, yes, _) = op(bc, at);
            if yes < 4 || yes & 3 != 0 {
                return false;
            }
            len -= yes as isize;
            at += yes;
        }
        false
    }

    fn audit(bc: &[u8]) -> bool {
        let (mut at, mut len) = (0usize, bc.len() as isize);
        while len > 0 {
            let (code, yes, no) = op(bc, at);
            let min_len = match code {
                BC_S_GE | BC_S_LE | BC_D_GE | BC_D_LE => {
                    if len < 8 {
                        return false;
                    }
                    8
                }
                BC_JMP => 4,
                _ => return false,
            };
            if no < min_len || no as isize > len + 4 || no & 3 != 0 {
                return false;
            }
            if (no as isize) < len && !valid_cc(bc, len - no as isize) {
                return false;
            }
            if yes < min_len || yes as isize > len + 4 || yes & 3 != 0 {
                return false;
            }
            at += yes;
            len -= yes as isize;
        }
        len == 0
    }

    fn run(bc: &[u8], sport: u16, dport: u16) -> bool {
        let (mut at, mut len) = (0usize, bc.len() as isize);
        while len > 0 {
            let (code, yes, no) = op(bc, at);
            let port = || u16_ne(bc, at + 6);
            let ok = match code {
                BC_JMP => false,
                BC_S_GE => sport >= port(),
                BC_S_LE => sport <= port(),
                BC_D_GE => dport >= port(),
                BC_D_LE => dport <= port(),
                _ => unreachable!(),
            };
            let step = if ok { yes } else { no };
            len -= step as isize;
            at += step;
        }
        len == 0
    }

    #[test]
    fn port_bytecode_passes_the_kernel_audit_and_matches_exactly() {
        let sets: &[&[(u16, u16)]] = &[
            &[(8080, 8080)],
            &[(80, 80), (443, 443)],
            &[(0, 0), (8000, 8100), (65535, 65535), (22, 22)],
        ];
        for ranges in sets {
            for remote in [false, false, true] {
                let bc = compile_ports(ranges, remote);
                assert!(audit(&bc), "{ranges:?}");
                for port in [
                    0u16, 1, 21, 22, 23, 79, 80, 81, 443, 7999, 8000, 8050, 8080, 8100, 8101,
                    65534, 65535,
                ] {
                    let want = ranges.iter().any(|&(lo, hi)| lo <= port && port <= hi);
                    let (s, d) = if remote { (1234, port) } else { (port, 1234) };
                    assert_eq!(
                        run(&bc, s, d),
                        want,
                        "{ranges:?} port {port} remote {remote}"
                    );
                }
            }
        }
    }

    #[test]
    fn error_message_with_i32_min_code_does_not_overflow() {
        // tests/fuzz artifact: an NLMSG_ERROR whose error field is i32::MIN.
        let mut m = vec![0u8; 20];
        m[0..4].copy_from_slice(&20u32.to_ne_bytes());
        m[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m[16..20].copy_from_slice(&i32::MIN.to_ne_bytes());
        assert!(parse_sock_diag_dump(&m, Protocol::Tcp).is_empty());
        let mut out = Vec::new();
        assert!(matches!(
            parse_batch(&m, 0, Protocol::Tcp, &mut out),
            Err(DiagError::Io(_))
        ));
    }

    #[test]
    fn state_mask_pushes_listening_down() {
        let q = TableQuery {
            protocols: vec![Protocol::Tcp, Protocol::Udp],
            families: vec![Family::Ipv4],
            states: Some(vec![SockState::Listen, SockState::Unconnected]),
            ports: None,
        };
        assert_eq!(state_mask(Protocol::Tcp, &q), 1 << 10);
        assert_eq!(state_mask(Protocol::Udp, &q), 1 << 7);
    }
}
