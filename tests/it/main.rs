//! The integration tests that may share a process: one module per area, named as the
//! former test files were (`cargo test --test it docker::` runs what `--test docker` ran).
//! They run on parallel threads. A test that looks at its own process's sockets, or
//! changes what the process or the host shows while it runs, belongs in `tests/alone`.

#[path = "../common/mod.rs"]
mod common;

mod churn;
mod cli_aliases;
mod completion;
mod containers;
mod diff;
mod docker;
mod fake_host;
mod fuzz_corpus;
mod generated;
mod one_model;
mod proptest_spec;
mod published_fake;
mod reasons;
mod watch_fake;

/// The one entry point of every helper process: tests start this binary again with
/// `helper --exact --ignored` and an environment variable naming the role.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "helper process for the other tests, started by them"]
fn helper() {
    common::workload::helper_main();
}
