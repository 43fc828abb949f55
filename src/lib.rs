//! portscope: what is listening, who owns this port, and can I trust the answer?
//!
//! The pipeline, one module per stage: collect (harvest) → classify → filter → join → sort →
//! render. cli.rs ends at cmd/; everything below takes plain values.

// Outside tests (clippy.toml allows them there): an unwrap is a panic waiting for input.
#![deny(clippy::unwrap_used)]

#[cfg(target_os = "linux")]
pub mod act;
pub mod classify;
pub mod cli;
pub mod cmd;
pub mod collect;
pub mod error;
pub mod fast_hash;
pub mod filter;
#[doc(hidden)]
pub mod fuzz;
pub mod join;
pub mod model;
pub mod pipeline;
pub mod probe;
pub mod query;
pub mod render;
pub mod services;
#[cfg(test)]
mod shape_tests;
pub mod sort;
pub mod spec;
pub mod sys;
#[cfg(all(test, target_os = "linux"))]
mod test_skip;
pub mod textfile;
pub mod watch;
#[cfg(target_os = "linux")]
pub mod why;

use cli::{Cli, Command};
use std::io::Write;

/// Runs a parsed command line, writing to `out`; returns the exit status.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<i32> {
    match cli.command {
        None => cmd::list::run(&cli.list, cli.color, &cli.sources, out),
        Some(Command::List(a)) => cmd::list::run(&a, cli.color, &cli.sources, out),
        Some(Command::Who(a)) => cmd::who::run(&a, cli.color, &cli.sources, out),
        Some(Command::Verify(a)) => cmd::verify::run(&a, &cli.sources, out),
        Some(Command::Listen(a)) => cmd::listen::run(&a, &cli.sources, out),
        #[cfg(target_os = "linux")]
        Some(Command::Why(a)) => cmd::why::run(&a, &cli.sources, out),
        #[cfg(not(target_os = "linux"))]
        Some(Command::Why(_)) => Err(error::Error::Unsupported("portscope why").into()),
        Some(Command::Export(a)) => cmd::export::run(&a, &cli.sources, out),
        Some(Command::Watch(a)) => cmd::watch::run(&a, cli.color, &cli.sources, out),
        Some(Command::Diff(a)) => cmd::diff::run(&a, cli.color, out),
        #[cfg(target_os = "linux")]
        Some(Command::Kill(a)) => cmd::kill::run(&a, &cli.sources, out),
        #[cfg(target_os = "linux")]
        Some(Command::Close(a)) => cmd::close::run(&a, &cli.sources, out),
        #[cfg(target_os = "linux")]
        Some(Command::Wait(a)) => cmd::wait::run(&a, &cli.sources, out),
        #[cfg(not(target_os = "linux"))]
        Some(Command::Kill(_)) => Err(error::Error::Unsupported("portscope kill").into()),
        #[cfg(not(target_os = "linux"))]
        Some(Command::Close(_)) => Err(error::Error::Unsupported("portscope close").into()),
        #[cfg(not(target_os = "linux"))]
        Some(Command::Wait(_)) => Err(error::Error::Unsupported("portscope wait").into()),
    }
}

/// True when a stop signal ended a write that waited for room (`sys::stdout`): a command
/// that stops on a signal ends as it would have at any other moment.
pub fn stopped_while_writing() -> bool {
    #[cfg(target_os = "linux")]
    return sys::stdout::was_stopped();
    #[cfg(not(target_os = "linux"))]
    return false;
}

/// True when the error is a closed pipe: `portscope list | head -1` is a success.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

/// `portscope: <what> '<value>': <why>`, one line, the causes joined by ": ".
pub fn error_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    // Arguments echoed in a message are untrusted too: escape them for the terminal.
    format!(
        "portscope: {}",
        render::sanitize::sanitize(&parts.join(": "))
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::{Path, PathBuf};

    pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read src/") {
            let p = e.expect("read src/").path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// Every `src/….rs` path a text names.
    fn named(text: &str) -> Vec<&str> {
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '/' || c == '.';
        text.match_indices("src/")
            .filter(|&(i, _)| !text[..i].ends_with(|c: char| ok(c) || c == '-'))
            .filter_map(|(i, _)| {
                let end = text[i..]
                    .find(|c: char| !ok(c))
                    .map_or(text.len(), |n| i + n);
                let path = text[i..end].trim_end_matches('.');
                path.ends_with(".rs").then_some(path)
            })
            .collect()
    }

    /// ARCHITECTURE.md is the newcomer's map: it names every source file (by its path from
    /// the repository root), and names none that is gone.
    #[test]
    fn architecture_map_names_every_source_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
        let named = named(&map);
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        let mut files: Vec<String> = files
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let missing: Vec<&String> = files
            .iter()
            .filter(|f| !named.contains(&f.as_str()))
            .collect();
        let gone: Vec<&&str> = named
            .iter()
            .filter(|n| !files.iter().any(|f| f == **n))
            .collect();
        assert!(
            missing.is_empty() && gone.is_empty(),
            "ARCHITECTURE.md is out of date.\n  files under src/ it does not name: {missing:?}\n  \
             files it names that do not exist: {gone:?}\nName each file by its full path \
             (`src/dir/file.rs`) where it belongs in the map."
        );
    }

    #[test]
    fn map_paths_are_read_whole() {
        assert_eq!(
            named("`src/a.rs`, src/b/c_d.rs. (src/e.rs) x-src/f.rs tests/src/g.rs src/h"),
            ["src/a.rs", "src/b/c_d.rs", "src/e.rs"]
        );
    }
}
