//! Acting on a port, `wait`: what ends the pause between two looks at the table. BPF
//! events (as `watch` takes them) wake it the moment a bind, listen or close touches one
//! of the ports; for `--until free` without them, the sock_diag destroy notifications; else
//! only the clock, looking more often early on. Every pause sleeps in `sys::event_loop`.

use super::Until;
use crate::collect::linux::bpf::events::EventSource;
use crate::collect::linux::destroy::DestroyEvents;
use crate::query::Query;
use crate::sys::event_loop;
use std::time::{Duration, Instant};

/// The longest pause between two looks at the table: the reaction time when nothing else
/// wakes us (a listener appearing has no notification).
pub const MAX_STEP: Duration = Duration::from_millis(10);
/// With destroy notifications, looks are only a fallback (a socket that stops listening
/// without being destroyed, a lost notification).
pub const MAX_STEP_WITH_EVENTS: Duration = Duration::from_millis(50);
/// With BPF events every change wakes the wait: the table is read again this often only
/// in case an event was missed.
pub const MAX_STEP_WITH_BPF: Duration = Duration::from_secs(1);

/// The source of wake-ups, chosen once.
pub enum Wakes {
    Bpf(EventSource),
    Destroyed(DestroyEvents),
    Clock,
}

impl Wakes {
    /// The best source this host and this process allow.
    pub fn open(until: Until, q: &Query) -> Wakes {
        if let Ok(src) = EventSource::open(64 * 1024, None) {
            return Wakes::Bpf(src);
        }
        let destroyed = match until {
            Until::Free => DestroyEvents::subscribe(
                &q.selection().table.protocols,
                &q.selection().table.families,
            )
            .ok(),
            Until::Up => None,
        };
        destroyed.map_or(Wakes::Clock, Wakes::Destroyed)
    }

    /// The longest pause between looks: the less the source misses, the longer.
    pub fn max_step(&self) -> Duration {
        match self {
            Wakes::Bpf(_) => MAX_STEP_WITH_BPF,
            Wakes::Destroyed(_) => MAX_STEP_WITH_EVENTS,
            Wakes::Clock => MAX_STEP,
        }
    }

    /// Sleeps until `end`, or less when something happens on one of `ports` (inclusive
    /// ranges).
    pub fn pause(&mut self, end: Instant, ports: &[(u16, u16)]) {
        match self {
            Wakes::Bpf(src) => pause_for_bpf(src, end, ports),
            Wakes::Destroyed(ev) => pause_for_destroyed(ev, end, ports),
            Wakes::Clock => sleep_until(end),
        }
    }
}

fn on(ports: &[(u16, u16)], p: u16) -> bool {
    ports.iter().any(|&(lo, hi)| lo <= p && p <= hi)
}

fn sleep_until(end: Instant) {
    // Nothing to read: this returns at the deadline (an error has nothing to report).
    let _ = event_loop::wait(None, &[], Some(end));
}

/// Until `end`, or less when a kernel event touches one of `ports` (a listener's close
/// may carry port 0: any such close wakes it too) or events were lost.
fn pause_for_bpf(src: &mut EventSource, end: Instant, ports: &[(u16, u16)]) {
    let mut busy_until = None;
    loop {
        let now = Instant::now();
        if now >= end {
            return;
        }
        let mut hit = false;
        let n = src.drain(|e| hit |= e.local.port() == 0 || on(ports, e.local.port()));
        if hit || src.lost().map_or(true, |l| l > 0) {
            return;
        }
        if n > 0 {
            busy_until = Some(now + EventSource::READ_ON);
        }
        // Not every record is announced: look again soon for a while after events.
        let wake = match busy_until {
            Some(b) if now < b => end.min(now + EventSource::READ_EVERY),
            _ => end,
        };
        // Readable or not, the loop drains and looks at the clock again.
        let _ = event_loop::wait(None, &[src.as_fd()], Some(wake));
    }
}

/// Until `end`, or less when a socket on one of `ports` is destroyed.
fn pause_for_destroyed(ev: &mut DestroyEvents, end: Instant, ports: &[(u16, u16)]) {
    while Instant::now() < end {
        match ev.wait(end) {
            Ok(d) if d.overflowed || d.ports.iter().any(|&p| on(ports, p)) => return,
            Ok(_) => {}
            Err(_) => return sleep_until(end),
        }
    }
}
