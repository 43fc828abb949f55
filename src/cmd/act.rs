//! What `kill` and `close` share: the CLI → query conversion, the plan, the confirmation
//! and the output. The commands themselves differ only in how they carry the plan out.

use super::args;
use crate::act::confirm::{self, Asker};
use crate::act::{guard::Guard, ActDocument, Plan, Report, Status};
use crate::cli::ActArgs;
use crate::collect::{effective_uid, Collector};
use crate::model::TableQuery;
use crate::pipeline;
use crate::query::{self, Query};
use crate::render::act as render;
use crate::services::Services;
use std::io::{IsTerminal, Write};

/// The queries of one run: what to act on, and what must be gone afterwards.
#[derive(Debug, Clone)]
pub struct Selection {
    pub specs: Vec<String>,
    /// Listening TCP and bound UDP on the SPECs (what "free" is judged on).
    pub listening: Query,
    /// Every state on the SPECs (leftovers, --all-states).
    pub everything: Query,
    pub all_states: bool,
}

impl Selection {
    pub fn selected(&self) -> &Query {
        if self.all_states {
            &self.everything
        } else {
            &self.listening
        }
    }
}

/// Flags that change how the plan is handled, without clap types.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    pub yes: bool,
    pub dry_run: bool,
    pub json: bool,
    pub pretty: bool,
}

pub fn selection(a: &ActArgs) -> anyhow::Result<(Selection, Flags)> {
    let (protocols, families) = args::protocols_and_families(&a.proto);
    let table = TableQuery {
        protocols,
        families,
        states: None,
        ports: None,
    };
    let ports = query::parse_ports(&a.specs, Services::system())?;
    let everything = Query::lookup(query::Selection::ports(table, ports));
    let listening = everything.listening();
    let flags = Flags {
        yes: a.yes,
        dry_run: a.dry_run,
        json: a.json,
        pretty: std::io::stdout().is_terminal(),
    };
    Ok((
        Selection {
            specs: a.specs.clone(),
            listening,
            everything,
            all_states: a.all_states,
        },
        flags,
    ))
}

/// The real terminal, if stdin and stderr are one.
pub fn terminal_asker<'a>(
    input: &'a mut dyn std::io::BufRead,
    prompt: &'a mut dyn Write,
) -> Asker<'a> {
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        Asker::Terminal { input, prompt }
    } else {
        Asker::None
    }
}

/// Reads the host and makes the plan.
pub fn plan(c: &mut Collector, sel: &Selection) -> anyhow::Result<Plan> {
    let outcome = pipeline::run(c, sel.selected())?;
    super::print_notes(&outcome.warnings);
    let guard = Guard::new();
    let mut plan = Plan::build(&sel.specs, &outcome.sockets, &mut |p, s| guard.refuse(p, s));
    plan.published = dnat_published(c.owners.as_mut(), sel);
    Ok(plan)
}

/// The SPECs' ports a container publishes by DNAT alone (docker with its userland proxy
/// off), from the engine's state on disk, as `who` reads it. Ranges wider than a few
/// ports are not looked up port by port.
pub fn dnat_published(
    owners: &mut dyn crate::collect::OwnerSource,
    sel: &Selection,
) -> Vec<crate::act::PublishedPort> {
    use crate::model::Protocol;
    let mut out = Vec::new();
    for spec in &sel.listening.selection().ports {
        for r in &spec.ranges {
            if r.high.saturating_sub(r.low) > 16 {
                continue;
            }
            let protos: Vec<Protocol> = match r.proto.or(spec.proto) {
                Some(p) => vec![p],
                None => sel.listening.selection().table.protocols.clone(),
            };
            for port in r.low..=r.high {
                for &proto in &protos {
                    for p in owners.dnat_published(port, proto) {
                        let c = p.container.as_ref();
                        let found = crate::act::PublishedPort {
                            protocol: proto,
                            port,
                            container: c.map(crate::act::guard::label),
                            hint: c.and_then(crate::act::guard::stop_hint),
                        };
                        if !out.contains(&found) {
                            out.push(found);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Users other than the one running portscope whose processes the plan touches.
pub fn other_users(plan: &Plan) -> Vec<String> {
    let me = effective_uid();
    let mut v: Vec<String> = plan
        .targets
        .iter()
        .filter(|t| t.uid.is_some_and(|u| u != me))
        .map(|t| {
            t.user
                .clone()
                .unwrap_or_else(|| format!("uid {}", t.uid.unwrap_or(0)))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Asks when the plan needs it. Ok(false): the person said no.
pub fn confirmed(
    flags: Flags,
    count: usize,
    things: &str,
    question: &str,
    plan: &Plan,
    asker: Asker<'_>,
) -> anyhow::Result<bool> {
    if flags.yes {
        return Ok(true);
    }
    match confirm::reason(count, things, &other_users(plan)) {
        None => Ok(true),
        Some(why) => confirm::ask(asker, question, &why),
    }
}

/// Writes the plan (and the report, if any) as text or JSON; returns the exit status.
pub fn output(
    out: &mut dyn Write,
    command: &str,
    verb: &str,
    plan: &Plan,
    report: Option<&Report>,
    flags: Flags,
) -> anyhow::Result<i32> {
    let code = report.map_or(0, |r| r.status.exit_code());
    if flags.json {
        let doc = ActDocument {
            schema_version: 1,
            command: command.to_string(),
            dry_run: flags.dry_run,
            plan: plan.clone(),
            result: report.cloned(),
        };
        render::write_json(out, &doc, flags.pretty)?;
    } else {
        out.write_all(render::plan_text(plan, command, verb).as_bytes())?;
        if let Some(r) = report {
            out.write_all(render::report_text(r).as_bytes())?;
        }
    }
    out.flush()?;
    if let Some(r) = report {
        super::print_notes(&r.notes);
    }
    Ok(code)
}

/// `--dry-run`: the plan only (`result` null), blocked or not; exit 0, or 1 when nothing
/// on the SPECs was selected (as `who`).
pub fn dry_run(
    out: &mut dyn Write,
    command: &str,
    verb: &str,
    plan: &Plan,
    flags: Flags,
) -> anyhow::Result<i32> {
    output(out, command, verb, plan, None, flags)?;
    let nothing = plan.sockets.is_empty() && plan.published.is_empty();
    Ok(if nothing { 1 } else { 0 })
}

/// A plan that cannot be carried out as it is: nothing selected, a hidden holder, a
/// refused target. Returns the report for it, or None when it can go ahead.
pub fn blocked(plan: &Plan, kill: bool) -> Option<Report> {
    let no_process = plan.targets.is_empty() && plan.refused.is_empty() && plan.hidden.is_empty();
    // The port is held, but by nobody kill could signal: not "nothing held it".
    if kill && no_process && !plan.unowned.is_empty() {
        return Some(held_by_no_process(plan));
    }
    if !plan.published.is_empty() {
        // Traffic reaches a container whatever is done to host sockets.
        let mut r = Report::new(Status::Hidden);
        r.notes
            .extend(plan.published.iter().map(render::published_note));
        return Some(r);
    }
    if plan.sockets.is_empty() || (kill && no_process) {
        return Some(Report::new(Status::Nothing));
    }
    if !kill {
        return engine_held(plan);
    }
    if !plan.hidden.is_empty() {
        let mut r = Report::new(Status::Hidden);
        r.notes.push(format!(
            "{} socket(s) on the port are held by processes portscope cannot see ({}): nothing was signalled",
            plan.hidden.len(),
            crate::join::hidden_hint(super::running_as_root())
        ));
        return Some(r);
    }
    (!plan.refused.is_empty()).then(|| refused_a_signal(plan))
}

/// `kill` on sockets no process holds (time_wait, a kernel socket): still held.
fn held_by_no_process(plan: &Plan) -> Report {
    let mut r = Report::new(Status::StillHeld);
    for u in &plan.unowned {
        r.notes.push(format!(
            "{} {} stays: {}; no process to signal",
            u.socket.protocol, u.socket.local, u.reason
        ));
    }
    r
}

/// `close` destroys sockets, not processes; but a socket a container engine holds for a
/// container (a published port's proxy or reservation) is the engine's to release.
fn engine_held(plan: &Plan) -> Option<Report> {
    let held: Vec<&crate::act::Refused> = plan
        .refused
        .iter()
        // A container's init is refused a signal, not a close: its sockets are its own.
        .filter(|x| x.engine && !x.reason.starts_with("PID 1"))
        .filter(|x| plan.sockets.iter().any(|s| s.pids.contains(&x.pid)))
        .collect();
    if held.is_empty() {
        return None;
    }
    let mut r = Report::new(Status::Hidden);
    for x in held {
        let what = format!("refusing to close the socket of pid {}", x.pid);
        r.notes
            .push(refusal_note(&what, x, false, "nothing was closed"));
    }
    Some(r)
}

/// `kill` refused for a target. A container engine's process (or a container's init):
/// stopping the container is the engine's job, which the hint names: exit 3. A keystone
/// of the host: exit 2.
fn refused_a_signal(plan: &Plan) -> Report {
    let engine = plan.refused.iter().any(|x| {
        x.container.is_some() || x.hint.is_some() || x.reason.contains("container engine")
    });
    let mut r = Report::new(if engine {
        Status::Hidden
    } else {
        Status::Error
    });
    for x in &plan.refused {
        let what = format!("refusing to signal pid {}", x.pid);
        r.notes
            .push(refusal_note(&what, x, true, "nothing was signalled"));
    }
    r
}

/// `WHAT (NAME): REASON[; container C][; to stop it: HINT]; END`, the names sanitized.
fn refusal_note(what: &str, x: &crate::act::Refused, container: bool, end: &str) -> String {
    use crate::render::sanitize::sanitize;
    let mut note = format!("{what} ({}): {}", sanitize(&x.name), x.reason);
    if let Some(c) = x.container.as_ref().filter(|_| container) {
        note.push_str(&format!("; container {}", sanitize(c)));
    }
    if let Some(h) = &x.hint {
        note.push_str(&format!("; to stop it: {}", sanitize(h)));
    }
    note.push_str("; ");
    note.push_str(end);
    note
}
