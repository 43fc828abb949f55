//! portscope: what is listening, who owns this port, and can I trust the answer?
//!
//! The pipeline, one module per stage: collect (harvest) → classify → filter → join → sort →
//! render. cli.rs ends at cmd/; everything below takes plain values.

// Outside tests (clippy.toml allows them there): an unwrap is a panic waiting for input.
#![deny(clippy::unwrap_used)]

#[cfg(target_os = "linux")]
pub mod act;
pub mod classify;
pub mod cli;
pub mod cmd;
pub mod collect;
pub mod error;
pub mod fast_hash;
pub mod filter;
#[doc(hidden)]
pub mod fuzz;
pub mod join;
pub mod model;
pub mod pipeline;
pub mod probe;
pub mod query;
pub mod render;
pub mod services;
pub mod sort;
pub mod spec;
#[cfg(all(test, target_os = "linux"))]
mod test_skip;
pub mod textfile;
pub mod watch;
#[cfg(target_os = "linux")]
pub mod why;

use cli::{Cli, Command};
use std::io::Write;

/// Runs a parsed command line, writing to `out`; returns the exit status.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<i32> {
    match cli.command {
        None => cmd::list::run(&cli.list, cli.color, &cli.sources, out),
        Some(Command::List(a)) => cmd::list::run(&a, cli.color, &cli.sources, out),
        Some(Command::Who(a)) => cmd::who::run(&a, cli.color, &cli.sources, out),
        Some(Command::Verify(a)) => cmd::verify::run(&a, &cli.sources, out),
        Some(Command::Listen(a)) => cmd::listen::run(&a, &cli.sources, out),
        #[cfg(target_os = "linux")]
        Some(Command::Why(a)) => cmd::why::run(&a, &cli.sources, out),
        #[cfg(not(target_os = "linux"))]
        Some(Command::Why(_)) => Err(error::Error::Unsupported("portscope why").into()),
        Some(Command::Export(a)) => cmd::export::run(&a, &cli.sources, out),
        Some(Command::Watch(a)) => cmd::watch::run(&a, cli.color, &cli.sources, out),
        Some(Command::Diff(a)) => cmd::diff::run(&a, cli.color, out),
        #[cfg(target_os = "linux")]
        Some(Command::Kill(a)) => cmd::kill::run(&a, &cli.sources, out),
        #[cfg(target_os = "linux")]
        Some(Command::Close(a)) => cmd::close::run(&a, &cli.sources, out),
        #[cfg(target_os = "linux")]
        Some(Command::Wait(a)) => cmd::wait::run(&a, &cli.sources, out),
        #[cfg(not(target_os = "linux"))]
        Some(Command::Kill(_)) => Err(error::Error::Unsupported("portscope kill").into()),
        #[cfg(not(target_os = "linux"))]
        Some(Command::Close(_)) => Err(error::Error::Unsupported("portscope close").into()),
        #[cfg(not(target_os = "linux"))]
        Some(Command::Wait(_)) => Err(error::Error::Unsupported("portscope wait").into()),
    }
}

/// True when the error is a closed pipe: `portscope list | head -1` is a success.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

/// `portscope: <what> '<value>': <why>`, one line, the causes joined by ": ".
pub fn error_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    // Arguments echoed in a message are untrusted too: escape them for the terminal.
    format!(
        "portscope: {}",
        render::sanitize::sanitize(&parts.join(": "))
    )
}
