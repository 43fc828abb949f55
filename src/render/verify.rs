//! Render stage, `verify`: the report's data and its text form (one line per subject that
//! passed, every check of a subject that did not, and a closing count).

use crate::model::Sources;
use crate::render::sanitize::sanitize;
use serde::{Deserialize, Serialize};
use std::io::Write;

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
    /// Which backends produced the answers that were checked.
    pub sources: Sources,
    pub ok: bool,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub checks: Vec<Check>,
}

pub fn report(sources: Sources, checks: Vec<Check>) -> Report {
    let count = |st| checks.iter().filter(|c| c.status == st).count();
    let (passed, failed, skipped) = (
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip),
    );
    Report {
        schema_version: 1,
        sources,
        ok: failed == 0,
        passed,
        failed,
        skipped,
        checks,
    }
}

pub fn write_table(out: &mut dyn Write, r: &Report, verbose: bool) -> std::io::Result<()> {
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
    writeln!(
        out,
        "sources: table {}, owners {}",
        serde_json::to_value(r.sources.table)
            .unwrap_or_default()
            .as_str()
            .unwrap_or("?"),
        serde_json::to_value(r.sources.owners)
            .unwrap_or_default()
            .as_str()
            .unwrap_or("?"),
    )?;
    let verdict = if r.ok { "OK" } else { "FAILED" };
    writeln!(
        out,
        "verify {verdict}: {} passed, {} failed, {} skipped",
        r.passed, r.failed, r.skipped
    )
}
