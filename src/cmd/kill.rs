//! `portscope kill SPEC...`: free a port by signalling its holders safely (pidfd, re-check,
//! refusals), then check it is free. Exit 0 freed, 1 nothing held it, 2 bad input or an
//! error, 3 a holder hidden or not ours to signal, 4 still held, 5 a target changed.

use super::act::{self as shared, Flags, Selection};
use crate::act::confirm::Asker;
use crate::act::kill::{self, Hook, KillOptions};
use crate::cli::{KillArgs, SourceArgs};
use crate::collect::Collector;
use std::io::Write;

pub fn options(a: &KillArgs) -> anyhow::Result<KillOptions> {
    let (signal, signal_name) = kill::parse_signal(&a.signal)?;
    Ok(KillOptions {
        signal,
        signal_name,
        grace: super::listen::parse_duration(&a.grace)?,
        escalate: !a.no_escalate,
    })
}

pub fn run(a: &KillArgs, sources: &SourceArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let (sel, flags) = shared::selection(&a.act)?;
    let opts = options(a)?;
    let mut c = super::args::collector(sources)?;
    // A namespace that cannot be read is never "nothing held it" / "free": exit 3.
    c.refuse_unreadable_netns(true);
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut prompt = std::io::stderr();
    let asker = shared::terminal_asker(&mut input, &mut prompt);
    run_with(&mut c, &sel, flags, &opts, asker, None, out)
}

/// `kill` on any host, with the confirmation source and the test hook injected.
pub fn run_with(
    c: &mut Collector,
    sel: &Selection,
    flags: Flags,
    opts: &KillOptions,
    asker: Asker<'_>,
    hook: Option<Hook<'_>>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let mut plan = shared::plan(c, sel)?;
    let verb = opts.signal_name.as_str();
    // The plan as it would be carried out: each target pinned, its identity recorded.
    let pins = kill::pin(&mut plan);
    if flags.dry_run {
        return shared::dry_run(out, "kill", verb, &plan, flags);
    }
    // A pidfd is opened by PID in our own PID namespace, but the plan's PIDs were read
    // from /proc: when /proc belongs to another PID namespace (`unshare -pf` without
    // --mount-proc) the same number is another process here, and it would be the one
    // signalled while every check read the holder's /proc entry.
    if let Some((seen, me)) = crate::collect::linux::foreign_proc() {
        anyhow::bail!(
            "cannot signal by PID here: /proc belongs to another PID namespace (it calls this \
             process {seen}, getpid() says {me}), so a PID read from it may name another process \
             in this one: nothing was signalled; mount this namespace's own /proc (unshare \
             --mount-proc) or run portscope outside it"
        );
    }
    if let Some(mut r) = shared::blocked(&plan, true) {
        if r.status == crate::act::Status::Nothing {
            // No process, but perhaps connections in TIME_WAIT: say what a bind meets.
            r.leftovers = kill::leftovers(c, &sel.everything)?;
            r.notes.extend(kill::time_wait_note(&r.leftovers));
        }
        return shared::output(out, "kill", verb, &plan, Some(&r), flags);
    }
    let n = plan.targets.len();
    let question = format!(
        "{}Signal {n} process{} with {verb}?",
        crate::render::act::plan_text(&plan, "kill", verb),
        if n == 1 { "" } else { "es" }
    );
    if !shared::confirmed(flags, n, "processes", &question, &plan, asker)? {
        let mut r = crate::act::Report::new(crate::act::Status::Error);
        r.notes.push("not confirmed: nothing was signalled".into());
        return shared::output(out, "kill", verb, &plan, Some(&r), flags);
    }
    let mut report = kill::execute(c, &sel.listening, &sel.everything, &plan, &pins, opts, hook)?;
    // Freed means nothing serves the port any more: a container publishing it by DNAT
    // (started meanwhile) still does.
    if report.status == crate::act::Status::Freed {
        let now = shared::dnat_published(c.owners.as_mut(), sel);
        if !now.is_empty() {
            report.status = crate::act::Status::StillHeld;
            report
                .notes
                .extend(now.iter().map(crate::render::act::published_note));
        }
    }
    shared::output(out, "kill", verb, &plan, Some(&report), flags)
}
