//! `portscope close SPEC...`: destroy the sockets on a port in the kernel (SOCK_DESTROY)
//! while their processes live on. Same selection, confirmation and exit statuses as kill.

use super::act::{self as shared, Flags, Selection};
use crate::act::confirm::Asker;
use crate::act::{close, Report, Status};
use crate::cli::{CloseArgs, SourceArgs};
use crate::collect::Collector;
use std::io::Write;

pub fn run(a: &CloseArgs, sources: &SourceArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let (sel, flags) = shared::selection(&a.act)?;
    // SOCK_DESTROY goes to the namespace of the netlink socket that sends it: ours.
    let ours = match super::args::netns(sources.netns()) {
        crate::collect::NetnsChoice::Current => true,
        crate::collect::NetnsChoice::All => false,
        // A NAME, PID or PATH may name our own namespace: that one is fine.
        other => crate::collect::linux::netns::resolve(&other)?.netns.current,
    };
    if !ours {
        return Err(crate::error::Error::invalid(
            "network namespace",
            sources.netns(),
            "close acts only in portscope's own network namespace; run it inside that one \
             (ip netns exec NAME portscope close ..., or nsenter -n -t PID)",
        )
        .into());
    }
    let mut c = super::args::collector(sources)?;
    // A namespace that cannot be read is never "nothing held it" / "free": exit 3.
    c.refuse_unreadable_netns(true);
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut prompt = std::io::stderr();
    let asker = shared::terminal_asker(&mut input, &mut prompt);
    run_with(&mut c, &sel, flags, asker, out)
}

pub fn run_with(
    c: &mut Collector,
    sel: &Selection,
    flags: Flags,
    asker: Asker<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let mut plan = shared::plan(c, sel)?;
    plan.resets = plan.waiting_connections(&crate::act::kill::table_only(c, &sel.everything)?);
    if flags.dry_run {
        return shared::dry_run(out, "close", "destroy", &plan, flags);
    }
    if let Some(r) = shared::blocked(&plan, false) {
        return shared::output(out, "close", "destroy", &plan, Some(&r), flags);
    }
    let n = plan.sockets.len();
    let w = plan.resets.len();
    let resets = if w == 0 {
        String::new()
    } else {
        format!(
            " ({w} waiting connection{} reset with {})",
            if w == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        )
    };
    let question = format!(
        "{}Destroy {n} socket{}{resets}?",
        crate::render::act::plan_text(&plan, "close", "destroy"),
        if n == 1 { "" } else { "s" }
    );
    // Waiting connections count as sockets to close: a person is asked about them.
    let things = if w == 0 {
        "sockets"
    } else {
        "sockets and waiting connections"
    };
    if !shared::confirmed(flags, n + w, things, &question, &plan, asker)? {
        let mut r = Report::new(Status::Error);
        r.notes.push("not confirmed: nothing was closed".into());
        return shared::output(out, "close", "destroy", &plan, Some(&r), flags);
    }
    let mut report = close::execute(&plan)?;
    let notes = crate::render::act::dead_descriptor_notes(&plan, &report);
    report.notes.extend(notes);
    // The waiting connections went with their listener (the kernel resets them).
    let now = crate::act::kill::table_only(c, &sel.everything)?;
    report.reset = plan
        .resets
        .iter()
        .filter(|r| {
            !now.iter()
                .any(|s| s.local == r.local && s.remote == r.remote && s.state == r.state)
        })
        .cloned()
        .collect();
    shared::output(out, "close", "destroy", &plan, Some(&report), flags)
}
