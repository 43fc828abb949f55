//! Unit tests' skip: the same rule as tests/common's `skip`, which unit tests cannot
//! reach. Prints why the test cannot run here, or fails it when PORTSCOPE_NO_SKIP is set
//! (CI), so nothing required is ever skipped silently.

pub fn skip(reason: &str) {
    let ci = std::env::var("PORTSCOPE_NO_SKIP").is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(!ci, "required but unavailable here: {reason}");
    eprintln!("SKIP: {reason}");
}
