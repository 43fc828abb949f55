//! Owners the fd scan must find, or explain truthfully (issue 11): sockets held only by a
//! thread's own descriptor table, a descriptor in flight, running out of descriptors.
#![cfg(target_os = "linux")]

use crate::common;
use crate::common::workload;
use common::*;
use portscope::model::{Owner, OwnerReason};
use workload::Helper;

/// (port, tid) from a helper's ready line.
fn port_tid(h: &Helper) -> (String, u32) {
    let mut it = h.ready.split_whitespace();
    let port = it.next().unwrap().to_string();
    let tid = it.next().map_or(0, |t| t.parse().unwrap());
    (port, tid)
}

fn who_json(port: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = portscope()
        .args(["who", port, "--json"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

fn assert_held_by_thread(role: &str) {
    if !quiet_netns() {
        return;
    }
    let h = Helper::start(role);
    let (port, tid) = port_tid(&h);
    let (code, v) = who_json(&port, &[]);
    assert_eq!(code, Some(0), "{role}: found, not hidden: {v}");
    let p = &v["sockets"][0]["processes"];
    assert_eq!(p.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(p[0]["pid"], h.pid(), "{role}: the process");
    assert_eq!(p[0]["tid"], tid, "{role}: the thread whose table holds it");
    assert_ne!(tid, h.pid());
    // And in the table for people: the process is named, not '-'.
    let text = portscope().args(["who", &port]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains(&format!("(pid {}", h.pid())), "{text}");
    drop(h);
}

#[test]
fn socket_held_only_by_a_thread_with_its_own_table_is_found() {
    let _alone = common::serial();
    assert_held_by_thread("thread-own-table");
}

/// The leader thread ends with a bare exit(2) (no unwinding: libtest would abort on
/// pthread_exit) while a thread lives on holding a listener, which then sits only in
/// /proc/PID/task/TID/fd. Python, so that the leader really is the main thread.
const LEADER_EXITS: &str = r#"
import ctypes, os, platform, socket, sys, threading, time
def hold():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    pid = os.getpid()
    end = time.monotonic() + 10
    while time.monotonic() < end:
        st = open(f"/proc/{pid}/task/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        if st == "Z":
            break
        time.sleep(0.001)
    print(s.getsockname()[1], threading.get_native_id(), flush=True)
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=hold).start()
ctypes.CDLL(None).syscall({"x86_64": 60, "aarch64": 93}[platform.machine()], 0)
"#;

#[test]
fn socket_held_by_a_thread_after_the_leader_exited_is_found() {
    let _alone = common::serial();
    use std::io::BufRead;
    if !quiet_netns() {
        return;
    }
    let Ok(mut child) = std::process::Command::new("python3")
        .args(["-c", LEADER_EXITS])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    else {
        skip("python3 is not installed");
        return;
    };
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut it = line.split_whitespace();
    let (port, tid): (String, u32) = (
        it.next().expect("ready line").to_string(),
        it.next().unwrap().parse().unwrap(),
    );
    let pid = child.id();
    let (code, v) = who_json(&port, &[]);
    drop(child.stdin.take());
    let _ = child.wait();
    assert_eq!(code, Some(0), "found, not hidden: {v}");
    let p = &v["sockets"][0]["processes"];
    assert_eq!(p[0]["pid"], pid, "{v}");
    assert_eq!(p[0]["tid"], tid, "{v}");
}

#[test]
fn descriptor_in_flight_is_not_called_another_namespace() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let h = Helper::start("in-flight");
    let (port, _) = port_tid(&h);
    // Root in the initial PID namespace with the BPF iterator sees every descriptor of
    // every process (no ptrace check): nobody holds it.
    let initial = std::fs::read_link("/proc/self/ns/pid")
        .unwrap()
        .to_string_lossy()
        == "pid:[4026531836]";
    let reason = |source: &str| {
        let out = portscope()
            .args(["list", "--json", "-p", &port, "--owner-source", source])
            .output()
            .unwrap();
        let d = doc(&out.stdout);
        assert_eq!(d.sockets.len(), 1, "the listener is still there");
        assert!(d.sockets[0].processes.is_empty());
        (d.sockets[0].owner, d.sockets[0].owner_reason)
    };
    if initial {
        assert_eq!(
            reason("bpf"),
            (Owner::None, Some(OwnerReason::NoDescriptor))
        );
        let (code, _) = who_json(&port, &[]);
        assert!(code == Some(0) || code == Some(3), "{code:?}");
    } else {
        assert_eq!(reason("bpf").1, Some(OwnerReason::Namespace));
    }
    // The /proc scan may meet a process whose links it cannot read (a non-dumpable PID 1
    // in some sandboxes): then it cannot claim nobody holds it, but never says "another
    // namespace" from the initial one either.
    let (_, r) = reason("procfs");
    if initial {
        assert!(
            matches!(r, Some(OwnerReason::NoDescriptor | OwnerReason::Denied)),
            "{r:?}"
        );
    }
    drop(h);
}

#[test]
fn running_out_of_descriptors_is_reported_not_silent() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    // portscope raises its soft limit to the hard one: a hard limit of 5 (stdio, the
    // netlink socket, /proc) leaves no descriptor for any process's fd directory.
    let out = std::process::Command::new("prlimit")
        .args(["--nofile=5:5", "--"])
        .arg(bin_path())
        .args(["who", &port, "--json"])
        .output();
    let Ok(out) = out else {
        skip("prlimit (util-linux) is not installed");
        return;
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let s = &v["sockets"][0];
    assert_eq!(s["owner"], "hidden", "{v}");
    assert_eq!(
        s["owner_reason"],
        "not searched: portscope ran out of file descriptors (raise ulimit -n)"
    );
    assert_eq!(out.status.code(), Some(3), "a partial answer");
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("ran out of file descriptors")),
        "{v}"
    );
    // With the soft limit alone lowered, portscope raises it and finds the owner.
    let out = std::process::Command::new("prlimit")
        .args(["--nofile=5:4096", "--"])
        .arg(bin_path())
        .args(["who", &port, "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sockets"][0]["processes"][0]["pid"], l.opened[0].pid);
    drop(l);
}

/// `unshare -p -f` without --mount-proc: /proc is the parent namespace's, so its PIDs mean
/// nothing here. Say so; verify reports it instead of failing.
#[test]
fn pid_namespace_without_its_own_proc_is_reported() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    let run = |args: &[&str]| {
        std::process::Command::new("unshare")
            .args(["-p", "-f", "--"])
            .arg(bin_path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["who", &port, "--json"]);
    if !out.status.success() && out.stdout.is_empty() {
        skip(&format!(
            "unshare -p refused: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
        return;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("/proc belongs to another PID namespace (it calls this process ")),
        "{v}"
    );
    let out = run(&["verify", "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    let pid_checks: Vec<&serde_json::Value> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().ends_with(": pids"))
        .collect();
    assert!(!pid_checks.is_empty());
    for c in pid_checks {
        assert_eq!(c["status"], "skip", "{c}");
        assert!(
            c["seen"]
                .as_str()
                .unwrap()
                .contains("another PID namespace"),
            "{c}"
        );
    }
    drop(l);
}

/// Holds `n` descriptors of /dev/null until dropped.
fn hold_open_files(n: usize) -> Vec<std::fs::File> {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max.min(1 << 16);
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
    }
    (0..n)
        .map(|_| std::fs::File::open("/dev/null").unwrap())
        .collect()
}

/// `auto` picks the BPF iterator where the host has enough open files for it to pay (and
/// says so in sources.owners), and falls back to the /proc scan, silently, where the
/// kernel refuses it (an unprivileged user).
#[test]
fn auto_owner_source_uses_bpf_on_a_busy_host_and_falls_back_as_nobody() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let files = hold_open_files(portscope::collect::linux::BPF_MIN_DESCRIPTORS as usize + 500);
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    let out = portscope()
        .args(["list", "--json", "-p", &port])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sources"]["owners"], "bpf", "{v}");
    let pids: Vec<u64> = v["sockets"][0]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids, vec![u64::from(l.opened[0].pid)]);
    assert_eq!(v["warnings"], serde_json::json!([]), "silent: {v}");

    let out = common::as_nobody(&["list", "--json", "-p", &port]);
    let Ok(out) = out else {
        skip("setpriv (util-linux) is not installed");
        return;
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["sources"]["owners"], "procfs", "{v}");
    assert_eq!(
        v["sockets"][0]["owner"], "hidden",
        "root's listener, seen by nobody"
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("BPF"),
        "the fallback is silent"
    );
    drop((files, l));
}

/// `sleep` holding `listener` as its descriptor 0 (inetd-style, or systemd's
/// StandardInput=socket), as `uid` when given; this test's own copy is closed, so the
/// child is the only holder. The test ends it by PID.
fn hold_on_stdin(listener: std::net::TcpListener, uid: Option<u32>) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("sleep");
    cmd.arg("1000")
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            listener,
        )))
        .stdout(std::process::Stdio::null());
    if let Some(u) = uid {
        cmd.uid(u).gid(u);
    }
    let child = cmd.spawn().expect("spawn sleep");
    drop(cmd);
    child
}

/// The scan reads descriptor 0's link before listing the table (to learn early that a
/// table's links are refused): a socket there names its one holder, end to end. (That
/// the listing then skips 0 is checked in fdwork.rs, before the join merges holders.)
#[test]
fn a_listener_on_descriptor_0_is_found_once() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let mut child = hold_on_stdin(l, None);
    for source in ["procfs", "auto"] {
        let (code, v) = who_json(&port, &["--owner-source", source]);
        assert_eq!(code, Some(0), "{source}: {v}");
        let procs = v["sockets"][0]["processes"].as_array().unwrap();
        let pids: Vec<u64> = procs.iter().map(|p| p["pid"].as_u64().unwrap()).collect();
        assert_eq!(pids, vec![u64::from(child.id())], "{source}: once: {v}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Root without CAP_SYS_PTRACE (a container's root, typically) may open another user's
/// /proc/PID/fd but not read its links. The owner is reported hidden (denied), and the
/// table is not listed first: the refused link of descriptor 0 stops it.
#[test]
fn a_table_whose_links_are_refused_is_reported_and_not_listed() {
    let _alone = common::serial();
    if !quiet_netns() {
        return;
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let mut child = hold_on_stdin(l, Some(65534));
    let log = std::env::temp_dir().join(format!("portscope-refused-{}.strace", child.id()));
    let out = std::process::Command::new("strace")
        // -ff: one file per thread, so no call is split into "<unfinished ...>" and
        // "resumed" lines when two threads make calls at once.
        .args([
            "-ff",
            "-y",
            "-qq",
            "-e",
            "trace=getdents64,readlinkat",
            "-o",
        ])
        .arg(&log)
        .args(["setpriv", "--bounding-set=-sys_ptrace", "--"])
        .arg(bin_path())
        .args(["who", &port, "--json", "--owner-source", "procfs"])
        .output();
    let mut trace = String::new();
    let prefix = format!("{}.", log.file_name().unwrap().to_string_lossy());
    for entry in std::fs::read_dir(std::env::temp_dir()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            trace.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let out = match out {
        Ok(o) if !trace.is_empty() => o,
        _ => {
            skip("strace and setpriv (util-linux) are needed to run without CAP_SYS_PTRACE");
            return;
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(3), "hidden: {v}");
    assert_eq!(v["sockets"][0]["owner"], "hidden", "{v}");
    assert_eq!(
        v["sockets"][0]["owner_reason"],
        OwnerReason::Denied.as_str(),
        "{v}"
    );
    let table = format!("</proc/{}/fd>", child.id());
    let lines: Vec<&str> = trace.lines().filter(|l| l.contains(&table)).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("readlinkat(") && l.contains("EACCES")),
        "the refused link was asked: {lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("getdents64(")),
        "a refused table is not listed: {lines:?}"
    );
}
