//! One file per subcommand: build a query, pick the collector, run the pipeline, render.

pub mod args;
pub mod diff;
pub mod export;
pub mod list;
pub mod listen;
#[cfg(target_os = "linux")]
pub mod published;
pub mod verify;
pub mod watch;
pub mod who;
#[cfg(target_os = "linux")]
pub mod why;

use std::io::{self, Write};

/// Notes for stderr, one line each, after the output.
pub fn print_notes(notes: &[String]) {
    let mut err = io::stderr().lock();
    for n in notes {
        let _ = writeln!(err, "portscope: note: {n}");
    }
}
