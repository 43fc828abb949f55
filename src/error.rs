//! Errors a caller branches on. Everything else travels as `anyhow::Error`.
//!
//! Every message renders as one line: `portscope: <what> '<value>': <why>`.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// Bad input from the command line: exit status 2.
    #[error("invalid {what} '{value}': {why}")]
    Invalid {
        what: &'static str,
        value: String,
        why: String,
    },
    /// The kernel's socket tables could not be read by any means: exit status 2.
    #[error("cannot read the socket tables: {0}")]
    Tables(String),
    /// This platform cannot do what was asked.
    #[error("unsupported on this platform: {0}")]
    Unsupported(&'static str),
}

impl Error {
    pub fn invalid(what: &'static str, value: impl Into<String>, why: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            value: value.into(),
            why: why.into(),
        }
    }
}
