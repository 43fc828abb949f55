//! The committed bash completion (completions/portscope.bash, written by tests/it/generated.rs)
//! works in a real bash: the completion function is called the way readline calls it and
//! COMPREPLY is checked. Skipped when bash is missing (through common::skip: a failure under
//! PORTSCOPE_NO_SKIP).

use crate::common;

use std::path::PathBuf;
use std::process::Command;

/// Sources the script, sets COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT for the words given
/// (the last one is the word being completed, possibly empty), calls
/// `_portscope portscope CUR PREV` and prints COMPREPLY one per line.
const DRIVER: &str = r#"
set -o pipefail
# compopt only works inside a completion that readline started: make it a no-op here.
compopt() { :; }
source "$1" || exit 90
shift
COMP_WORDS=("$@")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
prev=""
if (( COMP_CWORD > 0 )); then prev="${COMP_WORDS[COMP_CWORD-1]}"; fi
declare -F _portscope >/dev/null || exit 91
_portscope portscope "${COMP_WORDS[COMP_CWORD]}" "$prev"
printf '%s\n' "${COMPREPLY[@]}"
"#;

/// The candidates bash offers for `line` (split on spaces; a trailing space means an empty
/// current word), or None when bash is not installed (a skip).
fn complete(line: &str) -> Option<Vec<String>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("completions/portscope.bash");
    assert!(
        script.is_file(),
        "{} is missing: run PORTSCOPE_REGENERATE=1 cargo test --test it generated::",
        script.display()
    );
    let words: Vec<&str> = line.split(' ').collect();
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", DRIVER, "bash"])
        .arg(&script)
        .args(&words)
        .current_dir(&root)
        .env_remove("BASH_ENV")
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            common::skip("bash is not installed");
            return None;
        }
        Err(e) => panic!("cannot run bash: {e}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "completing {line:?} failed ({}):\n{stderr}",
        out.status
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

fn assert_offers(line: &str, wanted: &[&str]) -> Option<Vec<String>> {
    let got = complete(line)?;
    for w in wanted {
        assert!(
            got.iter().any(|g| g == w),
            "completing {line:?} should offer {w:?}, got {got:?}"
        );
    }
    Some(got)
}

/// A closed set offers its values only: no file names, no options.
fn assert_closed_set(line: &str, wanted: &[&str]) {
    let Some(got) = assert_offers(line, wanted) else {
        return;
    };
    for g in &got {
        assert!(
            g.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
                && !g.starts_with('-'),
            "completing {line:?} offered {g:?}, which is not a value of the set: {got:?}"
        );
    }
}

#[test]
fn subcommand_names_complete() {
    assert_offers("portscope li", &["list", "listen"]);
    assert_offers("portscope wh", &["who"]);
}

#[test]
fn long_options_complete() {
    let Some(got) = assert_offers("portscope list --sta", &["--state"]) else {
        return;
    };
    assert_eq!(got, ["--state"], "only --state starts with --sta");
    assert_offers("portscope who --rem", &["--remote"]);
}

#[test]
fn state_offers_its_closed_set() {
    assert_closed_set("portscope list --state ", &["listen", "time_wait"]);
    assert_closed_set("portscope who --state ", &["listen", "established"]);
    assert_closed_set("portscope --state ", &["listen", "time_wait"]);
}

#[test]
fn sort_class_and_color_offer_their_closed_sets() {
    assert_closed_set("portscope list --sort ", &["port", "pid", "process"]);
    assert_closed_set("portscope list --class ", &["well-known", "ephemeral"]);
    assert_closed_set("portscope --color ", &["auto", "always", "never"]);
    // A prefix narrows the set.
    if let Some(got) = complete("portscope list --sort pr") {
        assert_eq!(got, ["proto", "process"]);
    }
}
