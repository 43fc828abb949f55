//! Property tests for the port SPEC grammar: the parser never panics, every port parses to
//! itself, every rejection reads "invalid ...", and the binary turns any junk into exit 1
//! or 2 with one clean line, never a panic.

#[cfg(target_os = "linux")]
use crate::common;

use portscope::model::Protocol;
use portscope::services::Services;
use portscope::spec::{PortRange, PortSpec};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn builtin() -> &'static Services {
    static S: std::sync::OnceLock<Services> = std::sync::OnceLock::new();
    S.get_or_init(Services::builtin)
}

/// Strings built from the grammar's own characters, to reach deep into the parser, mixed
/// with arbitrary Unicode.
fn junk() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9:\\[\\]/,*.\\- ]{0,24}",
        "[0-9a-fA-F:\\[\\]/,*.%\\-tcpudhsTCPUD]{0,32}",
        "(\\[?[0-9a-f:.]{0,20}\\]?:)?[0-9a-z,\\-]{0,16}(/[a-zA-Z]{0,4})?",
        "[\\x00-\\x1f\\x7f\u{202e}\u{fffd}0-9:/\\-]{0,12}",
    ]
}

fn single(p: u16) -> Vec<PortRange> {
    vec![PortRange {
        low: p,
        high: p,
        proto: None,
    }]
}

proptest! {
    #![proptest_config(Config { cases: 2048, failure_persistence: None, ..Config::default() })]

    #[test]
    fn parse_never_panics_and_rejections_say_invalid(s in junk()) {
        match PortSpec::parse(&s, builtin()) {
            Ok(spec) => {
                prop_assert!(!spec.ranges.is_empty());
                prop_assert!(spec.ranges.iter().all(|r| r.low <= r.high));
                prop_assert_eq!(spec.text, s);
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("invalid "), "{:?} -> {:?}", s, msg);
            }
        }
    }

    #[test]
    fn every_port_form_parses_to_itself(p in any::<u16>(), proto in prop_oneof![Just("tcp"), Just("udp"), Just("TCP")]) {
        let want = single(p);
        for text in [format!(":{p}"), format!("*:{p}"), format!(" {p} ")] {
            let spec = PortSpec::parse(&text, builtin()).unwrap();
            prop_assert_eq!(&spec.ranges, &want, "{}", text);
            prop_assert_eq!(spec.addr, None);
            prop_assert_eq!(spec.proto, None);
        }
        let spec = PortSpec::parse(&format!("{p}/{proto}"), builtin()).unwrap();
        prop_assert_eq!(&spec.ranges, &want);
        prop_assert_eq!(spec.proto, proto.parse::<Protocol>().ok());
        let spec = PortSpec::parse(&format!("127.0.0.1:{p}"), builtin()).unwrap();
        prop_assert_eq!(spec.addr, Some("127.0.0.1".parse().unwrap()));
        prop_assert_eq!(&spec.ranges, &want);
        let spec = PortSpec::parse(&format!("[::1]:{p}"), builtin()).unwrap();
        prop_assert_eq!(spec.addr, Some("::1".parse().unwrap()));
        prop_assert_eq!(&spec.ranges, &want);
    }

    #[test]
    fn ranges_parse_in_order_and_reject_reversed(a in any::<u16>(), b in any::<u16>()) {
        let r = PortSpec::parse(&format!("{a}-{b}"), builtin());
        if a <= b {
            let r = r.unwrap();
            prop_assert_eq!(r.ranges, vec![PortRange { low: a, high: b, proto: None }]);
        } else {
            let msg = r.unwrap_err().to_string();
            prop_assert!(msg.starts_with("invalid "), "{}", msg);
        }
    }

    #[test]
    fn out_of_range_numbers_are_rejected(n in 65_536u64..u64::MAX) {
        let msg = PortSpec::parse(&n.to_string(), builtin()).unwrap_err().to_string();
        prop_assert!(msg.starts_with("invalid port "), "{}", msg);
    }
}

#[test]
fn every_port_parses_to_itself() {
    for p in 0..=u16::MAX {
        let spec = PortSpec::parse(&p.to_string(), builtin())
            .unwrap_or_else(|e| panic!("port {p} rejected: {e}"));
        assert_eq!(spec.ranges, single(p), "port {p}");
        assert_eq!((spec.addr, spec.proto), (None, None));
        assert_eq!(spec.single(), Some((None, p, None)));
    }
}

// Needs a private network namespace (Linux).
#[cfg(target_os = "linux")]
#[test]
fn who_turns_any_junk_into_exit_1_or_2_with_one_clean_line() {
    use common::{portscope, quiet_netns};
    use proptest::test_runner::TestRunner;
    use std::time::Duration;
    // An empty namespace: a valid SPEC matches nothing, so it must exit 1.
    if !quiet_netns() {
        return;
    }
    let system = Services::system();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    // Command lines cannot carry NUL bytes.
    let strategy = junk().prop_map(|s| s.replace('\0', ""));
    runner
        .run(&strategy, |s| {
            let out = portscope()
                .args(["who", "--"])
                .arg(&s)
                .timeout(Duration::from_secs(30))
                .output()
                .expect("run portscope who");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let code = out.status.code();
            prop_assert!(
                !stderr.contains("panicked") && !stdout.contains("panicked"),
                "{:?}: {}",
                s,
                stderr
            );
            let rejected = PortSpec::parse(&s, system).is_err();
            if rejected {
                prop_assert_eq!(code, Some(2), "{:?} rejected: {}", s, stderr);
                let lines: Vec<&str> = stderr.lines().collect();
                prop_assert_eq!(lines.len(), 1, "{:?}: one line: {:?}", s, stderr);
                prop_assert!(
                    lines[0].starts_with("portscope: invalid "),
                    "{:?}: {:?}",
                    s,
                    stderr
                );
                prop_assert!(stdout.is_empty(), "{:?}: {:?}", s, stdout);
            } else {
                prop_assert_eq!(code, Some(1), "{:?} accepted: {} {}", s, stdout, stderr);
                prop_assert!(stderr.is_empty(), "{:?}: {:?}", s, stderr);
                prop_assert!(stdout.contains("free"), "{:?}: {:?}", s, stdout);
            }
            Ok(())
        })
        .unwrap();
}
