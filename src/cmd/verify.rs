//! `portscope verify`: opens sockets whose truth is known, reads them back through the very
//! pipeline `list` and `who` use, and checks them field by field. Exit 0 all passed,
//! 1 a check failed, 2 the test sockets could not be opened.

use crate::cli::{SourceArgs, VerifyArgs};
use crate::collect::Collector;
use crate::model::Sources;
use crate::model::{
    Family, OwnerSourceKind, Protocol, SockState, Socket, TableQuery, TableSourceKind,
};
use crate::pipeline;
use crate::probe::{self, Probe};
use crate::query::{Query, Selection};
use crate::render::verify::{report, write_table, Check, Status};
use crate::spec::PortSpec;
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

/// RFC 6335 §6, written out here rather than taken from the classify stage, so that a
/// wrong class in the pipeline cannot agree with itself.
fn rfc6335_class(port: u16) -> &'static str {
    if port <= 1023 {
        "well-known"
    } else if port <= 49151 {
        "registered"
    } else {
        "dynamic"
    }
}

/// The ephemeral range read straight from the kernel's file, not through collect/.
#[cfg(target_os = "linux")]
fn kernel_ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let v: Vec<u16> = text
        .split_ascii_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match v[..] {
        [lo, hi] => Some((lo, hi)),
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
fn kernel_ephemeral_range() -> Option<(u16, u16)> {
    None
}

/// What the backends that ran cannot know, so a check on it is a skip, not a failure.
struct Limits {
    sources: Sources,
    /// Why PIDs read from /proc cannot be compared with ours (a foreign /proc).
    foreign_proc: Option<String>,
}

impl Limits {
    fn v6only(&self) -> Option<&'static str> {
        match self.sources.table {
            TableSourceKind::Netlink => None,
            TableSourceKind::Procnet => Some("/proc/net has no v6-only flag"),
            TableSourceKind::Netstat2 => Some("netstat2 does not report v6-only flags"),
        }
    }
    fn udp_peer(&self, e: &Expect) -> Option<&'static str> {
        (self.sources.table == TableSourceKind::Netstat2 && e.protocol == Protocol::Udp)
            .then_some("netstat2 does not report UDP peers")
    }
    fn owners(&self) -> Option<&'static str> {
        (self.sources.owners == OwnerSourceKind::None).then_some("--owner-source none")
    }
    fn pids(&self) -> Option<&str> {
        self.owners().or(self.foreign_proc.as_deref())
    }
}

/// Checks one expected socket against what the pipeline reported.
fn check_socket(c: &mut Checks, e: &Expect, seen: &[Socket], limits: &Limits) {
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
    match limits.udp_peer(e) {
        Some(why) => {
            c.skip(name("state"), why);
            c.skip(name("remote"), why);
        }
        None => {
            c.add(name("state"), e.state, s.state);
            c.add(
                name("remote"),
                opt(e.remote.map(|r| r.to_string())),
                opt(s.remote.map(|r| r.to_string())),
            );
        }
    }
    if e.local.is_ipv6() {
        match limits.v6only() {
            Some(why) => c.skip(name("v6only"), why),
            None => c.add(name("v6only"), opt(e.v6only), opt(s.v6only)),
        }
    }
    c.add(
        name("port class"),
        rfc6335_class(e.local.port()),
        s.port_class.as_str(),
    );
    check_ephemeral(c, e, s);
    match limits.owners() {
        Some(why) => c.skip(name("owners"), why),
        None => check_owners(c, e, s, limits),
    }
}

fn check_ephemeral(c: &mut Checks, e: &Expect, s: &Socket) {
    let name = |what: &str| format!("{}: {what}", e.label);
    match kernel_ephemeral_range() {
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
}

fn check_owners(c: &mut Checks, e: &Expect, s: &Socket, limits: &Limits) {
    let name = |what: &str| format!("{}: {what}", e.label);
    match limits.pids() {
        Some(why) => c.skip(name("pids"), why),
        None => c.add(
            name("pids"),
            pid_set(e.pids.clone()),
            pid_set(s.processes.iter().map(|p| p.pid).collect()),
        ),
    }
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

/// Why PIDs from /proc mean nothing here: /proc belongs to another PID namespace.
#[cfg(target_os = "linux")]
fn foreign_proc() -> Option<String> {
    crate::collect::linux::foreign_proc()
        .map(|(seen, me)| crate::collect::linux::foreign_proc_warning(seen, me))
}

#[cfg(not(target_os = "linux"))]
fn foreign_proc() -> Option<String> {
    None
}

/// The name the kernel gives this process (comm: the name it was executed as, a symlink's
/// included, at most 15 bytes), read as the pipeline reads it.
fn own_comm() -> String {
    match std::fs::read("/proc/self/comm") {
        Ok(b) => String::from_utf8_lossy(b.strip_suffix(b"\n").unwrap_or(&b)).into_owned(),
        Err(_) => "portscope".into(),
    }
}

pub fn run(a: &VerifyArgs, sources: &SourceArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut c = super::args::collector(sources)?;
    run_with(&mut c, a, out)
}

/// `verify` on any collector: the real host, or one that is made to answer wrongly (the
/// negative control: verify must then fail).
pub fn run_with(c: &mut Collector, a: &VerifyArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut checks = Checks::default();
    let fx = Fixture::open(a.port, a.children, &own_comm(), &mut checks)?;

    let outcome = pipeline::run(c, &Query::verify())?;
    let limits = Limits {
        sources: outcome.sources.clone(),
        foreign_proc: foreign_proc(),
    };
    for e in &fx.expect {
        check_socket(&mut checks, e, &outcome.sockets, &limits);
    }
    check_nothing_extra(&mut checks, &fx, &outcome.sockets, &limits);
    match limits.pids() {
        None => check_who_path(c, &mut checks, &fx)?,
        Some(why) => checks.skip("who: every holder of the shared listener", why),
    }
    drop(fx);

    let report = report(outcome.sources, checks.0);
    if a.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        write_table(out, &report, a.verbose)?;
    }
    out.flush()?;
    Ok(if report.ok { 0 } else { 1 })
}

/// Nothing extra: every socket our own process holds is one we opened.
fn check_nothing_extra(c: &mut Checks, fx: &Fixture, seen: &[Socket], limits: &Limits) {
    if let Some(why) = limits.pids() {
        c.skip("no unexpected sockets held by portscope itself", why);
        return;
    }
    let me = std::process::id();
    let ours: Vec<u64> = fx.expect.iter().filter_map(|e| e.inode).collect();
    let extra: Vec<String> = seen
        .iter()
        .filter(|s| s.processes.iter().any(|p| p.pid == me) && !ours.contains(&s.inode))
        .map(|s| format!("{}/{}", s.local, s.protocol))
        .collect();
    c.add(
        "no unexpected sockets held by portscope itself".into(),
        "none",
        if extra.is_empty() {
            "none".into()
        } else {
            extra.join(" ")
        },
    );
}

/// The `who` path: a port query must find both holders of the shared listener.
fn check_who_path(c: &mut Collector, checks: &mut Checks, fx: &Fixture) -> anyhow::Result<()> {
    let Some(shared) = fx.expect.iter().find(|e| e.pids.len() > 1) else {
        return Ok(());
    };
    let table = TableQuery {
        protocols: vec![Protocol::Tcp],
        ..TableQuery::everything()
    };
    let spec = PortSpec::parse(
        &shared.local.to_string(),
        &crate::services::Services::default(),
    )?;
    let wq = Query::lookup(Selection::ports(table, vec![spec]));
    let who = pipeline::run(c, &wq)?;
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
    Ok(())
}

/// Opens a known socket or explains, in one line naming address and port, why not.
pub fn must_open(proto: Protocol, addr: SocketAddr, v6only: Option<bool>) -> anyhow::Result<Probe> {
    probe::open(proto, addr, v6only)
        .map_err(|e| anyhow::anyhow!("cannot open test socket '{addr}/{proto}': {e}"))
}
