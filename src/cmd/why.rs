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

/// `--netns`: the one namespace to try the bind in (None: ours).
fn netns_target(v: &str) -> anyhow::Result<Option<std::path::PathBuf>> {
    use crate::collect::NetnsChoice;
    match super::args::netns(v) {
        NetnsChoice::Current => Ok(None),
        NetnsChoice::All => Err(crate::error::Error::invalid(
            "network namespace",
            v,
            "why tries a bind in one namespace: name it (NAME, PID or PATH)",
        )
        .into()),
        other => {
            let t = crate::collect::linux::netns::resolve(&other)?;
            Ok(t.path.filter(|_| !t.netns.current))
        }
    }
}

/// The trial and its local facts, inside the namespace at `path`: a thread enters it and
/// ends (a forked --as child inherits the thread's namespace).
fn in_netns(
    path: &Option<std::path::PathBuf>,
    req: &crate::why::BindRequest,
    as_user: Option<&crate::why::RunAs>,
) -> anyhow::Result<Option<facts::Local>> {
    let Some(path) = path else {
        return Ok(None);
    };
    crate::collect::linux::netns::in_namespace(path, || facts::gather_local(req, as_user))
        .map_err(|e| {
            // Not entered: never an answer (exit 3 when a privilege would allow it).
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                // An `ip netns` file is named by its name, as everywhere else.
                let name = path
                    .strip_prefix("/run/netns")
                    .ok()
                    .map(|n| n.display().to_string());
                let mut s = crate::model::NetnsSource::unread(
                    None,
                    name,
                    crate::model::NetnsReason::PermissionDenied,
                    format!("entering it: {e}"),
                );
                s.path = Some(path.display().to_string());
                crate::error::Error::NetnsUnreadable(s.unread_line()).into()
            } else {
                anyhow::anyhow!("cannot enter network namespace '{}': {e}", path.display())
            }
        })?
        .map(Some)
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
    // A namespace that cannot be read is never "nothing held it" / "free": exit 3.
    c.refuse_unreadable_netns(true);
    let target = netns_target(sources.netns())?;
    let mut results = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for (text, req) in a.specs.iter().zip(&requests) {
        let (f, n) = facts::gather(
            &mut c,
            req,
            as_user.as_ref(),
            in_netns(&target, req, as_user.as_ref())?,
        )?;
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
