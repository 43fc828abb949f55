//! `portscope verify`: passes where the pipeline is right, fails (exit 1, the check named)
//! when it is fed a wrong answer, and reports what it cannot check as skipped.

// Live kernel socket tables, network namespaces and Linux-only libc calls.
#![cfg(target_os = "linux")]

mod common;
use common::*;
use portscope::cmd::verify::{Report, Status};

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
    // Without root the listener of another user (--children) goes unchecked: a skip.
    let children = is_root() || skip("not root: verify runs without --children");
    let mut args = vec!["verify", "--json"];
    if children {
        args.push("--children");
    }
    // --children runs the binary as nobody: run a copy from a directory anyone may enter,
    // wherever the checkout is (a clone under a private 0700 directory would refuse it).
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

#[test]
fn verify_fails_when_the_pipeline_drops_a_socket() {
    if !quiet_netns() {
        return;
    }
    let port = "45123";
    let out = portscope()
        .args(["verify", "--json", "--port", port])
        .env("PORTSCOPE_FAULT_DROP_PORT", port)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r = report(&out.stdout);
    assert!(!r.ok);
    let failed: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        failed.contains(&"tcp listener 127.0.0.1:45123: present"),
        "{failed:?}"
    );
    // The table names the failing check.
    let out = portscope()
        .args(["verify", "--port", port])
        .env("PORTSCOPE_FAULT_DROP_PORT", port)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL  tcp listener 127.0.0.1:45123: present: expected yes, seen missing"),
        "{text}"
    );
    assert!(
        text.lines().last().unwrap().starts_with("verify FAILED: "),
        "{text}"
    );
}

#[test]
fn verify_fixed_port_in_use_is_exit_2_naming_it() {
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
    if !is_root() {
        skip("not root: cannot switch to nobody");
        return;
    }
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            bin_path(),
            "verify",
            "--json",
            "--children",
        ])
        .output();
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
        .env("PORTSCOPE_FORCE_PROCFS", "1")
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
    if !is_root() {
        skip("not root: --children needs root");
        return;
    }
    // A copy in a root-only directory, as after `cargo install` into /root/.cargo/bin.
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
