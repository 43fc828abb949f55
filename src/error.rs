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
    /// A network namespace asked about exists but could not be read: the answer would be
    /// partial, so there is none. Exit status 3 (as a hidden owner's).
    #[error("{0}")]
    NetnsUnreadable(String),
    /// This platform cannot do what was asked.
    #[error("unsupported on this platform: {0}")]
    Unsupported(&'static str),
}

/// The exit status of an error that ends a command: 3 for an unreadable namespace (the
/// answer is partial), 2 for everything else.
pub fn exit_status(e: &anyhow::Error) -> i32 {
    match e.downcast_ref::<Error>() {
        Some(Error::NetnsUnreadable(_)) => 3,
        _ => 2,
    }
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
