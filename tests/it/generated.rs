//! Generated files that are committed: the man pages in man/ and the shell completions in
//! completions/. Both are produced here, in memory, from the clap definitions in src/cli.rs
//! (included on its own, so nothing else in the crate is needed), and compared with the
//! committed copies. To rewrite them after changing the CLI:
//!
//!     PORTSCOPE_REGENERATE=1 cargo test --test it generated::
//!
//! The man pages are clap_mangen's sections plus hand-written roff for what clap does not
//! know: EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES and SEE ALSO.

#[allow(dead_code)]
#[path = "../../src/cli.rs"]
mod cli;
use crate::common;

#[path = "generated/content.rs"]
mod content;
use content::*;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Set to any non-empty value other than 0 to write the files instead of comparing them.
const REGENERATE_ENV: &str = "PORTSCOPE_REGENERATE";
/// The one command that rewrites every generated file.
const REGENERATE_CMD: &str = "PORTSCOPE_REGENERATE=1 cargo test --test it generated::";

const BIN: &str = "portscope";
/// The date in every page's title line (YYYY-MM-DD). A constant, so the pages are
/// reproducible: move it forward when the pages change in substance.
const MAN_DATE: &str = "2026-11-22";
/// Directories that hold only generated files (anything else in them is stale).
const MAN_DIR: &str = "man";
const COMPLETIONS_DIR: &str = "completions";
const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::Elvish,
    Shell::PowerShell,
];

// ---------------------------------------------------------------------------------------------
// Roff helpers for the hand-written sections.

/// Escapes literal text for a roff text line: backslashes, minus signs (so options and
/// commands can be copied from the rendered page) and apostrophes (never curly).
fn roff_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str(r"\e"),
            '-' => out.push_str(r"\-"),
            '\'' => out.push_str(r"\(aq"),
            _ => out.push(c),
        }
    }
    out
}

/// Prose with `code` spans: code is bold and escaped as a literal; the rest keeps its
/// hyphens as hyphens. The result never starts with a control character.
fn prose(s: &str) -> String {
    let mut out = String::from(r"\&");
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(r"\fB");
            out.push_str(&roff_literal(part));
            out.push_str(r"\fR");
        } else {
            out.push_str(&part.replace('\\', r"\e").replace('\'', r"\(aq"));
        }
    }
    out
}

fn render_extra_sections(page: &str, extra: &Extra, subpages: &[String]) -> String {
    let mut r = String::new();

    r.push_str(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in extra.exit_status {
        r.push_str(&format!(".TP\n.B {code}\n{}\n", prose(meaning)));
    }

    if extra.reads_sockets {
        r.push_str(".SH ENVIRONMENT\n");
        for (name, meaning) in ENVIRONMENT {
            r.push_str(&format!(
                ".TP\n.B {}\n{}\n",
                roff_literal(name),
                prose(meaning)
            ));
        }
        r.push_str(".SH FILES\n");
        for (path, meaning) in FILES {
            r.push_str(&format!(
                ".TP\n.I {}\n{}\n",
                roff_literal(path),
                prose(meaning)
            ));
        }
    }

    r.push_str(".SH EXAMPLES\n");
    for (i, (what, command)) in extra.examples.iter().enumerate() {
        // A paragraph break between examples, none right after the heading.
        let pp = if i == 0 { "" } else { ".PP\n" };
        r.push_str(&format!(
            "{pp}{}\n.RS 4\n.EX\n{}\n.EE\n.RE\n",
            prose(what),
            roff_literal(command)
        ));
    }

    let mut refs: Vec<(String, &str)> = Vec::new();
    if page != BIN {
        refs.push((BIN.to_owned(), "1"));
    }
    refs.extend(
        subpages
            .iter()
            .filter(|p| p.as_str() != page)
            .map(|p| (p.clone(), "1")),
    );
    refs.extend(SEE_ALSO_EXTERNAL.iter().map(|(n, s)| ((*n).to_owned(), *s)));
    r.push_str(".SH \"SEE ALSO\"\n");
    let last = refs.len() - 1;
    for (i, (name, section)) in refs.iter().enumerate() {
        let sep = if i == last { "" } else { "," };
        // `\%`: never hyphenate a page name.
        r.push_str(&format!(".BR \\%{} ({section}){sep}\n", roff_literal(name)));
    }
    r
}

// ---------------------------------------------------------------------------------------------
// Generation.

/// Renders one page: clap_mangen's sections (its preamble once), then ours.
fn render_page(cmd: clap::Command, version: &str, subpages: &[String]) -> String {
    let page = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned();
    let extra = extra_for(&page);
    let has_options = cmd.get_arguments().any(|a| !a.is_hide_set());
    let has_subcommands = cmd.get_subcommands().any(|s| !s.is_hide_set());
    let aliases: Vec<String> = cmd.get_visible_aliases().map(str::to_owned).collect();
    let parent_bin = cmd
        .get_bin_name()
        .and_then(|b| b.rsplit_once(' ').map(|(p, _)| p.to_owned()));
    let has_version = cmd.get_version().is_some();

    let man = Man::new(cmd)
        .title(page.to_uppercase())
        .section("1")
        .date(MAN_DATE)
        .source(format!("{BIN} {version}"))
        .manual("User Commands");

    let mut sections: Vec<Vec<u8>> = Vec::new();
    let mut push = |f: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut buf = Vec::new();
        f(&mut buf).expect("rendering into memory");
        sections.push(buf);
    };
    push(&|w| man.render_title(w));
    // No hyphenation (option names must stay whole, for copying), ragged right.
    push(&|w| w.write_all(b".nh\n.ad l\n"));
    push(&|w| man.render_name_section(w));
    push(&|w| man.render_synopsis_section(w));
    push(&|w| man.render_description_section(w));
    // Visible aliases, which clap_mangen leaves out: a last DESCRIPTION paragraph.
    if let (false, Some(parent)) = (aliases.is_empty(), &parent_bin) {
        let names: Vec<String> = aliases
            .iter()
            .map(|a| format!(r"\fB{}\fR", roff_literal(&format!("{parent} {a}"))))
            .collect();
        let paragraph = format!(".PP\nAlso available as {}.\n", names.join(", "));
        push(&|w| w.write_all(paragraph.as_bytes()));
    }
    if has_options {
        push(&|w| man.render_options_section(w));
    }
    if has_subcommands {
        push(&|w| man.render_subcommands_section(w));
    }

    // roff's preamble (defines the apostrophe string) comes with every rendered section:
    // keep the first one only.
    let mut out = String::new();
    let mut preamble: Option<String> = None;
    for bytes in sections {
        let text = String::from_utf8(bytes).expect("utf-8 roff");
        let body = strip_preamble(&text, &mut preamble);
        out.push_str(&tidy_possible_values(&body));
    }

    out.push_str(&render_extra_sections(&page, extra, subpages));

    if has_version {
        let mut buf = Vec::new();
        man.render_version_section(&mut buf)
            .expect("rendering into memory");
        out.push_str(&strip_preamble(
            &String::from_utf8(buf).unwrap(),
            &mut preamble,
        ));
    }

    format!("{}{out}", preamble.unwrap_or_default())
        .lines()
        .map(|l| {
            // clap_mangen ends the synopsis with a blank; an escaped blank (`\ `) is text.
            if l.ends_with("\\ ") {
                l.to_owned()
            } else {
                l.trim_end_matches(' ').to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// clap_mangen separates an option's help from its "Possible values:" list with
/// `.br`, an empty line, `.br`: a blank line in roff is an implicit `.sp`, so mandoc warns
/// twice ("br before sp", "br after sp"). One `.sp` renders the same.
fn tidy_possible_values(roff: &str) -> String {
    roff.replace("\n.br\n\n.br\n", "\n.sp\n")
}

/// Splits roff's preamble (the lines before the first .TH/.SH/text line that start with
/// `.ie`/`.el`) off `text`, remembering the first one seen.
fn strip_preamble(text: &str, seen: &mut Option<String>) -> String {
    let mut pre = String::new();
    let mut rest = text;
    while rest.starts_with(".ie ") || rest.starts_with(".el ") {
        let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        pre.push_str(&rest[..end]);
        rest = &rest[end..];
    }
    if seen.is_none() {
        *seen = Some(pre);
    }
    rest.to_owned()
}

/// Every generated file: (path relative to the package root, contents).
fn generate() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();

    // Man pages: no `help` subcommand page (`--help` is on every page).
    // Built first, so that every subcommand knows its bin and display names.
    let mut root = cli::Cli::command().disable_help_subcommand(true);
    root.build();
    let subs: Vec<clap::Command> = root
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let subpages: Vec<String> = subs
        .iter()
        .map(|s| s.get_display_name().expect("built").to_owned())
        .collect();
    let version = root
        .get_version()
        .expect("portscope has a version")
        .to_owned();
    files.push((
        Path::new(MAN_DIR).join(format!("{BIN}.1")),
        render_page(root.clone(), &version, &subpages),
    ));
    for sub in subs {
        let name = sub.get_display_name().expect("built").to_owned();
        files.push((
            Path::new(MAN_DIR).join(format!("{name}.1")),
            render_page(sub, &version, &subpages),
        ));
    }

    // Completions, from the command exactly as the binary parses it.
    for shell in SHELLS {
        let mut cmd = cli::Cli::command();
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
        files.push((
            Path::new(COMPLETIONS_DIR).join(clap_complete::Generator::file_name(&shell, BIN)),
            String::from_utf8(buf).expect("utf-8 completion script"),
        ));
    }
    files
}

fn root_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn regenerating() -> bool {
    std::env::var_os(REGENERATE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Files in the generated directories that the generator no longer writes.
fn stale_files(expected: &[(PathBuf, String)]) -> Vec<PathBuf> {
    let mut stale = Vec::new();
    for dir in [MAN_DIR, COMPLETIONS_DIR] {
        let Ok(entries) = std::fs::read_dir(root_dir().join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let rel = Path::new(dir).join(entry.file_name());
            if entry.path().is_file() && !expected.iter().any(|(p, _)| *p == rel) {
                stale.push(rel);
            }
        }
    }
    stale.sort();
    stale
}

#[test]
fn generated_files_are_up_to_date() {
    let files = generate();
    let root = root_dir();

    if regenerating() {
        for (rel, text) in &files {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            eprintln!("wrote {}", rel.display());
        }
        for rel in stale_files(&files) {
            std::fs::remove_file(root.join(&rel)).unwrap();
            eprintln!("removed stale {}", rel.display());
        }
        return;
    }

    let mut problems = Vec::new();
    for (rel, text) in &files {
        match std::fs::read_to_string(root.join(rel)) {
            Ok(committed) if committed == *text => {}
            Ok(committed) => {
                let line = committed
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| committed.lines().count().min(text.lines().count()))
                    + 1;
                problems.push(format!("{} differs (first at line {line})", rel.display()));
            }
            Err(e) => problems.push(format!("{} cannot be read: {e}", rel.display())),
        }
    }
    for rel in stale_files(&files) {
        problems.push(format!("{} is no longer generated", rel.display()));
    }
    assert!(
        problems.is_empty(),
        "generated files are out of date:\n  {}\nRewrite them with:\n  {REGENERATE_CMD}\nand commit the result.",
        problems.join("\n  ")
    );
}

/// Runs a checker, or skips through common::skip when it is not installed (None; a failure
/// under PORTSCOPE_NO_SKIP). `package` is the Debian package that provides it.
fn run_tool(
    program: &str,
    package: &str,
    args: &[&str],
    stdin: &str,
) -> Option<std::process::Output> {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            common::skip(&format!(
                "{program} is not installed (apt-get install -y {package})"
            ));
            return None;
        }
        Err(e) => panic!("cannot run {program}: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    Some(child.wait_with_output().unwrap())
}

#[test]
fn man_pages_pass_mandoc_lint() {
    let mut problems = Vec::new();
    for (rel, text) in generate().iter().filter(|(p, _)| p.starts_with(MAN_DIR)) {
        // Every message from warnings up: errors fail, and so does anything else mandoc
        // thinks a reader would trip on.
        let Some(out) = run_tool("mandoc", "mandoc", &["-Tlint", "-W", "warning"], text) else {
            return;
        };
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .replace("<stdin>", &rel.display().to_string());
        if !out.status.success() || !report.trim().is_empty() {
            problems.push(format!("{} ({}):\n{report}", rel.display(), out.status));
        }
    }
    assert!(
        problems.is_empty(),
        "mandoc -Tlint:\n{}",
        problems.join("\n")
    );
}

/// What `man` uses on most Linux systems: groff must format every page without a warning
/// (-ww: all of them). Skipped through common::skip when groff is missing (CI installs it).
#[test]
fn man_pages_format_with_groff_without_warnings() {
    let mut problems = Vec::new();
    for (rel, text) in generate().iter().filter(|(p, _)| p.starts_with(MAN_DIR)) {
        let Some(out) = run_tool(
            "groff",
            "groff-base",
            &["-man", "-Tutf8", "-ww", "-z"],
            text,
        ) else {
            return;
        };
        let report = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !report.trim().is_empty() {
            problems.push(format!("{} ({}):\n{report}", rel.display(), out.status));
        }
    }
    assert!(
        problems.is_empty(),
        "groff -man -ww:\n{}",
        problems.join("\n")
    );
}

#[test]
fn closed_value_sets_are_offered_by_zsh_and_fish() {
    let files = generate();
    let text = |name: &str| {
        files
            .iter()
            .find(|(p, _)| p == &Path::new(COMPLETIONS_DIR).join(name))
            .unwrap_or_else(|| panic!("{name} is not generated"))
            .1
            .clone()
    };
    let (zsh, fish) = (text("_portscope"), text("portscope.fish"));

    let sets: [(&str, Vec<String>); 4] = [
        ("state", names::<cli::StateArg>()),
        ("class", names::<cli::ClassArg>()),
        ("sort", names::<cli::SortKey>()),
        ("color", names::<cli::ColorChoice>()),
    ];
    for (option, values) in &sets {
        assert!(
            values.len() >= 3,
            "--{option} has too few values: {values:?}"
        );

        let offered = zsh_value_sets(&zsh, option);
        assert!(!offered.is_empty(), "the zsh completion has no --{option}");
        for set in &offered {
            assert_eq!(set, values, "zsh completion of --{option}");
        }

        let offered = fish_value_sets(&fish, option);
        assert!(!offered.is_empty(), "the fish completion has no --{option}");
        for set in &offered {
            assert_eq!(set, values, "fish completion of --{option}");
        }
    }
}

/// The values zsh offers after each `--OPTION=`: `'--sort=[help]:SORT:(port proto ...)'` or
/// `'*--state=[help]:STATE:((listen\:"help"` one value per line `...))'`.
fn zsh_value_sets(script: &str, option: &str) -> Vec<Vec<String>> {
    let needle = format!("--{option}=[");
    let mut sets = Vec::new();
    let mut rest = script;
    while let Some(at) = rest.find(&needle) {
        rest = &rest[at + needle.len()..];
        // The help ends at the first unescaped `]`; then `:VALUE_NAME:` and the action.
        let close = rest
            .char_indices()
            .find(|&(i, c)| c == ']' && !rest[..i].ends_with('\\'))
            .map(|(i, _)| i)
            .expect("end of the zsh help");
        let after = &rest[close + 1..];
        let action = after
            .strip_prefix(':')
            .and_then(|a| a.split_once(':'))
            .map(|(_, action)| action)
            .expect("zsh value name");
        let values = if let Some(list) = action.strip_prefix("((") {
            let list = &list[..list.find("))'").expect("end of the zsh value list")];
            list.split('\n')
                .map(|v| v.split("\\:").next().unwrap().to_owned())
                .collect()
        } else if let Some(list) = action.strip_prefix('(') {
            let list = &list[..list.find(")'").expect("end of the zsh value list")];
            list.split(' ').map(str::to_owned).collect()
        } else {
            panic!(
                "zsh offers no closed set after --{option}: {}",
                &action[..action.len().min(60)]
            );
        };
        sets.push(values);
    }
    sets
}

/// The values fish offers for each `complete ... -l OPTION ... -r -f -a "v\t'help'` one value
/// per line `..."`.
fn fish_value_sets(script: &str, option: &str) -> Vec<Vec<String>> {
    let needle = format!(" -l {option} ");
    let mut sets = Vec::new();
    let mut rest = script;
    while let Some(at) = rest.find(&needle) {
        let line_start = rest[..at].rfind('\n').map_or(0, |i| i + 1);
        let line = &rest[line_start..];
        let line_end = line.find('\n').unwrap_or(line.len());
        assert!(
            line[..line_end].contains(" -r -f -a \""),
            "fish offers files, or no closed set, after --{option}: {}",
            &line[..line_end]
        );
        let list = &line[line.find(" -a \"").unwrap() + 5..];
        let list = &list[..list.find('"').expect("end of the fish value list")];
        sets.push(
            list.split('\n')
                .map(|v| v.split("\\t").next().unwrap().to_owned())
                .collect(),
        );
        rest = &rest[at + needle.len()..];
    }
    sets
}

/// The visible names of a closed set, as clap offers them.
fn names<T: clap::ValueEnum>() -> Vec<String> {
    T::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .filter(|p| !p.is_hide_set())
        .map(|p| p.get_name().to_owned())
        .collect()
}

/// Subcommands are built only when they run (`#[command(defer = true)]`), and a deferred
/// `#[derive(Args)]` struct's doc comment would replace its subcommand's about: each one
/// is pinned here, so regenerating the files above cannot bake the wrong text in.
#[test]
fn every_subcommand_keeps_its_own_about() {
    use clap::CommandFactory;
    let mut cmd = portscope::cli::Cli::command();
    cmd.build();
    let pinned = [
        (
            "list",
            "List sockets with their owning processes (the default command)",
        ),
        ("who", "Show which processes hold a port"),
        (
            "verify",
            "Open known test sockets and prove that portscope reports them exactly",
        ),
        (
            "listen",
            "Hold test listeners open until Ctrl-C, --for, or stdin closes",
        ),
        ("why", "Tell why a port cannot be bound, and how to fix it"),
        (
            "export",
            "Export the listening ports for Prometheus or Ansible",
        ),
        (
            "watch",
            "Print every change to the socket table as it happens",
        ),
        ("diff", "Compare two saved list --json documents"),
        (
            "kill",
            "Free a port: signal the processes that hold it, safely, and check that it is free",
        ),
        (
            "close",
            "Destroy the sockets on a port in the kernel, leaving their processes running",
        ),
        (
            "wait",
            "Wait until a port is up (listening) or free, then optionally run a command",
        ),
    ];
    for (name, about) in pinned {
        let sub = cmd
            .find_subcommand(name)
            .unwrap_or_else(|| panic!("no subcommand {name}"));
        let got = sub.get_about().map(|a| a.to_string());
        assert_eq!(got.as_deref(), Some(about), "{name}");
        if let Some(long) = sub.get_long_about() {
            let long = long.to_string();
            assert!(
                long.starts_with(about),
                "{name}: long help starts with its about: {long}"
            );
        }
    }
}
