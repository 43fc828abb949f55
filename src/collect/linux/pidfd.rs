//! Collect stage, Linux: process handles that a reused PID cannot fool (pidfd_open(2),
//! pidfd_send_signal(2)), for `kill`.
//!
//! Invariant: a [`Pidfd`] refers to exactly one process for its whole life. After that
//! process exits its PID may be given to another, but a signal sent through the pidfd
//! reaches the original process or fails with ESRCH: never the newcomer.

use crate::sys::event_loop::{self, Woke};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// A handle on one process (see the module invariant).
#[derive(Debug)]
pub struct Pidfd {
    fd: OwnedFd,
    pid: u32,
}

impl Pidfd {
    /// Opens a handle on the process that has `pid` now. ESRCH: no such process.
    pub fn open(pid: u32) -> io::Result<Pidfd> {
        let Ok(raw) = libc::pid_t::try_from(pid) else {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        };
        // SAFETY: pidfd_open takes a PID and flags (0) and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
        Ok(Pidfd { fd, pid })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `sig` to this handle's process (0: only checks that it still exists, which a
    /// zombie does too). ESRCH: it is gone; EPERM: not ours to signal.
    pub fn signal(&self, sig: libc::c_int) -> io::Result<()> {
        // SAFETY: a descriptor we own, a signal number, no siginfo (NULL), flags 0.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Whether the process has exited (a pidfd turns readable then), waiting up to
    /// `timeout` for it.
    pub fn exited_within(&self, timeout: Duration) -> bool {
        let deadline = event_loop::deadline_after(timeout);
        matches!(
            event_loop::wait(None, &[self.fd.as_fd()], deadline),
            Ok(Woke::Ready(_))
        )
    }
}

/// Readable once the process has exited: wait on it with `sys::event_loop`.
impl AsFd for Pidfd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_zero_proves_our_own_process_and_a_dead_child_is_not_signalled() {
        let me = Pidfd::open(std::process::id()).unwrap();
        me.signal(0).unwrap();
        assert!(!me.exited_within(Duration::ZERO));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let h = Pidfd::open(pid).unwrap();
        assert!(h.exited_within(Duration::from_secs(10)));
        child.wait().unwrap();
        // Reaped: the handle's process is gone for good, whatever takes its PID next.
        let e = h.signal(0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ESRCH));
    }
}
