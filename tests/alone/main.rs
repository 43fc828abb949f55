//! The integration tests that must be alone in their process: they look at the sockets
//! this process holds (a process another test thread forks holds copies of them until its
//! exec), fork this process, hold many descriptors, or read every namespace of the host.
//! Every test takes `common::serial()` first, so they run one at a time (as ripgrep and
//! bottom, the rest share one binary: `tests/it`).

#[path = "../common/mod.rs"]
mod common;

mod bpf;
mod bpf_big_table;
mod close;
mod descriptors;
mod errors;
mod export;
mod hostile;
mod hostile_actions;
mod kill;
mod list;
mod netns;
mod owners;
mod prometheus;
mod reliability;
mod scale;
mod terminal;
mod verify;
mod wait;
mod wait_events_wait;
mod watch;
mod watch_events;
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
