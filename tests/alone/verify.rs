//! `portscope verify`: passes where the pipeline is right, fails (exit 1, the check named)
//! when it is fed a wrong answer, and reports what it cannot check as skipped.
#![cfg(target_os = "linux")]
// Live kernel socket tables, network namespaces and Linux-only libc calls.
#![cfg(target_os = "linux")]

use crate::common;
use common::*;
use portscope::cli::VerifyArgs;
use portscope::collect::{Collector, Harvest, OwnerChoice, TableChoice, TableSource};
use portscope::model::{SockState, TableQuery, TableSourceKind};
use portscope::render::verify::{Report, Status};

fn report(stdout: &[u8]) -> Report {
    serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "invalid verify JSON ({e}): {}",
            String::from_utf8_lossy(stdout)
        )
    })
}

#[test]
fn verify_passes_with_every_socket_kind() {
    let _alone = common::serial();
    // Without root the listener of another user (--children) goes unchecked: a skip.
    let children = is_root() || skip("not root: verify runs without --children");
    let mut args = vec!["verify", "--json"];
    if children {
        args.push("--children");
    }
    // --children runs the binary as nobody: run a copy from a directory anyone may enter,
    // wherever the checkout is (a clone under a private 0700 directory would refuse it).
    let _turn = fork_or_copy();
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("portscope-public-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("portscope");
    std::fs::copy(bin_path(), &copy).unwrap();
    let out = std::process::Command::new(&copy)
        .args(&args)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let r = report(&out.stdout);
    let failed: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(out.status.code(), Some(0));
    assert!(r.ok);
    assert_eq!(r.schema_version, 1);
    assert_eq!(r.failed, 0);
    assert_eq!(r.passed, r.checks.iter().filter(|c| c.ok).count());
    for kind in [
        "tcp listener 127.0.0.1:",
        "tcp client 127.0.0.1:",
        "tcp accepted 127.0.0.1:",
        "udp bound 127.0.0.1:",
        "udp connected 127.0.0.1:",
        "tcp listener shared with a forked child",
    ] {
        assert!(
            r.checks.iter().any(|c| c.name.starts_with(kind) && c.ok),
            "{kind}"
        );
    }
    let shared = r
        .checks
        .iter()
        .find(|c| c.name.starts_with("tcp listener shared") && c.name.ends_with(": pids"))
        .unwrap();
    assert_eq!(
        shared.seen.matches(',').count(),
        1,
        "two owners: {}",
        shared.seen
    );
    if children {
        assert!(r
            .checks
            .iter()
            .any(|c| c.name.starts_with("tcp listener of uid 65534")
                && c.name.ends_with("process uid")
                && c.ok));
    }
    // The table form ends in a plain verdict line.
    let out = portscope().arg("verify").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("verify OK: ") && last.contains(" 0 failed"),
        "{last}"
    );
}

/// A table source that loses every IPv4 TCP listener on loopback: a wrong answer that
/// verify must catch (its negative control).
struct DropsLoopbackListener(Box<dyn TableSource>);

impl TableSource for DropsLoopbackListener {
    fn kind(&self) -> TableSourceKind {
        self.0.kind()
    }
    fn harvest(&mut self, q: &TableQuery) -> Result<Harvest, portscope::error::Error> {
        let mut h = self.0.harvest(q)?;
        let lo: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        h.sockets
            .retain(|s| !(s.state == SockState::Listen && s.local.address == lo));
        Ok(h)
    }
}

/// The in-process runs fork a holder, which inherits whatever descriptor another test
/// thread has open at that moment: a binary being copied then cannot be executed
/// (ETXTBSY). And any test that starts a process forks this one: until the child's exec
/// it holds every descriptor open here, so an in-process run counting the holders of its
/// own listener would see one too many. Every test of this file takes its turn.
fn fork_or_copy() -> common::Serial {
    common::serial()
}

fn verify_in_process(drop_listener: bool, json: bool) -> (i32, String) {
    // verify's forked holder is a copy of this thread: give the thread the process's name,
    // as a real portscope (one thread) has.
    let comm = std::ffi::CString::new(
        std::fs::read_to_string("/proc/self/comm")
            .unwrap()
            .trim_end(),
    )
    .unwrap();
    // SAFETY: PR_SET_NAME reads a NUL-terminated string that outlives the call.
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) };
    let mut c =
        Collector::system(TableChoice::Auto, OwnerChoice::Auto, Default::default()).unwrap();
    if drop_listener {
        let real = std::mem::replace(
            &mut c.tables,
            Box::new(portscope::collect::linux::ProcnetTables),
        );
        c.tables = Box::new(DropsLoopbackListener(real));
    }
    let args = VerifyArgs {
        port: None,
        children: false,
        json,
        verbose: false,
    };
    let mut out = Vec::new();
    let code = portscope::cmd::verify::run_with(&mut c, &args, &mut out).unwrap();
    (code, String::from_utf8(out).unwrap())
}

#[test]
fn verify_fails_when_the_pipeline_drops_a_socket() {
    let _turn = fork_or_copy();
    if !quiet_netns() {
        return;
    }
    // The same harness without the fault passes: the fault is what fails it.
    let (code, text) = verify_in_process(false, false);
    assert_eq!(code, 0, "{text}");

    let (code, json) = verify_in_process(true, true);
    assert_eq!(code, 1, "{json}");
    let r = report(json.as_bytes());
    assert!(!r.ok);
    let failed: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.name.as_str())
        .collect();
    // Exactly the two dropped listeners are missing, and the who path misses the shared
    // one; every other socket (v6, UDP, connections) still passes.
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(
        failed[0].starts_with("tcp listener 127.0.0.1:") && failed[0].ends_with(": present"),
        "{failed:?}"
    );
    assert!(
        failed[1].starts_with("tcp listener shared with a forked child 127.0.0.1:")
            && failed[1].ends_with(": present"),
        "{failed:?}"
    );
    assert!(
        failed[2].starts_with("who 127.0.0.1:") && failed[2].ends_with(": every holder"),
        "{failed:?}"
    );
    // The table names the failing check.
    let (code, text) = verify_in_process(true, false);
    assert_eq!(code, 1);
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL  tcp listener 127.0.0.1:")
                && l.ends_with(": present: expected yes, seen missing")),
        "{text}"
    );
    assert!(
        text.lines().last().unwrap().starts_with("verify FAILED: "),
        "{text}"
    );
}

#[test]
fn verify_fixed_port_in_use_is_exit_2_naming_it() {
    let _turn = fork_or_copy();
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    let out = portscope()
        .args(["verify", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "portscope: cannot open test socket '127.0.0.1:{port}/tcp': "
        )),
        "{err}"
    );
}

#[test]
fn verify_as_an_unprivileged_user_passes_and_skips_children() {
    let _turn = fork_or_copy();
    if !is_root() {
        skip("not root: cannot switch to nobody");
        return;
    }
    let out = common::as_nobody(&["verify", "--json", "--children"]);
    let Ok(out) = out else {
        skip("setpriv is not installed");
        return;
    };
    if out.stdout.is_empty() {
        skip(&format!(
            "cannot run the binary as nobody: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
        return;
    }
    let r = report(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{:#?}",
        r.checks.iter().filter(|c| !c.ok).collect::<Vec<_>>()
    );
    let skipped: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Skip)
        .collect();
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert!(!skipped[0].ok, "a skip is never a pass");
    assert!(skipped[0].seen.contains("needs root"), "{:?}", skipped[0]);
}

#[test]
fn verify_through_a_symlink_and_from_proc_net() {
    let _turn = fork_or_copy();
    // comm is the name the binary was run as: a symlink's, not the file's.
    let dir = std::env::temp_dir().join(format!("portscope-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("pscope");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(bin_path(), &link).unwrap();
    let out = std::process::Command::new(&link)
        .args(["verify", "--json"])
        .output()
        .unwrap();
    let r = report(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{:#?}",
        r.checks.iter().filter(|c| !c.ok).collect::<Vec<_>>()
    );
    let name = r
        .checks
        .iter()
        .find(|c| c.name.ends_with(": process name"))
        .unwrap();
    assert_eq!(name.seen, "pscope");
    std::fs::remove_dir_all(&dir).unwrap();

    // /proc/net has no v6-only flag: those checks are skipped, never failed or passed.
    let out = portscope()
        .args(["verify", "--json"])
        .args(["--table-source", "procnet"])
        .output()
        .unwrap();
    let r = report(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{:#?}",
        r.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .collect::<Vec<_>>()
    );
    let v6: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.name.ends_with(": v6only"))
        .collect();
    assert!(!v6.is_empty());
    assert!(
        v6.iter().all(|c| c.status == Status::Skip && !c.ok),
        "{v6:#?}"
    );
}

#[test]
fn verify_children_skips_when_nobody_cannot_run_the_binary() {
    let _alone = common::serial();
    if !is_root() {
        skip("not root: --children needs root");
        return;
    }
    // A copy in a root-only directory, as after `cargo install` into /root/.cargo/bin.
    let _turn = fork_or_copy();
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("portscope-private-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let copy = dir.join("portscope");
    std::fs::copy(bin_path(), &copy).unwrap();
    let out = std::process::Command::new(&copy)
        .args(["verify", "--json", "--children"])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let r = report(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    let skip = r
        .checks
        .iter()
        .find(|c| c.name == "listener of another user")
        .unwrap();
    assert_eq!(skip.status, Status::Skip);
    assert!(skip.seen.contains("cannot run"), "{}", skip.seen);
}

/// verify passes with every backend combination, says which ran, and skips (never passes)
/// what a backend cannot know.
#[test]
fn verify_passes_with_each_source_and_reports_it() {
    let _turn = fork_or_copy();
    if !quiet_netns() {
        return;
    }
    for (table, owners) in [
        ("netlink", "procfs"),
        ("procnet", "procfs"),
        ("netstat2", "procfs"),
        ("netlink", "bpf"),
        ("netlink", "none"),
    ] {
        let out = portscope()
            .args([
                "verify",
                "--json",
                "--table-source",
                table,
                "--owner-source",
                owners,
            ])
            .output()
            .unwrap();
        let r = report(&out.stdout);
        let failed: Vec<_> = r
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .collect();
        assert_eq!(out.status.code(), Some(0), "{table}/{owners}: {failed:#?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["sources"]["table"], table);
        assert_eq!(v["sources"]["owners"], owners);
        let statuses = |suffix: &str| -> Vec<Status> {
            r.checks
                .iter()
                .filter(|c| c.name.ends_with(suffix))
                .map(|c| c.status)
                .collect()
        };
        let only = |v: Vec<Status>, st: Status| !v.is_empty() && v.iter().all(|&x| x == st);
        let v6 = if table == "netlink" {
            Status::Pass
        } else {
            Status::Skip
        };
        assert!(only(statuses(": v6only"), v6), "{table}: v6only");
        if owners == "none" {
            assert!(only(statuses(": owners"), Status::Skip));
            assert!(statuses(": pids").is_empty());
        } else {
            assert!(only(statuses(": pids"), Status::Pass));
            assert!(statuses(": owners").is_empty());
        }
        assert!(r.passed > 40, "{table}/{owners}: {} passed", r.passed);
        let text = portscope()
            .args(["verify", "--table-source", table, "--owner-source", owners])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout).into_owned();
        assert!(
            text.contains(&format!("sources: table {table}, owners {owners}\n")),
            "{text}"
        );
    }
}
