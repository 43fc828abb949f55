//! `portscope wait SPEC... [--until up|free] [--timeout D] [-- COMMAND...]`: wait on the
//! socket table, never connecting unless asked. Exit 0 met (or COMMAND's status), 1 timed
//! out, 2 bad input or an error, 3 up but the owner constraint cannot be checked.

use super::args;
use crate::act::wait::{self, Ending, OwnerWanted, Until, WaitOptions, WaitSpec};
use crate::cli::{SourceArgs, UntilArg, WaitArgs};
use crate::collect::{lookup_user, Collector};
use crate::error::Error;
use crate::model::{Protocol, SockState, TableQuery};
use crate::query::{self, Query, Selection};
use crate::services::Services;
use std::io::Write;

pub const EXIT_MET: i32 = 0;
pub const EXIT_TIMED_OUT: i32 = 1;
pub const EXIT_OWNER_HIDDEN: i32 = 3;

/// The query, the SPECs and the options, validated before anything is read.
pub fn build(a: &WaitArgs) -> anyhow::Result<(Query, Vec<WaitSpec>, WaitOptions)> {
    let services = Services::system();
    let specs: Vec<WaitSpec> = a
        .specs
        .iter()
        .map(|s| wait::parse_spec(s, services))
        .collect::<anyhow::Result<_>>()?;
    let (_, families) = args::protocols_and_families(&a.proto);
    // TCP unless -u; both with -t -u; a SPEC's /udp or /tcp still narrows it.
    let protocols = match (a.proto.tcp, a.proto.udp) {
        (false, true) => vec![Protocol::Udp],
        (true, true) => vec![Protocol::Tcp, Protocol::Udp],
        _ => vec![Protocol::Tcp],
    };
    let until = match a.until {
        UntilArg::Up => Until::Up,
        UntilArg::Free => Until::Free,
    };
    if until == Until::Up && a.reuseaddr {
        return Err(Error::invalid("option", "--reuseaddr", "only with --until free").into());
    }
    if until == Until::Free && (a.connect || a.http.is_some()) {
        return Err(Error::invalid("option", "--connect/--http", "only with --until up").into());
    }
    if (a.connect || a.http.is_some()) && !protocols.contains(&Protocol::Tcp) {
        return Err(
            Error::invalid("option", "--connect/--http", "needs TCP (not -u alone)").into(),
        );
    }
    if let Some(p) = &a.http {
        if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid("HTTP path", p, "expected /PATH without spaces").into());
        }
    }
    // `free` without --reuseaddr: a plain bind must work, so every state on the port counts
    // (time_wait included); otherwise listening and bound sockets only. With --reuseaddr
    // a TCP socket bound but not listening (`closed`) counts too: whether it set
    // SO_REUSEADDR is not in the table, and a bind collides with it unless it did.
    let states = if until == Until::Free && !a.reuseaddr {
        None
    } else if until == Until::Free {
        Some(vec![
            SockState::Listen,
            SockState::Unconnected,
            SockState::Closed,
        ])
    } else {
        Some(vec![SockState::Listen, SockState::Unconnected])
    };
    let table = TableQuery {
        protocols,
        families,
        states,
        ports: None,
    };
    let q = Query::lookup(Selection::ports(
        table,
        specs.iter().map(|w| w.spec.clone()).collect(),
    ));
    let owner = owner_wanted(a)?;
    let o = WaitOptions {
        until,
        timeout: a
            .timeout
            .as_deref()
            .map(super::listen::parse_duration)
            .transpose()?,
        connect: a.connect,
        http: a.http.clone(),
        owner,
        reuseaddr: a.reuseaddr,
    };
    Ok((q, specs, o))
}

fn owner_wanted(a: &WaitArgs) -> anyhow::Result<OwnerWanted> {
    let pids = query::parse_pids(&a.pid)?;
    let uids = query::parse_users(&a.user, &lookup_user)?;
    let query = (!pids.is_empty() || !uids.is_empty()).then(|| Query::owners(pids, uids));
    Ok(OwnerWanted {
        query,
        names: a.owner.clone(),
        containers: a.container.clone(),
        units: a.unit.clone(),
    })
}

pub fn run(a: &WaitArgs, sources: &SourceArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let (q, specs, o) = build(a)?;
    let mut c = args::collector(sources)?;
    // A namespace that cannot be read is never "nothing held it" / "free": exit 3.
    c.refuse_unreadable_netns(true);
    run_with(&mut c, &q, &specs, &o, &a.command, a.run_anyway, out)
}

pub fn run_with(
    c: &mut Collector,
    q: &Query,
    specs: &[WaitSpec],
    o: &WaitOptions,
    command: &[String],
    run_anyway: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ending = wait::run(c, q, specs, o)?;
    // With a COMMAND, stdout is the command's: portscope's lines go to stderr.
    let mut err = std::io::stderr();
    let sink: &mut dyn Write = if command.is_empty() { out } else { &mut err };
    let (code, go) = match &ending {
        Ending::Met(lines) => {
            for l in lines {
                writeln!(sink, "{}", crate::render::sanitize::sanitize(l))?;
            }
            (EXIT_MET, true)
        }
        Ending::TimedOut(w) => {
            let what = if o.until == Until::Up { "up" } else { "free" };
            super::print_notes(&[format!("timed out: not {what}: {}", w.join(" "))]);
            (EXIT_TIMED_OUT, run_anyway)
        }
        Ending::OwnerHidden(w) => {
            super::print_notes(&[format!(
                "up, but the owner cannot be seen, so the owner constraint cannot be checked ({}): {}",
                crate::join::hidden_hint(super::running_as_root()),
                w.join(" ")
            )]);
            (EXIT_OWNER_HIDDEN, run_anyway)
        }
    };
    sink.flush()?;
    if command.is_empty() || !go {
        return Ok(code);
    }
    run_command(command)
}

/// Runs COMMAND; its status is ours (128+N for a signal, 127 not found, 126 not runnable,
/// as timeout(1) and the shells say).
fn run_command(command: &[String]) -> anyhow::Result<i32> {
    match std::process::Command::new(&command[0])
        .args(&command[1..])
        .status()
    {
        Ok(st) => {
            use std::os::unix::process::ExitStatusExt;
            Ok(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)))
        }
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            let line = format!(
                "portscope: cannot run '{}': {e}\n",
                crate::render::sanitize::sanitize(&command[0])
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            Ok(code)
        }
    }
}
