//! `portscope listen`: hold test listeners open.
use crate::cli::ListenArgs;
use std::io::Write;
pub fn run(_a: &ListenArgs, _out: &mut dyn Write) -> anyhow::Result<i32> {
    Ok(0)
}
