//! System-call layer: forked children (fork has no safe wrapper; rustix has one only in its
//! runtime module).
//!
//! The contract for the code a child runs: it runs in a copy of a process that may have
//! other threads, one of which may have held the allocator's or another lock at the fork,
//! so it makes system calls only (rustix, and this layer), allocates nothing and takes no
//! lock. The callers in this crate keep to that: `probe.rs` (a holder of shared sockets)
//! and `why/trial.rs` (the trial bind as another user).

use std::io;
use std::os::fd::{AsFd, RawFd};

/// Forks; the child closes `close` (descriptors the caller owns: only the child's copies
/// are closed), runs `child` and exits with status 0 without returning. Returns the
/// child's PID to the parent.
pub fn spawn(close: &[RawFd], child: impl FnOnce()) -> io::Result<u32> {
    // SAFETY: the child makes only the calls the module's contract allows (close, then
    // `child`, then _exit) and never returns into the caller's frames.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        for &fd in close {
            // SAFETY: the child's copy of a descriptor the caller owns; the parent's stays
            // open, and nothing in the child uses it after this.
            unsafe { libc::close(fd) };
        }
        child();
        // SAFETY: ends the child without running atexit handlers or destructors that
        // belong to the parent's state.
        unsafe { libc::_exit(0) };
    }
    Ok(pid as u32)
}

/// Runs `work` in a forked child (see the module's contract) and returns the `N` bytes it
/// reports through a pipe, or None if the child ended without a whole report. The child
/// is reaped before this returns.
pub fn report<const N: usize>(work: impl FnOnce() -> [u8; N]) -> io::Result<Option<[u8; N]>> {
    use rustix::pipe::{pipe_with, PipeFlags};
    use std::os::fd::AsRawFd;
    let (r, w) = pipe_with(PipeFlags::CLOEXEC)?;
    let pid = spawn(&[r.as_raw_fd()], || {
        let msg = work();
        let _ = rustix::io::write(&w, &msg);
    })?;
    drop(w);
    let mut msg = [0u8; N];
    let mut got = 0usize;
    while got < N {
        match rustix::io::read(r.as_fd(), &mut msg[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
    }
    drop(r);
    reap(pid);
    Ok((got == N).then_some(msg))
}

/// Waits for our child `pid` to end (collects its status so no zombie remains).
pub fn reap(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        while let Err(rustix::io::Errno::INTR) =
            rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
        {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_child_reports_its_bytes_and_is_reaped() {
        let got = super::report(|| {
            let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
            pid.to_ne_bytes()
        })
        .unwrap()
        .expect("a whole report");
        let pid = u32::from_ne_bytes(got);
        assert_ne!(pid, std::process::id());
        // Reaped: no such child any more.
        let rc = rustix::process::waitpid(
            rustix::process::Pid::from_raw(pid as i32),
            rustix::process::WaitOptions::NOHANG,
        );
        assert_eq!(rc.unwrap_err(), rustix::io::Errno::CHILD);
    }
}
