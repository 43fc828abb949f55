//! `portscope list`: every socket in the selected states with its owners.

use super::args;
use crate::cli::{ColorChoice, ListArgs, SourceArgs};
use crate::collect::Collector;
use crate::join;
use crate::pipeline;
use crate::query::{Query, View};
use crate::render::{json, table};
use crate::sort;
use std::io::Write;

pub fn build_query(a: &ListArgs, color: ColorChoice) -> anyhow::Result<Query> {
    let view = View {
        numeric: a.output.numeric,
        sort: args::sort(a.sort),
        reverse: a.reverse,
        output: args::output(a.output.json, color),
        quiet: false,
    };
    Ok(Query::list(args::list_selection(&a.select)?, view))
}

pub fn run(
    a: &ListArgs,
    color: ColorChoice,
    sources: &SourceArgs,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let q = build_query(a, color)?;
    let mut c = args::collector_for(sources, &q)?;
    run_with(&mut c, &q, out)
}

/// `list` on any host.
pub fn run_with(c: &mut Collector, q: &Query, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut outcome = pipeline::run(c, q)?;
    sort::sort(&mut outcome.sockets, q.view().sort, q.view().reverse);
    let mut notes = outcome.warnings;
    notes.extend(join::hidden_summary(
        &outcome.sockets,
        super::running_as_root(),
    ));
    if q.view().output.json {
        json::write_document(
            out,
            outcome.sources,
            &outcome.sockets,
            &notes,
            q.view().output.pretty,
        )?;
    } else {
        let style = table::TableStyle {
            color: q.view().output.color,
            width: q.view().output.width,
            shape: table::Shape::of(&outcome.sockets, !q.selection().listening_only()),
        };
        table::write_table(out, &outcome.sockets, style)?;
    }
    out.flush()?;
    super::print_notes(&notes);
    Ok(0)
}
