//! One file per subcommand: build a query, pick the collector, run the pipeline, render.

#[cfg(target_os = "linux")]
pub mod act;
pub mod args;
#[cfg(target_os = "linux")]
pub mod close;
pub mod diff;
pub mod export;
#[cfg(target_os = "linux")]
pub mod kill;
pub mod list;
pub mod listen;
pub mod verify;
#[cfg(target_os = "linux")]
pub mod wait;
pub mod watch;
#[cfg(target_os = "linux")]
mod watch_events;
mod watch_rows;
pub mod who;
#[cfg(target_os = "linux")]
pub mod why;

use std::io::{self, Write};

/// Whether portscope runs as root: the advice for owners it cannot see depends on it
/// (join::hidden_summary, join::hidden_hint).
pub fn running_as_root() -> bool {
    #[cfg(unix)]
    return crate::collect::effective_uid() == 0;
    #[cfg(not(unix))]
    false
}

/// Notes for stderr, one line each, after the output.
pub fn print_notes(notes: &[String]) {
    let mut err = io::stderr().lock();
    for n in notes {
        let _ = writeln!(err, "portscope: note: {n}");
    }
}
