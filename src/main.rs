//! Entry point: parse, dispatch, map errors to exit statuses (0 ok, 1 nothing matched,
//! 2 error or bad input, 3 `who` owner hidden). Never a panic, never a backtrace.

use clap::Parser;
use std::io::{BufWriter, Write};

fn main() {
    let cli = match portscope::cli::Cli::try_parse() {
        Ok(c) => c,
        // --help and --version exit 0, usage errors 2, each with clap's message.
        Err(e) => e.exit(),
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let result = portscope::run(cli, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    let code = match result {
        Ok(code) => code,
        Err(e) if portscope::is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("{}", portscope::error_line(&e));
            2
        }
    };
    // A BufWriter dropped on a closed pipe must not report again: forget it.
    std::mem::forget(out);
    std::process::exit(code);
}
