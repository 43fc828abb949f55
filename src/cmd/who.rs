//! `portscope who SPEC...`: who holds these ports. Exit 0 found, 1 nobody, 2 bad input,
//! 3 matched but an owner is hidden, so "free" and "cannot tell" never look alike.

use super::args;
use crate::cli::{ColorChoice, SourceArgs, WhoArgs};
use crate::collect::Collector;
use crate::join;
use crate::model::{Owner, Socket, TableQuery};
use crate::pipeline;
use crate::query::{self, Query, Selection, WhoView};
use crate::render::{json, who};
use crate::services::Services;
use crate::sort;
use std::io::Write;

pub const EXIT_FOUND: i32 = 0;
pub const EXIT_NOBODY: i32 = 1;
pub const EXIT_HIDDEN: i32 = 3;

pub fn build_query(a: &WhoArgs, color: ColorChoice) -> anyhow::Result<Query> {
    let (protocols, families) = args::protocols_and_families(&a.proto);
    let states = (!a.state.is_empty()).then(|| args::states(&a.state));
    let table = TableQuery {
        protocols,
        families,
        states,
        ports: None,
    };
    let selection = Selection {
        remote: a.remote,
        ..Selection::ports(table, query::parse_ports(&a.specs, Services::system())?)
    };
    let mut output = args::output(a.output.json, color);
    if a.wide {
        output.width = None;
    }
    let view = WhoView {
        first: a.first,
        numeric: a.output.numeric,
        quiet: a.quiet,
        output,
    };
    Ok(Query::who(selection, view))
}

/// Whether an owner is hidden in a way that makes the answer partial (decided on the
/// reason, never on its text).
fn truly_hidden(s: &Socket) -> bool {
    s.owner == Owner::Hidden && s.owner_reason.is_some_and(|r| r.is_partial())
}

pub fn exit_status(sockets: &[Socket]) -> i32 {
    if sockets.is_empty() {
        EXIT_NOBODY
    } else if sockets.iter().any(truly_hidden) {
        EXIT_HIDDEN
    } else {
        EXIT_FOUND
    }
}

pub fn run(
    a: &WhoArgs,
    color: ColorChoice,
    sources: &SourceArgs,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let q = build_query(a, color)?;
    let mut c = args::collector(sources)?;
    // Unreadable namespaces make the answer partial (exit 3), named in the text.
    c.refuse_unreadable_netns(false);
    let narrowed = a.proto.tcp || a.proto.udp || a.proto.ipv4 || a.proto.ipv6;
    let narrowed = narrowed || !a.state.is_empty();
    run_with(&mut c, &q, narrowed, out)
}

/// What the pipeline followed: published container ports (to the container's listener),
/// and listeners systemd holds for socket activation (the `.socket` unit, from placement).
fn published_text(outcome: &pipeline::Outcome) -> String {
    let items: Vec<who::Publication> = outcome
        .published
        .iter()
        .map(|b| who::Publication {
            protocol: b.published.protocol,
            host_port: b.published.host_port,
            via: b.published.via.describe(),
            container: b.published.container.as_ref(),
            container_ip: b.published.container_ip,
            container_port: b.published.container_port,
            backend: &b.backend,
        })
        .collect();
    let mut text = who::publications(&items);
    for s in outcome.sockets.iter().filter(|s| s.state.is_listening()) {
        let by_systemd = s
            .processes
            .iter()
            .any(|p| p.pid == 1 && p.name == "systemd");
        if let Some(unit) = s
            .placement
            .unit
            .as_deref()
            .filter(|u| u.ends_with(".socket"))
        {
            if by_systemd {
                text.push_str(&format!(
                    "{}/{}  socket-activated by systemd: {}\n",
                    s.local.port,
                    s.protocol,
                    crate::render::sanitize::sanitize(unit)
                ));
            }
        }
    }
    text
}

/// `who` on any host: `narrowed` says protocol, family or state filters were given, so a
/// port with no match may still be in use.
pub fn run_with(
    c: &mut Collector,
    q: &Query,
    narrowed: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let mut outcome = pipeline::run(c, q)?;
    sort::sort(&mut outcome.sockets, query::SortKey::Port, false);
    let unread: Vec<String> = outcome
        .sources
        .netns
        .iter()
        .filter(|n| n.reason.is_some_and(|r| r.hides_sockets()))
        .map(|n| n.unread_line())
        .collect();
    let mut code = exit_status(&outcome.sockets);
    if code == EXIT_NOBODY && !unread.is_empty() {
        code = EXIT_HIDDEN;
    }
    let mut notes = std::mem::take(&mut outcome.warnings);
    if q.view().output.json {
        notes.extend(join::hidden_summary(
            &outcome.sockets,
            super::running_as_root(),
        ));
        json::write_document_with(
            out,
            outcome.sources,
            &outcome.sockets,
            &outcome.published,
            &notes,
            q.view().output.pretty,
        )?;
    } else if q.view().quiet {
        notes.extend(join::hidden_summary(
            &outcome.sockets,
            super::running_as_root(),
        ));
        let mut pids: Vec<u32> = outcome
            .sockets
            .iter()
            .flat_map(|s| s.processes.iter().map(|p| p.pid))
            .collect();
        pids.sort_unstable();
        pids.dedup();
        for p in pids {
            writeln!(out, "{p}")?;
        }
    } else {
        // What a port is published for comes first: a proxy's command line can be long.
        out.write_all(published_text(&outcome).as_bytes())?;
        let text = who::blocks(
            &outcome.sockets,
            &q.selection().ports,
            q.selection().remote,
            narrowed,
            &outcome.parents,
            &unread,
            who::BlockStyle {
                as_root: super::running_as_root(),
                width: q.view().output.width.map(usize::from),
            },
        );
        out.write_all(text.as_bytes())?;
    }
    out.flush()?;
    super::print_notes(&notes);
    Ok(code)
}
