//! Fuzz target: the port SPEC grammar, durations and services(5) text never panic, and
//! every rejection is a one-line message naming the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portscope::cmd::listen::parse_duration;
use portscope::services::Services;
use portscope::spec::PortSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let services = Services::builtin();
    match PortSpec::parse(text, &services) {
        Ok(spec) => {
            assert!(!spec.ranges.is_empty());
            for r in &spec.ranges {
                assert!(r.low <= r.high);
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("invalid port '"), "{msg}");
        }
    }
    if let Err(e) = parse_duration(text) {
        assert!(e.to_string().starts_with("invalid duration '"));
    }
    let parsed = Services::parse(text);
    let _ = parsed.lookup(text);
});
