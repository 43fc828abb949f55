//! Fuzz target: the /proc/net/{tcp,tcp6,udp,udp6} parser never panics on any text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portscope::collect::procnet::parse_table;
use portscope::collect::TableQuery;
use portscope::model::{Family, Protocol};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
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
            for s in &out {
                assert_eq!(s.family, family);
                assert_eq!(s.protocol, proto);
            }
        }
    }
});
