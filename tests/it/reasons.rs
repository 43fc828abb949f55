//! Reasons true for whoever runs it (issue 23): a failed explicit owner source is reported
//! as what happened, and every reason has its stable code beside the sentence.
#![cfg(target_os = "linux")]

use crate::common;

use common::*;
use portscope::model::{OwnerReason, OwnerSourceKind, ReasonCode};

/// `--owner-source bpf` as nobody: the iterator cannot load, so no owner was looked up:
/// `sources.owners` "none", a warning naming the failure, and owner_source_failed on the
/// socket (not "/proc could not be read"); who says the answer is partial (exit 3).
#[test]
fn a_failed_explicit_bpf_source_says_so_as_nobody() {
    if !is_root() {
        skip("not root: cannot run portscope as another user");
        return;
    }
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        skip("setpriv (util-linux) is not installed");
        return;
    }
    let l = Listener::start(&["127.0.0.1:0"]);
    let port = l.port(0).to_string();
    let as_nobody = |args: &[&str]| common::as_nobody(args).unwrap();
    let out = as_nobody(&["list", "--json", "--owner-source", "bpf", "-p", &port]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let d = doc(&out.stdout);
    assert_eq!(d.sources.unwrap().owners, OwnerSourceKind::None);
    assert_eq!(d.sockets.len(), 1);
    let s = &d.sockets[0];
    assert_eq!(s.owner_reason, Some(OwnerReason::SourceFailed));
    assert_eq!(s.owner_reason_code, Some(ReasonCode::OwnerSourceFailed));
    assert!(
        d.warnings
            .iter()
            .any(|w| w.starts_with("--owner-source bpf failed (") && w.contains("no owner")),
        "{:?}",
        d.warnings
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("/proc could not be read"));
    let out = as_nobody(&["who", "--owner-source", "bpf", &port]);
    assert_eq!(out.status.code(), Some(3), "partial: {out:?}");
}

/// Every reason has a code, and the JSON's code is always the reason's.
#[test]
fn every_reason_has_a_stable_code_in_json() {
    let codes: Vec<&str> = OwnerReason::ALL.iter().map(|r| r.code().as_str()).collect();
    for c in ReasonCode::ALL {
        assert!(codes.contains(&c.as_str()), "{c} is some reason's code");
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, format!("\"{c}\""));
    }
    // As root (what CI runs), no sentence in the JSON tells root to run as root.
    for r in OwnerReason::ALL {
        assert!(!r.as_str().contains("run as root"), "{r}");
    }
}
