//! Render stage: what a table's cells are made of (a column and a cell's tone), shared by
//! the table (`render::table`) and its fitting to a terminal (`render::fit`), so neither
//! imports the other for them.

use comfy_table::Color;

/// How one cell is coloured when colour is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Info,
    Dim,
    Warn,
}

impl Tone {
    pub(crate) fn ansi(self) -> Option<&'static str> {
        match self {
            Tone::Plain => None,
            Tone::Good => Some("\x1b[32m"),
            Tone::Info => Some("\x1b[36m"),
            Tone::Dim => Some("\x1b[2m"),
            Tone::Warn => Some("\x1b[33m"),
        }
    }

    pub(crate) fn color(self) -> Option<Color> {
        match self {
            Tone::Plain => None,
            Tone::Good => Some(Color::Green),
            Tone::Info => Some(Color::Cyan),
            Tone::Dim => Some(Color::DarkGrey),
            Tone::Warn => Some(Color::Yellow),
        }
    }
}

/// A column of the table: its heading and whether it is right-aligned.
pub struct Column {
    pub name: &'static str,
    pub right: bool,
}
