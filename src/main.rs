//! Entry point: parse, dispatch, map errors to exit statuses (0 ok, 1 nothing matched,
//! 2 error or bad input, 3 `who` owner hidden). Never a panic, never a backtrace.

// Outside tests (clippy.toml allows them there): an unwrap is a panic waiting for input.
#![deny(clippy::unwrap_used)]

use clap::{CommandFactory, Parser};
use portscope::render::sanitize::sanitize_lines;
use std::io::{BufWriter, Write};

/// Writes to stderr and ignores failure: with stderr closed or full (`2>/dev/full`) the
/// exit status is all that can still report, and `eprintln!` would panic (an abort in the
/// release build) instead of giving it.
fn to_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// A usage error as clap words it, with what the user typed escaped visibly. Parsing again
/// without styles gives the same error with no escape codes of clap's own, so every one left
/// came from argv; clap's plain `Display` would silently strip those instead, showing a
/// value other than the one typed.
fn usage_error(e: clap::Error) -> String {
    let plain = portscope::cli::Cli::command()
        .styles(clap::builder::Styles::plain())
        .try_get_matches()
        .err()
        .filter(|p| p.kind() == e.kind());
    match plain {
        Some(p) => sanitize_lines(&p.render().ansi().to_string()),
        None => sanitize_lines(&e.render().to_string()),
    }
}

fn main() {
    let cli = match portscope::cli::Cli::try_parse() {
        Ok(c) => c,
        // Usage errors echo argv: sanitized like our own messages, uncoloured, exit 2.
        Err(e) if e.use_stderr() => {
            to_stderr(&usage_error(e));
            std::process::exit(2);
        }
        // --help and --version: clap's own text on stdout (coloured only on a terminal),
        // exit 0; nothing in them comes from argv.
        Err(e) => e.exit(),
    };
    // On Linux through the system-call layer's writer, which a stop signal interrupts while
    // a full pipe keeps a waiting command's write from ending.
    #[cfg(target_os = "linux")]
    let mut out = BufWriter::with_capacity(64 * 1024, portscope::sys::stdout::Stdout);
    #[cfg(not(target_os = "linux"))]
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let result = portscope::run(cli, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    let code = match result {
        Ok(code) => code,
        Err(e) if portscope::is_broken_pipe(&e) => 0,
        // A stop signal while the output waited for a reader: as at any other moment.
        Err(_) if portscope::stopped_while_writing() => 0,
        Err(e) => {
            to_stderr(&format!("{}\n", portscope::error_line(&e)));
            portscope::error::exit_status(&e)
        }
    };
    // A BufWriter dropped on a closed pipe must not report again: forget it.
    std::mem::forget(out);
    std::process::exit(code);
}
