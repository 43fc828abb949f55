//! `portscope diff OLD.json NEW.json`: what changed between two saved `list --json`
//! documents, as `watch` prints changes. Exit 0 nothing differs, 1 something does.

use super::args;
use crate::cli::{ColorChoice, DiffArgs};
use crate::error::Error;
use crate::render::events::{self, rfc3339_ms};
use crate::render::json::{Document, SCHEMA_VERSION};
use crate::watch::{self, Matching};
use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

/// The largest document `diff` reads (64 MiB): a socket is about 500 bytes of JSON, so
/// well over 100,000 sockets fit, and `/dev/zero` or a runaway file ends at once.
pub const MAX_DOCUMENT: u64 = 64 * 1024 * 1024;

/// Reads at most `limit` bytes of `path`; one more byte is an error, so a device that never
/// ends (`/dev/zero`) or a huge file costs at most `limit + 1` bytes of memory and reading.
fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB: not a document diff reads",
            limit / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

/// Reads a document strictly (unknown fields are errors): a file that is not one is named
/// with serde's reason.
pub fn read_document(path: &Path) -> Result<Document, Error> {
    let name = path.display().to_string();
    let bytes = read_bounded(path, MAX_DOCUMENT)
        .map_err(|e| Error::invalid("document", name.clone(), e.to_string()))?;
    let doc: Document = serde_json::from_slice(&bytes).map_err(|e| {
        Error::invalid(
            "document",
            name.clone(),
            format!("not a portscope list --json document: {e}"),
        )
    })?;
    if doc.schema_version != SCHEMA_VERSION {
        return Err(Error::invalid(
            "document",
            name,
            format!(
                "schema_version {} is not supported (this portscope reads {SCHEMA_VERSION})",
                doc.schema_version
            ),
        ));
    }
    Ok(doc)
}

pub fn run(a: &DiffArgs, color: ColorChoice, out: &mut dyn Write) -> anyhow::Result<i32> {
    let old = read_document(&a.old)?;
    let new = read_document(&a.new)?;
    let matching = if a.strict {
        Matching::Strict
    } else {
        Matching::Loose
    };
    let changes = watch::diff(&old.sockets, &new.sockets, matching);
    let color = args::output(false, color).color;
    let ts = rfc3339_ms(SystemTime::now());
    let host = super::watch::hostname();
    for e in &changes {
        if a.jsonl {
            events::write_jsonl(out, e, &ts, &host)?;
        } else {
            events::write_text(out, e, None, color)?;
        }
    }
    out.flush()?;
    Ok(if changes.is_empty() { 0 } else { 1 })
}
