//! Render stage: plain data in, any `impl Write` out. Table for people, JSON for scripts.

pub mod fit;
pub mod json;
pub mod sanitize;
pub mod table;

use crate::cli::ColorChoice;
use std::io::IsTerminal;

/// Whether to colour: `--color always|never`, else only on a terminal that can show colour
/// (TERM is not `dumb`) without NO_COLOR.
pub fn use_color(choice: ColorChoice) -> bool {
    color_for(
        choice,
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

/// The decision of `use_color`, from its inputs.
pub fn color_for(
    choice: ColorChoice,
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
        }
    }
}

/// The terminal's width when stdout is one; None for pipes and files.
pub fn terminal_width() -> Option<u16> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    comfy_table::Table::new().width().or(Some(100))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn term_dumb_gets_no_colour() {
        let auto = |tty, no, term| color_for(ColorChoice::Auto, tty, no, term);
        let s = |v: &'static str| Some(OsStr::new(v));
        assert!(auto(true, None, s("xterm-256color")));
        assert!(auto(true, None, None));
        assert!(auto(true, s(""), s("screen")));
        assert!(!auto(true, None, s("dumb")));
        assert!(!auto(true, s("1"), s("xterm")));
        assert!(!auto(false, None, s("xterm")));
        assert!(color_for(ColorChoice::Always, false, s("1"), s("dumb")));
        assert!(!color_for(ColorChoice::Never, true, None, s("xterm")));
    }
}
