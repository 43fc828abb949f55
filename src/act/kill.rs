//! Acting on a port, `kill`: signal each planned process through a pidfd after proving it
//! still holds the socket, wait for the port to be free, escalate, and name whatever still
//! holds it (a restarted holder with its unit or container).

use super::{guard, supervisor, Plan, Remaining, Report, SocketRef, Status, Step, Target};
use crate::classify::Classification;
use crate::collect::linux::pidfd::Pidfd;
use crate::collect::Collector;
use crate::filter;
use crate::model::{Owner, PortFilter, Socket, SocketHarvest};
use crate::pipeline;
use crate::query::Query;
use std::io;
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

/// Called with each target's PID after the plan was made and before its pidfd is opened:
/// tests use it to change the target in between, deterministically.
pub type Hook<'a> = &'a mut dyn FnMut(u32);

/// Why a target was not signalled.
enum Skip {
    /// It exited or let go of the socket since the plan: exit status 5.
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

/// The safe signal. Order is what makes it sound: (1) the pidfd pins one process; (2)
/// /proc/PID/fd is read, which describes the pidfd's process or, if that one died in
/// between, a newcomer with its PID; (3) signal 0 through the pidfd succeeds only if the
/// pinned process is still alive, and while it lives its PID cannot be reused, so (2)
/// described it; (4) the signal goes through the pidfd, to that process only.
fn signal_one(t: &Target, sig: libc::c_int) -> Result<Pidfd, Skip> {
    let fd = Pidfd::open(t.pid).map_err(|e| skip_for(e, "before it could be signalled"))?;
    if !guard::holds_any(t.pid, &t.inodes) {
        return Err(Skip::Changed(
            "no longer holds the socket: not signalled".into(),
        ));
    }
    fd.signal(0)
        .map_err(|e| skip_for(e, "while it was being checked"))?;
    fd.signal(sig)
        .map_err(|e| skip_for(e, "before it could be signalled"))?;
    Ok(fd)
}

/// The sockets the query selects, from the table alone: no owner scan, no user names, the
/// query's ports pushed down to the kernel. Cheap enough to poll; the rows carry no
/// owners (`Owner::None`, no reason).
pub fn table_only(c: &mut Collector, q: &Query) -> anyhow::Result<Vec<Socket>> {
    let classifier = pipeline::classifier(true, c.ephemeral);
    let mut table = q.table.clone();
    if !q.ports.is_empty() {
        let ranges = q
            .ports
            .iter()
            .flat_map(|spec| {
                spec.ranges
                    .iter()
                    .map(|r| (r.low, r.high, r.proto.or(spec.proto)))
            })
            .collect();
        table.ports = Some(PortFilter {
            ranges,
            remote: q.remote,
        });
    }
    let harvest = c.tables.harvest(&table)?;
    Ok(harvest
        .sockets
        .into_iter()
        .filter_map(|s| {
            let class = classifier.classify(&s);
            filter::socket_matches(q, &s, &class).then(|| bare(s, class))
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

/// Looks until `done` or the deadline, more slowly as time passes.
fn until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    let mut step = Duration::from_millis(1);
    loop {
        if done() {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(step.min(left));
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
        let (action, error) = match signal_one(t, opts.signal) {
            Ok(fd) => {
                live.push(fd);
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
            socket: None,
            action,
            error,
        });
    }
    let held = |c: &mut Collector| table_only(c, listening).map(|v| !v.is_empty());
    let deadline = Instant::now() + opts.grace;
    let mut err = None;
    let freed = until(deadline, || {
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
    if !freed && opts.escalate && opts.signal != libc::SIGKILL && escalate(&live, &mut report) > 0 {
        until(Instant::now() + AFTER_KILL, || {
            live.iter().all(|p| p.exited_within(Duration::ZERO)) && !held(c).unwrap_or(true)
        });
    }
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
fn escalate(live: &[Pidfd], report: &mut Report) -> usize {
    let mut sent = 0;
    for p in live {
        if p.exited_within(Duration::ZERO) {
            continue;
        }
        // The same pidfd: still the same process, whatever happened to its PID.
        let error = p.signal(libc::SIGKILL).err().map(|e| e.to_string());
        sent += usize::from(error.is_none());
        report.steps.push(Step {
            pid: Some(p.pid()),
            socket: None,
            action: "SIGKILL".into(),
            error,
        });
    }
    sent
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
        report.leftovers = table_only(c, everything)?
            .iter()
            .filter(|s| !s.state.is_listening())
            .map(SocketRef::of)
            .collect();
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
