//! Shared helpers for the integration tests: the binary, quiet network namespaces, known
//! sockets through `portscope listen`, strict JSON, and skips that CI turns into failures.
#![allow(dead_code)]

#[cfg(target_os = "linux")]
pub mod act;
#[cfg(target_os = "linux")]
pub mod containers;
#[cfg(target_os = "linux")]
pub mod docker;
pub mod fake;
#[cfg(target_os = "linux")]
pub mod workload;

use portscope::probe::Opened;
use portscope::render::json::Document;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

/// Tests that look at their own process's sockets, or change what the whole process or
/// host shows (descriptors held, forked copies, namespaces), run one at a time: a process
/// another test thread spawns holds copies of this process's sockets between fork and
/// exec, and portscope would (rightly) report it as one more owner. Every test of the
/// `alone` binary takes this turn first; the `it` binary's tests run in parallel.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    static HOLDS_SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// This thread's turn (see [`SERIAL`]) until dropped; taking it again on the same thread
/// (a helper of a test that already has its turn) is a no-op, not a deadlock.
pub struct Serial(Option<std::sync::MutexGuard<'static, ()>>);

impl Drop for Serial {
    fn drop(&mut self) {
        if self.0.take().is_some() {
            HOLDS_SERIAL.with(|h| h.set(false));
        }
    }
}

pub fn serial() -> Serial {
    if HOLDS_SERIAL.with(|h| h.get()) {
        return Serial(None);
    }
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    HOLDS_SERIAL.with(|h| h.set(true));
    Serial(Some(g))
}

/// Set (to anything but "0") in CI: every skip becomes a failure.
pub const NO_SKIP_ENV: &str = "PORTSCOPE_NO_SKIP";

pub fn bin_path() -> &'static str {
    env!("CARGO_BIN_EXE_portscope")
}

/// The user the unprivileged tests run portscope as: nobody (and its group, nogroup).
pub const NOBODY: u32 = 65534;

/// The one way a test runs `portscope ARGS` as nobody: setpriv with uid and gid 65534 and
/// no supplementary groups, the environment as [`portscope`] sets it. Err: setpriv (from
/// util-linux) could not be started, which the caller turns into a skip.
pub fn as_nobody(args: &[&str]) -> std::io::Result<std::process::Output> {
    let (uid, gid) = (format!("--reuid={NOBODY}"), format!("--regid={NOBODY}"));
    Command::new("setpriv")
        .args([uid.as_str(), gid.as_str(), "--clear-groups", "--"])
        .arg(bin_path())
        .args(args)
        .env_remove("NO_COLOR")
        .output()
}

pub fn portscope() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(bin_path());
    c.env_remove("NO_COLOR");
    c
}

/// The one way a test skips: prints why it cannot run (or cannot check everything) here and
/// returns false, or panics when PORTSCOPE_NO_SKIP is set (CI), so nothing required is ever
/// skipped silently. Every test that lacks a tool, a privilege or a kernel feature calls this;
/// none reads `CI` or prints its own SKIP line.
pub fn skip(reason: &str) -> bool {
    if std::env::var(NO_SKIP_ENV).is_ok_and(|v| !v.is_empty() && v != "0") {
        panic!("required but unavailable here ({NO_SKIP_ENV} is set): {reason}");
    }
    eprintln!("SKIP: {reason}");
    false
}

#[cfg(target_os = "linux")]
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Moves the calling test thread (and every process it spawns from now on) into a new,
/// empty network namespace with `lo` up, so the socket table holds only what the test
/// opens. Returns false (with a printed reason, or a panic under CI) where that is not
/// possible.
#[cfg(target_os = "linux")]
pub fn quiet_netns() -> bool {
    if !is_root() {
        return skip("not root: cannot create a private network namespace");
    }
    // SAFETY: unshare affects only this thread's network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return skip(&format!(
            "unshare(CLONE_NEWNET) refused: {}",
            std::io::Error::last_os_error()
        ));
    }
    if let Err(e) = lo_up() {
        return skip(&format!("cannot bring lo up in the new namespace: {e}"));
    }
    true
}

#[cfg(target_os = "linux")]
fn lo_up() -> std::io::Result<()> {
    // SAFETY: ioctl on a fresh datagram socket with a zeroed, named ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        let mut rc = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr);
        if rc == 0 {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            rc = libc::ioctl(fd, libc::SIOCSIFFLAGS, &mut ifr);
        }
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if rc != 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// A `portscope listen --json` child holding known sockets; closed on drop.
pub struct Listener {
    pub child: Child,
    stdin: Option<ChildStdin>,
    pub opened: Vec<Opened>,
}

impl Listener {
    pub fn start(args: &[&str]) -> Listener {
        let n = args.iter().filter(|a| !a.starts_with('-')).count().max(1);
        let mut child = Command::new(bin_path())
            .arg("listen")
            .arg("--json")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn portscope listen");
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut opened = Vec::new();
        // Readiness: one JSON line per socket, written once it is open.
        while opened.len() < n {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("listen {args:?} ended before opening its sockets"))
                .unwrap();
            opened.push(serde_json::from_str::<Opened>(&line).expect("strict listen line"));
        }
        Listener {
            child,
            stdin,
            opened,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn port(&self, i: usize) -> u16 {
        self.opened[i].port
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        drop(self.stdin.take()); // `listen` exits when stdin closes
        let _ = self.child.wait();
    }
}

/// Parses `list --json` / `who --json` output strictly (unknown fields are errors).
pub fn doc(stdout: &[u8]) -> Document {
    let text = std::str::from_utf8(stdout).expect("utf-8 JSON");
    serde_json::from_str(text).unwrap_or_else(|e| panic!("invalid document ({e}): {text}"))
}

/// Runs `portscope ARGS` and returns (status, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = portscope().args(args).output().expect("run portscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A scratch directory of this test (process and thread in its name), removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "portscope-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir(&p).expect("create temp dir");
        TempDir(p)
    }

    /// Writes `text` to NAME inside and returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a harness script (.ci/docker.sh, .ci/podman.sh) printed as `KEY=VALUE` lines, or
/// None (after the skip rule, with its stderr) where it failed.
pub fn harness_settings(
    out: &std::process::Output,
    what: &str,
) -> Option<std::collections::HashMap<String, String>> {
    if !out.status.success() {
        skip(&format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}
