//! Turns parsed arguments into a validated query, once (fd's Opts → Config, ripgrep's
//! LowArgs → HiArgs): the whole runtime configuration of a command, in three parts: the
//! [`Selection`] (tables and filters), the pipeline's [`Stages`] (derived from the command,
//! never set by a caller) and the [`View`] (service names, sort, output). Every bad value
//! is rejected here with one message naming it, before any socket is read. A [`Query`] is
//! made only by one constructor per command. Nothing here knows the command-line types
//! (cmd/ converts them).

use crate::error::Error;
use crate::model::{Family, PortFilter, Protocol, SockState, TableQuery};
use crate::services::Services;
use crate::spec::PortSpec;
use std::time::Duration;

/// Which port classes to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassFilter {
    WellKnown,
    Registered,
    Dynamic,
    Ephemeral,
}

/// Row order: by this key, then port, protocol, family, address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Port,
    Proto,
    Pid,
    Process,
    State,
    User,
    Netns,
}

/// How the result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Output {
    pub json: bool,
    /// Indent JSON (on a terminal).
    pub pretty: bool,
    pub color: bool,
    /// Some(width) on a terminal: fit it. None: aligned lines, no limit.
    pub width: Option<u16>,
}

/// A validated question for the pipeline, and how to answer it, in three parts: what is
/// selected, what the pipeline's stages do beyond selecting (derived from the command), and
/// how the rows are shown. Made only by the commands' constructors below and read through
/// [`Query::selection`], [`Query::stages`] and [`Query::view`]; no caller sets a part.
#[derive(Debug, Clone)]
pub struct Query {
    selection: Selection,
    stages: Stages,
    view: View,
}

/// What a command selects: the tables to read and the filters on sockets and owners (the
/// SPEC, --pid, --process, --user, --class, --container, --unit). Validated by the command's
/// argument conversion (`cmd/args.rs`); the filters (`filter.rs`) read only this.
#[derive(Debug, Clone)]
pub struct Selection {
    pub table: TableQuery,
    /// Any of these must match (empty: every port).
    pub ports: Vec<PortSpec>,
    /// Match `ports` against the remote end instead of the local one.
    pub remote: bool,
    pub pids: Vec<u32>,
    /// Lower-case substrings of process names.
    pub processes: Vec<String>,
    pub uids: Vec<u32>,
    pub classes: Vec<ClassFilter>,
    /// Container names or id prefixes (any must match).
    pub containers: Vec<String>,
    /// systemd unit names, with their suffix (any must match).
    pub units: Vec<String>,
}

/// What the pipeline does beyond selecting. Never chosen by a user directly: each command's
/// constructor derives it from what the command shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stages {
    /// Stop the owner scan at the first holder.
    pub first: bool,
    /// Parent processes of the holders are wanted (who's blocks).
    pub parents: bool,
    /// Resolve each socket's cgroup id to its path (JSON shows it; --unit/--container and
    /// `who` use it). The table never shows it, so `list` without them skips the lookup.
    pub cgroup_paths: bool,
    /// The command sorts the rows by the view's key afterwards, so the pipeline may put
    /// them in that order early (while a walk runs). Commands that keep the tables' order
    /// (export) leave it off.
    pub presort: bool,
    /// Follow published host ports to the containers' own listeners (`who`): the
    /// pipeline's `Outcome::published`.
    pub follow_published: bool,
}

impl Stages {
    /// The stages every command starts from: cgroup paths resolved, nothing else.
    const PLAIN: Stages = Stages {
        first: false,
        parents: false,
        cgroup_paths: true,
        presort: false,
        follow_published: false,
    };
}

/// How the rows are shown: service names or numbers, their order, the output mode. `list`
/// takes it whole; the other commands fix the parts they do not offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct View {
    pub numeric: bool,
    pub sort: SortKey,
    pub reverse: bool,
    pub output: Output,
    /// `who --quiet`: only the exit status and the PIDs, no blocks.
    pub quiet: bool,
}

impl Selection {
    /// The sockets of `table` on `ports` (empty: every port), no owner filters.
    pub fn ports(table: TableQuery, ports: Vec<PortSpec>) -> Selection {
        Selection {
            table,
            ports,
            remote: false,
            pids: Vec::new(),
            processes: Vec::new(),
            uids: Vec::new(),
            classes: Vec::new(),
            containers: Vec::new(),
            units: Vec::new(),
        }
    }

    /// Every socket of `table`, no filters.
    pub fn all(table: TableQuery) -> Selection {
        Selection::ports(table, Vec::new())
    }

    /// The selection's port ranges, for the kernel to filter on (None: every port).
    pub fn port_filter(&self) -> Option<PortFilter> {
        if self.ports.is_empty() {
            return None;
        }
        let ranges = self
            .ports
            .iter()
            .flat_map(|spec| {
                spec.ranges
                    .iter()
                    .map(|r| (r.low, r.high, r.proto.or(spec.proto)))
            })
            .collect();
        Some(PortFilter {
            ranges,
            remote: self.remote,
        })
    }

    /// Whether --container or --unit is in use: both read cgroup paths, mostly of sockets
    /// in other namespaces.
    pub fn has_placement_filters(&self) -> bool {
        !self.containers.is_empty() || !self.units.is_empty()
    }

    /// Whether the owner filters (--pid, --process, --user, --container, --unit) are in use
    /// at all.
    pub fn has_owner_filters(&self) -> bool {
        !self.pids.is_empty()
            || !self.processes.is_empty()
            || !self.uids.is_empty()
            || self.has_placement_filters()
    }

    /// Whether only listening states are selected (no REMOTE column then).
    pub fn listening_only(&self) -> bool {
        self.table
            .states
            .as_ref()
            .is_some_and(|s| s.iter().all(|st| st.is_listening()))
    }
}

/// `who`'s options, from which its stages and view are derived.
#[derive(Debug, Clone, Copy)]
pub struct WhoView {
    /// Stop the owner scan at the first holder.
    pub first: bool,
    pub numeric: bool,
    /// Only the exit status and PIDs (`--quiet`): no parents, no published ports followed.
    pub quiet: bool,
    pub output: Output,
}

impl Query {
    /// `list`: sorted rows in a table or JSON.
    pub fn list(selection: Selection, view: View) -> Query {
        // The table never shows cgroup paths: resolve them only for JSON or a filter.
        let cgroup_paths = view.output.json || selection.has_placement_filters();
        Query {
            selection,
            stages: Stages {
                cgroup_paths,
                presort: true,
                ..Stages::PLAIN
            },
            view: View {
                quiet: false,
                ..view
            },
        }
    }

    /// `who`: the holders of ports, in blocks (parents included) or JSON, in port order.
    pub fn who(selection: Selection, v: WhoView) -> Query {
        Query {
            selection,
            stages: Stages {
                first: v.first,
                // Parents are shown only in the blocks for people.
                parents: !v.quiet && !v.output.json,
                presort: true, // who sorts by port
                // The same answer in text and JSON: a published port followed to its
                // container.
                follow_published: !v.quiet,
                ..Stages::PLAIN
            },
            view: View {
                numeric: v.numeric,
                output: v.output,
                quiet: v.quiet,
                ..View::default()
            },
        }
    }

    /// `watch`: each snapshot sorted by the default key.
    pub fn watch(selection: Selection, numeric: bool, output: Output) -> Query {
        Query {
            selection,
            stages: Stages {
                presort: true, // each tick sorts by the view's key
                ..Stages::PLAIN
            },
            view: View {
                numeric,
                output,
                ..View::default()
            },
        }
    }

    /// `export` and the commands that look sockets up for themselves (listen, verify's
    /// probes, why, wait, kill, close, published ports followed): numeric, in the tables'
    /// order.
    pub fn lookup(selection: Selection) -> Query {
        Query {
            selection,
            stages: Stages::PLAIN,
            view: View {
                numeric: true,
                ..View::default()
            },
        }
    }

    /// `verify`: every socket, as `list -a --json` reads it (service names and cgroup paths
    /// resolved), in the tables' order.
    pub fn verify() -> Query {
        Query {
            selection: Selection::all(TableQuery::everything()),
            stages: Stages::PLAIN,
            view: View::default(),
        }
    }

    /// The processes with these PIDs or UIDs, on any socket (`wait --pid/--user`).
    pub fn owners(pids: Vec<u32>, uids: Vec<u32>) -> Query {
        Query {
            selection: Selection {
                pids,
                uids,
                ..Selection::all(TableQuery::everything())
            },
            stages: Stages::PLAIN,
            view: View::default(),
        }
    }

    /// The same query restricted to the sockets that hold a port against a bind: listening
    /// TCP, TCP bound but never listening (closed), bound UDP (what kill and close act on and
    /// judge "freed" by).
    pub fn listening(&self) -> Query {
        let table = TableQuery {
            states: Some(vec![
                SockState::Listen,
                SockState::Closed,
                SockState::Unconnected,
            ]),
            ..self.selection.table.clone()
        };
        Query {
            selection: Selection {
                table,
                ..self.selection.clone()
            },
            stages: self.stages,
            view: self.view,
        }
    }

    /// What is selected: the tables and the filters.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// What the pipeline does beyond selecting.
    pub fn stages(&self) -> &Stages {
        &self.stages
    }

    /// How the rows are shown.
    pub fn view(&self) -> &View {
        &self.view
    }
}

/// -t/-u/-4/-6: naming none means both.
pub fn protocols_and_families(
    tcp: bool,
    udp: bool,
    ipv4: bool,
    ipv6: bool,
) -> (Vec<Protocol>, Vec<Family>) {
    let protocols = match (tcp, udp) {
        (true, false) => vec![Protocol::Tcp],
        (false, true) => vec![Protocol::Udp],
        _ => Protocol::ALL.to_vec(),
    };
    let families = match (ipv4, ipv6) {
        (true, false) => vec![Family::Ipv4],
        (false, true) => vec![Family::Ipv6],
        _ => Family::ALL.to_vec(),
    };
    (protocols, families)
}

/// The states to read: --state, narrowed by -l; every state with -a or --state alone;
/// otherwise the listening view (TCP listen, UDP unconnected), as `ss -l` shows.
pub fn states(state: &[SockState], all: bool, listening: bool) -> Option<Vec<SockState>> {
    let mut v: Option<Vec<SockState>> = if state.is_empty() {
        None
    } else {
        Some(state.to_vec())
    };
    if listening || (v.is_none() && !all) {
        let base = v.unwrap_or_else(|| SockState::ALL.to_vec());
        v = Some(base.into_iter().filter(|s| s.is_listening()).collect());
    }
    v
}

pub fn parse_ports(specs: &[String], services: &Services) -> Result<Vec<PortSpec>, Error> {
    specs.iter().map(|s| PortSpec::parse(s, services)).collect()
}

pub fn parse_pids(pids: &[String]) -> Result<Vec<u32>, Error> {
    pids.iter()
        .map(|p| {
            p.trim()
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| Error::invalid("pid", p, "expected a positive process ID"))
        })
        .collect()
}

/// `--unit nginx` means nginx.service, as systemctl reads it.
pub fn unit_names(units: &[String]) -> Vec<String> {
    units
        .iter()
        .map(|u| {
            let known = [".service", ".scope", ".socket", ".slice"];
            if known.iter().any(|k| u.ends_with(k)) {
                u.clone()
            } else {
                format!("{u}.service")
            }
        })
        .collect()
}

/// User names or UIDs; `resolve` looks a name up (the system user database, or a fake).
pub fn parse_users(
    users: &[String],
    resolve: &dyn Fn(&str) -> Option<u32>,
) -> Result<Vec<u32>, Error> {
    users
        .iter()
        .map(|u| {
            if let Ok(n) = u.trim().parse::<u32>() {
                return Ok(n);
            }
            resolve(u.trim()).ok_or_else(|| Error::invalid("user", u, "no such user name or UID"))
        })
        .collect()
}

/// `500ms`, `30s`, `5m`, `1h`, or bare seconds.
pub fn parse_duration(s: &str) -> Result<Duration, Error> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || {
        Error::invalid(
            "duration",
            s,
            "expected a number with ms, s, m or h (e.g. 30s)",
        )
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(spec: &str) -> Selection {
        let ports = parse_ports(&[spec.to_string()], &Services::builtin()).unwrap();
        Selection::ports(TableQuery::everything(), ports)
    }

    #[test]
    fn list_resolves_cgroup_paths_only_for_json_or_a_placement_filter() {
        let view = |json| View {
            numeric: false,
            sort: SortKey::Pid,
            reverse: true,
            output: Output {
                json,
                ..Output::default()
            },
            quiet: false,
        };
        let q = Query::list(on("80"), view(false));
        let s = q.stages();
        assert_eq!((s.cgroup_paths, s.presort), (false, true));
        assert_eq!((q.view().sort, q.view().reverse), (SortKey::Pid, true));
        assert!(Query::list(on("80"), view(true)).stages().cgroup_paths);
        let units = Selection {
            units: vec!["a.service".into()],
            ..on("80")
        };
        assert!(Query::list(units, view(false)).stages().cgroup_paths);
    }

    #[test]
    fn who_quiet_skips_parents_and_published_ports() {
        let stages = |quiet, json| {
            let v = WhoView {
                first: true,
                numeric: false,
                quiet,
                output: Output {
                    json,
                    ..Output::default()
                },
            };
            let s = *Query::who(on("80"), v).stages();
            (s.parents, s.follow_published, s.first, s.presort)
        };
        assert_eq!(stages(false, false), (true, true, true, true));
        assert_eq!(stages(true, false), (false, false, true, true));
        assert_eq!(stages(false, true), (false, true, true, true));
    }

    #[test]
    fn lookups_are_numeric_and_listening_keeps_the_ports() {
        let q = Query::lookup(on("80,8000-8010/udp"));
        assert!(q.view().numeric && !q.stages().presort);
        let l = q.listening();
        assert_eq!(
            l.selection().table.states,
            Some(vec![
                SockState::Listen,
                SockState::Closed,
                SockState::Unconnected
            ])
        );
        assert_eq!(l.selection().ports, q.selection().ports);
        let f = l.selection().port_filter().unwrap();
        assert_eq!(
            f.ranges,
            // The spec's protocol applies to each of its ranges.
            vec![
                (80, 80, Some(Protocol::Udp)),
                (8000, 8010, Some(Protocol::Udp))
            ]
        );
        assert!(!f.remote);
        assert_eq!(Selection::all(TableQuery::everything()).port_filter(), None);
        let o = Query::owners(vec![7], vec![0]);
        let s = o.selection();
        assert_eq!((&s.pids, &s.uids, s.ports.len()), (&vec![7], &vec![0], 0));
    }

    #[test]
    fn verify_reads_every_socket_as_list_json_does() {
        let q = Query::verify();
        assert_eq!(q.selection().table.states, None);
        assert!(!q.selection().has_owner_filters() && q.selection().ports.is_empty());
        assert!(!q.view().numeric && q.stages().cgroup_paths);
    }

    #[test]
    fn default_view_is_listening() {
        let v = states(&[], false, false).unwrap();
        assert_eq!(v, vec![SockState::Listen, SockState::Unconnected]);
        assert_eq!(states(&[], true, false), None);
        // -a -l: all filters hold, so listening
        assert_eq!(states(&[], true, true).unwrap().len(), 2);
        let both = [SockState::Established, SockState::Listen];
        assert_eq!(states(&both, false, false).unwrap(), both.to_vec());
        assert_eq!(states(&both, false, true).unwrap(), vec![SockState::Listen]);
    }

    #[test]
    fn rejects_bad_pids_and_users() {
        assert_eq!(
            parse_pids(&["12".into(), " 7".into()]).unwrap(),
            vec![12, 7]
        );
        assert_eq!(
            parse_pids(&["x1".into()]).unwrap_err().to_string(),
            "invalid pid 'x1': expected a positive process ID"
        );
        assert!(parse_pids(&["0".into()]).is_err());
        let fake = |n: &str| (n == "root").then_some(0);
        assert_eq!(
            parse_users(&["root".into(), "1000".into()], &fake).unwrap(),
            vec![0, 1000]
        );
        assert_eq!(
            parse_users(&["nosuchuser-x".into()], &fake)
                .unwrap_err()
                .to_string(),
            "invalid user 'nosuchuser-x': no such user name or UID"
        );
    }

    #[test]
    fn proto_flags_select() {
        let (p, f) = protocols_and_families(true, false, false, true);
        assert_eq!(p, vec![Protocol::Tcp]);
        assert_eq!(f, vec![Family::Ipv6]);
        let (p, f) = protocols_and_families(false, false, false, false);
        assert_eq!((p.len(), f.len()), (2, 2));
        let (p, f) = protocols_and_families(true, true, true, true);
        assert_eq!((p.len(), f.len()), (2, 2));
    }
}
