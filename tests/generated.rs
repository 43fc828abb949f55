//! Generated files that are committed: the man pages in man/ and the shell completions in
//! completions/. Both are produced here, in memory, from the clap definitions in src/cli.rs
//! (included on its own, so nothing else in the crate is needed), and compared with the
//! committed copies. To rewrite them after changing the CLI:
//!
//!     PORTSCOPE_REGENERATE=1 cargo test --test generated
//!
//! The man pages are clap_mangen's sections plus hand-written roff for what clap does not
//! know: EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES and SEE ALSO.

#[allow(dead_code)]
#[path = "../src/cli.rs"]
mod cli;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Set to any non-empty value other than 0 to write the files instead of comparing them.
const REGENERATE_ENV: &str = "PORTSCOPE_REGENERATE";
/// The one command that rewrites every generated file.
const REGENERATE_CMD: &str = "PORTSCOPE_REGENERATE=1 cargo test --test generated";

const BIN: &str = "portscope";
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
// What clap does not know, per page.

struct Extra {
    /// (status, meaning) rows of EXIT STATUS; meanings use the `code` markup of `prose`.
    exit_status: &'static [(&'static str, &'static str)],
    /// (description, command line) rows of EXAMPLES.
    examples: &'static [(&'static str, &'static str)],
    /// Whether the page reads the socket tables (FILES and ENVIRONMENT apply).
    reads_sockets: bool,
}

const EXIT_OK_OR_ERROR: &[(&str, &str)] = &[
    ("0", "Success."),
    (
        "2",
        "Bad input (a usage error or an invalid SPEC), or an error.",
    ),
];

const ROOT: Extra = Extra {
    exit_status: &[
        ("0", "Success; for `who`, something matched."),
        (
            "1",
            "`who`: nothing uses the port(s). `verify`: a check failed.",
        ),
        (
            "2",
            "Bad input (a usage error or an invalid SPEC), or an error, such as socket tables \
             that cannot be read by any means.",
        ),
        (
            "3",
            "`who` matched, but the owner of a matching socket is hidden (for example a \
             process of another user, when not run as root): the answer is partial.",
        ),
    ],
    examples: &[
        (
            "What is listening (TCP listeners and bound UDP sockets), with their owners:",
            "portscope",
        ),
        ("Who has port 8080:", "portscope who 8080"),
        (
            "What is connected to a PostgreSQL server elsewhere, by remote port:",
            "portscope who --remote 5432",
        ),
        (
            "Every socket on the local PostgreSQL port, connections included:",
            "portscope list -a -p postgresql",
        ),
        (
            "The JSON document, through jq: local port and first owner of each socket:",
            r#"portscope list --json | jq -r '.sockets[] | "\(.local.port) \(.processes[0].name // "-")"'"#,
        ),
        (
            "Kill whoever holds port 8080:",
            "kill $(portscope who -q 8080)",
        ),
    ],
    reads_sockets: true,
};

const LIST: Extra = Extra {
    exit_status: EXIT_OK_OR_ERROR,
    examples: &[
        (
            "What is listening (TCP listeners and bound UDP sockets), with their owners:",
            "portscope list",
        ),
        (
            "Every socket on the local PostgreSQL port, connections included:",
            "portscope list -a -p postgresql",
        ),
        (
            "Established TCP connections, busiest process names first:",
            "portscope list -t --state established --sort process",
        ),
        (
            "The JSON document, through jq: local port and first owner of each socket:",
            r#"portscope list --json | jq -r '.sockets[] | "\(.local.port) \(.processes[0].name // "-")"'"#,
        ),
    ],
    reads_sockets: true,
};

const WHO: Extra = Extra {
    exit_status: &[
        ("0", "Something matched, and every owner is known."),
        ("1", "Nothing uses the port(s)."),
        (
            "2",
            "Bad input (a usage error or an invalid SPEC), or an error.",
        ),
        (
            "3",
            "Something matched, but the owner of a matching socket is hidden (for example a \
             process of another user, when not run as root): the answer is partial.",
        ),
    ],
    examples: &[
        ("Who has port 8080:", "portscope who 8080"),
        (
            "Kill whoever holds port 8080:",
            "kill $(portscope who -q 8080)",
        ),
        (
            "What is connected to a PostgreSQL server elsewhere, by remote port:",
            "portscope who --remote 5432",
        ),
        (
            "Use the exit status in a script:",
            "if portscope who -q 8080 >/dev/null; then echo 'port 8080 is taken'; fi",
        ),
    ],
    reads_sockets: true,
};

const VERIFY: Extra = Extra {
    exit_status: &[
        ("0", "Every check passed."),
        ("1", "A check failed."),
        ("2", "Bad input (a usage error), or an error."),
    ],
    examples: &[
        (
            "Prove portscope's answers right on this host:",
            "portscope verify",
        ),
        (
            "The same checks against the /proc/net fallback:",
            "PORTSCOPE_FORCE_PROCFS=1 portscope verify",
        ),
        (
            "The checks as JSON, for a script or a CI job:",
            "portscope verify --json",
        ),
    ],
    reads_sockets: true,
};

const LISTEN: Extra = Extra {
    exit_status: EXIT_OK_OR_ERROR,
    examples: &[
        (
            "Hold 127.0.0.1:8080/tcp and 127.0.0.1:9000/udp until Ctrl-C:",
            "portscope listen 8080 9000/udp",
        ),
        (
            "Any free port on ::1, for 30 seconds:",
            "portscope listen '[::1]:0' --for 30s",
        ),
    ],
    reads_sockets: false,
};

fn extra_for(page: &str) -> &'static Extra {
    match page {
        "portscope" => &ROOT,
        "portscope-list" => &LIST,
        "portscope-who" => &WHO,
        "portscope-verify" => &VERIFY,
        "portscope-listen" => &LISTEN,
        other => panic!(
            "no EXIT STATUS/EXAMPLES for the man page {other}: add them in tests/generated.rs"
        ),
    }
}

const FILES: &[(&str, &str)] = &[
    (
        "/proc/net/*",
        "The socket tables (tcp, tcp6, udp, udp6), read when netlink sock_diag is unavailable \
         or PORTSCOPE_FORCE_PROCFS is set.",
    ),
    (
        "/proc/*/fd",
        "Each process's open descriptors, scanned to find every process that holds a socket. \
         A process whose descriptors cannot be read leaves its sockets with a hidden owner.",
    ),
    (
        "/etc/services",
        "Service names for ports (a built-in table of common assignments is used when it \
         cannot be read; `--numeric` turns names off).",
    ),
    (
        "/proc/sys/net/ipv4/ip_local_port_range",
        "This host's ephemeral port range, for the `ephemeral` port class.",
    ),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "NO_COLOR",
        "When set to a non-empty value, tables are not coloured unless `--color always` is given.",
    ),
    (
        "PORTSCOPE_FORCE_PROCFS",
        "When set to 1 (any non-empty value other than 0), read the socket tables from /proc/net \
         instead of netlink sock_diag. IPv6 v6-only flags are then unknown.",
    ),
];

const SEE_ALSO_EXTERNAL: &[(&str, &str)] =
    &[("ss", "8"), ("lsof", "8"), ("netstat", "8"), ("fuser", "1")];

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
    for (what, command) in extra.examples {
        r.push_str(&format!(
            ".PP\n{}\n.RS 4\n.EX\n{}\n.EE\n.RE\n",
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
        r.push_str(&format!(".BR {} ({section}){sep}\n", roff_literal(name)));
    }
    r
}

// ---------------------------------------------------------------------------------------------
// Generation.

/// Renders one page: clap_mangen's sections (its preamble once), then ours.
fn render_page(cmd: clap::Command, subpages: &[String]) -> String {
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
        .manual("User Commands");

    let mut sections: Vec<Vec<u8>> = Vec::new();
    let mut push = |f: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut buf = Vec::new();
        f(&mut buf).expect("rendering into memory");
        sections.push(buf);
    };
    push(&|w| man.render_title(w));
    push(&|w| man.render_name_section(w));
    push(&|w| man.render_synopsis_section(w));
    push(&|w| man.render_description_section(w));
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
        out.push_str(&body);
    }

    if let (false, Some(parent)) = (aliases.is_empty(), parent_bin) {
        let names: Vec<String> = aliases
            .iter()
            .map(|a| format!(r"\fB{}\fR", roff_literal(&format!("{parent} {a}"))))
            .collect();
        out.push_str(&format!(".PP\nAlso available as {}.\n", names.join(", ")));
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
    files.push((
        Path::new(MAN_DIR).join(format!("{BIN}.1")),
        render_page(root.clone(), &subpages),
    ));
    for sub in subs {
        let name = sub.get_display_name().expect("built").to_owned();
        files.push((
            Path::new(MAN_DIR).join(format!("{name}.1")),
            render_page(sub, &subpages),
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

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
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

/// Runs a checker, or reports why not: Ok(None) means "skip" (the tool is missing, outside CI).
fn run_tool(program: &str, args: &[&str], stdin: &str) -> Option<std::process::Output> {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                !in_ci(),
                "{program} is not installed, and CI=true: install it (e.g. apt-get install -y {program})"
            );
            eprintln!("skipped: {program} is not installed (this check fails when CI=true)");
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
        let Some(out) = run_tool("mandoc", &["-Tlint", "-W", "warning"], text) else {
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

#[test]
fn closed_value_sets_are_offered_by_zsh_and_fish() {
    let files = generate();
    let text = |name: &str| {
        &files
            .iter()
            .find(|(p, _)| p == &Path::new(COMPLETIONS_DIR).join(name))
            .unwrap_or_else(|| panic!("{name} is not generated"))
            .1
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

        // zsh: `--state=[...]:STATE:((listen\:"..." syn_sent ...))` or `:(a b c)`.
        let zsh_line = zsh
            .lines()
            .find(|l| l.contains(&format!("'--{option}=[")))
            .unwrap_or_else(|| panic!("zsh completion has no --{option}"));
        for v in values {
            assert!(
                zsh_line.contains(&format!("(({v}\\:"))
                    || zsh_line.contains(&format!(" {v}\\:"))
                    || zsh_line.contains(&format!("({v} "))
                    || zsh_line.contains(&format!(" {v} "))
                    || zsh_line.contains(&format!(" {v})")),
                "zsh completion of --{option} does not offer {v}: {zsh_line}"
            );
        }

        // fish: `complete -c portscope ... -l state ... -r -f -a "listen\t'' ..."`.
        let fish_line = fish
            .lines()
            .find(|l| l.contains(&format!(" -l {option} ")))
            .unwrap_or_else(|| panic!("fish completion has no --{option}"));
        assert!(
            fish_line.contains(" -f "),
            "fish completion of --{option} also offers files: {fish_line}"
        );
        for v in values {
            assert!(
                fish_line.contains(&format!("\"{v}\t"))
                    || fish_line.contains(&format!("\n{v}\t"))
                    || fish_line.contains(&format!("{{{v}\t"))
                    || fish_line.contains(&format!(",{v}\t"))
                    || fish_line.contains(&format!("\"{v} "))
                    || fish_line.contains(&format!(" {v} "))
                    || fish_line.contains(&format!(" {v}\"")),
                "fish completion of --{option} does not offer {v}: {fish_line}"
            );
        }
    }
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
