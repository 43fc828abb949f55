//! `portscope verify`: opens sockets whose truth is known, reads them back through the very
//! pipeline `list` and `who` use, and checks them field by field. Exit 0 all passed,
//! 1 a check failed, 2 the test sockets could not be opened.

use crate::classify::port_class;
use crate::cli::{ColorChoice, VerifyArgs};
use crate::collect::{self, TableQuery};
use crate::model::{Family, Protocol, SockState, Socket};
use crate::pipeline;
use crate::probe::{self, Probe};
use crate::query::Query;
use crate::render::sanitize::sanitize;
use crate::spec::PortSpec;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::net::SocketAddr;

#[cfg(target_os = "linux")]
mod fixture;
#[cfg(target_os = "linux")]
use fixture::Fixture;

/// verify forks a holder with Linux-only calls (pipe2, PR_SET_PDEATHSIG).
#[cfg(not(target_os = "linux"))]
struct Fixture {
    expect: Vec<Expect>,
}

#[cfg(not(target_os = "linux"))]
impl Fixture {
    fn open(_: Option<u16>, _: bool, _: &str, _: &mut Checks) -> anyhow::Result<Fixture> {
        Err(crate::error::Error::Unsupported("verify").into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// One check; `ok` is true only for a pass (a skip is not a pass).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub status: Status,
    pub expected: String,
    pub seen: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema_version: u32,
    pub ok: bool,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub checks: Vec<Check>,
}

/// What one known socket must look like.
pub struct Expect {
    pub label: String,
    pub protocol: Protocol,
    pub local: SocketAddr,
    pub remote: Option<SocketAddr>,
    pub state: SockState,
    pub v6only: Option<bool>,
    pub inode: Option<u64>,
    pub pids: Vec<u32>,
    pub name: String,
    /// UID every holder must run as.
    pub uid: u32,
    /// The OS picked the port (port 0 or connect()): it must lie in the ephemeral range.
    pub os_picked: bool,
}

#[derive(Default)]
pub struct Checks(pub Vec<Check>);

impl Checks {
    pub fn add(&mut self, name: String, expected: impl ToString, seen: impl ToString) {
        let (expected, seen) = (expected.to_string(), seen.to_string());
        let status = if expected == seen {
            Status::Pass
        } else {
            Status::Fail
        };
        self.0.push(Check {
            name,
            ok: status == Status::Pass,
            status,
            expected,
            seen,
        });
    }

    pub fn skip(&mut self, name: impl Into<String>, why: impl Into<String>) {
        self.0.push(Check {
            name: name.into(),
            ok: false,
            status: Status::Skip,
            expected: "-".into(),
            seen: format!("skipped: {}", why.into()),
        });
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "null".into(), |x| x.to_string())
}

fn pid_set(mut v: Vec<u32>) -> String {
    v.sort_unstable();
    v.dedup();
    let s: Vec<String> = v.iter().map(u32::to_string).collect();
    format!("{{{}}}", s.join(","))
}

/// Checks one expected socket against what the pipeline reported.
fn check_socket(
    c: &mut Checks,
    e: &Expect,
    seen: &[Socket],
    eph: Option<(u16, u16)>,
    procfs: bool,
) {
    let found = seen.iter().find(|s| match e.inode {
        Some(i) => s.inode == i,
        None => {
            s.protocol == e.protocol
                && s.local.address == e.local.ip()
                && s.local.port == e.local.port()
                && s.state == e.state
        }
    });
    let name = |what: &str| format!("{}: {what}", e.label);
    let Some(s) = found else {
        c.add(name("present"), "yes", "missing");
        return;
    };
    c.add(name("present"), "yes", "yes");
    c.add(name("protocol"), e.protocol, s.protocol);
    c.add(name("family"), Family::of(&e.local.ip()), s.family);
    c.add(name("address"), e.local.ip(), s.local.address);
    c.add(name("port"), e.local.port(), s.local.port);
    c.add(name("state"), e.state, s.state);
    c.add(
        name("remote"),
        opt(e.remote.map(|r| r.to_string())),
        opt(s.remote.map(|r| r.to_string())),
    );
    if e.local.is_ipv6() && procfs {
        c.skip(
            name("v6only"),
            "/proc/net, read instead of netlink, has no v6-only flag",
        );
    } else if e.local.is_ipv6() {
        c.add(name("v6only"), opt(e.v6only), opt(s.v6only));
    }
    c.add(
        name("port class"),
        port_class(e.local.port()).as_str(),
        s.port_class.as_str(),
    );
    match eph {
        Some((lo, hi)) => {
            let in_range = lo <= e.local.port() && e.local.port() <= hi;
            if e.os_picked {
                // Independent truth: the OS handed this port out, so it is in the range.
                c.add(name("picked port in ephemeral range"), true, in_range);
            }
            c.add(name("ephemeral"), in_range, s.ephemeral);
        }
        None => c.skip(
            name("ephemeral"),
            "this host does not report its ephemeral range",
        ),
    }
    c.add(
        name("pids"),
        pid_set(e.pids.clone()),
        pid_set(s.processes.iter().map(|p| p.pid).collect()),
    );
    let uids: Vec<String> = s.processes.iter().map(|p| opt(p.uid)).collect();
    let all_uid = !uids.is_empty() && uids.iter().all(|u| *u == e.uid.to_string());
    c.add(
        name("process uid"),
        e.uid,
        if all_uid {
            e.uid.to_string()
        } else {
            uids.join(",")
        },
    );
    let names: Vec<&str> = s.processes.iter().map(|p| p.name.as_str()).collect();
    let all_named = !names.is_empty() && names.iter().all(|n| *n == e.name);
    c.add(
        name("process name"),
        &e.name,
        if all_named {
            e.name.clone()
        } else {
            names.join(",")
        },
    );
}

/// The name the kernel gives this process (comm: the name it was executed as, a symlink's
/// included, at most 15 bytes), read as the pipeline reads it.
fn own_comm() -> String {
    match std::fs::read("/proc/self/comm") {
        Ok(b) => String::from_utf8_lossy(b.strip_suffix(b"\n").unwrap_or(&b)).into_owned(),
        Err(_) => "portscope".into(),
    }
}

pub fn run(a: &VerifyArgs, _color: ColorChoice, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut checks = Checks::default();
    let fx = Fixture::open(a.port, a.children, &own_comm(), &mut checks)?;

    let q = Query::new(TableQuery {
        protocols: Protocol::ALL.to_vec(),
        families: Family::ALL.to_vec(),
        states: None,
        ports: None,
    });
    let outcome = pipeline::run(&q, false)?;
    let eph = collect::ephemeral_range();
    for e in &fx.expect {
        check_socket(&mut checks, e, &outcome.sockets, eph, outcome.procfs);
    }

    // Nothing extra: every socket our own process holds is one we opened.
    let me = std::process::id();
    let ours: Vec<u64> = fx.expect.iter().filter_map(|e| e.inode).collect();
    let extra: Vec<String> = outcome
        .sockets
        .iter()
        .filter(|s| s.processes.iter().any(|p| p.pid == me) && !ours.contains(&s.inode))
        .map(|s| format!("{}/{}", s.local, s.protocol))
        .collect();
    checks.add(
        "no unexpected sockets held by portscope itself".into(),
        "none",
        if extra.is_empty() {
            "none".into()
        } else {
            extra.join(" ")
        },
    );

    // The `who` path: a port query must find both holders of the shared listener.
    if let Some(shared) = fx.expect.iter().find(|e| e.pids.len() > 1) {
        let mut wq = Query::new(TableQuery {
            protocols: vec![Protocol::Tcp],
            families: Family::ALL.to_vec(),
            states: None,
            ports: None,
        });
        wq.ports = vec![PortSpec::parse(
            &shared.local.to_string(),
            &crate::services::Services::default(),
        )?];
        wq.numeric = true;
        let who = pipeline::run(&wq, false)?;
        let pids: Vec<u32> = who
            .sockets
            .iter()
            .filter(|s| s.state == SockState::Listen)
            .flat_map(|s| s.processes.iter().map(|p| p.pid))
            .collect();
        checks.add(
            format!("who {}: every holder", shared.local),
            pid_set(shared.pids.clone()),
            pid_set(pids),
        );
    }
    drop(fx);

    let report = report(checks.0);
    if a.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        write_table(out, &report, a.verbose)?;
    }
    out.flush()?;
    Ok(if report.ok { 0 } else { 1 })
}

pub fn report(checks: Vec<Check>) -> Report {
    let count = |st| checks.iter().filter(|c| c.status == st).count();
    let (passed, failed, skipped) = (
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip),
    );
    Report {
        schema_version: 1,
        ok: failed == 0,
        passed,
        failed,
        skipped,
        checks,
    }
}

fn write_table(out: &mut dyn Write, r: &Report, verbose: bool) -> std::io::Result<()> {
    // Checks are named "<subject>: <property>"; a subject whose checks all pass is one line.
    let mut groups: Vec<(&str, Vec<&Check>)> = Vec::new();
    for c in &r.checks {
        let subject = c.name.split_once(": ").map_or(c.name.as_str(), |(s, _)| s);
        match groups.iter_mut().find(|(s, _)| *s == subject) {
            Some((_, v)) => v.push(c),
            None => groups.push((subject, vec![c])),
        }
    }
    for (subject, checks) in &groups {
        let all_pass = checks.iter().all(|c| c.status == Status::Pass);
        if all_pass && !verbose {
            let n = checks.len();
            let noun = if n == 1 { "check" } else { "checks" };
            writeln!(out, "pass  {} ({n} {noun})", sanitize(subject))?;
            continue;
        }
        for c in checks {
            let res = match c.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            if c.status == Status::Pass {
                writeln!(out, "{res}  {}: {}", c.name, c.seen)?;
            } else {
                writeln!(
                    out,
                    "{res}  {}: expected {}, seen {}",
                    c.name, c.expected, c.seen
                )?;
            }
        }
    }
    let verdict = if r.ok { "OK" } else { "FAILED" };
    writeln!(
        out,
        "verify {verdict}: {} passed, {} failed, {} skipped",
        r.passed, r.failed, r.skipped
    )
}

/// Opens a known socket or explains, in one line naming address and port, why not.
pub fn must_open(proto: Protocol, addr: SocketAddr, v6only: Option<bool>) -> anyhow::Result<Probe> {
    probe::open(proto, addr, v6only)
        .map_err(|e| anyhow::anyhow!("cannot open test socket '{addr}/{proto}': {e}"))
}
