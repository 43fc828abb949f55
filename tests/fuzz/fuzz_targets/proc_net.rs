//! Fuzz target: the /proc/net/{tcp,tcp6,udp,udp6} parser (portscope::fuzz::proc_net, which
//! tests/fuzz_corpus.rs also replays over the committed corpus).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    portscope::fuzz::proc_net(data);
});
