//! `portscope list`: every socket in the selected states with its owners.

use crate::cli::{ColorChoice, ListArgs};
use crate::collect::TableQuery;
use crate::filter;
use crate::join;
use crate::pipeline;
use crate::query::{self, Query};
use crate::render::{self, json, table};
use crate::services::Services;
use std::io::{IsTerminal, Write};

pub fn build_query(a: &ListArgs) -> anyhow::Result<Query> {
    let (protocols, families) = query::protocols_and_families(&a.proto);
    let mut q = Query::new(TableQuery {
        protocols,
        families,
        states: query::states(&a.state, a.all, a.listening),
        ports: None,
    });
    if !a.port.is_empty() {
        q.ports = query::parse_ports(&a.port, Services::system())?;
    }
    q.pids = query::parse_pids(&a.pid)?;
    q.processes = a.process.iter().map(|p| p.to_lowercase()).collect();
    q.uids = query::parse_users(&a.user)?;
    q.classes = query::classes(&a.class);
    q.numeric = a.output.numeric;
    Ok(q)
}

pub fn run(a: &ListArgs, color: ColorChoice, out: &mut dyn Write) -> anyhow::Result<i32> {
    let q = build_query(a)?;
    let mut outcome = pipeline::run(&q, false)?;
    filter::sort(&mut outcome.sockets, a.sort, a.reverse);
    let mut notes = outcome.warnings;
    notes.extend(join::hidden_summary(&outcome.sockets));
    if a.output.json {
        let pretty = std::io::stdout().is_terminal();
        json::write_document(out, &outcome.sockets, &notes, pretty)?;
    } else {
        let style = table::TableStyle {
            color: render::use_color(color),
            width: render::terminal_width(),
            show_remote: q
                .table
                .states
                .as_ref()
                .is_none_or(|s| !s.iter().all(|st| st.is_listening())),
        };
        table::write_table(out, &outcome.sockets, style)?;
    }
    out.flush()?;
    super::print_notes(&notes);
    Ok(0)
}
