//! Fuzz target: the port SPEC grammar, durations and services(5) text (portscope::fuzz::spec,
//! which tests/fuzz_corpus.rs also replays over the committed corpus).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    portscope::fuzz::spec(data);
});
