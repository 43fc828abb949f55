//! `watch`'s rows, shared by its polling loop (`cmd/watch.rs`) and its kernel-event loop
//! (`cmd/watch_events.rs`): the settings, what a wait ended with, one snapshot taken through
//! the pipeline, and a snapshot or an event written out.

use crate::collect::Collector;
use crate::model::Socket;
use crate::pipeline;
use crate::query::Query;
use crate::render::events::{self, rfc3339_ms};
use crate::render::table;
use crate::sort;
use crate::watch::{self, Event};
use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

/// When and how to stop and print, validated once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub interval: Duration,
    pub snapshot_every: Option<Duration>,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub jsonl: bool,
    pub host: String,
}

/// What the waiting between ticks ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The time asked for passed.
    Timeout,
    /// SIGINT or SIGTERM: stop now, print nothing more.
    Stop,
    /// The descriptor waited on beside the signals is readable (kernel events came).
    Ready,
}

/// The next time on a schedule of `every` that was due at `at`: a slow tick (a loaded
/// host) skips the times it overran instead of bunching them.
pub(super) fn next_on_schedule(at: Instant, every: Duration, now: Instant) -> Instant {
    let next = at + every;
    if next <= now {
        now + every
    } else {
        next
    }
}

pub(super) fn tick(
    c: &mut Collector,
    q: &Query,
    said: &mut HashSet<String>,
) -> anyhow::Result<Vec<Socket>> {
    let mut outcome = pipeline::run(c, q)?;
    sort::sort(&mut outcome.sockets, q.view().sort, q.view().reverse);
    let fresh: Vec<String> = outcome
        .warnings
        .into_iter()
        .filter(|w| said.insert(w.clone()))
        .collect();
    super::print_notes(&fresh);
    Ok(outcome.sockets)
}

/// The table (text) or one `snapshot` event per socket (JSON Lines).
pub(super) fn write_snapshot(
    out: &mut dyn Write,
    q: &Query,
    s: &Settings,
    sockets: &[Socket],
) -> anyhow::Result<()> {
    if s.jsonl {
        let ts = rfc3339_ms(SystemTime::now());
        for e in watch::snapshot(sockets) {
            events::write_jsonl(out, &e, &ts, &s.host)?;
        }
    } else {
        let style = table::TableStyle {
            color: q.view().output.color,
            width: q.view().output.width,
            shape: table::Shape::of(sockets, !q.selection().listening_only()),
        };
        table::write_table(out, sockets, style)?;
    }
    out.flush()?;
    Ok(())
}

pub(super) fn write_event(
    out: &mut dyn Write,
    q: &Query,
    s: &Settings,
    e: &Event,
) -> anyhow::Result<()> {
    let ts = rfc3339_ms(SystemTime::now());
    if s.jsonl {
        events::write_jsonl(out, e, &ts, &s.host)?;
    } else {
        events::write_text(out, e, Some(&ts), q.view().output.color)?;
    }
    // A log pipeline (or a person) sees each change as it happens.
    out.flush()?;
    Ok(())
}
