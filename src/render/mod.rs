//! Render stage: plain data in, any `impl Write` out. Table for people, JSON for scripts,
//! `who` blocks and the `verify` report.

pub mod json;
pub mod sanitize;
pub mod table;
pub mod verify;
pub mod who;

use std::io::IsTerminal;

/// Whether to colour: `forced` by --color always|never, else only on a terminal without
/// NO_COLOR.
pub fn use_color(forced: Option<bool>) -> bool {
    forced.unwrap_or_else(|| {
        std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    })
}

/// The terminal's width when stdout is one; None for pipes and files.
pub fn terminal_width() -> Option<u16> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    comfy_table::Table::new().width().or(Some(100))
}
