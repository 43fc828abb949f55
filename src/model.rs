//! Plain data shared by every pipeline stage: collect → join → classify → filter → render.
//!
//! Raw kernel records are [`SocketHarvest`]; the joined, classified row every renderer sees
//! is [`Socket`]. Names here are the JSON contract (see README "JSON contract").

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

mod placement;
mod reasons;

pub use placement::{
    Compose, Container, Netns, Placement, Pod, Publication, Published, PublishedVia,
};
pub use reasons::{
    NetnsReason, NetnsSource, OwnerReason, OwnerSourceKind, OwnerWalk, OwnerWalkProgram,
    ReasonCode, Sources, TableSourceKind, NETNS_PRIVILEGE,
};

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::Tcp, Protocol::Udp];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            _ => Err(()),
        }
    }
}

/// Address family of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Ipv4, Family::Ipv6];

    pub fn of(address: &IpAddr) -> Family {
        if address.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Socket state. TCP sockets use the kernel's TCP states; UDP sockets are either
/// `unconnected` (bound, receiving from anyone) or `connected` (a peer was set with connect()).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SockState {
    #[serde(rename = "listen")]
    Listen,
    #[serde(rename = "syn_sent")]
    SynSent,
    #[serde(rename = "syn_received")]
    SynReceived,
    #[serde(rename = "established")]
    Established,
    #[serde(rename = "fin_wait_1")]
    FinWait1,
    #[serde(rename = "fin_wait_2")]
    FinWait2,
    #[serde(rename = "close_wait")]
    CloseWait,
    #[serde(rename = "closing")]
    Closing,
    #[serde(rename = "last_ack")]
    LastAck,
    #[serde(rename = "time_wait")]
    TimeWait,
    #[serde(rename = "closed")]
    Closed,
    #[serde(rename = "unconnected")]
    Unconnected,
    #[serde(rename = "connected")]
    Connected,
}

impl SockState {
    pub const ALL: [SockState; 13] = [
        SockState::Listen,
        SockState::SynSent,
        SockState::SynReceived,
        SockState::Established,
        SockState::FinWait1,
        SockState::FinWait2,
        SockState::CloseWait,
        SockState::Closing,
        SockState::LastAck,
        SockState::TimeWait,
        SockState::Closed,
        SockState::Unconnected,
        SockState::Connected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SockState::Listen => "listen",
            SockState::SynSent => "syn_sent",
            SockState::SynReceived => "syn_received",
            SockState::Established => "established",
            SockState::FinWait1 => "fin_wait_1",
            SockState::FinWait2 => "fin_wait_2",
            SockState::CloseWait => "close_wait",
            SockState::Closing => "closing",
            SockState::LastAck => "last_ack",
            SockState::TimeWait => "time_wait",
            SockState::Closed => "closed",
            SockState::Unconnected => "unconnected",
            SockState::Connected => "connected",
        }
    }

    /// The state as the kernel names it in `linux/tcp_states.h`, for TCP sockets.
    pub fn from_tcp_kernel(code: u8) -> Option<SockState> {
        Some(match code {
            1 => SockState::Established,
            2 => SockState::SynSent,
            3 => SockState::SynReceived,
            4 => SockState::FinWait1,
            5 => SockState::FinWait2,
            6 => SockState::TimeWait,
            7 => SockState::Closed,
            8 => SockState::CloseWait,
            9 => SockState::LastAck,
            10 => SockState::Listen,
            11 => SockState::Closing,
            12 => SockState::SynReceived, // TCP_NEW_SYN_RECV: a request socket
            13 => SockState::Closed,      // TCP_BOUND_INACTIVE: bound, never listened
            _ => return None,
        })
    }

    /// UDP sockets reuse the TCP state numbers: ESTABLISHED once connect()ed, CLOSE otherwise.
    pub fn from_udp_kernel(code: u8) -> SockState {
        if code == 1 {
            SockState::Connected
        } else {
            SockState::Unconnected
        }
    }

    /// Which protocol can be in this state.
    pub fn protocol(self) -> Protocol {
        match self {
            SockState::Unconnected | SockState::Connected => Protocol::Udp,
            _ => Protocol::Tcp,
        }
    }

    /// The "listening" view: what `ss -l` shows.
    pub fn is_listening(self) -> bool {
        matches!(self, SockState::Listen | SockState::Unconnected)
    }
}

impl fmt::Display for SockState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SockState {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        let alias = match norm.as_str() {
            "syn_recv" => "syn_received",
            "fin_wait1" => "fin_wait_1",
            "fin_wait2" => "fin_wait_2",
            "close" => "closed",
            "unconn" => "unconnected",
            "estab" => "established",
            other => other,
        };
        SockState::ALL
            .into_iter()
            .find(|st| st.as_str() == alias)
            .ok_or(())
    }
}

/// One end of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Endpoint {
    pub address: IpAddr,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// RFC 6335 port ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PortClass {
    #[serde(rename = "well-known")]
    WellKnown,
    #[serde(rename = "registered")]
    Registered,
    #[serde(rename = "dynamic")]
    Dynamic,
}

impl PortClass {
    pub fn as_str(self) -> &'static str {
        match self {
            PortClass::WellKnown => "well-known",
            PortClass::Registered => "registered",
            PortClass::Dynamic => "dynamic",
        }
    }
}

/// Whether the processes holding a socket could be seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// At least one holder was found and read.
    Visible,
    /// A process holds it, but portscope could not see which (permissions, another PID
    /// namespace).
    Hidden,
    /// No process holds it (kernel-held, such as time_wait), or it closed during the scan.
    None,
}

/// Which tables to read; pushed down to the kernel where it can filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableQuery {
    pub protocols: Vec<Protocol>,
    pub families: Vec<Family>,
    /// None: every state.
    pub states: Option<Vec<SockState>>,
    /// Port ranges to let the kernel filter on (a superset of what the caller keeps);
    /// None: every port.
    pub ports: Option<PortFilter>,
}

impl TableQuery {
    /// Every protocol, family and state.
    pub fn everything() -> TableQuery {
        TableQuery {
            protocols: Protocol::ALL.to_vec(),
            families: Family::ALL.to_vec(),
            states: None,
            ports: None,
        }
    }

    pub fn wants_state(&self, st: SockState) -> bool {
        self.states.as_ref().is_none_or(|v| v.contains(&st))
    }
}

/// Port ranges pushed down to the kernel (sock_diag bytecode), so that `who` on a free port
/// costs a filtered dump, not a full one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFilter {
    /// Inclusive ranges, each for one protocol or (None) both.
    pub ranges: Vec<(u16, u16, Option<Protocol>)>,
    /// Match the remote port instead of the local one.
    pub remote: bool,
}

impl PortFilter {
    /// The ranges that apply to `proto`.
    pub fn for_protocol(&self, proto: Protocol) -> Vec<(u16, u16)> {
        self.ranges
            .iter()
            .filter(|r| r.2.is_none_or(|p| p == proto))
            .map(|r| (r.0, r.1))
            .collect()
    }
}

/// Process details for the holders, keyed by PID. Processes that exited before their details
/// could be read are absent.
pub type ProcessTable = HashMap<u32, Arc<Process>>;

/// A raw socket record as the kernel reports it, before joining and classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketHarvest {
    pub protocol: Protocol,
    pub family: Family,
    pub local: Endpoint,
    pub remote: Option<Endpoint>,
    pub state: SockState,
    /// Only IPv6 sockets, and only where the kernel reports it.
    pub v6only: Option<bool>,
    /// None where the source does not report queue sizes (netstat2).
    pub recv_queue: Option<u32>,
    pub send_queue: Option<u32>,
    /// 0 for sockets no process holds (time_wait, request and orphaned sockets).
    pub inode: u64,
    /// None where the source does not report it (netstat2, some platforms) and for
    /// mini-sockets (time_wait, requests), to which the kernel gives uid 0.
    pub uid: Option<u32>,
    /// Which network namespace: an index into `Harvest::namespaces` (0: the first read,
    /// the current one unless --netns says otherwise).
    pub netns: u16,
    /// The cgroup (v2) the socket was created in, as the kernel's cgroup id (the cgroup2
    /// directory's inode number): netlink only (INET_DIAG_CGROUP_ID, Linux 5.9+), and not
    /// for mini-sockets.
    pub cgroup_id: Option<u64>,
}

/// A process that holds a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    pub pid: u32,
    pub name: String,
    pub cmdline: Vec<String>,
    pub user: Option<String>,
    pub uid: Option<u32>,
    /// Parent PID; not part of the JSON contract, used by `who`.
    #[serde(skip)]
    pub ppid: Option<u32>,
    /// The thread whose own descriptor table holds the socket, where that is not the
    /// thread-group leader's (a thread that unshared its table, or an exited leader).
    #[serde(default)]
    pub tid: Option<u32>,
    /// The container it runs in (from its cgroup and the engine's state on disk).
    #[serde(default)]
    pub container: Option<Container>,
    /// Its systemd unit (`nginx.service`, `user@1000.service`, `session-2.scope`).
    #[serde(default)]
    pub unit: Option<String>,
}

/// The joined, classified row that every renderer sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Socket {
    pub protocol: Protocol,
    pub family: Family,
    pub v6only: Option<bool>,
    pub local: Endpoint,
    pub remote: Option<Endpoint>,
    pub state: SockState,
    pub port_class: PortClass,
    pub ephemeral: bool,
    pub service: Option<Arc<str>>,
    /// Null where the table source cannot know (netstat2).
    pub recv_queue: Option<u32>,
    pub send_queue: Option<u32>,
    pub inode: u64,
    /// The socket's owner UID as the kernel reports it; null where the source cannot know.
    pub uid: Option<u32>,
    /// The network namespace it lives in; always present (the same address and port can
    /// be bound in many namespaces at once). Documents written before it existed read
    /// as the current namespace, inode unknown.
    #[serde(default)]
    pub netns: Arc<Netns>,
    /// The cgroup (v2) path it was created in, known even when its owner is hidden.
    #[serde(default)]
    pub cgroup: Option<Arc<str>>,
    /// Its container, unit and what it publishes: one fact for every output. Shared: the
    /// sockets of one holder point to one value.
    #[serde(default)]
    pub placement: Arc<Placement>,
    /// User name of `uid`; added field (schema_version 1 allows additions).
    pub user: Option<Arc<str>>,
    pub owner: Owner,
    pub owner_reason: Option<OwnerReason>,
    /// The reason's stable code (`permission_denied`, `kernel_held`, ...): what scripts
    /// match on. Always `owner_reason`'s code.
    #[serde(default)]
    pub owner_reason_code: Option<ReasonCode>,
    /// Shared: a process holding 10,000 sockets is stored once, not per socket.
    pub processes: Vec<Arc<Process>>,
}

/// Which traffic a socket's local end accepts: what its label must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    Ipv4,
    /// An IPv6 socket bound to a v4-mapped address (::ffff:a.b.c.d): IPv4 only.
    Ipv4Mapped,
    Ipv6,
    /// An IPv6 wildcard without IPV6_V6ONLY: IPv6 and IPv4.
    DualStack,
    /// An IPv6 wildcard whose v6-only flag the source does not report (/proc/net,
    /// netstat2): maybe IPv4 too.
    Ipv6MaybeIpv4,
}

impl Socket {
    /// An IPv6 wildcard socket without IPV6_V6ONLY also accepts IPv4.
    pub fn is_dual_stack(&self) -> bool {
        self.accepts() == Accepts::DualStack
    }

    pub fn accepts(&self) -> Accepts {
        match self.local.address {
            IpAddr::V4(_) => Accepts::Ipv4,
            IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => Accepts::Ipv4Mapped,
            IpAddr::V6(a) if a.is_unspecified() => match self.v6only {
                Some(false) => Accepts::DualStack,
                Some(true) => Accepts::Ipv6,
                None => Accepts::Ipv6MaybeIpv4,
            },
            IpAddr::V6(_) => Accepts::Ipv6,
        }
    }

    /// tcp/udp (IPv4, v4-mapped included), tcp6 (IPv6 only), tcp46 (dual-stack), tcp6?
    /// (an IPv6 wildcard that may also take IPv4: the source cannot say).
    pub fn proto_label(&self) -> String {
        let p = self.protocol.as_str();
        match self.accepts() {
            Accepts::Ipv4 | Accepts::Ipv4Mapped => p.to_string(),
            Accepts::Ipv6 => format!("{p}6"),
            Accepts::DualStack => format!("{p}46"),
            Accepts::Ipv6MaybeIpv4 => format!("{p}6?"),
        }
    }

    /// The same, in words, for `who`.
    pub fn family_note(&self) -> &'static str {
        match self.accepts() {
            Accepts::Ipv4 => "IPv4",
            Accepts::Ipv4Mapped => "IPv4, through an IPv6 socket (v4-mapped)",
            Accepts::Ipv6 => "IPv6 only",
            Accepts::DualStack => "IPv6, dual-stack: IPv4 too",
            Accepts::Ipv6MaybeIpv4 => "IPv6; IPv4 too unless v6-only (this source cannot tell)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip_through_fromstr_and_serde() {
        for st in SockState::ALL {
            assert_eq!(st.as_str().parse::<SockState>(), Ok(st));
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
        }
        assert_eq!("SYN-RECV".parse::<SockState>(), Ok(SockState::SynReceived));
        assert_eq!("bogus".parse::<SockState>(), Err(()));
    }

    #[test]
    fn kernel_state_codes_map_to_names() {
        assert_eq!(SockState::from_tcp_kernel(10), Some(SockState::Listen));
        assert_eq!(SockState::from_tcp_kernel(6), Some(SockState::TimeWait));
        assert_eq!(SockState::from_tcp_kernel(99), None);
        assert_eq!(SockState::from_udp_kernel(1), SockState::Connected);
        assert_eq!(SockState::from_udp_kernel(7), SockState::Unconnected);
    }

    fn socket(local: &str, v6only: Option<bool>) -> Socket {
        let address: IpAddr = local.parse().unwrap();
        Socket {
            netns: Default::default(),
            cgroup: None,
            protocol: Protocol::Tcp,
            family: Family::of(&address),
            v6only,
            local: Endpoint { address, port: 80 },
            remote: None,
            state: SockState::Listen,
            port_class: PortClass::WellKnown,
            ephemeral: false,
            service: None,
            recv_queue: None,
            send_queue: None,
            inode: 1,
            uid: None,
            user: None,
            owner: Owner::None,
            owner_reason: None,
            owner_reason_code: None,
            placement: Default::default(),
            processes: vec![],
        }
    }

    /// Issue 11, item 7: the label follows what the socket accepts.
    #[test]
    fn v4_mapped_and_unknown_wildcards_are_labelled_by_what_they_accept() {
        let cases = [
            ("127.0.0.1", None, "tcp", "IPv4"),
            (
                "::ffff:127.0.0.1",
                Some(false),
                "tcp",
                "IPv4, through an IPv6 socket (v4-mapped)",
            ),
            ("::1", Some(true), "tcp6", "IPv6 only"),
            ("::1", None, "tcp6", "IPv6 only"),
            ("::", Some(false), "tcp46", "IPv6, dual-stack: IPv4 too"),
            ("::", Some(true), "tcp6", "IPv6 only"),
            // /proc/net cannot tell: never claim v6-only.
            (
                "::",
                None,
                "tcp6?",
                "IPv6; IPv4 too unless v6-only (this source cannot tell)",
            ),
        ];
        for (addr, v6only, label, note) in cases {
            let s = socket(addr, v6only);
            assert_eq!(s.proto_label(), label, "{addr} {v6only:?}");
            assert_eq!(s.family_note(), note, "{addr} {v6only:?}");
        }
    }

    #[test]
    fn endpoint_display_brackets_ipv6() {
        let e = Endpoint {
            address: "::1".parse().unwrap(),
            port: 80,
        };
        assert_eq!(e.to_string(), "[::1]:80");
        let e = Endpoint {
            address: "10.0.0.1".parse().unwrap(),
            port: 8,
        };
        assert_eq!(e.to_string(), "10.0.0.1:8");
    }
}
