//! Acting on a port, `kill`: signal each planned process through a pidfd after proving it
//! still holds the socket, wait for the port to be free, escalate, and name whatever still
//! holds it (a restarted holder with its unit or container).

use super::{guard, supervisor, Plan, Remaining, Report, SocketRef, Status, Step, Target};
use crate::classify::Classification;
use crate::collect::linux::pidfd::Pidfd;
use crate::collect::Collector;
use crate::filter;
use crate::model::{Owner, Socket, SocketHarvest};
use crate::pipeline;
use crate::query::Query;
use crate::sys::event_loop;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

/// How long SIGKILL gets to take effect before the port is checked a last time.
const AFTER_KILL: Duration = Duration::from_secs(2);
/// The longest pause between two looks at the table while waiting.
const MAX_STEP: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct KillOptions {
    pub signal: libc::c_int,
    /// `SIGTERM` and the like, for the report.
    pub signal_name: String,
    pub grace: Duration,
    pub escalate: bool,
}

/// Called with each target's PID after the plan was made (and its pidfd pinned) and before
/// it is checked again and signalled: tests use it to change the target in between.
pub type Hook<'a> = &'a mut dyn FnMut(u32);

/// Why a target was not signalled.
enum Skip {
    /// It exited, let go of the socket, or is no longer the process of the plan: exit 5.
    Changed(String),
    /// Not ours to signal: exit status 3.
    Denied(String),
}

fn skip_for(e: io::Error, when: &str) -> Skip {
    match e.raw_os_error() {
        Some(libc::ESRCH) => Skip::Changed(format!("exited {when}")),
        Some(libc::EPERM) => Skip::Denied("permission denied: not permitted to signal it".into()),
        _ => Skip::Changed(format!("{e} {when}")),
    }
}

/// The targets' pidfds, opened when the plan is made: each pins the process the plan
/// describes, so a PID reused later can never be the one signalled.
pub struct Pins(Vec<(u32, Pidfd)>);

impl Pins {
    fn get(&self, pid: u32) -> Option<&Pidfd> {
        self.0.iter().find(|(p, _)| *p == pid).map(|(_, fd)| fd)
    }
}

/// Pins every target and records its identity in the plan, in the order that makes the
/// reading sound: pidfd first, then /proc, then the pidfd still alive (so /proc described
/// the pinned process, not a newcomer with its PID). A target that cannot be pinned keeps
/// `identity: None` and is not signalled.
pub fn pin(plan: &mut Plan) -> Pins {
    let mut pins = Vec::new();
    for t in &mut plan.targets {
        let Ok(fd) = Pidfd::open(t.pid) else {
            continue;
        };
        let id = guard::identity(t.pid);
        if matches!(fd.signal(0), Err(e) if e.raw_os_error() == Some(libc::ESRCH)) {
            continue;
        }
        t.identity = id;
        pins.push((t.pid, fd));
    }
    Pins(pins)
}

/// Who is signalled, in words: `python3 user alice uid 1000 exe /usr/bin/python3.11`.
pub fn describe(t: &Target) -> String {
    let mut d = t.name.clone();
    if let Some(u) = &t.user {
        d.push_str(&format!(" user {}", u));
    }
    if let Some(id) = &t.identity {
        if let Some(uid) = id.uids.get(1) {
            d.push_str(&format!(" uid {uid}"));
        }
        if let Some(exe) = &id.exe {
            d.push_str(&format!(" exe {}", exe));
        }
    }
    d
}

/// The safe signal. Order is what makes it sound: (1) the pidfd, opened at plan time, pins
/// one process; (2) /proc/PID is read (its descriptors and its identity), which describes
/// the pinned process or, if that one died in between, a newcomer with its PID; (3) signal
/// 0 through the pidfd succeeds only if the pinned process is still alive, and while it
/// lives its PID cannot be reused, so (2) described it; (4) the identity read in (2) must
/// equal the plan's (start time, uids, executable): an exec or a uid change since the
/// plan is a change, never a signal; (5) the signal goes through the pidfd.
fn signal_one(t: &Target, fd: Option<&Pidfd>, sig: libc::c_int) -> Result<(), Skip> {
    let (Some(fd), Some(then)) = (fd, t.identity.as_ref()) else {
        return Err(Skip::Changed(
            "exited before the plan could pin it: not signalled".into(),
        ));
    };
    let holds = guard::holds_any(t.pid, &t.inodes);
    let now = guard::identity(t.pid);
    fd.signal(0)
        .map_err(|e| skip_for(e, "while it was being checked"))?;
    if !holds {
        return Err(Skip::Changed(
            "no longer holds the socket: not signalled".into(),
        ));
    }
    let differs = match &now {
        None => Some("its identity can no longer be read (exiting)".to_string()),
        Some(now) => guard::difference(then, now),
    };
    if let Some(d) = differs {
        return Err(Skip::Changed(format!(
            "not the process of the plan any more: {d}: not signalled"
        )));
    }
    fd.signal(sig)
        .map_err(|e| skip_for(e, "before it could be signalled"))
}

/// The sockets the query selects, from the table alone: no owner scan, no user names, the
/// query's ports pushed down to the kernel. Cheap enough to poll; the rows carry no
/// owners (`Owner::None`, no reason).
pub fn table_only(c: &mut Collector, q: &Query) -> anyhow::Result<Vec<Socket>> {
    let classifier = pipeline::classifier(true, c.ephemeral);
    let mut table = q.selection().table.clone();
    if let Some(ports) = q.selection().port_filter() {
        table.ports = Some(ports);
    }
    let harvest = c.tables.harvest(&table)?;
    Ok(harvest
        .sockets
        .into_iter()
        .filter_map(|s| {
            let class = classifier.classify(&s);
            filter::socket_matches(q.selection(), &s, &class).then(|| bare(s, class))
        })
        .collect())
}

/// A table row as a socket with no owner information.
fn bare(s: SocketHarvest, class: Classification) -> Socket {
    Socket {
        netns: Default::default(),
        cgroup: None,
        protocol: s.protocol,
        family: s.family,
        v6only: s.v6only,
        local: s.local,
        remote: s.remote,
        state: s.state,
        port_class: class.port_class,
        ephemeral: class.ephemeral,
        service: class.service.map(Into::into),
        recv_queue: s.recv_queue,
        send_queue: s.send_queue,
        inode: s.inode,
        uid: s.uid,
        user: None,
        owner: Owner::None,
        owner_reason: None,
        owner_reason_code: None,
        placement: Default::default(),
        processes: Vec::new(),
    }
}

/// Looks until `done` or the deadline, more slowly as time passes; a signalled process
/// exiting ends the pause at once.
fn until(deadline: Instant, live: &[&Pidfd], mut done: impl FnMut() -> bool) -> bool {
    let mut step = Duration::from_millis(1);
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        // Only those still running: an exited one's pidfd stays readable.
        let running: Vec<BorrowedFd<'_>> = live
            .iter()
            .filter(|p| !p.exited_within(Duration::ZERO))
            .map(|p| p.as_fd())
            .collect();
        // Woken or not, the next look says whether it is done.
        let _ = event_loop::wait(None, &running, Some(deadline.min(now + step)));
        step = (step * 2).min(MAX_STEP);
    }
}

/// Carries out the plan. `listening` selects the listening/bound sockets on the SPECs
/// (what must be gone), `everything` every socket on them (for the leftovers).
pub fn execute(
    c: &mut Collector,
    listening: &Query,
    everything: &Query,
    plan: &Plan,
    pins: &Pins,
    opts: &KillOptions,
    mut hook: Option<Hook<'_>>,
) -> anyhow::Result<Report> {
    let mut report = Report::new(Status::Freed);
    let (mut changed, mut denied) = (false, false);
    let mut live = Vec::new();
    for t in &plan.targets {
        if let Some(h) = hook.as_mut() {
            h(t.pid);
        }
        let fd = pins.get(t.pid);
        let mut process = None;
        let (action, error) = match signal_one(t, fd, opts.signal) {
            Ok(()) => {
                live.extend(fd);
                process = Some(describe(t));
                (opts.signal_name.clone(), None)
            }
            Err(Skip::Changed(why)) => {
                changed = true;
                ("skipped".to_string(), Some(why))
            }
            Err(Skip::Denied(why)) => {
                denied = true;
                ("skipped".to_string(), Some(why))
            }
        };
        report.steps.push(Step {
            pid: Some(t.pid),
            process,
            socket: None,
            action,
            error,
        });
    }
    let held = |c: &mut Collector| table_only(c, listening).map(|v| !v.is_empty());
    let deadline = Instant::now() + opts.grace;
    let mut err = None;
    let freed = until(deadline, &live, || {
        let exited = live.iter().all(|p| p.exited_within(Duration::ZERO));
        exited
            && !held(c).unwrap_or_else(|e| {
                err = Some(e);
                true
            })
    });
    if let Some(e) = err {
        return Err(e);
    }
    if !freed
        && opts.escalate
        && opts.signal != libc::SIGKILL
        && escalate(&live, plan, &mut report) > 0
    {
        until(Instant::now() + AFTER_KILL, &live, || {
            live.iter().all(|p| p.exited_within(Duration::ZERO)) && !held(c).unwrap_or(true)
        });
    }
    // A target that changed during the grace period was not sent SIGKILL: a change too.
    changed |= report.steps.iter().any(|s| {
        s.error
            .as_deref()
            .is_some_and(|e| e.starts_with("not sent SIGKILL"))
    });
    finish(c, listening, everything, plan, &mut report, changed, denied)?;
    for p in live.iter().filter(|p| !p.exited_within(Duration::ZERO)) {
        report.notes.push(format!(
            "pid {} is still running (it was not sent SIGKILL, or has not ended yet)",
            p.pid()
        ));
    }
    Ok(report)
}

/// SIGKILL to every target still alive; returns how many were sent.
/// Each is checked as before the first signal: the same pidfd (so the same process), and
/// the identity of the plan (a target that exec'd meanwhile is not sent SIGKILL).
fn escalate(live: &[&Pidfd], plan: &Plan, report: &mut Report) -> usize {
    let mut sent = 0;
    for p in live {
        if p.exited_within(Duration::ZERO) {
            continue;
        }
        let now = guard::identity(p.pid());
        let then = plan
            .targets
            .iter()
            .find(|t| t.pid == p.pid())
            .and_then(|t| t.identity.as_ref());
        let alive = p.signal(0).is_ok();
        let changed = match (then, &now) {
            (Some(then), Some(now)) => guard::difference(then, now),
            _ => Some("its identity can no longer be read".to_string()),
        };
        let (action, error) = match (alive, changed) {
            (false, _) => continue,
            (true, Some(d)) => (
                "skipped".to_string(),
                Some(format!(
                    "not sent SIGKILL: not the process of the plan any more: {d}"
                )),
            ),
            (true, None) => {
                let error = p.signal(libc::SIGKILL).err().map(|e| e.to_string());
                sent += usize::from(error.is_none());
                ("SIGKILL".to_string(), error)
            }
        };
        let t = plan_target(report, p.pid());
        report.steps.push(Step {
            pid: Some(p.pid()),
            process: t,
            socket: None,
            action,
            error,
        });
    }
    sent
}

/// The description the first signal's step gave the same process.
fn plan_target(report: &Report, pid: u32) -> Option<String> {
    report
        .steps
        .iter()
        .find(|s| s.pid == Some(pid) && s.process.is_some())
        .and_then(|s| s.process.clone())
}

/// The final look, with owners: free, or who holds it now and what restarts them.
fn finish(
    c: &mut Collector,
    listening: &Query,
    everything: &Query,
    plan: &Plan,
    report: &mut Report,
    changed: bool,
    denied: bool,
) -> anyhow::Result<()> {
    let now = pipeline::run(c, listening)?.sockets;
    if now.is_empty() {
        report.status = Status::Freed;
        report.leftovers = leftovers(c, everything)?;
        report.notes.extend(time_wait_note(&report.leftovers));
        return Ok(());
    }
    report.remaining = remaining(&now, plan);
    report.status = if changed {
        Status::Changed
    } else if denied {
        Status::Hidden
    } else {
        Status::StillHeld
    };
    Ok(())
}

/// The sockets on the SPECs that are not listening (connections, time_wait): no process
/// to signal, not a failure, but they can keep a plain bind from working.
pub fn leftovers(c: &mut Collector, everything: &Query) -> anyhow::Result<Vec<SocketRef>> {
    Ok(table_only(c, everything)?
        .iter()
        .filter(|s| !s.state.is_listening())
        .map(SocketRef::of)
        .collect())
}

/// What `why` and `wait --until free` say of the same port: TIME_WAIT keeps a bind
/// without SO_REUSEADDR from working until it expires.
pub fn time_wait_note(leftovers: &[SocketRef]) -> Option<String> {
    let mut ports: Vec<String> = leftovers
        .iter()
        .filter(|s| s.state == crate::model::SockState::TimeWait)
        .map(|s| format!("{}/{}", s.local.port, s.protocol))
        .collect();
    ports.sort();
    ports.dedup();
    (!ports.is_empty()).then(|| {
        format!(
            "{} still in TIME_WAIT: no process holds it, but a bind without SO_REUSEADDR fails (EADDRINUSE) until it expires (up to 60 s); `portscope wait --until free` waits for that",
            ports.join(", ")
        )
    })
}

/// Every holder of what is still there, new PIDs marked, with their supervisor.
pub fn remaining(now: &[Socket], plan: &Plan) -> Vec<Remaining> {
    let mut out = Vec::new();
    for s in now {
        let r = SocketRef::of(s);
        if s.processes.is_empty() {
            out.push(Remaining {
                pid: None,
                name: None,
                socket: r,
                new: false,
                unit: None,
                container: None,
                hint: None,
            });
            continue;
        }
        for p in &s.processes {
            let sup = supervisor::of(p);
            out.push(Remaining {
                pid: Some(p.pid),
                name: Some(p.name.clone()),
                socket: r.clone(),
                new: !plan.targets.iter().any(|t| t.pid == p.pid),
                unit: sup.unit,
                container: sup.container,
                hint: sup.hint,
            });
        }
    }
    out
}

/// `TERM`, `SIGTERM`, `sigterm`, `15`: the signal number and its canonical name.
pub fn parse_signal(s: &str) -> Result<(libc::c_int, String), crate::error::Error> {
    const NAMES: [(&str, libc::c_int); 12] = [
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("KILL", libc::SIGKILL),
        ("USR1", libc::SIGUSR1),
        ("USR2", libc::SIGUSR2),
        ("TERM", libc::SIGTERM),
        ("CONT", libc::SIGCONT),
        ("STOP", libc::SIGSTOP),
        ("ABRT", libc::SIGABRT),
        ("ALRM", libc::SIGALRM),
        ("WINCH", libc::SIGWINCH),
    ];
    let t = s.trim().to_ascii_uppercase();
    let bare = t.strip_prefix("SIG").unwrap_or(&t);
    if let Ok(n) = bare.parse::<libc::c_int>() {
        if let Some((name, _)) = NAMES.iter().find(|(_, v)| *v == n) {
            return Ok((n, format!("SIG{name}")));
        }
        if (1..=64).contains(&n) {
            return Ok((n, format!("signal {n}")));
        }
    } else if let Some((name, n)) = NAMES.iter().find(|(name, _)| *name == bare) {
        return Ok((*n, format!("SIG{name}")));
    }
    Err(crate::error::Error::invalid(
        "signal",
        s,
        "expected a name (TERM, INT, HUP, KILL, ...) or a number 1-64",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(
            parse_signal("TERM").unwrap(),
            (libc::SIGTERM, "SIGTERM".into())
        );
        assert_eq!(
            parse_signal("sigint").unwrap(),
            (libc::SIGINT, "SIGINT".into())
        );
        assert_eq!(
            parse_signal("9").unwrap(),
            (libc::SIGKILL, "SIGKILL".into())
        );
        assert_eq!(parse_signal("40").unwrap(), (40, "signal 40".into()));
        assert_eq!(
            parse_signal("BOGUS").unwrap_err().to_string(),
            "invalid signal 'BOGUS': expected a name (TERM, INT, HUP, KILL, ...) or a number 1-64"
        );
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("65").is_err());
    }
}
