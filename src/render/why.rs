//! Render stage for `why`: verdicts in, text for people or the versioned JSON document out.

use crate::model::{Owner, Socket};
use crate::render::sanitize::sanitize;
use crate::why::{Evidence, Reason, Verdict};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io::{self, Write};

/// Raised only when a field is renamed or removed; additions keep the version.
pub const SCHEMA_VERSION: u32 = 1;

/// `why --json`: one object, like `list --json`, with one result per SPEC in `results`
/// and portscope's own notes (table fallbacks) in `notes`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub schema_version: u32,
    pub results: Vec<Verdict>,
    pub notes: Vec<String>,
}

pub fn write_json(
    out: &mut dyn Write,
    results: &[Verdict],
    notes: &[String],
    pretty: bool,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct Ref<'a> {
        schema_version: u32,
        results: &'a [Verdict],
        notes: &'a [String],
    }
    let doc = Ref {
        schema_version: SCHEMA_VERSION,
        results,
        notes,
    };
    if pretty {
        serde_json::to_writer_pretty(&mut *out, &doc)?;
    } else {
        serde_json::to_writer(&mut *out, &doc)?;
    }
    out.write_all(b"\n")
}

/// The text for people: a head line per SPEC, then each reason and warning with its
/// evidence and fix.
pub fn text(results: &[Verdict]) -> String {
    let mut t = String::new();
    for v in results {
        let addr = std::net::SocketAddr::new(v.address, v.port);
        let mut opts: Vec<String> = Vec::new();
        if let Some(u) = &v.as_user {
            let who = u.name.clone().unwrap_or_else(|| format!("uid {}", u.uid));
            opts.push(format!("as {}", sanitize(&who)));
        }
        let o = &v.options;
        for (on, name) in [
            (o.reuseaddr, "SO_REUSEADDR"),
            (o.reuseport, "SO_REUSEPORT"),
            (o.freebind, "IP_FREEBIND"),
        ] {
            if on {
                opts.push(name.into());
            }
        }
        match o.v6only {
            Some(true) => opts.push("IPV6_V6ONLY".into()),
            Some(false) => opts.push("dual-stack".into()),
            None => {}
        }
        let opts = if opts.is_empty() {
            String::new()
        } else {
            format!(" ({})", opts.join(", "))
        };
        let status = match &v.errno {
            None => "bindable".to_string(),
            Some(e) => format!("not bindable: {} ({})", e.message, e.name),
        };
        let _ = writeln!(t, "{addr}/{}{opts}: {status}", v.protocol);
        for r in &v.reasons {
            write_reason(&mut t, "reason", r);
        }
        for r in &v.warnings {
            write_reason(&mut t, "warning", r);
        }
    }
    t
}

fn write_reason(t: &mut String, kind: &str, r: &Reason) {
    let _ = writeln!(t, "  {kind} {}: {}", r.rule, r.detail);
    for e in &r.evidence {
        let _ = writeln!(t, "    evidence  {}", evidence_line(e));
    }
    if !r.fix.is_empty() {
        let _ = writeln!(t, "    fix       {}", r.fix);
    }
}

pub fn evidence_line(e: &Evidence) -> String {
    match e {
        Evidence::Socket { socket } => socket_line(socket),
        Evidence::Sysctl { name, value } if value.is_empty() => format!("{name} = (empty)"),
        Evidence::Sysctl { name, value } => format!("{name} = {value}"),
        Evidence::Capability { name, present, uid } => {
            format!(
                "{name} {} for uid {uid}",
                if *present { "present" } else { "missing" }
            )
        }
        Evidence::Interfaces { addresses } if addresses.is_empty() => {
            "interfaces: no addresses".into()
        }
        Evidence::Interfaces { addresses } => {
            let v: Vec<String> = addresses
                .iter()
                .map(|a| {
                    let flag = if a.dad_failed {
                        " (dad failed)"
                    } else if a.tentative {
                        " (tentative)"
                    } else {
                        ""
                    };
                    format!("{} {}{flag}", sanitize(&a.interface), a.address)
                })
                .collect();
            format!("interfaces: {}", v.join(", "))
        }
        Evidence::Note { text } => text.clone(),
    }
}

/// A socket as `who` shows it: protocol, state, addresses, and who holds it.
fn socket_line(s: &Socket) -> String {
    let peer = s.remote.map(|r| format!(" -> {r}")).unwrap_or_default();
    let owners = if s.processes.is_empty() {
        let why = s.owner_reason.map_or("", |r| r.as_str());
        match s.owner {
            Owner::Hidden => format!(
                "held by a process portscope cannot see (socket uid {}): {why}",
                s.uid.map_or("unknown".to_string(), |u| u.to_string())
            ),
            _ => format!("no process: {why}"),
        }
    } else {
        let v: Vec<String> = s
            .processes
            .iter()
            .map(|p| {
                let user = p
                    .user
                    .clone()
                    .or_else(|| p.uid.map(|u| u.to_string()))
                    .unwrap_or_else(|| "?".into());
                format!(
                    "{} (pid {}, user {})",
                    sanitize(&p.name),
                    p.pid,
                    sanitize(&user)
                )
            })
            .collect();
        v.join(", ")
    };
    let v6 = match s.v6only {
        Some(true) => " v6only",
        Some(false) if s.is_dual_stack() => " dual-stack",
        _ => "",
    };
    format!("{} {} {}{peer}{v6}  {owners}", s.protocol, s.state, s.local)
}
