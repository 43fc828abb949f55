//! Collect stage, every OS: details of the processes that hold sockets (name, argv, UID,
//! parent) and user names (through the system user database, NSS-aware, not sysinfo's
//! user list, which skips accounts whose shell is /bin/false).
//!
//! Linux reads /proc/PID/{stat,status,cmdline} itself, three reads a process: sysinfo
//! (used elsewhere) read status twice, stat, /proc/uptime and /proc/stat around them,
//! each file with a statx and lseek first, ~30 calls a process (a whole 10k-socket
//! `list --all --json` with 50 holders: 1,975 calls before, 1,159 after). It also trims
//! argv and drops empty arguments.

use crate::collect::ProcessTable;
use crate::model::Process;
use std::collections::HashMap;
use std::sync::Arc;

/// Reads name, command line, UID and parent of each PID. PIDs that exited are left out.
#[cfg(target_os = "linux")]
pub fn process_details(pids: &[u32], users: &mut UserNames) -> ProcessTable {
    let mut out = ProcessTable::with_capacity(pids.len());
    let mut buf = Vec::new();
    for &pid in pids {
        // stat first: a process that exited since the scan is left out.
        let Ok(n) = crate::collect::read_record(format!("/proc/{pid}/stat"), &mut buf) else {
            continue;
        };
        let Some((name, ppid)) = parse_stat(&buf[..n]) else {
            continue;
        };
        let uid = crate::collect::read_record(format!("/proc/{pid}/status"), &mut buf)
            .ok()
            .and_then(|n| status_uid(&buf[..n]));
        let cmdline = crate::collect::read_record(format!("/proc/{pid}/cmdline"), &mut buf)
            .map(|n| split_cmdline(&buf[..n]))
            .unwrap_or_default();
        out.insert(
            pid,
            Arc::new(Process {
                pid,
                name,
                cmdline,
                user: uid.and_then(|u| users.name(u)),
                uid,
                ppid,
                tid: None,
                container: None,
                unit: None,
            }),
        );
    }
    out
}

/// The name and parent from /proc/PID/stat: `pid (comm) state ppid ...`. comm may hold
/// any bytes, spaces and parentheses included, so it ends at the last ')'. A parent of 0
/// (PID 1, kernel threads' kthreadd) is none.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_stat(b: &[u8]) -> Option<(String, Option<u32>)> {
    let open = b.iter().position(|&c| c == b'(')?;
    let close = b.iter().rposition(|&c| c == b')')?;
    let name = String::from_utf8_lossy(b.get(open + 1..close)?).into_owned();
    let rest = std::str::from_utf8(&b[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    fields.next()?; // state
    let ppid = fields.next()?.parse::<u32>().ok().filter(|&p| p != 0);
    Some((name, ppid))
}

/// The real UID from /proc/PID/status, read as bytes (the name line may be any bytes).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn status_uid(status: &[u8]) -> Option<u32> {
    let line = status
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"Uid:"))?;
    let text = std::str::from_utf8(&line[4..]).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Reads name, command line, UID and parent of each PID, through sysinfo (asked about
/// those PIDs only, with the smallest refresh kind). PIDs that exited are left out.
#[cfg(not(target_os = "linux"))]
pub fn process_details(pids: &[u32], users: &mut UserNames) -> ProcessTable {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
    if pids.is_empty() {
        return ProcessTable::new();
    }
    sysinfo::set_open_files_limit(0);
    let spids: Vec<Pid> = pids.iter().map(|&p| Pid::from_u32(p)).collect();
    let mut sys = System::new();
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&spids),
        true,
        ProcessRefreshKind::nothing()
            .without_tasks()
            .with_cmd(UpdateKind::Always)
            .with_user(UpdateKind::Always),
    );
    let mut out = ProcessTable::with_capacity(pids.len());
    for (pid, p) in sys.processes() {
        let uid = user_uid(p);
        out.insert(
            pid.as_u32(),
            Arc::new(Process {
                pid: pid.as_u32(),
                name: p.name().to_string_lossy().into_owned(),
                cmdline: p
                    .cmd()
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
                user: uid.and_then(|u| users.name(u)),
                uid,
                ppid: p.parent().map(|pp| pp.as_u32()),
                tid: None,
                container: None,
                unit: None,
            }),
        );
    }
    out
}

/// The process's UID as sysinfo reports it.
#[cfg(all(unix, not(target_os = "linux")))]
fn user_uid(p: &sysinfo::Process) -> Option<u32> {
    p.user_id().map(|u| **u)
}

/// On Windows sysinfo's `Uid` is a SID, not a number: there is no UID to report.
#[cfg(not(unix))]
fn user_uid(_p: &sysinfo::Process) -> Option<u32> {
    None
}

/// argv exactly as /proc/PID/cmdline holds it: each argument ends in a NUL, so one trailing
/// NUL is dropped and the rest split on NUL, keeping empty arguments and every space. A
/// process that rewrote its title without NULs is one element; an empty file (a kernel
/// thread, a zombie) is no argument. Bytes that are not UTF-8 become U+FFFD.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn split_cmdline(raw: &[u8]) -> Vec<String> {
    if raw.is_empty() {
        return Vec::new();
    }
    let body = raw.strip_suffix(b"\0").unwrap_or(raw);
    body.split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// A cache over getpwuid_r / getpwnam_r.
#[derive(Default)]
pub struct UserNames {
    cache: HashMap<u32, Option<String>>,
}

impl UserNames {
    pub fn name(&mut self, uid: u32) -> Option<String> {
        self.cache
            .entry(uid)
            .or_insert_with(|| lookup_uid(uid))
            .clone()
    }
}

#[cfg(not(unix))]
fn lookup_uid(_uid: u32) -> Option<String> {
    None
}

#[cfg(not(unix))]
pub fn lookup_user(_name: &str) -> Option<u32> {
    None
}

#[cfg(not(unix))]
pub fn effective_uid() -> u32 {
    0
}

#[cfg(unix)]
fn lookup_uid(uid: u32) -> Option<String> {
    crate::sys::users::by_uid(uid).and_then(|(name, _, _)| name)
}

/// Resolves a user name to its UID through the system user database.
#[cfg(unix)]
pub fn lookup_user(name: &str) -> Option<u32> {
    crate::sys::users::by_name(name).map(|(_, uid, _)| uid)
}

/// Our effective UID.
#[cfg(unix)]
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_names_end_at_the_last_parenthesis() {
        let stat = b"42 (a) b (c)\n\x01) S 7 42 42 0 -1 4194560 1 0";
        assert_eq!(
            parse_stat(stat),
            Some(("a) b (c)\n\u{1}".to_string(), Some(7)))
        );
        assert_eq!(parse_stat(b"1 (init) S 0 1 1"), Some(("init".into(), None)));
        assert_eq!(
            parse_stat(b"9 (\xff\xfe) R 1"),
            Some(("\u{fffd}\u{fffd}".into(), Some(1)))
        );
        assert_eq!(parse_stat(b"9 (x) R"), None);
        assert_eq!(parse_stat(b""), None);
    }

    #[test]
    fn status_gives_the_real_uid() {
        let status = b"Name:\t\xffodd\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\n";
        assert_eq!(status_uid(status), Some(1000));
        assert_eq!(status_uid(b"Name:\tx\n"), None);
    }

    /// This test process's details as the OS reports them by other means.
    #[cfg(target_os = "linux")]
    #[test]
    fn details_of_this_process_match_the_os() {
        let me = std::process::id();
        let t = process_details(&[me, u32::MAX], &mut UserNames::default());
        assert_eq!(t.len(), 1, "a PID that does not exist is left out");
        let p = &t[&me];
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(p.name, comm.trim_end_matches('\n'));
        let ppid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32);
        let uid = rustix::process::getuid().as_raw();
        assert_eq!((p.ppid, p.uid), (Some(ppid), Some(uid)));
        assert_eq!(p.cmdline, std::env::args().collect::<Vec<_>>());
        assert_eq!(p.user, lookup_uid(uid));
    }

    #[cfg(unix)]
    #[test]
    fn root_resolves_both_ways() {
        let mut u = UserNames::default();
        assert_eq!(u.name(0).as_deref(), Some("root"));
        assert_eq!(lookup_user("root"), Some(0));
        assert_eq!(lookup_user("no-such-user-portscope"), None);
    }

    #[test]
    fn cmdline_keeps_empty_and_spaced_arguments() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            split_cmdline(b" sh \0-c\0\0 x \0"),
            v(&[" sh ", "-c", "", " x "])
        );
        // A trailing empty argument: `prog ''` is "prog\0\0".
        assert_eq!(split_cmdline(b"prog\0\0"), v(&["prog", ""]));
        assert_eq!(split_cmdline(b"\0"), v(&[""]));
        // setproctitle without NULs: one element, spaces and all, with or without the end NUL.
        assert_eq!(
            split_cmdline(b"nginx: worker process  "),
            v(&["nginx: worker process  "])
        );
        assert_eq!(split_cmdline(b"nginx: master\0"), v(&["nginx: master"]));
        assert_eq!(split_cmdline(b""), Vec::<String>::new());
        assert_eq!(split_cmdline(b"a\xffb\0"), v(&["a\u{fffd}b"]));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn cmdline_is_argv_exactly_with_empty_and_padded_arguments() {
        use std::os::unix::process::CommandExt;
        let me = std::process::id();
        // sh waits on its stdin, whatever its arguments (sleep would reject "" and exit).
        use std::io::BufRead;
        let mut child = std::process::Command::new("sh")
            .arg0(" sleep ")
            .args(["-c", "echo ready; read x", "", "  ", "30", ""])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Readiness: sh runs its script (and so has its own argv) once it says so.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        let t = process_details(&[child.id(), me], &mut UserNames::default());
        let got = t[&child.id()].cmdline.clone();
        drop(child.stdin.take());
        let _ = child.wait();
        assert_eq!(
            got,
            vec![" sleep ", "-c", "echo ready; read x", "", "  ", "30", ""]
        );
    }

    #[test]
    fn reads_our_own_process() {
        let me = std::process::id();
        let mut u = UserNames::default();
        let t = process_details(&[me], &mut u);
        let p = &t[&me];
        assert_eq!(p.pid, me);
        #[cfg(unix)]
        assert_eq!(p.uid, Some(effective_uid()));
        assert!(!p.cmdline.is_empty());
        assert!(p.ppid.is_some());
    }
}
