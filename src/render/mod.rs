//! Render stage: plain data in, any `impl Write` out. Table for people, JSON for scripts,
//! `who` blocks, the `verify` report, change events.

#[cfg(target_os = "linux")]
pub mod act;
pub mod ansible;
pub mod cells;
pub mod events;
pub mod fit;
#[cfg(test)]
pub mod fixture;
pub mod json;
pub mod prometheus;
pub mod sanitize;
pub mod table;
pub mod verify;
pub mod who;
#[cfg(target_os = "linux")]
pub mod why;

use std::ffi::OsStr;

/// A network namespace other than portscope's own, by inode (its identity: the Prometheus
/// `netns` label, ansible-facts' `netns`); None for our own, or where the inode is unknown.
pub fn netns_id(s: &crate::model::Socket) -> Option<String> {
    (!s.netns.current)
        .then(|| s.netns.inode.map(|i| i.to_string()))
        .flatten()
}
use std::io::IsTerminal;

/// Whether to colour: `forced` by --color always|never, else only on a terminal that can
/// show colour (TERM is not `dumb`) without NO_COLOR.
pub fn use_color(forced: Option<bool>) -> bool {
    color_for(
        forced,
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

/// The decision of `use_color`, from its inputs.
pub fn color_for(
    forced: Option<bool>,
    terminal: bool,
    no_color: Option<&OsStr>,
    term: Option<&OsStr>,
) -> bool {
    forced.unwrap_or_else(|| {
        terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
    })
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

    #[test]
    fn term_dumb_gets_no_colour() {
        let auto = |tty, no, term| color_for(None, tty, no, term);
        let s = |v: &'static str| Some(OsStr::new(v));
        assert!(auto(true, None, s("xterm-256color")));
        assert!(auto(true, None, None));
        assert!(auto(true, s(""), s("screen")));
        assert!(!auto(true, None, s("dumb")));
        assert!(!auto(true, s("1"), s("xterm")));
        assert!(!auto(false, None, s("xterm")));
        assert!(color_for(Some(true), false, s("1"), s("dumb")));
        assert!(!color_for(Some(false), true, None, s("xterm")));
    }
}
