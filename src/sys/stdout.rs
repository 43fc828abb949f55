//! System-call layer: standard output that a stop signal can still interrupt. A command
//! that reads its stop signals from a signalfd (`watch`, `listen`, `wait`) has them
//! blocked, so while a write waits for a reader that stopped reading (a full pipe or
//! FIFO), SIGTERM and Ctrl-C would wait with it, forever. Once such a command installed
//! its [`StopSignals`], each write here first waits until the descriptor can take data or
//! a stop signal comes, then writes at most one pipe page, which a pipe with room takes
//! without blocking; a stop ends the write with [`Stopped`]. Before that (and for every
//! other command) a write is a plain write(2) of the whole buffer.

use super::event_loop::{self, Woke};
use super::signals::StopSignals;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The stop signals a write waits on, once installed (see [`watch_stops`]).
static STOPS: Mutex<Option<StopSignals>> = Mutex::new(None);

/// What a pipe with room at all takes in one write without blocking (one pipe buffer).
const PIPE_PAGE: usize = 4096;

/// Writes to standard output from now on wait for room together with `stops`.
pub fn watch_stops(stops: StopSignals) {
    if let Ok(mut s) = STOPS.lock() {
        *s = Some(stops);
    }
}

/// A write to standard output ended by a stop signal while it waited for room: the
/// command was asked to stop, and ends as it does for a stop signal at any other moment.
#[derive(Debug, thiserror::Error)]
#[error("stopped by a signal while standard output was full")]
pub struct Stopped;

/// Set once a write ended with [`Stopped`]: wrapped by serde or anyhow on the way up, the
/// error itself may no longer be told from another.
static WAS_STOPPED: AtomicBool = AtomicBool::new(false);

/// Whether a write to standard output ended because a stop signal came.
pub fn was_stopped() -> bool {
    WAS_STOPPED.load(Ordering::Relaxed)
}

/// File descriptor 1, unbuffered (put a `BufWriter` around it).
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let out = rustix::stdio::stdout();
        let stops = STOPS.lock().ok().and_then(|s| s.clone());
        let Some(stops) = stops else {
            return Ok(rustix::io::write(out, buf)?);
        };
        match event_loop::writable(Some(&stops), out.as_fd())? {
            Woke::Signal => {
                WAS_STOPPED.store(true, Ordering::Relaxed);
                Err(io::Error::other(Stopped))
            }
            _ => Ok(rustix::io::write(out, &buf[..buf.len().min(PIPE_PAGE)])?),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
