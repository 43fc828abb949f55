//! Not a pipeline stage: the fuzzing entry points. Each function is what one cargo-fuzz target
//! in tests/fuzz runs on one input, and tests/fuzz_corpus.rs replays the committed seed corpus
//! through the same function under `cargo test`, so a corpus file that once crashed keeps
//! being checked without cargo-fuzz or nightly.
//!
//! Every function panics (as a fuzz target must) when the parser panics or when what it
//! returns breaks a property that holds for any input.

use crate::query::parse_duration;
use crate::services::Services;
use crate::spec::PortSpec;

/// The port SPEC grammar, durations and services(5) text: no input panics, every rejection
/// is a message naming the input, and a numeric spec survives parse → text → parse.
/// Returns whether the input is a valid SPEC (the corpus replay checks it has both kinds).
pub fn spec(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let services = &Services::builtin();
    let accepted = match PortSpec::parse(text, services) {
        Ok(spec) => {
            assert!(!spec.ranges.is_empty(), "{text:?}: no ranges");
            for r in &spec.ranges {
                assert!(r.low <= r.high, "{text:?}: {r:?}");
            }
            if let Some(canon) = spec_text(&spec) {
                let again = PortSpec::parse(&canon, services)
                    .unwrap_or_else(|e| panic!("{text:?} → {canon:?} is rejected: {e}"));
                assert_eq!(
                    (again.addr, again.proto, &again.ranges),
                    (spec.addr, spec.proto, &spec.ranges),
                    "{text:?} → {canon:?}"
                );
            }
            true
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("invalid port '"), "{msg}");
            false
        }
    };
    if let Err(e) = parse_duration(text) {
        assert!(e.to_string().starts_with("invalid duration '"), "{e}");
    }
    let parsed = Services::parse(text);
    let _ = parsed.lookup(text);
    accepted
}

/// The spec written back in the grammar, where it can be: ranges from service names carry a
/// protocol each, which only the name can say, so those specs have no numeric form.
fn spec_text(spec: &PortSpec) -> Option<String> {
    if spec.ranges.iter().any(|r| r.proto.is_some()) {
        return None;
    }
    let items: Vec<String> = spec
        .ranges
        .iter()
        .map(|r| {
            if r.low == r.high {
                r.low.to_string()
            } else {
                format!("{}-{}", r.low, r.high)
            }
        })
        .collect();
    let addr = match spec.addr {
        None => String::new(),
        Some(std::net::IpAddr::V4(a)) => format!("{a}:"),
        Some(std::net::IpAddr::V6(a)) => format!("[{a}]:"),
    };
    let proto = spec
        .proto
        .map_or(String::new(), |p| format!("/{}", p.as_str()));
    Some(format!("{addr}{}{proto}", items.join(",")))
}

/// The /proc/net/{tcp,tcp6,udp,udp6} parser, read as each of the four tables: no text
/// panics, and every socket it returns is of the table's protocol and family, with the
/// v6-only flag unknown (those files do not carry it) unless the address itself says.
/// Returns how many sockets the four readings found.
#[cfg(target_os = "linux")]
pub fn proc_net(data: &[u8]) -> usize {
    use crate::collect::linux::procnet::parse_table;
    use crate::model::TableQuery;
    use crate::model::{Family, Protocol};
    use std::net::IpAddr;
    let Ok(text) = std::str::from_utf8(data) else {
        return 0;
    };
    let mut found = 0;
    let q = TableQuery {
        protocols: Protocol::ALL.to_vec(),
        families: Family::ALL.to_vec(),
        states: None,
        ports: None,
    };
    for proto in Protocol::ALL {
        for family in Family::ALL {
            let mut out = Vec::new();
            parse_table(text, proto, family, &q, &mut out);
            found += out.len();
            assert!(out.len() <= text.lines().count().saturating_sub(1));
            for s in &out {
                assert_eq!((s.protocol, s.family), (proto, family), "{s:?}");
                assert_eq!(s.local.address.is_ipv4(), family == Family::Ipv4, "{s:?}");
                if let Some(r) = &s.remote {
                    assert_eq!(r.address.is_ipv4(), family == Family::Ipv4, "{s:?}");
                }
                // Only an IPv4-mapped local address tells the flag: it must be off.
                let mapped =
                    matches!(s.local.address, IpAddr::V6(a) if a.to_ipv4_mapped().is_some());
                assert_eq!(s.v6only, mapped.then_some(false), "{s:?}");
            }
        }
    }
    found
}

/// The netlink sock_diag reply parser, read as a TCP and as a UDP dump: no bytes panic, and
/// what it returns is self-consistent. Returns how many sockets the two readings found.
#[cfg(target_os = "linux")]
pub fn sock_diag(data: &[u8]) -> usize {
    use crate::collect::linux::parse_sock_diag_dump;
    use crate::model::{Family, Protocol};
    let mut found = 0;
    for proto in Protocol::ALL {
        let out = parse_sock_diag_dump(data, proto);
        found += out.len();
        for s in out {
            assert_eq!(s.protocol, proto, "{s:?}");
            assert_eq!(s.family == Family::Ipv4, s.local.address.is_ipv4(), "{s:?}");
            if s.family == Family::Ipv4 {
                assert_eq!(s.v6only, None, "{s:?}");
            }
        }
    }
    found
}
