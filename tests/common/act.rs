//! Helpers for the kill/close/wait tests: holders this test process starts (and ends by
//! PID, even when an assertion fails), descriptors kept in flight, the strict JSON document.
//! Used by tests/alone/kill.rs, close.rs, wait.rs and hostile_actions.rs.
#![allow(dead_code)]

use super::*;
use portscope::act::ActDocument;
use portscope::collect::linux::pidfd::Pidfd;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn act_doc(stdout: &str) -> ActDocument {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("invalid document ({e}): {stdout}"))
}

/// In a forked child before exec: makes `fds` the child's descriptors 3, 4, ... without
/// the close-on-exec flag, whatever numbers they had (one of them may already be 3).
pub fn place(fds: &[RawFd]) -> std::io::Result<()> {
    let mut tmp = Vec::with_capacity(fds.len());
    for &fd in fds {
        // SAFETY: fcntl/dup2 on descriptors this process holds; async-signal-safe.
        let t = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) };
        if t < 0 {
            return Err(std::io::Error::last_os_error());
        }
        tmp.push(t);
    }
    for (i, &t) in tmp.iter().enumerate() {
        // SAFETY: as above; dup2 onto another number clears close-on-exec.
        if unsafe { libc::dup2(t, 3 + i as RawFd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `sleep 1000` holding `fd` as its descriptor 3 (SIGTERM ignored if asked): a holder the
/// test starts, so the test may end it.
pub fn hold(fd: RawFd, ignore_term: bool) -> Kid {
    let mut cmd = Command::new("sleep");
    cmd.arg("1000").stdin(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls (dup2, signal).
    unsafe {
        cmd.pre_exec(move || {
            place(&[fd])?;
            if ignore_term {
                libc::signal(libc::SIGTERM, libc::SIG_IGN);
            }
            Ok(())
        });
    }
    Kid(cmd.spawn().expect("spawn sleep"))
}

/// A datagram socket pair that keeps a descriptor "in flight" (SCM_RIGHTS, sent and not
/// yet received): the socket stays open while no process holds it, as a supervisor's
/// socket activation does.
pub struct InFlight {
    tx: OwnedFd,
    rx: OwnedFd,
}

impl InFlight {
    pub fn new() -> InFlight {
        let mut sv = [0; 2];
        // SAFETY: socketpair into a local array; checked.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                0,
                sv.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0);
        // SAFETY: fresh descriptors we own.
        unsafe {
            InFlight {
                tx: OwnedFd::from_raw_fd(sv[0]),
                rx: OwnedFd::from_raw_fd(sv[1]),
            }
        }
    }

    pub fn send(&self, fd: RawFd) {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut cbuf = [0u64; 8];
        // SAFETY: msghdr and cmsg built over local buffers that outlive sendmsg.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
            assert_eq!(libc::sendmsg(self.tx.as_raw_fd(), &msg, 0), 1);
        }
    }

    /// The receiving end, for a child that receives the descriptor itself.
    pub fn rx_fd(&self) -> RawFd {
        self.rx.as_raw_fd()
    }

    pub fn recv(&self) -> OwnedFd {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut cbuf = [0u64; 8];
        // SAFETY: as in send; the received descriptor is new and ours.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&cbuf);
            assert_eq!(
                libc::recvmsg(self.rx.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC),
                1
            );
            let c = libc::CMSG_FIRSTHDR(&msg);
            assert!(!c.is_null());
            OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>()))
        }
    }
}

/// A process this test started: ended (by its PID) and reaped when dropped, so a failing
/// assertion leaks nothing.
pub struct Kid(pub Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Kid {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Kid {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

pub fn exited(p: &Pidfd) -> bool {
    p.exited_within(Duration::from_secs(10))
}

pub fn end(c: Kid) {
    drop(c);
}

pub fn who_code(port: u16) -> i32 {
    run(&["who", "-t", &port.to_string()]).0
}

pub fn act_args(specs: &[&str]) -> portscope::cli::ActArgs {
    portscope::cli::ActArgs {
        specs: specs.iter().map(|s| s.to_string()).collect(),
        proto: Default::default(),
        all_states: false,
        yes: true,
        dry_run: false,
        json: false,
    }
}
