//! House rules on the code's shape (STYLE.md, "Small things that add up"), checked on every
//! `cargo test --lib`: no file under `src/` over 600 lines, no function (tests included)
//! over 80. rustfmt lays the code out, so a function is found by its `fn` line and ends at
//! the first later line holding only `}` at the same indentation.

use std::path::Path;

/// The longest file, in lines.
const MAX_FILE_LINES: usize = 600;
/// The longest function, from its `fn` line to its closing brace, both included.
const MAX_FN_LINES: usize = 80;

/// src/cli.rs is whole on purpose; its header says why, and this phrase is checked so the
/// exception cannot outlive its reason.
const CLI_EXCEPTION: &str = "It is the one file allowed over ~600 lines";

/// Whether `line` starts a function: `[pub[(…)] ][async ][const ][unsafe ][extern "…" ]fn `.
fn is_fn_line(line: &str) -> bool {
    let mut rest = line.trim_start();
    if let Some(r) = rest.strip_prefix("pub") {
        rest = match r.strip_prefix('(') {
            Some(r) => match r.split_once(") ") {
                Some((_, r)) => r,
                None => return false,
            },
            None => match r.strip_prefix(' ') {
                Some(r) => r,
                None => return false,
            },
        };
    }
    loop {
        let before = rest;
        for q in ["async ", "const ", "unsafe ", "default "] {
            rest = rest.strip_prefix(q).unwrap_or(rest);
        }
        if let Some(r) = rest.strip_prefix("extern \"") {
            rest = r.split_once("\" ").map_or(rest, |(_, r)| r);
        }
        if rest == before {
            break;
        }
    }
    rest.starts_with("fn ")
}

/// Every function of `text` longer than `max` lines, as (line number, name, length).
fn long_fns(text: &str, max: usize) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !is_fn_line(line) {
            continue;
        }
        let Some(len) = fn_len(&lines[i..]) else {
            continue;
        };
        if len > max {
            let name = line.split("fn ").nth(1).unwrap_or_default();
            let name = name.split(['(', '<']).next().unwrap_or_default();
            out.push((i + 1, name.to_string(), len));
        }
    }
    out
}

/// The length of the function starting at `lines[0]`, or None for a declaration without a
/// body (a trait's, an extern block's).
fn fn_len(lines: &[&str]) -> Option<usize> {
    let indent = &lines[0][..lines[0].len() - lines[0].trim_start().len()];
    let close = format!("{indent}}}");
    // The signature ends at the first line ending in `{` (a body follows), `{}` (an empty
    // body) or `;` (no body).
    let sig_end = lines
        .iter()
        .position(|l| l.ends_with('{') || l.ends_with('}') || l.ends_with(';'))?;
    let end = lines[sig_end];
    if end.ends_with(';') {
        return None;
    }
    if !end.ends_with('{') {
        return Some(sig_end + 1);
    }
    let body = lines[sig_end + 1..].iter().position(|l| *l == close)?;
    Some(sig_end + 1 + body + 1)
}

/// Every offence, one line each: `path:line fn name is N lines` or `path is N lines`.
fn offences(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    crate::tests::rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let path = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        let n = text.lines().count();
        let whole_on_purpose = path == "src/cli.rs" && text.contains(CLI_EXCEPTION);
        if n > MAX_FILE_LINES && !whole_on_purpose {
            out.push(format!("{path} is {n} lines (at most {MAX_FILE_LINES})"));
        }
        for (line, name, len) in long_fns(&text, MAX_FN_LINES) {
            out.push(format!(
                "{path}:{line} fn {name} is {len} lines (at most {MAX_FN_LINES})"
            ));
        }
    }
    out
}

#[test]
fn no_file_or_function_is_too_long() {
    let found = offences(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        found.is_empty(),
        "split these along their seams (STYLE.md: by responsibility, not by size):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn cli_rs_says_why_it_stays_whole() {
    let cli = include_str!("cli.rs");
    let header: String = cli.lines().take_while(|l| l.starts_with("//!")).collect();
    assert!(
        header.contains(CLI_EXCEPTION),
        "src/cli.rs's header must say why it is whole"
    );
}

#[test]
fn functions_are_found_and_measured_as_rustfmt_lays_them_out() {
    assert!(is_fn_line("fn a() {"));
    assert!(is_fn_line("    pub(crate) async fn a() {"));
    // Split, so that README's count of unsafe blocks does not count these.
    assert!(is_fn_line(concat!(
        "    pub(in crate::x) const unsafe",
        " fn a() {"
    )));
    assert!(is_fn_line(concat!("pub unsafe", " extern \"C\" fn a() {")));
    assert!(!is_fn_line("// fn a() {"));
    assert!(!is_fn_line("    let fnx = 1;"));
    assert!(!is_fn_line("public fn"));
    let text = "\
trait T {
    fn decl(&self) -> u8;
    fn empty() {}
    fn body(
        x: u8,
    ) -> u8 {
        let y = {
            x
        };
        y
    }
}
";
    assert_eq!(
        long_fns(text, 0),
        [(3, "empty".into(), 1), (4, "body".into(), 8)]
    );
    assert_eq!(long_fns(text, 8), []);
}

/// The top-level module a file under `src/` belongs to (`src/collect/linux/mod.rs` →
/// `collect`), or None for the crate root and the binary.
fn top_module(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("src/")?;
    let first = rest.split('/').next()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then_some(name)
}

/// The top-level modules `text` names through `crate::`, its tests left out (a test may
/// build its fixtures from any module without that being a dependency of the code).
fn crate_refs(text: &str) -> Vec<&str> {
    let code = text.split("\n#[cfg(test)]").next().unwrap_or(text);
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out: Vec<&str> = code
        .match_indices("crate::")
        .filter(|&(i, _)| !code[..i].ends_with(ident))
        .filter_map(|(i, m)| {
            let rest = &code[i + m.len()..];
            let end = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
            (end > 0).then(|| &rest[..end])
        })
        .collect();
    // `use crate::{a, b::{c, d}}`: the first name of every item at the braces' top level.
    for (i, m) in code.match_indices("crate::{") {
        let rest = &code[i + m.len()..];
        let (mut depth, mut item) = (0usize, 0usize);
        for (j, c) in rest.char_indices() {
            let end = match c {
                '{' => {
                    depth += 1;
                    false
                }
                '}' if depth == 0 => true,
                '}' => {
                    depth -= 1;
                    false
                }
                ',' => depth == 0,
                _ => false,
            };
            if end {
                let name = rest[item..j].trim_start();
                let len = name.find(|c: char| !ident(c)).unwrap_or(name.len());
                if len > 0 {
                    out.push(&name[..len]);
                }
                item = j + 1;
                if c == '}' {
                    break;
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Pairs of top-level modules that depend on each other, directly or through others.
fn module_loops(root: &Path) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut files = Vec::new();
    crate::tests::rust_files(&root.join("src"), &mut files);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let path = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let Some(m) = top_module(&path) else { continue };
        if path.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let entry = deps.entry(m.to_string()).or_default();
        for r in crate_refs(&text) {
            if r != m {
                entry.insert(r.to_string());
            }
        }
    }
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for d in deps.get(&m).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let mut out = Vec::new();
    for a in deps.keys() {
        for b in reach(a) {
            if a < &b && reach(&b).contains(a) {
                out.push(format!("{a} <-> {b}"));
            }
        }
    }
    out
}

#[test]
fn no_two_top_level_modules_depend_on_each_other() {
    let loops = module_loops(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        loops.is_empty(),
        "the stages depend one way (STYLE.md): break these loops:\n  {}",
        loops.join("\n  ")
    );
}

#[test]
fn crate_references_are_read_from_paths_and_braces() {
    let text = "use crate::model::{A, B};\nuse crate::{filter, render::sanitize};\n\
                let x = crate::sort::sort(v);\nlet y = mycrate::other;\n\
                #[cfg(test)]\nmod tests { use crate::cmd; }\n";
    assert_eq!(crate_refs(text), ["filter", "model", "render", "sort"]);
    assert_eq!(top_module("src/collect/linux/mod.rs"), Some("collect"));
    assert_eq!(top_module("src/query.rs"), Some("query"));
    assert_eq!(top_module("src/lib.rs"), None);
}
