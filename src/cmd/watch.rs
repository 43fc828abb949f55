//! `portscope watch`: the table once, then every change as it happens, until Ctrl-C,
//! SIGTERM, `--count` or `--for`. Each tick runs the same pipeline as `list` on a collector
//! whose owner source remembers (collect::cache), then diffs with the last tick (watch/).

use super::args;
use super::listen::parse_duration;
use super::watch_rows::{next_on_schedule, tick, write_event, write_snapshot};
pub use super::watch_rows::{Settings, Wake};
use crate::cli::{ColorChoice, EventsArg, SourceArgs, WatchArgs};
use crate::collect::cache::{CachedOwners, ProcView};
use crate::collect::{Collector, NoOwners};
use crate::error::Error;
use crate::join;
use crate::model::OwnerSourceKind;
use crate::query::Query;
use crate::watch::{self, Matching};
use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

/// Below this the table dump itself becomes the load.
pub const MIN_INTERVAL: Duration = Duration::from_millis(50);

pub fn settings(a: &WatchArgs) -> anyhow::Result<Settings> {
    let interval = parse_duration(&a.interval)?;
    if interval < MIN_INTERVAL {
        return Err(Error::invalid("interval", &a.interval, "must be at least 50ms").into());
    }
    let snapshot_every = a
        .snapshot_every
        .as_deref()
        .map(parse_duration)
        .transpose()?;
    if snapshot_every.is_some_and(|d| d < MIN_INTERVAL) {
        let v = a.snapshot_every.as_deref().unwrap_or_default();
        return Err(Error::invalid("snapshot interval", v, "must be at least 50ms").into());
    }
    Ok(Settings {
        interval,
        snapshot_every,
        count: a.count,
        duration: a.duration.as_deref().map(parse_duration).transpose()?,
        jsonl: a.jsonl,
        host: hostname(),
    })
}

pub fn run(
    a: &WatchArgs,
    color: ColorChoice,
    sources: &SourceArgs,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let q = Query::watch(
        args::list_selection(&a.select)?,
        a.numeric,
        args::output(false, color),
    );
    let s = settings(a)?;
    // Signals are blocked before any thread exists (the owner scan starts some), so that
    // every thread leaves them to the signalfd.
    let mut signals = signals::Signals::install()?;
    let mut c = args::collector_for(sources, &q)?;
    if c.owners.kind() != OwnerSourceKind::None {
        let inner = std::mem::replace(&mut c.owners, Box::new(NoOwners::default()));
        c.owners = Box::new(CachedOwners::new(inner, ProcView));
    }
    #[cfg(target_os = "linux")]
    if a.events != EventsArg::Poll {
        // Attached before the snapshot, so nothing after it is missed.
        match open_events(sources) {
            Ok((src, current)) => {
                let wait = &mut |until, fd: Option<std::os::fd::BorrowedFd<'_>>| {
                    signals.wait_fd(until, fd)
                };
                return super::watch_events::run(&mut c, &q, &s, src, current, wait, out);
            }
            Err(e) if a.events == EventsArg::Bpf => {
                return Err(Error::invalid("event source", "bpf", e).into());
            }
            Err(e) => super::print_notes(&[format!(
                "kernel events unavailable ({e}): polling every {}; sockets that live shorter than that may be missed",
                a.interval
            )]),
        }
    }
    #[cfg(not(target_os = "linux"))]
    if a.events == EventsArg::Bpf {
        return Err(Error::invalid("event source", "bpf", "kernel events are Linux only").into());
    } else if a.events == EventsArg::Auto {
        super::print_notes(&[format!(
            "kernel events are Linux only: polling every {}",
            a.interval
        )]);
    }
    run_with(&mut c, &q, &s, &mut |d| signals.wait(d), out)
}

/// The event source, filtering in the kernel on the namespace --netns names (all: none),
/// and this process's namespace inode.
#[cfg(target_os = "linux")]
fn open_events(
    sources: &SourceArgs,
) -> Result<(crate::collect::linux::bpf::events::EventSource, u64), String> {
    use crate::collect::linux::bpf::events::{EventSource, DEFAULT_RING_BYTES};
    use crate::collect::linux::netns;
    use crate::collect::NetnsChoice;
    let current = netns::current_inode().ok_or("cannot read /proc/self/ns/net")?;
    let only = match args::netns(sources.netns()) {
        NetnsChoice::All => None,
        NetnsChoice::Current => Some(current),
        other => {
            netns::resolve(&other)
                .map_err(|e| e.to_string())?
                .netns
                .inode
        }
    };
    use crate::collect::linux::bpf::BpfError;
    let src = EventSource::open(DEFAULT_RING_BYTES, only).map_err(|e| match e {
        BpfError::Permission(m) => format!("not permitted: {m}"),
        BpfError::Unsupported(m) => format!("unsupported here: {m}"),
        BpfError::Other(m) => m,
    })?;
    Ok((src, current))
}

/// One tick: the pipeline, sorted; new warnings to stderr once each.
/// `watch` on any host; `wait(until)` sleeps until then or until told to stop.
pub fn run_with(
    c: &mut Collector,
    q: &Query,
    s: &Settings,
    wait: &mut dyn FnMut(Instant) -> std::io::Result<Wake>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let start = Instant::now();
    let end = s.duration.map(|d| start + d);
    let mut said = HashSet::new();
    let mut last = tick(c, q, &mut said)?;
    write_snapshot(out, q, s, &last)?;
    super::print_notes(
        &join::hidden_summary(&last, super::running_as_root())
            .into_iter()
            .collect::<Vec<_>>(),
    );
    let mut changes = 0u64;
    let mut next_tick = start + s.interval;
    let mut next_snapshot = s.snapshot_every.map(|d| start + d);
    loop {
        if s.count.is_some_and(|n| changes >= n) {
            return Ok(0);
        }
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            return Ok(0);
        }
        let until = end.map_or(next_tick, |e| e.min(next_tick));
        if until > now && wait(until)? == Wake::Stop {
            return Ok(0);
        }
        let now = Instant::now();
        if now < next_tick || end.is_some_and(|e| now >= e) {
            continue;
        }
        next_tick = next_on_schedule(next_tick, s.interval, now);
        let current = watch::settle(&last, tick(c, q, &mut said)?);
        for e in watch::diff(&last, &current, Matching::Strict) {
            write_event(out, q, s, &e)?;
            changes += 1;
            if s.count.is_some_and(|n| changes >= n) {
                return Ok(0);
            }
        }
        last = current;
        if let (Some(at), Some(every)) = (next_snapshot, s.snapshot_every) {
            if now >= at {
                write_snapshot(out, q, s, &last)?;
                // On the schedule, like the ticks, so it stays in step with them.
                next_snapshot = Some(next_on_schedule(at, every, now));
            }
        }
    }
}

/// This host's name (uname's nodename), for the JSON Lines `host` field.
pub fn hostname() -> String {
    #[cfg(unix)]
    return crate::sys::host::hostname();
    #[cfg(not(unix))]
    String::new()
}

#[cfg(target_os = "linux")]
mod signals {
    use super::Wake;
    use crate::sys::event_loop::{self, Woke};
    use crate::sys::signals::StopSignals;
    use std::os::fd::BorrowedFd;
    use std::time::Instant;

    /// SIGINT and SIGTERM, blocked and read from a signalfd, so that they end the wait
    /// between ticks instead of the process: watch then exits 0 having printed nothing
    /// more than complete lines.
    pub struct Signals(StopSignals);

    impl Signals {
        pub fn install() -> std::io::Result<Signals> {
            StopSignals::install(&[libc::SIGINT, libc::SIGTERM]).map(Signals)
        }

        pub fn wait(&mut self, until: Instant) -> std::io::Result<Wake> {
            self.wait_fd(Some(until), None)
        }

        /// As `wait`, and also wakes when `fd` is readable; None: no deadline.
        pub fn wait_fd(
            &mut self,
            until: Option<Instant>,
            fd: Option<BorrowedFd<'_>>,
        ) -> std::io::Result<Wake> {
            let fds: Vec<BorrowedFd<'_>> = fd.into_iter().collect();
            Ok(match event_loop::wait(Some(&self.0), &fds, until)? {
                Woke::Signal => Wake::Stop,
                Woke::Ready(_) => Wake::Ready,
                Woke::Deadline => Wake::Timeout,
            })
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod signals {
    use super::Wake;
    use std::time::Instant;

    /// Elsewhere Ctrl-C ends the process by its default action.
    pub struct Signals;

    impl Signals {
        pub fn install() -> std::io::Result<Signals> {
            Ok(Signals)
        }
        pub fn wait(&mut self, until: Instant) -> std::io::Result<Wake> {
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            Ok(Wake::Timeout)
        }
    }
}
