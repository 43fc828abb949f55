//! `portscope list`: every socket in the selected states with its owners.

use super::args;
use crate::cli::{ColorChoice, ListArgs, SourceArgs};
use crate::collect::{lookup_user, Collector};
use crate::join;
use crate::model::TableQuery;
use crate::pipeline;
use crate::query::{self, Query};
use crate::render::{json, table};
use crate::services::Services;
use crate::sort;
use std::io::Write;

pub fn build_query(a: &ListArgs, color: ColorChoice) -> anyhow::Result<Query> {
    let (protocols, families) = args::protocols_and_families(&a.proto);
    let mut q = Query::new(TableQuery {
        protocols,
        families,
        states: query::states(&args::states(&a.state), a.all, a.listening),
        ports: None,
    });
    if !a.port.is_empty() {
        q.ports = query::parse_ports(&a.port, Services::system())?;
    }
    q.pids = query::parse_pids(&a.pid)?;
    q.processes = a.process.iter().map(|p| p.to_lowercase()).collect();
    q.uids = query::parse_users(&a.user, &lookup_user)?;
    q.classes = args::classes(&a.class);
    q.containers = a.container.clone();
    q.units = query::unit_names(&a.unit);
    q.numeric = a.output.numeric;
    q.sort = args::sort(a.sort);
    q.reverse = a.reverse;
    q.output = args::output(a.output.json, color);
    Ok(q)
}

pub fn run(
    a: &ListArgs,
    color: ColorChoice,
    sources: &SourceArgs,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let q = build_query(a, color)?;
    let mut c = args::collector(sources)?;
    run_with(&mut c, &q, out)
}

/// `list` on any host.
pub fn run_with(c: &mut Collector, q: &Query, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut outcome = pipeline::run(c, q)?;
    sort::sort(&mut outcome.sockets, q.sort, q.reverse);
    let mut notes = outcome.warnings;
    notes.extend(join::hidden_summary(&outcome.sockets));
    if q.output.json {
        json::write_document(
            out,
            outcome.sources,
            &outcome.sockets,
            &notes,
            q.output.pretty,
        )?;
    } else {
        let style = table::TableStyle {
            color: q.output.color,
            width: q.output.width,
            shape: table::Shape::of(&outcome.sockets, !q.listening_only()),
        };
        table::write_table(out, &outcome.sockets, style)?;
    }
    out.flush()?;
    super::print_notes(&notes);
    Ok(0)
}
