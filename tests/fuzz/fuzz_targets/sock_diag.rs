//! Fuzz target: the netlink sock_diag reply parser (portscope::fuzz::sock_diag, which
//! tests/fuzz_corpus.rs also replays over the committed corpus).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    portscope::fuzz::sock_diag(data);
});
