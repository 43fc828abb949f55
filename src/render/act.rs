//! Render stage for `kill` and `close`: the plan and the result, as lines for people or
//! one versioned JSON document. Process names are untrusted: sanitized for the terminal.

use crate::act::{ActDocument, Plan, Report, SocketRef, Status};
use crate::render::sanitize::sanitize;
use std::fmt::Write as _;
use std::io::Write;

fn sock(s: &SocketRef) -> String {
    match &s.remote {
        Some(r) => format!("{} {} {} -> {}", s.protocol, s.state, s.local, r),
        None => format!("{} {} {}", s.protocol, s.state, s.local),
    }
}

/// `verb` is what would be done to each target: `SIGTERM`, or `destroy`.
pub fn plan_text(plan: &Plan, command: &str, verb: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "portscope {command} {}: plan",
        sanitize(&plan.specs.join(" "))
    );
    if command == "close" {
        for s in &plan.sockets {
            let pids: Vec<String> = s.pids.iter().map(u32::to_string).collect();
            let held = if pids.is_empty() {
                String::new()
            } else {
                format!(" (held by pid {})", pids.join(", "))
            };
            let _ = writeln!(t, "  {verb} {}{held}", sock(s));
        }
    } else {
        for tg in &plan.targets {
            let user = tg
                .user
                .as_deref()
                .map_or(String::new(), |u| format!(" user {}", sanitize(u)));
            let socks: Vec<String> = plan
                .sockets
                .iter()
                .filter(|s| s.pids.contains(&tg.pid))
                .map(sock)
                .collect();
            let _ = writeln!(
                t,
                "  {verb} pid {} {}{user}: holds {}",
                tg.pid,
                sanitize(&tg.name),
                socks.join(", ")
            );
            // Exactly the process that would be signalled: what the re-check compares.
            if let Some(id) = &tg.identity {
                let uid = id.uids.get(1).map_or("-".to_string(), u32::to_string);
                let _ = writeln!(
                    t,
                    "    uid {uid}, exe {}, started {} ticks after boot",
                    id.exe.as_deref().map_or("unknown".into(), sanitize),
                    id.start_time
                );
            }
        }
    }
    for r in &plan.refused {
        let _ = write!(
            t,
            "  refused: pid {} {}: {}",
            r.pid,
            sanitize(&r.name),
            r.reason
        );
        if let Some(c) = &r.container {
            let _ = write!(t, "; container {}", sanitize(c));
        }
        if let Some(h) = &r.hint {
            let _ = write!(t, "; to stop it: {}", sanitize(h));
        }
        t.push('\n');
    }
    for r in &plan.resets {
        let _ = writeln!(
            t,
            "  reset: {} (waiting in the accept queue, not yet accepted: closing the listener resets it)",
            sock(r)
        );
    }
    for p in &plan.published {
        let _ = writeln!(t, "  published: {}", published_note(p));
    }
    for h in &plan.hidden {
        let _ = writeln!(t, "  hidden: {}: {}", sock(&h.socket), h.reason);
    }
    t
}

/// `8080/tcp is published by container docker:web (DNAT): ...`.
pub fn published_note(p: &crate::act::PublishedPort) -> String {
    let who = p
        .container
        .as_deref()
        .map_or("a container".to_string(), |c| {
            format!("container {}", sanitize(c))
        });
    let hint = p
        .hint
        .as_deref()
        .map_or(String::new(), |h| format!("; to stop it: {}", sanitize(h)));
    format!(
        "{}/{} is published by {who} (DNAT: no host process holds it, so nothing here can free it){hint}",
        p.port, p.protocol
    )
}

pub fn report_text(r: &Report) -> String {
    let mut t = String::new();
    for s in &r.steps {
        let who = match (&s.socket, s.pid) {
            (Some(sk), _) => sock(sk),
            (None, Some(pid)) => match &s.process {
                Some(p) => format!("pid {pid} {}", sanitize(p)),
                None => format!("pid {pid}"),
            },
            (None, None) => String::from("-"),
        };
        match &s.error {
            None => {
                let _ = writeln!(t, "{who}: {}", s.action);
            }
            // The reason can name what the target became (its executable's path): the
            // holder's to choose, so escaped like its name.
            Some(e) => {
                let _ = writeln!(t, "{who}: {}: {}", s.action, sanitize(e));
            }
        }
    }
    for m in &r.remaining {
        let by = match (m.pid, &m.name) {
            (Some(pid), Some(name)) => format!("pid {pid} {}", sanitize(name)),
            _ => "a process portscope cannot see".to_string(),
        };
        let new = if m.new {
            " (new: restarted or taken over)"
        } else {
            ""
        };
        let _ = write!(t, "still held: {} by {by}{new}", sock(&m.socket));
        if let Some(u) = &m.unit {
            let _ = write!(t, "; systemd unit {}", sanitize(u));
        }
        if let Some(c) = &m.container {
            let _ = write!(t, "; container {}", sanitize(c));
        }
        if let Some(h) = &m.hint {
            let _ = write!(t, "; to stop it for good: {}", sanitize(h));
        }
        t.push('\n');
    }
    for x in &r.reset {
        let _ = writeln!(t, "reset (was waiting in the accept queue): {}", sock(x));
    }
    for b in &r.still_bound {
        let _ = writeln!(
            t,
            "still bound: {} (state closed: the dead descriptor keeps the port until its process closes it)",
            sock(b)
        );
    }
    for l in &r.leftovers {
        let _ = writeln!(t, "leftover (kernel-held, not a failure): {}", sock(l));
    }
    if r.status == Status::Freed && !r.still_bound.is_empty() {
        // Closed, not freed: the port stays bound.
        let _ = writeln!(t, "result: closed, but the port stays bound");
    } else {
        let _ = writeln!(t, "{}", status_line(r.status));
    }
    t
}

pub fn status_line(s: Status) -> &'static str {
    match s {
        Status::Freed => "result: freed",
        Status::Nothing => "result: nothing held it",
        Status::Error => "result: error",
        Status::Hidden => "result: a holder is hidden or not permitted to be acted on",
        Status::StillHeld => "result: still held",
        Status::Changed => "result: a target changed before it could be acted on",
    }
}

pub fn write_json(out: &mut dyn Write, doc: &ActDocument, pretty: bool) -> anyhow::Result<()> {
    if pretty {
        serde_json::to_writer_pretty(&mut *out, doc)?;
    } else {
        serde_json::to_writer(&mut *out, doc)?;
    }
    writeln!(out)?;
    Ok(())
}

/// The process keeps its descriptor: one note per process whose sockets `report`
/// destroyed, so nobody is surprised when its next accept() or read() fails.
pub fn dead_descriptor_notes(plan: &Plan, report: &Report) -> Vec<String> {
    let done: Vec<&SocketRef> = report
        .steps
        .iter()
        .filter(|s| s.action == "destroyed")
        .filter_map(|s| s.socket.as_ref())
        .collect();
    let mut pids: Vec<u32> = done.iter().flat_map(|s| s.pids.iter().copied()).collect();
    pids.sort_unstable();
    pids.dedup();
    pids.into_iter()
        .map(|pid| {
            let n = done.iter().filter(|s| s.pids.contains(&pid)).count();
            let name = plan
                .targets
                .iter()
                .find(|t| t.pid == pid)
                .map_or(String::new(), |t| format!(" ({})", sanitize(&t.name)));
            format!(
                "pid {pid}{name} keeps a dead descriptor for {n} closed socket{}: its next call on it fails; it is not re-opened",
                if n == 1 { "" } else { "s" }
            )
        })
        .collect()
}
