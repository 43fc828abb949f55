//! `portscope export prometheus|ansible-facts`: the listening ports for fleet tools, to
//! stdout or to a file replaced atomically.

use super::args;
use crate::cli::{ExportArgs, ExportFormat, SelectArgs, SourceArgs};
use crate::collect::Collector;
use crate::error::Error;
use crate::model::{Socket, TableQuery};
use crate::pipeline;
use crate::query::{self, Query};
use crate::render::{ansible, prometheus};
use crate::textfile;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// The file node_exporter's textfile collector reads from --textfile-dir.
pub const TEXTFILE_NAME: &str = "portscope.prom";

/// Prometheus counts sockets in every state; ansible-facts lists listeners only, as
/// listen_ports_facts does. Service names are never part of either output.
pub fn build_query(format: ExportFormat, a: &SelectArgs) -> anyhow::Result<Query> {
    let (protocols, families) = args::protocols_and_families(&a.proto);
    let states = match format {
        ExportFormat::Prometheus => None,
        ExportFormat::AnsibleFacts => query::states(&[], false, true),
    };
    let table = TableQuery {
        protocols,
        families,
        states,
        ports: None,
    };
    Ok(Query::lookup(args::filtered(table, &a.filters)?))
}

#[cfg(target_os = "linux")]
fn start_times(pids: impl Iterator<Item = u32>) -> std::collections::HashMap<u32, String> {
    crate::collect::starttime::start_times(pids)
}

/// No portable start time elsewhere: `stime` is then empty.
#[cfg(not(target_os = "linux"))]
fn start_times(_pids: impl Iterator<Item = u32>) -> std::collections::HashMap<u32, String> {
    std::collections::HashMap::new()
}

/// The path the output goes to (`-` is stdout); textfile::destination decides, from what
/// the path is, how it is written.
fn destination(a: &ExportArgs) -> Result<PathBuf, Error> {
    if let Some(dir) = &a.textfile_dir {
        if a.format != ExportFormat::Prometheus {
            return Err(Error::invalid(
                "option",
                "--textfile-dir",
                "only the prometheus format is written into a textfile directory (use -o FILE)",
            ));
        }
        return Ok(dir.join(TEXTFILE_NAME));
    }
    Ok(a.output.clone().unwrap_or_else(|| PathBuf::from("-")))
}

/// The one call into the pipeline: (rows, warnings, how long collecting took).
fn collect(c: &mut Collector, q: &Query) -> anyhow::Result<(Vec<Socket>, Vec<String>, Duration)> {
    let started = Instant::now();
    let outcome = pipeline::run(c, q)?;
    Ok((outcome.sockets, outcome.warnings, started.elapsed()))
}

pub fn run(a: &ExportArgs, sources: &SourceArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let q = build_query(a.format, &a.select)?;
    let target = destination(a)?;
    // Checked before collecting: a refused path costs nothing, and names itself first.
    let to_stdout = textfile::destination(&target)? == textfile::Destination::Stdout;
    let mut c = args::collector_for(sources, &q)?;
    let (sockets, warnings, took) = collect(&mut c, &q)?;
    let timestamp = SystemTime::now();
    let render = |w: &mut dyn Write| -> std::io::Result<()> {
        match a.format {
            ExportFormat::Prometheus => {
                let ctx = prometheus::Context {
                    collect_duration: took,
                    timestamp,
                };
                prometheus::write_metrics(w, &sockets, &ctx)
            }
            ExportFormat::AnsibleFacts => {
                let pids = sockets
                    .iter()
                    .flat_map(|s| s.processes.iter().map(|p| p.pid));
                let start_times = start_times(pids);
                let ctx = ansible::Context {
                    start_times: &start_times,
                };
                let pretty = to_stdout && std::io::stdout().is_terminal();
                ansible::write_facts(w, &sockets, &ctx, pretty)
            }
        }
    };
    textfile::write_output(&target, out, render)?;
    // Hidden owners are in the output itself (a metric, owner_reason): no note for them,
    // so a cron job stays quiet. Degraded collection still says so.
    super::print_notes(&warnings);
    Ok(0)
}
