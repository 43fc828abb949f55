//! Fuzz target: the netlink sock_diag reply parser never panics on any bytes, and what it
//! returns is self-consistent.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portscope::collect::parse_sock_diag_dump;
use portscope::model::{Family, Protocol};

fuzz_target!(|data: &[u8]| {
    for proto in Protocol::ALL {
        for s in parse_sock_diag_dump(data, proto) {
            assert_eq!(s.protocol, proto);
            assert_eq!(s.family == Family::Ipv4, s.local.address.is_ipv4());
            if s.family == Family::Ipv4 {
                assert_eq!(s.v6only, None);
            }
        }
    }
});
