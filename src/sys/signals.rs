//! System-call layer: stop signals read from a descriptor (signalfd), for the commands that
//! wait (`listen`, `watch`), which wait on it through `sys::event_loop`. rustix has no
//! signalfd or signal-mask call.
//!
//! The one invariant: a signal is blocked only while a descriptor reads it. If making the
//! descriptor fails, the mask is put back, so Ctrl-C and SIGTERM still end the process by
//! their default action; blocked signals with nothing reading them would leave a process
//! only `kill -9` could stop.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

/// A signal set holding `signals`.
pub fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before any other use,
    // and neither call can fail on a valid pointer and valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Whether `set` holds `sig`.
pub fn has(set: &libc::sigset_t, sig: libc::c_int) -> bool {
    // SAFETY: a valid, initialised set and a signal number; sigismember only reads.
    unsafe { libc::sigismember(set, sig) == 1 }
}

/// Changes this thread's signal mask; returns the one it replaces.
pub fn sigmask(how: libc::c_int, set: &libc::sigset_t) -> io::Result<libc::sigset_t> {
    // Any valid set: pthread_sigmask overwrites it.
    let mut old = *set;
    // SAFETY: both sets are valid for the call. pthread_sigmask returns its error number
    // instead of setting errno.
    let rc = unsafe { libc::pthread_sigmask(how, set, &mut old) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(old)
}

/// A new signalfd reading `set`, close-on-exec.
fn signalfd(set: &libc::sigset_t) -> io::Result<OwnedFd> {
    // SAFETY: a valid set; -1 asks for a new descriptor, which is checked.
    let fd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `signals`, blocked for this thread (and the threads it starts later) and readable from
/// the descriptor `open` makes of them. If blocking or `open` fails, the mask is as it was.
pub fn block_and_watch(
    signals: &[libc::c_int],
    open: impl FnOnce(&libc::sigset_t) -> io::Result<OwnedFd>,
) -> io::Result<OwnedFd> {
    let set = sigset(signals);
    let old = sigmask(libc::SIG_BLOCK, &set)?;
    open(&set).inspect_err(|_| {
        // Nothing more can be done if restoring fails too; the open error says why.
        let _ = sigmask(libc::SIG_SETMASK, &old);
    })
}

/// Stop signals read from a descriptor instead of ending the process (clones share it).
#[derive(Clone)]
pub struct StopSignals(std::sync::Arc<OwnedFd>);

impl StopSignals {
    /// Blocks `signals` and reads them from a signalfd; on failure nothing is blocked.
    /// Call it before starting threads, so that every thread leaves them to the descriptor.
    /// Writes to standard output wait on it too from now on (`sys::stdout`), so a stop
    /// still stops a command whose output nobody reads.
    pub fn install(signals: &[libc::c_int]) -> io::Result<StopSignals> {
        let stops = StopSignals(std::sync::Arc::new(block_and_watch(signals, signalfd)?));
        super::stdout::watch_stops(stops.clone());
        Ok(stops)
    }
}

impl AsFd for StopSignals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::event_loop::{wait, Woke};
    use std::time::Instant;

    const STOP: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    /// Whether this thread blocks `sig`.
    fn blocked(sig: libc::c_int) -> bool {
        // Blocking nothing more returns the mask as it is.
        has(&sigmask(libc::SIG_BLOCK, &sigset(&[])).unwrap(), sig)
    }

    /// Regression: a failed signalfd left SIGINT and SIGTERM blocked with nothing reading
    /// them, so neither Ctrl-C nor `kill` could stop `listen` or `watch`.
    #[test]
    fn failed_signalfd_leaves_stop_signals_unblocked() {
        // Test threads start with the harness's mask, which blocks none of these.
        assert_eq!(STOP.map(blocked), [false; 3]);
        let mut tried = false;
        let r = block_and_watch(&STOP, |_| {
            // Blocked while the descriptor is being made, so none is lost in between.
            assert_eq!(STOP.map(blocked), [true; 3]);
            tried = true;
            Err(io::Error::from_raw_os_error(libc::EMFILE))
        });
        assert!(tried);
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EMFILE));
        assert_eq!(STOP.map(blocked), [false; 3]);
    }

    /// pthread_sigmask returns its error number; errno is not read.
    #[test]
    fn sigmask_error_is_the_returned_number() {
        let err = sigmask(12345, &sigset(&[])).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        assert_eq!(STOP.map(blocked), [false; 3]);
    }

    /// A signal sent to this thread while watched wakes the wait and does not end the
    /// test process; the mask is put back afterwards.
    #[test]
    fn a_watched_signal_wakes_the_wait() {
        let old = sigmask(libc::SIG_BLOCK, &sigset(&[])).unwrap();
        let s = StopSignals::install(&[libc::SIGUSR2]).unwrap();
        assert!(blocked(libc::SIGUSR2));
        assert_eq!(
            wait(Some(&s), &[], Some(Instant::now())).unwrap(),
            Woke::Deadline
        );
        // SAFETY: a signal to this very thread, which blocks it.
        let rc = unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR2) };
        assert_eq!(rc, 0);
        assert_eq!(wait(Some(&s), &[], None).unwrap(), Woke::Signal);
        // Read, so it is not delivered (and does not end the tests) once unblocked.
        let mut info = [0u8; 128];
        assert_eq!(rustix::io::read(s.as_fd(), &mut info), Ok(128));
        assert_eq!(
            wait(Some(&s), &[], Some(Instant::now())).unwrap(),
            Woke::Deadline
        );
        drop(s);
        sigmask(libc::SIG_SETMASK, &old).unwrap();
        assert!(!blocked(libc::SIGUSR2));
    }
}
