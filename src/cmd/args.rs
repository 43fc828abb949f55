//! Where the command-line types end: each converts to what query.rs and collect/ take, so
//! nothing below cmd/ knows clap.

use crate::cli::{
    ClassArg, ColorChoice, FilterArgs, ListSelection, OwnerSourceArg, ProtoArgs,
    SortKey as SortArg, SourceArgs, StateArg, TableSourceArg,
};
use crate::collect::{lookup_user, Collector, NetnsChoice, OwnerChoice, TableChoice};
use crate::model::{Family, Protocol, SockState, TableQuery};
use crate::query::{self, ClassFilter, Output, Query, Selection, SortKey};
use crate::render;
use crate::services::Services;
use std::io::IsTerminal;

pub fn state(a: StateArg) -> SockState {
    match a {
        StateArg::Listen => SockState::Listen,
        StateArg::SynSent => SockState::SynSent,
        StateArg::SynReceived => SockState::SynReceived,
        StateArg::Established => SockState::Established,
        StateArg::FinWait1 => SockState::FinWait1,
        StateArg::FinWait2 => SockState::FinWait2,
        StateArg::CloseWait => SockState::CloseWait,
        StateArg::Closing => SockState::Closing,
        StateArg::LastAck => SockState::LastAck,
        StateArg::TimeWait => SockState::TimeWait,
        StateArg::Closed => SockState::Closed,
        StateArg::Unconnected => SockState::Unconnected,
        StateArg::Connected => SockState::Connected,
    }
}

pub fn states(a: &[StateArg]) -> Vec<SockState> {
    a.iter().map(|&s| state(s)).collect()
}

pub fn classes(c: &[ClassArg]) -> Vec<ClassFilter> {
    c.iter()
        .map(|c| match c {
            ClassArg::WellKnown => ClassFilter::WellKnown,
            ClassArg::Registered => ClassFilter::Registered,
            ClassArg::Dynamic => ClassFilter::Dynamic,
            ClassArg::Ephemeral => ClassFilter::Ephemeral,
        })
        .collect()
}

pub fn sort(k: SortArg) -> SortKey {
    match k {
        SortArg::Port => SortKey::Port,
        SortArg::Proto => SortKey::Proto,
        SortArg::Pid => SortKey::Pid,
        SortArg::Process => SortKey::Process,
        SortArg::State => SortKey::State,
        SortArg::User => SortKey::User,
        SortArg::Netns => SortKey::Netns,
    }
}

pub fn protocols_and_families(p: &ProtoArgs) -> (Vec<Protocol>, Vec<Family>) {
    query::protocols_and_families(p.tcp, p.udp, p.ipv4, p.ipv6)
}

/// The selection of `list`'s flags (shared by `list` and `watch`).
pub fn list_selection(a: &ListSelection) -> anyhow::Result<Selection> {
    let (protocols, families) = protocols_and_families(&a.proto);
    let table = TableQuery {
        protocols,
        families,
        states: query::states(&states(&a.state), a.all, a.listening),
        ports: None,
    };
    filtered(table, &a.filters)
}

/// `table` with the filters shared by list, watch and export, validated.
pub fn filtered(table: TableQuery, f: &FilterArgs) -> anyhow::Result<Selection> {
    let ports = if f.port.is_empty() {
        Vec::new()
    } else {
        query::parse_ports(&f.port, Services::system())?
    };
    Ok(Selection {
        pids: query::parse_pids(&f.pid)?,
        processes: f.process.iter().map(|p| p.to_lowercase()).collect(),
        uids: query::parse_users(&f.user, &lookup_user)?,
        classes: classes(&f.class),
        containers: f.container.clone(),
        units: query::unit_names(&f.unit),
        ..Selection::ports(table, ports)
    })
}

/// Output decisions made once, from the flags and what stdout is.
pub fn output(json: bool, color: ColorChoice) -> Output {
    let forced = match color {
        ColorChoice::Always => Some(true),
        ColorChoice::Never => Some(false),
        ColorChoice::Auto => None,
    };
    Output {
        json,
        pretty: std::io::stdout().is_terminal(),
        color: render::use_color(forced),
        width: render::terminal_width(),
    }
}

/// The real host, read by the backends the user chose.
pub fn collector(s: &SourceArgs) -> Result<Collector, crate::error::Error> {
    let table = match s.table_source {
        TableSourceArg::Auto => TableChoice::Auto,
        TableSourceArg::Netlink => TableChoice::Netlink,
        TableSourceArg::Procnet => TableChoice::Procnet,
        TableSourceArg::Netstat2 => TableChoice::Netstat2,
    };
    let owners = match s.owner_source {
        OwnerSourceArg::Auto => OwnerChoice::Auto,
        OwnerSourceArg::Procfs => OwnerChoice::Procfs,
        OwnerSourceArg::Bpf => OwnerChoice::Bpf,
        OwnerSourceArg::None => OwnerChoice::None,
    };
    Collector::system(table, owners, netns(s.netns()))
}

/// [`collector`] for a query: --container and --unit name sockets that mostly live in
/// other namespaces (a container's own), so without --netns they read every namespace.
pub fn collector_for(s: &SourceArgs, q: &Query) -> Result<Collector, crate::error::Error> {
    if s.netns.is_none() && q.selection().has_placement_filters() {
        let all = SourceArgs {
            netns: Some("all".into()),
            ..s.clone()
        };
        return collector(&all);
    }
    collector(s)
}

/// `--netns`: all, current, a PID (digits), a PATH (has a '/'), else an `ip netns` NAME.
pub fn netns(v: &str) -> NetnsChoice {
    match v {
        "all" => NetnsChoice::All,
        "current" | "" => NetnsChoice::Current,
        _ if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v
            .parse()
            .map_or_else(|_| NetnsChoice::Name(v.into()), NetnsChoice::Pid),
        _ if v.contains('/') => NetnsChoice::Path(v.into()),
        _ => NetnsChoice::Name(v.into()),
    }
}
