//! The committed fuzz seed corpus (tests/fuzz/corpus/<target>/, written by
//! tests/fuzz/make_corpus.py and grown by `cargo fuzz run`) replayed through the very
//! functions the cargo-fuzz targets call (portscope::fuzz), on stable, under `cargo test`:
//! no file may panic or break a target's property, and a missing or empty corpus fails.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Fewer files than this means the corpus was lost, not trimmed.
const MIN_FILES: usize = 10;

/// Every file of one target's corpus, sorted by name, with its bytes.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the seed corpus is missing (regenerate it with tests/fuzz/make_corpus.py)",
            dir.display()
        )
    });
    let mut files: Vec<(String, Vec<u8>)> = entries
        .map(|e| e.expect("read corpus directory").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read corpus file"))
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= MIN_FILES,
        "{}: {} files, expected at least {MIN_FILES}",
        dir.display(),
        files.len()
    );
    files
}

/// Runs `entry` on every file of `target`'s corpus and returns its results in file order;
/// panics naming every file that made it panic.
fn replay<T>(target: &str, entry: fn(&[u8]) -> T) -> Vec<(String, T)> {
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for (name, bytes) in corpus(target) {
        match catch_unwind(AssertUnwindSafe(|| entry(&bytes))) {
            Ok(r) => results.push((name, r)),
            Err(_) => failed.push(name),
        }
    }
    assert!(
        failed.is_empty(),
        "fuzz target {target} fails on corpus files {failed:?} (each panic is printed above)"
    );
    results
}

#[test]
fn spec_corpus_replays_cleanly_and_holds_valid_and_invalid_specs() {
    let results = replay("spec", portscope::fuzz::spec);
    let accepted: Vec<&str> = results
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(n, _)| n.as_str())
        .collect();
    // A corpus of only rejections (or only acceptances) would leave half the grammar unseeded.
    assert!(accepted.len() >= 5, "accepted: {accepted:?}");
    assert!(
        results.len() - accepted.len() >= 5,
        "accepted: {accepted:?}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn proc_net_corpus_replays_cleanly_and_holds_real_tables() {
    let results = replay("proc_net", portscope::fuzz::proc_net);
    let rows: Vec<&str> = results
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(
        rows.len() >= 5,
        "only these files hold parsable rows: {rows:?}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn sock_diag_corpus_replays_cleanly_and_holds_real_replies() {
    let results = replay("sock_diag", portscope::fuzz::sock_diag);
    let sockets: Vec<&str> = results
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(
        sockets.len() >= 4,
        "only these files hold sockets: {sockets:?}"
    );
}

/// The input the fuzzer found (an NLMSG_ERROR whose error field is i32::MIN, which once
/// overflowed on negation) stays in the corpus, byte for byte.
#[cfg(target_os = "linux")]
#[test]
fn sock_diag_corpus_keeps_the_i32_min_error_reply() {
    let mut want = Vec::new();
    want.extend_from_slice(&20u32.to_ne_bytes()); // nlmsg_len
    want.extend_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
    want.extend_from_slice(&0u16.to_ne_bytes()); // flags
    want.extend_from_slice(&7u32.to_ne_bytes()); // seq
    want.extend_from_slice(&0u32.to_ne_bytes()); // pid
    want.extend_from_slice(&i32::MIN.to_ne_bytes());
    let files = corpus("sock_diag");
    assert!(
        files.iter().any(|(_, b)| *b == want),
        "no corpus file is the i32::MIN NLMSG_ERROR reply"
    );
    assert_eq!(portscope::fuzz::sock_diag(&want), 0);
}
