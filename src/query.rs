//! Turns parsed arguments into a validated query, once (fd's Opts → Config). Every bad
//! value is rejected here with one message naming it, before any socket is read.

use crate::cli::{ClassArg, ProtoArgs, StateArg};
use crate::collect::{self, TableQuery};
use crate::error::Error;
use crate::model::{Family, Protocol, SockState};
use crate::services::Services;
use crate::spec::PortSpec;

/// Which port classes to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassFilter {
    WellKnown,
    Registered,
    Dynamic,
    Ephemeral,
}

/// A validated question for the pipeline.
#[derive(Debug, Clone)]
pub struct Query {
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
    /// Stop the owner scan at the first holder.
    pub first: bool,
    pub numeric: bool,
}

impl Query {
    pub fn new(table: TableQuery) -> Query {
        Query {
            table,
            ports: Vec::new(),
            remote: false,
            pids: Vec::new(),
            processes: Vec::new(),
            uids: Vec::new(),
            classes: Vec::new(),
            first: false,
            numeric: false,
        }
    }
}

pub fn state_of(a: StateArg) -> SockState {
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

fn class_of(a: ClassArg) -> ClassFilter {
    match a {
        ClassArg::WellKnown => ClassFilter::WellKnown,
        ClassArg::Registered => ClassFilter::Registered,
        ClassArg::Dynamic => ClassFilter::Dynamic,
        ClassArg::Ephemeral => ClassFilter::Ephemeral,
    }
}

/// -t/-u/-4/-6: naming none means both.
pub fn protocols_and_families(p: &ProtoArgs) -> (Vec<Protocol>, Vec<Family>) {
    let protocols = match (p.tcp, p.udp) {
        (true, false) => vec![Protocol::Tcp],
        (false, true) => vec![Protocol::Udp],
        _ => Protocol::ALL.to_vec(),
    };
    let families = match (p.ipv4, p.ipv6) {
        (true, false) => vec![Family::Ipv4],
        (false, true) => vec![Family::Ipv6],
        _ => Family::ALL.to_vec(),
    };
    (protocols, families)
}

/// The states to read: --state, narrowed by -l; every state with -a or --state alone;
/// otherwise the listening view (TCP listen, UDP unconnected), as `ss -l` shows.
pub fn states(state: &[StateArg], all: bool, listening: bool) -> Option<Vec<SockState>> {
    let mut v: Option<Vec<SockState>> = if state.is_empty() {
        None
    } else {
        Some(state.iter().map(|&s| state_of(s)).collect())
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

pub fn parse_users(users: &[String]) -> Result<Vec<u32>, Error> {
    users
        .iter()
        .map(|u| {
            if let Ok(n) = u.trim().parse::<u32>() {
                return Ok(n);
            }
            collect::lookup_user(u.trim())
                .ok_or_else(|| Error::invalid("user", u, "no such user name or UID"))
        })
        .collect()
}

pub fn classes(c: &[ClassArg]) -> Vec<ClassFilter> {
    c.iter().map(|&c| class_of(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_view_is_listening() {
        let v = states(&[], false, false).unwrap();
        assert_eq!(v, vec![SockState::Listen, SockState::Unconnected]);
        assert_eq!(states(&[], true, false), None);
        // -a -l: all filters hold, so listening
        assert_eq!(states(&[], true, true).unwrap().len(), 2);
        let v = states(&[StateArg::Established, StateArg::Listen], false, false).unwrap();
        assert_eq!(v, vec![SockState::Established, SockState::Listen]);
        let v = states(&[StateArg::Established, StateArg::Listen], false, true).unwrap();
        assert_eq!(v, vec![SockState::Listen]);
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
        assert_eq!(
            parse_users(&["root".into(), "1000".into()]).unwrap(),
            vec![0, 1000]
        );
        assert_eq!(
            parse_users(&["nosuchuser-x".into()])
                .unwrap_err()
                .to_string(),
            "invalid user 'nosuchuser-x': no such user name or UID"
        );
    }

    #[test]
    fn proto_flags_select() {
        let (p, f) = protocols_and_families(&ProtoArgs {
            tcp: true,
            ipv6: true,
            ..Default::default()
        });
        assert_eq!(p, vec![Protocol::Tcp]);
        assert_eq!(f, vec![Family::Ipv6]);
        let (p, f) = protocols_and_families(&ProtoArgs::default());
        assert_eq!((p.len(), f.len()), (2, 2));
    }
}
