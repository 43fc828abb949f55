//! System-call layer: the one wait on descriptors with a deadline, for every command that
//! sleeps until something happens (`listen`, `watch`, `wait`, `kill`): a stop signal read
//! from a signalfd ([`StopSignals`]), a pidfd turning readable as its process exits, a
//! netlink socket or a BPF ring buffer with records, stdin closing; or the deadline.
//!
//! The deadline arithmetic lives here only. The time left goes to ppoll(2) whole (rustix
//! passes a timespec, nanoseconds, not poll's milliseconds), and the kernel never returns
//! before it; a return before the deadline all the same (EINTR) waits again for what is
//! left. So a deadline is neither woken early and spun on, nor rounded into a late wake.

use super::signals::StopSignals;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

/// What a wait ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woke {
    /// A stop signal is waiting on the signalfd (left there unread). It wins over any
    /// descriptor readable at the same time.
    Signal,
    /// The descriptor at this index of those passed is readable, or hung up or in error
    /// (its next read says which). The first such one.
    Ready(usize),
    /// The deadline passed and nothing was ready.
    Deadline,
}

/// `Instant::now() + d`, or None (no deadline) when that is beyond what an Instant holds.
pub fn deadline_after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// Waits until a stop signal comes (when `stop` is given), one of `fds` is readable, or
/// `deadline` passes (None: no deadline). A deadline already passed still looks once,
/// without sleeping: what is ready now is reported, not the deadline. With neither `stop`
/// nor `fds` it sleeps until the deadline.
pub fn wait(
    stop: Option<&StopSignals>,
    fds: &[BorrowedFd<'_>],
    deadline: Option<Instant>,
) -> io::Result<Woke> {
    let watched: Vec<_> = fds.iter().map(|&fd| (fd, PollFlags::IN)).collect();
    wait_for(stop, &watched, deadline)
}

/// Waits, without a deadline, until `fd` can take data (a pipe has room again) or a stop
/// signal comes; [`Woke::Ready`] is index 0.
pub fn writable(stop: Option<&StopSignals>, fd: BorrowedFd<'_>) -> io::Result<Woke> {
    wait_for(stop, &[(fd, PollFlags::OUT)], None)
}

/// [`wait`] for descriptors each with the events it waits for.
fn wait_for(
    stop: Option<&StopSignals>,
    fds: &[(BorrowedFd<'_>, PollFlags)],
    deadline: Option<Instant>,
) -> io::Result<Woke> {
    let mut polled: Vec<PollFd<'_>> = stop
        .map(|s| PollFd::new(s, PollFlags::IN))
        .into_iter()
        .chain(
            fds.iter()
                .map(|&(fd, events)| PollFd::from_borrowed_fd(fd, events)),
        )
        .collect();
    loop {
        let left = deadline.map(|d| timespec(d.saturating_duration_since(Instant::now())));
        match poll(&mut polled, left.as_ref()) {
            Ok(0) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(Woke::Deadline),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let mut ready = polled.iter().map(|p| !p.revents().is_empty());
        if stop.is_some() && ready.next() == Some(true) {
            return Ok(Woke::Signal);
        }
        if let Some(i) = ready.position(|r| r) {
            return Ok(Woke::Ready(i));
        }
    }
}

/// The time left as ppoll takes it; beyond its range, as long as it goes.
fn timespec(left: Duration) -> Timespec {
    Timespec::try_from(left).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_readable_descriptor_is_named_by_its_index() {
        let (r1, _w1) = rustix::pipe::pipe().unwrap();
        let (r2, w2) = rustix::pipe::pipe().unwrap();
        let fds = [r1.as_fd(), r2.as_fd()];
        let now = Instant::now();
        assert_eq!(wait(None, &fds, Some(now)).unwrap(), Woke::Deadline);
        rustix::io::write(&w2, b"x").unwrap();
        // Ready now: reported even though the deadline has passed.
        assert_eq!(wait(None, &fds, Some(now)).unwrap(), Woke::Ready(1));
        assert_eq!(wait(None, &fds, None).unwrap(), Woke::Ready(1));
        drop(w2);
        let mut b = [0u8; 1];
        assert_eq!(rustix::io::read(&r2, &mut b), Ok(1));
        // Hung up counts as ready: the next read says so (0, end of file).
        assert_eq!(wait(None, &fds, None).unwrap(), Woke::Ready(1));
        assert_eq!(rustix::io::read(&r2, &mut b), Ok(0));
    }

    /// The deadline is honoured: not woken before it, and not long after (a loaded host
    /// gets a wide margin).
    #[test]
    fn the_deadline_is_never_early() {
        let (r, _w) = rustix::pipe::pipe().unwrap();
        for d in [Duration::from_micros(300), Duration::from_millis(20)] {
            let start = Instant::now();
            let end = start + d;
            assert_eq!(wait(None, &[r.as_fd()], Some(end)).unwrap(), Woke::Deadline);
            assert!(Instant::now() >= end);
            assert!(start.elapsed() < d + Duration::from_secs(2), "{d:?}");
        }
        let start = Instant::now();
        let end = start + Duration::from_millis(5);
        assert_eq!(wait(None, &[], Some(end)).unwrap(), Woke::Deadline);
        assert!(Instant::now() >= end);
    }

    #[test]
    fn a_deadline_beyond_an_instant_is_none() {
        assert_eq!(deadline_after(Duration::MAX), None);
        let d = deadline_after(Duration::from_secs(1)).unwrap();
        assert!(d > Instant::now());
        assert_eq!(timespec(Duration::MAX).tv_sec, i64::MAX);
    }
}
