//! `portscope why SPEC...`: try each bind for real, then explain. Exit 0 every SPEC
//! bindable, 1 at least one not, 2 bad input or an error, 3 the answer is partial (a
//! holder's owner is hidden, or --as without root); 3 wins over 1, so a script never
//! takes a partial answer for a complete one.

use crate::cli::{SourceArgs, WhyArgs};
use crate::model::Protocol;
use crate::render::why as render;
use crate::services::Services;
use crate::why::{facts, parse_request, rules, trial, BindOptions, ErrnoInfo, Verdict};
use std::io::{IsTerminal, Write};

pub const EXIT_BINDABLE: i32 = 0;
pub const EXIT_NOT_BINDABLE: i32 = 1;
pub const EXIT_PARTIAL: i32 = 3;

pub fn exit_status(results: &[Verdict]) -> i32 {
    if results.iter().any(|v| v.partial) {
        EXIT_PARTIAL
    } else if results.iter().any(|v| !v.bindable) {
        EXIT_NOT_BINDABLE
    } else {
        EXIT_BINDABLE
    }
}

pub fn run(a: &WhyArgs, sources: &SourceArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let proto = match (a.tcp, a.udp) {
        (true, _) => Some(Protocol::Tcp),
        (_, true) => Some(Protocol::Udp),
        _ => None,
    };
    let options = BindOptions {
        reuseaddr: a.reuseaddr,
        reuseport: a.reuseport,
        v6only: match (a.v6only, a.dual_stack) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        freebind: a.freebind,
    };
    let services = Services::system();
    let requests = a
        .specs
        .iter()
        .map(|s| parse_request(s, proto, options, services))
        .collect::<Result<Vec<_>, _>>()?;
    let as_user = a.as_user.as_deref().map(trial::lookup).transpose()?;
    let mut c = super::args::collector(sources)?;
    let mut results = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for (text, req) in a.specs.iter().zip(&requests) {
        let (f, n) = facts::gather(&mut c, req, as_user.as_ref())?;
        for x in n {
            if !notes.contains(&x) {
                notes.push(x);
            }
        }
        let ex = rules::explain(&f);
        results.push(Verdict {
            spec: text.clone(),
            protocol: req.protocol,
            address: req.addr.ip(),
            port: req.addr.port(),
            options,
            as_user: as_user.clone(),
            bindable: f.trial.errno.is_none(),
            errno: f.trial.errno.map(ErrnoInfo::of),
            reasons: ex.reasons,
            warnings: ex.warnings,
            partial: ex.partial,
        });
    }
    if a.json {
        render::write_json(out, &results, &notes, std::io::stdout().is_terminal())?;
    } else {
        out.write_all(render::text(&results).as_bytes())?;
    }
    out.flush()?;
    if !a.json {
        super::print_notes(&notes);
    }
    Ok(exit_status(&results))
}
