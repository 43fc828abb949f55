//! Collect stage, every OS: details of the processes that hold sockets (through sysinfo, asked
//! about those PIDs only, with the smallest refresh kind) and user names (through the
//! system user database, NSS-aware, not sysinfo's user list, which skips accounts whose
//! shell is /bin/false).

use crate::collect::ProcessTable;
use crate::model::Process;
use std::collections::HashMap;
#[cfg(unix)]
use std::ffi::{CStr, CString};
use std::sync::Arc;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

/// Reads name, command line, UID and parent of each PID. PIDs that exited are left out.
pub fn process_details(pids: &[u32], users: &mut UserNames) -> ProcessTable {
    if pids.is_empty() {
        return ProcessTable::new();
    }
    // sysinfo keeps /proc/PID/stat open per process by default; we read each once.
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
        // sysinfo gives up on /proc/PID/status when the process name in it is not UTF-8.
        let uid = user_uid(p).or_else(|| status_uid(pid.as_u32()));
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
            }),
        );
    }
    out
}

/// The process's UID as sysinfo reports it.
#[cfg(unix)]
fn user_uid(p: &sysinfo::Process) -> Option<u32> {
    p.user_id().map(|u| **u)
}

/// On Windows sysinfo's `Uid` is a SID, not a number: there is no UID to report.
#[cfg(not(unix))]
fn user_uid(_p: &sysinfo::Process) -> Option<u32> {
    None
}

/// The real UID from /proc/PID/status, read as bytes (the name line may be any bytes).
#[cfg(target_os = "linux")]
fn status_uid(pid: u32) -> Option<u32> {
    let raw = std::fs::read(format!("/proc/{pid}/status")).ok()?;
    let line = raw
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"Uid:"))?;
    let text = std::str::from_utf8(&line[4..]).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(not(target_os = "linux"))]
fn status_uid(_pid: u32) -> Option<u32> {
    None
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

/// Runs one getpw*_r call with a growing buffer and reads the entry it found.
#[cfg(unix)]
fn with_passwd<T>(
    call: impl Fn(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> libc::c_int,
    read: impl FnOnce(&libc::passwd) -> Option<T>,
) -> Option<T> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: passwd is plain data the call fills in; buf outlives its use.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut result);
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        return read(&pw);
    }
}

#[cfg(unix)]
fn lookup_uid(uid: u32) -> Option<String> {
    with_passwd(
        // SAFETY: arguments are valid for the duration of the call.
        |pw, buf, len, res| unsafe { libc::getpwuid_r(uid, pw, buf, len, res) },
        |pw| {
            // SAFETY: pw_name points into the buffer, NUL-terminated by getpwuid_r.
            (!pw.pw_name.is_null()).then(|| {
                unsafe { CStr::from_ptr(pw.pw_name) }
                    .to_string_lossy()
                    .into_owned()
            })
        },
    )
}

/// Resolves a user name to its UID through the system user database.
#[cfg(unix)]
pub fn lookup_user(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    with_passwd(
        // SAFETY: arguments are valid for the duration of the call.
        |pw, buf, len, res| unsafe { libc::getpwnam_r(cname.as_ptr(), pw, buf, len, res) },
        |pw| Some(pw.pw_uid),
    )
}

/// Our effective UID.
#[cfg(unix)]
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn root_resolves_both_ways() {
        let mut u = UserNames::default();
        assert_eq!(u.name(0).as_deref(), Some("root"));
        assert_eq!(lookup_user("root"), Some(0));
        assert_eq!(lookup_user("no-such-user-portscope"), None);
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
