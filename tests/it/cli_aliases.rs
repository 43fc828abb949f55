//! Issue 23: one spelling per idea across subcommands; the old spellings stay accepted
//! (hidden) so that scripts keep working, and mean exactly what the new ones mean.

use clap::Parser;
use portscope::cli::{Cli, Command};

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("portscope").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn wait_old_and_new_spellings_fill_the_same_fields() {
    for (process, unit) in [("--process", "--systemd-unit"), ("--owner", "--unit")] {
        let cli = parse(&["wait", "8080", process, "nginx", unit, "web.service"]);
        let Some(Command::Wait(w)) = cli.command else {
            panic!("not wait");
        };
        assert_eq!(w.owner, ["nginx"], "{process}");
        assert_eq!(w.unit, ["web.service"], "{unit}");
    }
}

#[test]
fn kill_and_close_take_list_s_all_and_the_old_all_states() {
    for flag in ["-a", "--all", "--all-states"] {
        let cli = parse(&["kill", "8080", flag]);
        let Some(Command::Kill(k)) = cli.command else {
            panic!("not kill");
        };
        assert!(k.act.all_states, "kill {flag}");
        let cli = parse(&["close", "8080", flag]);
        let Some(Command::Close(c)) = cli.command else {
            panic!("not close");
        };
        assert!(c.act.all_states, "close {flag}");
    }
    let cli = parse(&["kill", "8080"]);
    let Some(Command::Kill(k)) = cli.command else {
        panic!("not kill");
    };
    assert!(!k.act.all_states);
}

#[test]
fn list_unit_filter_has_one_primary_name_and_the_old_alias() {
    for flag in ["--systemd-unit", "--unit"] {
        let cli = parse(&["list", flag, "nginx"]);
        let Some(Command::List(l)) = cli.command else {
            panic!("not list");
        };
        assert_eq!(l.select.filters.unit, ["nginx"], "{flag}");
    }
}

/// The old spellings are accepted but not taught: -h shows only the new ones.
#[test]
fn old_spellings_are_hidden_from_help() {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    for (sub, old, new) in [
        ("wait", "--owner ", "--process"),
        ("wait", "--unit ", "--systemd-unit"),
        ("kill", "--all-states", "--all"),
        ("list", "--unit ", "--systemd-unit"),
    ] {
        let help = cmd
            .find_subcommand_mut(sub)
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(help.contains(new), "{sub}: {help}");
        assert!(!help.contains(old), "{sub} teaches {old}: {help}");
    }
}

/// `--netns ''` used to read the current namespace as if the option were absent: an empty
/// name is bad input (exit 2, naming the option), and absent stays "not given".
#[test]
fn an_empty_netns_is_bad_input_and_an_absent_one_is_not_given() {
    let err = Cli::try_parse_from(["portscope", "list", "--netns", ""]).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("--netns"), "{err}");
    assert_eq!(parse(&["list"]).sources.netns, None);
    assert_eq!(parse(&["list"]).sources.netns(), "");
    let all = parse(&["list", "--netns", "all"]);
    assert_eq!(all.sources.netns.as_deref(), Some("all"));
}
