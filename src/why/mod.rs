//! `why` stages: facts (system calls: a trial bind, sysctls, interfaces, capabilities,
//! the sockets on the port) → rules (pure: facts in, reasons out) → render/why.rs.
//!
//! The trial bind is the ground truth for "bindable"; the rules only explain it.

pub mod conflict;
pub mod evidence;
pub mod facts;
pub mod rules;
pub mod trial;
pub mod warnings;

use crate::error::Error;
use crate::model::{Protocol, Socket};
use crate::services::Services;
use crate::spec::PortSpec;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The socket options the application would set, as given on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindOptions {
    pub reuseaddr: bool,
    pub reuseport: bool,
    /// IPV6_V6ONLY: Some(true) --v6only, Some(false) --dual-stack, None the system default.
    pub v6only: Option<bool>,
    pub freebind: bool,
}

/// One bind to try: exactly what the application would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindRequest {
    pub protocol: Protocol,
    pub addr: SocketAddr,
    pub options: BindOptions,
}

/// Turns one SPEC into the bind to try. A bare port means the IPv4 wildcard (what
/// `bind(("", PORT))` and most servers' `listen PORT` do); ranges, lists and port 0 are
/// rejected: a trial bind needs one address and one port.
pub fn parse_request(
    text: &str,
    proto: Option<Protocol>,
    options: BindOptions,
    services: &Services,
) -> Result<BindRequest, Error> {
    let spec = PortSpec::parse(text, services)?;
    let bad = |why: &str| Error::invalid("port", text, why);
    // A service name defined for both protocols (domain: 53/tcp and 53/udp) is one port.
    let first = spec.ranges[0].low;
    let one_port = spec
        .ranges
        .iter()
        .all(|r| r.low == r.high && r.low == first);
    let wanted = proto.or(spec.proto).or(Some(Protocol::Tcp));
    let (addr, port, spec_proto) = match (spec.single(), one_port) {
        (Some(s), _) => s,
        (None, true) => {
            let r = spec
                .ranges
                .iter()
                .find(|r| r.proto == wanted)
                .unwrap_or(&spec.ranges[0]);
            (spec.addr, r.low, r.proto)
        }
        (None, false) => {
            return Err(bad(
                "name one port: a trial bind needs one address and one port",
            ))
        }
    };
    if port == 0 {
        return Err(bad(
            "port 0 lets the kernel pick any free port, which always works; name a port",
        ));
    }
    let protocol = match (spec_proto, proto) {
        (Some(a), Some(b)) if a != b => {
            return Err(bad(&format!(
                "the SPEC says {a} but -{} was given",
                &b.as_str()[..1]
            )))
        }
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => Protocol::Tcp,
    };
    let ip = addr.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if ip.is_ipv4() && options.v6only.is_some() {
        return Err(bad(
            "--v6only and --dual-stack apply to IPv6 addresses; name one, e.g. [::]:PORT",
        ));
    }
    Ok(BindRequest {
        protocol,
        addr: SocketAddr::new(ip, port),
        options,
    })
}

/// The user a trial bind runs as (`--as`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunAs {
    pub name: Option<String>,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// The outcome of the trial bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trial {
    /// None: the bind succeeded.
    pub errno: Option<i32>,
    /// The step that failed: socket(), a setsockopt, or bind().
    pub step: TrialStep,
    /// The effective UID of the process that tried (sk_uid of its socket).
    pub uid: u32,
    /// CAP_NET_BIND_SERVICE in that process's effective set.
    pub cap_net_bind_service: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialStep {
    Socket,
    Option(&'static str),
    Bind,
}

/// The sysctls the rules read; None where the file is absent or unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sysctls {
    pub unprivileged_port_start: Option<u16>,
    pub local_port_range: Option<(u16, u16)>,
    /// `net.ipv4.ip_local_reserved_ports`, as ranges.
    pub reserved_ports: Option<Vec<(u16, u16)>>,
    pub ipv4_nonlocal_bind: Option<bool>,
    pub ipv6_nonlocal_bind: Option<bool>,
    /// `net.ipv6.bindv6only`: the IPV6_V6ONLY default.
    pub bindv6only: Option<bool>,
    /// False when the kernel has no IPv6 at all (`ipv6.disable=1`: no /proc/sys/net/ipv6).
    pub ipv6_present: bool,
    /// (interface or "all"/"default", disable_ipv6) for every net.ipv6.conf entry.
    pub disable_ipv6: Vec<(String, bool)>,
}

/// One address on an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IfAddr {
    pub interface: String,
    pub address: IpAddr,
    /// IPv6 duplicate address detection is still running: not usable yet.
    pub tentative: bool,
    /// IPv6 duplicate address detection found the address in use elsewhere.
    pub dad_failed: bool,
}

/// What was checked for a security policy that can refuse a bind (best effort).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFacts {
    /// The cgroup (v2) the trial ran in, and the number of effective inet4/inet6 bind
    /// programs attached there; None when it could not be asked (with the reason).
    pub cgroup: Option<String>,
    pub bind_programs: Result<(u32, u32), String>,
    /// SELinux: None not present, Some(enforcing).
    pub selinux_enforcing: Option<bool>,
}

impl Default for PolicyFacts {
    fn default() -> Self {
        PolicyFacts {
            cgroup: None,
            bind_programs: Ok((0, 0)),
            selinux_enforcing: None,
        }
    }
}

impl Default for Trial {
    fn default() -> Self {
        Trial {
            errno: None,
            step: TrialStep::Bind,
            uid: 0,
            cap_net_bind_service: true,
        }
    }
}

/// Everything the rules look at for one request.
#[derive(Debug, Clone)]
pub struct Facts {
    pub request: BindRequest,
    pub trial: Trial,
    /// `--as` was given (whether or not the trial could run as that user).
    pub as_user: Option<RunAs>,
    /// `--as` was given but portscope is not root: the trial ran as portscope's own user.
    pub as_needs_root: bool,
    pub sysctls: Sysctls,
    pub interfaces: Vec<IfAddr>,
    pub policy: PolicyFacts,
    /// Every socket of the request's protocol on its port, any state, with owners.
    pub sockets: Vec<Socket>,
    /// The socket tables could not be read: `sockets` is empty for want of them.
    pub tables_unreadable: bool,
}

/// One piece of evidence for a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Evidence {
    /// A socket on the port, as `who` would show it, with its owners.
    Socket {
        socket: Box<Socket>,
    },
    Sysctl {
        name: String,
        value: String,
    },
    Capability {
        name: String,
        present: bool,
        uid: u32,
    },
    Interfaces {
        addresses: Vec<IfAddr>,
    },
    /// Anything else that was checked, in words.
    Note {
        text: String,
    },
}

/// A rule that fired: its stable name, what it means here, what shows it, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub rule: String,
    pub detail: String,
    pub evidence: Vec<Evidence>,
    /// Empty when there is nothing to fix (a warning for information).
    pub fix: String,
}

/// The errno of a failed trial, by number, name and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrnoInfo {
    pub number: i32,
    pub name: String,
    pub message: String,
}

impl ErrnoInfo {
    pub fn of(n: i32) -> ErrnoInfo {
        let name = match n {
            libc::EADDRINUSE => "EADDRINUSE",
            libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
            libc::EACCES => "EACCES",
            libc::EPERM => "EPERM",
            libc::EAFNOSUPPORT => "EAFNOSUPPORT",
            libc::EINVAL => "EINVAL",
            libc::ENOPROTOOPT => "ENOPROTOOPT",
            libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
            libc::EOPNOTSUPP => "EOPNOTSUPP",
            libc::ENODEV => "ENODEV",
            libc::EMFILE => "EMFILE",
            libc::ENOBUFS => "ENOBUFS",
            _ => "",
        };
        let message = std::io::Error::from_raw_os_error(n).to_string();
        let message = match message.rfind(" (os error") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        ErrnoInfo {
            number: n,
            name: if name.is_empty() {
                format!("errno {n}")
            } else {
                name.to_string()
            },
            message,
        }
    }
}

/// The answer for one SPEC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub spec: String,
    pub protocol: Protocol,
    pub address: IpAddr,
    pub port: u16,
    pub options: BindOptions,
    /// The user the trial ran as (`--as`); null when it ran as portscope itself.
    pub as_user: Option<RunAs>,
    pub bindable: bool,
    pub errno: Option<ErrnoInfo>,
    pub reasons: Vec<Reason>,
    pub warnings: Vec<Reason>,
    /// Something the answer could not see (a hidden owner, `--as` without root).
    pub partial: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str, p: Option<Protocol>, o: BindOptions) -> Result<BindRequest, String> {
        parse_request(s, p, o, &Services::builtin()).map_err(|e| e.to_string())
    }

    #[test]
    fn specs_become_one_bind_each() {
        let o = BindOptions::default();
        let r = req("8080", None, o).unwrap();
        assert_eq!(r.addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(r.protocol, Protocol::Tcp);
        let r = req("[::1]:53/udp", None, o).unwrap();
        assert_eq!(r.addr, "[::1]:53".parse().unwrap());
        assert_eq!(r.protocol, Protocol::Udp);
        assert_eq!(
            req("9/udp", Some(Protocol::Udp), o).unwrap().protocol,
            Protocol::Udp
        );
        assert_eq!(
            req("9", Some(Protocol::Udp), o).unwrap().protocol,
            Protocol::Udp
        );
        assert_eq!(req("http", None, o).unwrap().addr.port(), 80);
        let dns = req("domain", None, o).unwrap();
        assert_eq!((dns.addr.port(), dns.protocol), (53, Protocol::Tcp));
        let dns = req("domain", Some(Protocol::Udp), o).unwrap();
        assert_eq!((dns.addr.port(), dns.protocol), (53, Protocol::Udp));
    }

    #[test]
    fn bad_specs_name_the_value_and_why() {
        let o = BindOptions::default();
        assert_eq!(
            req("80-90", None, o).unwrap_err(),
            "invalid port '80-90': name one port: a trial bind needs one address and one port"
        );
        assert!(req("0", None, o).unwrap_err().contains("port 0"));
        assert_eq!(
            req("9/udp", Some(Protocol::Tcp), o).unwrap_err(),
            "invalid port '9/udp': the SPEC says udp but -t was given"
        );
        let v6 = BindOptions {
            v6only: Some(true),
            ..o
        };
        assert!(req("127.0.0.1:80", None, v6)
            .unwrap_err()
            .contains("apply to IPv6"));
        assert!(req("[::]:80", None, v6).is_ok());
    }

    #[test]
    fn errno_names_and_messages() {
        let e = ErrnoInfo::of(libc::EADDRINUSE);
        assert_eq!(e.name, "EADDRINUSE");
        assert_eq!(e.message, "Address already in use");
        assert_eq!(ErrnoInfo::of(9999).name, "errno 9999");
    }
}
