//! Collect stage, Linux: which network namespace a process is in, for a user who may not
//! read its namespace link. The kernel numbers the namespaces it knows as peers of ours
//! (nsids: assigned when a veth or other link joins them, or by `ip netns set NAME auto`)
//! and tells anyone, without privilege, the nsid of a PID's namespace and of an nsfs
//! file (RTM_GETNSID). Two equal nsids are the same namespace; an unassigned one (-1)
//! tells nothing, and then nothing is claimed.

use super::netlink::{recv_into, send_to_kernel};
use super::nsfs::open_netns;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const NETNSA_NSID: u16 = 1;
const NETNSA_PID: u16 = 2;
const NETNSA_FD: u16 = 3;
const NLMSG_ERROR: u16 = 2;

/// A NETLINK_ROUTE socket that asks for nsids.
pub struct Nsids {
    fd: OwnedFd,
    seq: u32,
}

impl Nsids {
    pub fn open() -> io::Result<Nsids> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Nsids { fd, seq: 0 })
    }

    /// The nsid of `pid`'s network namespace; None when unassigned or unknown.
    pub fn of_pid(&mut self, pid: u32) -> Option<i32> {
        self.ask(NETNSA_PID, pid)
    }

    /// The nsid of the namespace an nsfs descriptor names; None when unassigned.
    pub fn of_fd(&mut self, ns: &OwnedFd) -> Option<i32> {
        self.ask(NETNSA_FD, ns.as_raw_fd() as u32)
    }

    fn ask(&mut self, attr: u16, value: u32) -> Option<i32> {
        self.seq = self.seq.wrapping_add(1);
        send_to_kernel(&self.fd, &request(self.seq, attr, value)).ok()?;
        let mut buf = [0u8; 256];
        let n = recv_into(&self.fd, &mut buf, 0).ok()?;
        parse_reply(&buf[..n], self.seq)
    }
}

/// Processes by the nsid of their namespace, asked once per harvest and
/// only when a namespace can neither be entered nor reached through a known member.
#[derive(Default)]
pub struct Peers {
    nsids: Option<Nsids>,
    by_nsid: Option<HashMap<i32, Vec<u32>>>,
}

impl Peers {
    /// The processes the kernel says are inside the namespace at `path` (none when it
    /// has no nsid here: then nothing is known).
    pub fn members_of(&mut self, path: &Path) -> Vec<u32> {
        let Ok(fd) = open_netns(path) else {
            return Vec::new();
        };
        if self.nsids.is_none() {
            self.nsids = Nsids::open().ok();
        }
        let Some(n) = self.nsids.as_mut() else {
            return Vec::new();
        };
        let Some(id) = n.of_fd(&fd) else {
            return Vec::new();
        };
        if self.by_nsid.is_none() {
            let mut m: HashMap<i32, Vec<u32>> = HashMap::new();
            for pid in super::procdir::pids() {
                if let Some(i) = n.of_pid(pid) {
                    m.entry(i).or_default().push(pid);
                }
            }
            self.by_nsid = Some(m);
        }
        self.by_nsid
            .as_ref()
            .and_then(|m| m.get(&id).cloned())
            .unwrap_or_default()
    }
}

/// RTM_GETNSID: nlmsghdr, rtgenmsg (padded to 4), one u32 attribute.
fn request(seq: u32, attr: u16, value: u32) -> [u8; 28] {
    let mut m = [0u8; 28];
    m[0..4].copy_from_slice(&28u32.to_ne_bytes());
    m[4..6].copy_from_slice(&libc::RTM_GETNSID.to_ne_bytes());
    m[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    // pid 0, rtgen_family AF_UNSPEC (0) and its padding stay zero.
    m[20..22].copy_from_slice(&8u16.to_ne_bytes());
    m[22..24].copy_from_slice(&attr.to_ne_bytes());
    m[24..28].copy_from_slice(&value.to_ne_bytes());
    m
}

/// The NETNSA_NSID of an RTM_NEWNSID reply to `seq`, when assigned (>= 0).
fn parse_reply(b: &[u8], seq: u32) -> Option<i32> {
    let u16_at = |i: usize| Some(u16::from_ne_bytes(b.get(i..i + 2)?.try_into().ok()?));
    let u32_at = |i: usize| Some(u32::from_ne_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let len = (u32_at(0)? as usize).min(b.len());
    let kind = u16_at(4)?;
    if kind == NLMSG_ERROR || kind != libc::RTM_NEWNSID || u32_at(8)? != seq {
        return None;
    }
    let mut at = 20; // nlmsghdr (16) + rtgenmsg padded (4)
    while at + 4 <= len {
        let alen = usize::from(u16_at(at)?);
        if alen < 4 {
            return None;
        }
        if u16_at(at + 2)? & 0x3fff == NETNSA_NSID && alen >= 8 {
            let id = u32_at(at + 4)? as i32;
            return (id >= 0).then_some(id);
        }
        at += (alen + 3) & !3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(seq: u32, nsid: i32) -> Vec<u8> {
        let mut m = vec![0u8; 28];
        m[0..4].copy_from_slice(&28u32.to_ne_bytes());
        m[4..6].copy_from_slice(&libc::RTM_NEWNSID.to_ne_bytes());
        m[8..12].copy_from_slice(&seq.to_ne_bytes());
        m[20..22].copy_from_slice(&8u16.to_ne_bytes());
        m[22..24].copy_from_slice(&NETNSA_NSID.to_ne_bytes());
        m[24..28].copy_from_slice(&nsid.to_ne_bytes());
        m
    }

    #[test]
    fn replies_give_the_assigned_nsid_only() {
        assert_eq!(parse_reply(&reply(7, 3), 7), Some(3));
        assert_eq!(parse_reply(&reply(7, -1), 7), None, "not assigned");
        assert_eq!(parse_reply(&reply(7, 3), 8), None, "another request's");
        assert_eq!(parse_reply(&reply(7, 3)[..22], 7), None, "truncated");
    }

    #[test]
    fn our_own_namespace_is_asked_without_error() {
        // Our own namespace has no nsid as its own peer unless one was set: either answer
        // is fine, the call must simply not fail or hang.
        let mut n = Nsids::open().unwrap();
        let _ = n.of_pid(std::process::id());
    }
}
