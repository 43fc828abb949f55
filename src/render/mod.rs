//! Render stage: plain data in, any `impl Write` out. Table for people, JSON for scripts.

pub mod ansible;
pub mod json;
pub mod placement;
pub mod prometheus;
pub mod sanitize;
pub mod table;

use crate::cli::ColorChoice;
use std::io::IsTerminal;

/// Whether to colour: `--color always|never`, else only on a terminal without NO_COLOR.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
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
