//! The integration tests, in one binary (as ripgrep and bottom do): one module per area,
//! named as the former test files were, so `cargo test --test it who::` runs what
//! `cargo test --test who` ran. Tests share this process and run on parallel threads:
//! what changes process-wide state, or looks at its own process's sockets, takes
//! `common::serial()`.

mod common;

mod bpf;
mod churn;
mod cli_aliases;
mod close;
mod completion;
mod containers;
mod descriptors;
mod diff;
mod docker;
mod errors;
mod export;
mod fake_host;
mod fuzz_corpus;
mod generated;
mod hostile;
mod hostile_actions;
mod kill;
mod list;
mod netns;
mod one_model;
mod owners;
mod prometheus;
mod proptest_spec;
mod published_fake;
mod reasons;
mod reliability;
mod scale;
mod terminal;
mod verify;
mod wait;
mod watch;
mod watch_events;
mod watch_fake;
mod who;
mod why;
mod why_policy;

/// The one entry point of every helper process: tests start this binary again with
/// `helper --exact --ignored` and an environment variable naming the role.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "helper process for the other tests, started by them"]
fn helper() {
    why::helper_process();
    if bpf::helper_process() {
        return;
    }
    common::workload::helper_main();
}
