//! Hostile input: a process whose name and command line carry newlines, tabs, terminal
//! escapes, bidi overrides and invalid UTF-8 cannot break or spoof the table, and stays
//! exact in JSON; output to a closed pipe or a full disk ends cleanly.

// Live kernel socket tables, network namespaces and Linux-only libc calls.
#![cfg(target_os = "linux")]

use crate::common;

use common::{bin_path, doc, portscope, quiet_netns, Listener, TempDir};
use portscope::probe::Opened;
use portscope::render::sanitize::{sanitize, sanitize_cmdline};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The executable's file name, which becomes the process name (comm, 15 bytes kept):
/// newline, tab, an SGR escape, U+202E (right-to-left override), an invalid UTF-8 byte.
const NAME: &[u8] = b"ev\nil\t\x1b[31m\xe2\x80\xae\xff";
/// argv[0]: newline, an OSC title escape ended by BEL, U+202E, invalid UTF-8, tab.
const ARGV0: &[u8] = b"argv0\n\x1b]0;pwned\x07\xe2\x80\xae\xfe\tX";

/// `portscope listen --json 0`, exec'd through a symlink named NAME with argv[0] ARGV0.
struct Hostile {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    _dir: TempDir,
}

impl Hostile {
    fn start() -> Hostile {
        Hostile::start_as(NAME, ARGV0)
    }

    fn start_as(name: &[u8], argv0: &[u8]) -> Hostile {
        let dir = TempDir::new("hostile");
        let link = dir.0.join(OsStr::from_bytes(name));
        std::os::unix::fs::symlink(bin_path(), &link).expect("symlink");
        let mut child = Command::new(&link)
            .arg0(OsStr::from_bytes(argv0))
            .args(["listen", "--json", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the hostile listener");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("readiness line");
        let o: Opened = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("hostile listener not ready ({e}): {line:?}"));
        Hostile {
            child,
            stdin,
            port: o.port,
            _dir: dir,
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn expected_name() -> String {
    String::from_utf8_lossy(NAME).into_owned()
}

fn expected_cmdline() -> Vec<String> {
    vec![
        String::from_utf8_lossy(ARGV0).into_owned(),
        "listen".into(),
        "--json".into(),
        "0".into(),
    ]
}

fn run(args: &[&str]) -> Output {
    portscope()
        .args(args)
        .timeout(Duration::from_secs(30))
        .output()
        .expect("run portscope")
}

/// No byte a terminal would act on, other than the line ends.
fn assert_inert(what: &str, text: &str) {
    for (i, c) in text.char_indices() {
        let bad = (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        assert!(!bad, "{what}: raw {c:?} at byte {i}:\n{text}");
    }
}

#[test]
fn hostile_process_names_are_escaped_in_text_and_exact_in_json() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let h = Hostile::start();
    let port = h.port.to_string();
    let name = expected_name();
    let cmdline = expected_cmdline();
    assert_eq!(NAME.len(), 15, "the whole name fits in comm");

    // JSON: valid, strict, and the name and command line round-trip (lossy for the
    // invalid byte).
    for args in [
        &["list", "--json"][..],
        &["list", "--all", "--json"],
        &["who", "--json", &port],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let d = doc(&out.stdout);
        let s: Vec<_> = d
            .sockets
            .iter()
            .filter(|s| s.local.port == h.port)
            .collect();
        assert_eq!(s.len(), 1, "{args:?}: {:?}", d.sockets);
        assert_eq!(s[0].processes.len(), 1);
        let p = &s[0].processes[0];
        assert_eq!(p.pid, h.child.id());
        assert_eq!(&*p.name, name.as_str(), "{args:?}");
        let got: Vec<&str> = p.cmdline.iter().map(|a| &**a).collect();
        let want: Vec<&str> = cmdline.iter().map(String::as_str).collect();
        assert_eq!(got, want, "{args:?}");
        assert!(!out.stdout.contains(&0x1b), "JSON escapes ESC");
    }

    // The table, stdout a pipe: no colour, no raw control or bidi character, one row.
    let out = run(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("utf-8 table");
    assert_inert("list", &text);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "header and one row:\n{text}");
    assert!(
        lines[1].contains(&*sanitize(&name)),
        "escaped name:\n{text}"
    );
    assert!(
        lines[1].contains("ev\\nil\\t\\x1b[31m\\u{202e}\u{fffd}"),
        "{text}"
    );
    assert!(lines[1].contains(&port));

    // Forced colour: only portscope's own SGR sequences, still one row.
    let out = run(&["list", "--color", "always"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("utf-8 table");
    let plain = strip_sgr(&text);
    assert_inert("list --color always", &plain);
    assert_eq!(plain.lines().count(), 2, "{text}");
    assert!(plain.contains(&*sanitize(&name)));

    // `who`: name and command line, escaped.
    let out = run(&["who", &port]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("utf-8 who");
    assert_inert("who", &text);
    assert!(text.contains(&*sanitize(&name)), "{text}");
    assert!(text.contains(&sanitize_cmdline(&cmdline)), "{text}");
    assert!(
        text.contains("argv0\\n\\x1b]0;pwned\\x07\\u{202e}\u{fffd}\\tX listen --json 0"),
        "{text}"
    );
    drop(h);
}

/// A name that is not valid UTF-8 must not cost the process its user: /proc/PID/status
/// prints the name's invalid byte raw, and a reader that insists on UTF-8 loses the Uid line.
#[test]
fn hostile_process_name_does_not_hide_its_user() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let h = Hostile::start();
    let out = run(&["list", "--json", "--port", &h.port.to_string()]);
    assert_eq!(out.status.code(), Some(0));
    let d = doc(&out.stdout);
    assert_eq!(d.sockets.len(), 1, "{:?}", d.sockets);
    let p = &d.sockets[0].processes[0];
    assert_eq!(&*p.name, expected_name().as_str());
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    assert_eq!(p.uid, Some(uid), "the holder's UID: {p:?}");
    assert!(p.user.is_some(), "the holder's user name: {p:?}");
    drop(h);
}

/// Removes `ESC [ digits/; m` sequences; panics on any other escape.
fn strip_sgr(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&rest[..i]);
        let seq = &rest[i + 1..];
        let body = seq
            .strip_prefix('[')
            .unwrap_or_else(|| panic!("non-CSI escape in {text:?}"));
        let end = body
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(body.len());
        assert!(
            body[end..].starts_with('m'),
            "escape other than SGR in {text:?}"
        );
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn no_escape_codes_when_stdout_is_not_a_terminal() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0", "0/udp"]);
    let port = l.port(0).to_string();
    for args in [
        &["list"][..],
        &["list", "--all"],
        &["list", "--color", "auto"],
        &["who", &port],
        &["verify"],
    ] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
        assert!(
            !out.stdout.contains(&0x1b),
            "{args:?}: escape codes into a pipe: {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    drop(l);
}

/// Spawns the binary with `stdout`, and waits at most 30 s.
fn run_to(args: &[&str], stdout: Stdio) -> (Option<i32>, String) {
    let mut child = Command::new(bin_path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn portscope");
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not finish in 30 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

/// The write end of a pipe whose read end is already closed.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a local array, checked; each end is owned exactly once.
    let (r, w) = unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    drop(r);
    Stdio::from(w)
}

#[test]
fn closed_pipe_is_a_quiet_success_and_a_full_disk_one_error_line() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0", "0/udp", "[::1]:0"]);
    let port = l.port(0).to_string();
    let cases: [&[&str]; 4] = [
        &["list", "--all"],
        &["list", "--all", "--json"],
        &["who", &port],
        &["who", "--json", &port],
    ];
    for args in cases {
        let (code, err) = run_to(args, closed_pipe());
        assert_eq!(code, Some(0), "{args:?} into a closed pipe: {err}");
        assert_eq!(err, "", "{args:?} into a closed pipe: nothing on stderr");

        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let (code, err) = run_to(args, Stdio::from(full));
        assert_eq!(code, Some(2), "{args:?} into /dev/full: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line: {err}");
        assert!(lines[0].starts_with("portscope: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    drop(l);
}

/// An argument echoed in an error message reaches the terminal too: `who "$(untrusted)"`
/// must not let it retitle the window or clear the screen.
#[test]
fn error_messages_escape_hostile_arguments() {
    let _alone = common::serial();
    let junk = "\x1b]0;pwned\x07\x1b[2J\u{202e}80x";
    let out = run(&["who", "--", junk]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).expect("utf-8 stderr");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.starts_with("portscope: invalid port '"), "{err:?}");
    assert_inert("who error", &err);
    assert!(
        err.contains(&*sanitize(junk)),
        "the argument, escaped: {err:?}"
    );
}

/// No environment variable may change an answer: the two that once did (a fault-injection
/// hook and a backend switch) and any other PORTSCOPE_* are ignored by list and who.
#[test]
fn portscope_environment_variables_change_no_answer() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0", "0/udp", "[::1]:0"]);
    let port = l.port(0).to_string();
    let planted = [
        ("PORTSCOPE_FAULT_DROP_PORT", port.as_str()),
        ("PORTSCOPE_FORCE_PROCFS", "1"),
        ("PORTSCOPE_TABLE_SOURCE", "procnet"),
        ("PORTSCOPE_OWNER_SOURCE", "none"),
        ("PORTSCOPE_PORT", "1"),
        ("PORTSCOPE_JSON", "1"),
    ];
    let runs: [&[&str]; 3] = [
        &["list", "-a", "--json"],
        &["who", &port, "--json"],
        &["who", &port],
    ];
    for args in runs {
        let clean = portscope().args(args).output().unwrap();
        let mut c = portscope();
        for (k, v) in planted {
            c.env(k, v);
        }
        let dirty = c.args(args).output().unwrap();
        assert_eq!(clean.status.code(), Some(0), "{args:?}");
        assert_eq!(dirty.status.code(), clean.status.code(), "{args:?}");
        assert_eq!(
            comparable(&dirty.stdout),
            comparable(&clean.stdout),
            "{args:?}"
        );
        assert!(
            String::from_utf8_lossy(&clean.stdout).contains(&port),
            "{args:?}: the held port must be in the answer"
        );
    }
    drop(l);
}

/// An answer as compared between two runs: the text itself, but in a JSON document the
/// count of descriptors the owner walk read (`sources.owner_walk.descriptors`) is the whole
/// host's, which any other process changes between two runs; whether it is there is kept.
fn comparable(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout).into_owned();
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return text;
    };
    if let Some(n) = v.pointer_mut("/sources/owner_walk/descriptors") {
        *n = serde_json::Value::from(0);
    }
    v.to_string()
}

/// `2>/dev/full`: the error cannot be written, the status still says it (was SIGABRT, 134).
#[test]
fn unwritable_stderr_is_exit_2_not_an_abort() {
    let _alone = common::serial();
    let cases: [&[&str]; 3] = [
        &["list", "--pid", "x"],
        &["list", "--state", "nope"],
        &["who", "70000"],
    ];
    for args in cases {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = std::process::Command::new(bin_path())
            .args(args)
            .stderr(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {:?}", out.status);
        assert_eq!(out.stdout, b"", "{args:?}");
    }
}

/// clap echoes the bad value, the unknown subcommand or option: escaped as ours are, still
/// clap's wording and exit 2; --help and --version untouched and exit 0.
#[test]
fn clap_usage_errors_escape_argv() {
    let _alone = common::serial();
    let junk = "\x1b]0;pwned\x07\x1b[2J\u{9b}31m\u{202e}\u{200b}x";
    let cases: [&[&str]; 4] = [
        &["list", "--state", junk],
        &["list", "--sort", junk],
        &[junk],
        &["who", "--color", junk, "80"],
    ];
    for args in cases {
        let out = run(args);
        let err = String::from_utf8(out.stderr).expect("utf-8 stderr");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_inert(&format!("{args:?}"), &err);
        assert!(err.starts_with("error: "), "{err:?}");
        assert!(
            err.contains(&format!("'{}'", sanitize(junk))),
            "the value, escaped, not stripped: {err:?}"
        );
        assert!(
            err.ends_with("For more information, try '--help'.\n"),
            "{err:?}"
        );
    }
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(text.starts_with("portscope reads the kernel's"), "{text}");
    assert!(text.contains("\nUsage: portscope [OPTIONS]"), "{text}");
    assert!(!text.contains('\x1b'), "no colour into a pipe: {text:?}");
    let version = run(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(version.stdout).unwrap(),
        format!("portscope {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// JSON allowed U+0080-U+009F and DEL raw (U+009B is a one-byte CSI), and the table let
/// zero-width characters through, so `sshd\u{200b}` showed as `sshd`.
#[test]
fn c1_controls_in_json_and_zero_width_in_the_table_are_escaped() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let name = "sshd\u{200b}\u{9b}";
    let argv0 = "a\u{7f}\u{9b}2J\u{85}\u{feff}";
    let h = Hostile::start_as(name.as_bytes(), argv0.as_bytes());
    let port = h.port.to_string();
    let out = run(&["who", "--json", &port]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    for c in ['\u{7f}', '\u{85}', '\u{9b}'] {
        assert!(!text.contains(c), "raw {c:?} in JSON: {text}");
    }
    // Zero-width and BOM are valid JSON text and stay raw: JSON readers see them as data.
    assert!(text.contains("\"name\":\"sshd\u{200b}\\u009b\""), "{text}");
    assert!(
        text.contains("\"a\\u007f\\u009b2J\\u0085\u{feff}\""),
        "{text}"
    );
    let d = doc(&out.stdout);
    assert_eq!(d.sockets[0].processes[0].name, name);
    assert_eq!(d.sockets[0].processes[0].cmdline[0], argv0);

    let out = run(&["list", "-p", &port]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("sshd\\u{200b}\\x9b"), "{text}");
    let out = run(&["who", &port]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("  sshd\\u{200b}\\x9b (pid "), "{text}");
    assert!(
        text.contains("a\\x7f\\x9b2J\\x85\\u{feff} listen"),
        "{text}"
    );
    drop(h);
}

/// The holder's name in `listen`'s "held by" was escaped twice (`ev\\til` for `ev<TAB>il`).
#[test]
fn listen_held_by_name_is_escaped_once() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let h = Hostile::start_as(b"ev\til\x1b", b"x");
    let out = run(&["listen", &format!("127.0.0.1:{}", h.port), "--for", "0s"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        format!(
            "portscope: cannot listen on '127.0.0.1:{}/tcp': Address already in use \
             (os error 98), held by ev\\til\\x1b (pid {})\n",
            h.port,
            h.child.id()
        )
    );
    drop(h);
}
