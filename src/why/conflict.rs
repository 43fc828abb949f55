//! Rules stage (pure): the kernel's bind-conflict test, as `inet_csk_bind_conflict` (TCP)
//! and `udp_lib_lport_inuse` (UDP) apply it, to explain which socket on the port stops a
//! bind. The socket tables do not show another socket's SO_REUSEADDR/SO_REUSEPORT, so a
//! conflict that depends on them is "possible", with the option that would avoid it.

use crate::model::{Family, Protocol, SockState, Socket};
use crate::why::BindOptions;
use std::net::{IpAddr, Ipv4Addr};

/// A bound address as the kernel compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// An AF_INET6 socket (its address may be v4-mapped).
    pub v6_socket: bool,
    pub addr: IpAddr,
    /// IPV6_V6ONLY (false for IPv4 sockets; unknown is taken as false: it may conflict).
    pub v6only: bool,
}

impl View {
    pub fn of(s: &Socket) -> View {
        View {
            v6_socket: s.family == Family::Ipv6,
            addr: s.local.address,
            v6only: s.v6only == Some(true),
        }
    }

    fn mapped(&self) -> Option<Ipv4Addr> {
        match self.addr {
            IpAddr::V6(a) if self.v6_socket => a.to_ipv4_mapped(),
            _ => None,
        }
    }

    /// `sk_rcv_saddr`: the IPv4 address; for an IPv6 socket its mapped address, 0.0.0.0
    /// for [::], and for any other IPv6 address one that equals no real address (None).
    fn v4(&self) -> Option<Ipv4Addr> {
        match self.addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(a) if a.is_unspecified() => Some(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(a) => a.to_ipv4_mapped(),
        }
    }

    fn is_any6(&self) -> bool {
        self.v6_socket && self.addr.is_unspecified()
    }

    /// Binds every address of its family: 0.0.0.0, [::] or ::ffff:0.0.0.0.
    pub fn is_wildcard(&self) -> bool {
        self.addr.is_unspecified() || self.mapped().is_some_and(|a| a.is_unspecified())
    }
}

/// `inet_rcv_saddr_equal(new, old, match_wildcard = true)`.
pub fn overlaps(new: &View, old: &View) -> bool {
    if !new.v6_socket {
        // ipv4_rcv_saddr_equal: a v6-only socket never shares IPv4.
        if old.v6_socket && old.v6only {
            return false;
        }
        // An IPv6 socket on a plain IPv6 address has no IPv4 side to meet (kernels before
        // the bhash2 fixes of 6.x let 0.0.0.0 collide with a dual-capable [::1]; not now).
        let (Some(a1), Some(a2)) = (new.v4(), old.v4()) else {
            return false;
        };
        return a1 == a2 || a1.is_unspecified() || a2.is_unspecified();
    }
    // ipv6_rcv_saddr_equal; an IPv4 socket counts as a mapped address.
    let new_mapped = new.mapped().is_some();
    let old_mapped = !old.v6_socket || old.mapped().is_some();
    if new_mapped && old_mapped {
        if old.v6only {
            return false;
        }
        let (a1, a2) = (new.v4(), old.v4());
        let any = Some(Ipv4Addr::UNSPECIFIED);
        return a1 == a2 || a1 == any || a2 == any;
    }
    if new.is_any6() && old.is_any6() {
        return true;
    }
    if old.is_any6() && !(old.v6only && new_mapped) {
        return true;
    }
    if new.is_any6() && !(new.v6only && old_mapped) {
        return true;
    }
    old.v6_socket && old.addr == new.addr
}

/// How the two addresses overlap, in the words of the rule that explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Both name the same address (or both the same family's wildcard).
    SameAddress,
    /// One side names the address as IPv4-mapped IPv6 (::ffff:a.b.c.d).
    V4Mapped,
    /// The holder is bound to its family's wildcard, which covers the address asked for.
    WildcardHolder,
    /// The holder is [::] without IPV6_V6ONLY: it holds the port for IPv4 too.
    DualStackHolder,
    /// The bind asked for is a wildcard, and a specific address holds the port.
    SpecificHolder,
    /// The bind asked for is [::] without IPV6_V6ONLY, and an IPv4 socket holds the port.
    DualStackRequest,
}

impl Relation {
    pub fn rule(self) -> &'static str {
        match self {
            Relation::SameAddress => "same_address",
            Relation::V4Mapped => "v4_mapped",
            Relation::WildcardHolder => "wildcard_holder",
            Relation::DualStackHolder => "dual_stack_holder",
            Relation::SpecificHolder => "specific_holder",
            Relation::DualStackRequest => "dual_stack_request",
        }
    }
}

/// Names the overlap of two addresses that [`overlaps`].
pub fn relation(new: &View, old: &View) -> Relation {
    let (nw, ow) = (new.is_wildcard(), old.is_wildcard());
    let ipv4ish = |v: &View| !v.v6_socket || v.mapped().is_some();
    match (nw, ow) {
        (false, false) | (true, true) if new.mapped().is_some() || old.mapped().is_some() => {
            Relation::V4Mapped
        }
        (false, false) => Relation::SameAddress,
        (true, true) if new.v6_socket == old.v6_socket => Relation::SameAddress,
        (true, true) if old.is_any6() => Relation::DualStackHolder,
        (true, true) => Relation::DualStackRequest,
        (false, true) if old.is_any6() && ipv4ish(new) => Relation::DualStackHolder,
        (false, true) => Relation::WildcardHolder,
        (true, false) if new.is_any6() && ipv4ish(old) => Relation::DualStackRequest,
        (true, false) => Relation::SpecificHolder,
    }
}

/// Whether a socket that overlaps stops the bind, given the options asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stops {
    /// No option the holder may have set lets both coexist.
    Certain,
    /// It stops the bind unless the holder set the option named.
    Unless(&'static str),
}

/// Whether a socket in this state occupies its port in the bind tables.
pub fn holds_port(s: &Socket) -> bool {
    // Request sockets (SYN_RECV) hang off their listener; they are not bound themselves.
    s.state != SockState::SynReceived
}

/// The conflict test of `inet_bind_conflict` (relax, reuseport allowed) for TCP and of
/// `udp_lib_lport_inuse` for UDP, with the holder's unknown options left open.
/// `same_uid`: the holder's socket UID is the UID the bind runs as.
pub fn stops_bind(proto: Protocol, o: &BindOptions, old: SockState, same_uid: bool) -> Stops {
    let reuseaddr_may = match proto {
        // SO_REUSEADDR on both never shares a port with a listener.
        Protocol::Tcp => o.reuseaddr && old != SockState::Listen,
        Protocol::Udp => o.reuseaddr,
    };
    // SO_REUSEPORT on both shares a port only within one UID (a time_wait of any UID).
    let reuseport_may = o.reuseport && (same_uid || old == SockState::TimeWait);
    match (reuseaddr_may, reuseport_may) {
        (false, false) => Stops::Certain,
        (true, false) => Stops::Unless("SO_REUSEADDR"),
        (false, true) => Stops::Unless("SO_REUSEPORT"),
        (true, true) => Stops::Unless("SO_REUSEADDR or SO_REUSEPORT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(addr: &str, v6only: bool) -> View {
        let addr: IpAddr = addr.parse().unwrap();
        View {
            v6_socket: addr.is_ipv6(),
            addr,
            v6only,
        }
    }

    #[test]
    fn overlap_follows_the_kernel_address_test() {
        let cases = [
            // (new, new v6only, old, old v6only, overlaps)
            ("127.0.0.1", false, "127.0.0.1", false, true),
            ("127.0.0.1", false, "127.0.0.2", false, false),
            ("127.0.0.1", false, "0.0.0.0", false, true),
            ("0.0.0.0", false, "127.0.0.1", false, true),
            ("127.0.0.1", false, "::", false, true),
            ("127.0.0.1", false, "::", true, false),
            ("0.0.0.0", false, "::", false, true),
            ("0.0.0.0", false, "::", true, false),
            ("::", false, "0.0.0.0", false, true),
            ("::", true, "0.0.0.0", false, false),
            ("::", true, "::", true, true),
            ("::", false, "127.0.0.1", false, true),
            ("::1", false, "::", true, true),
            ("::1", false, "::1", false, true),
            ("::1", false, "127.0.0.1", false, false),
            ("::1", false, "0.0.0.0", false, false),
            ("127.0.0.1", false, "::1", false, false),
            ("::ffff:127.0.0.1", false, "127.0.0.1", false, true),
            ("::ffff:127.0.0.1", false, "0.0.0.0", false, true),
            ("::ffff:127.0.0.1", false, "::", true, false),
            ("::ffff:127.0.0.1", false, "::", false, true),
            ("127.0.0.1", false, "::ffff:127.0.0.1", false, true),
            ("::ffff:0.0.0.0", false, "127.0.0.1", false, true),
            // Checked against Linux 6.18 in a private namespace, as every row here.
            ("0.0.0.0", false, "::1", false, false),
            ("0.0.0.0", false, "::1", true, false),
        ];
        for (n, nv, o, ov, want) in cases {
            assert_eq!(overlaps(&v(n, nv), &v(o, ov)), want, "{n} vs {o}");
        }
    }

    #[test]
    fn relations_name_the_overlap() {
        let r = |n, nv, o, ov| relation(&v(n, nv), &v(o, ov));
        assert_eq!(
            r("127.0.0.1", false, "127.0.0.1", false),
            Relation::SameAddress
        );
        assert_eq!(r("0.0.0.0", false, "0.0.0.0", false), Relation::SameAddress);
        assert_eq!(r("::", true, "::", false), Relation::SameAddress);
        assert_eq!(
            r("127.0.0.1", false, "0.0.0.0", false),
            Relation::WildcardHolder
        );
        assert_eq!(r("::1", false, "::", true), Relation::WildcardHolder);
        assert_eq!(
            r("127.0.0.1", false, "::", false),
            Relation::DualStackHolder
        );
        assert_eq!(r("0.0.0.0", false, "::", false), Relation::DualStackHolder);
        assert_eq!(r("::", false, "0.0.0.0", false), Relation::DualStackRequest);
        assert_eq!(
            r("::", false, "127.0.0.1", false),
            Relation::DualStackRequest
        );
        assert_eq!(
            r("0.0.0.0", false, "127.0.0.1", false),
            Relation::SpecificHolder
        );
        assert_eq!(r("::", true, "::1", false), Relation::SpecificHolder);
        assert_eq!(
            r("::ffff:127.0.0.1", false, "127.0.0.1", false),
            Relation::V4Mapped
        );
        assert_eq!(
            r("127.0.0.1", false, "::ffff:127.0.0.1", false),
            Relation::V4Mapped
        );
    }

    #[test]
    fn reuse_options_decide_whether_a_holder_stops_the_bind() {
        let none = BindOptions::default();
        let addr = BindOptions {
            reuseaddr: true,
            ..none
        };
        let port = BindOptions {
            reuseport: true,
            ..none
        };
        use SockState::*;
        let t = Protocol::Tcp;
        assert_eq!(stops_bind(t, &none, Listen, true), Stops::Certain);
        assert_eq!(stops_bind(t, &addr, Listen, true), Stops::Certain);
        assert_eq!(stops_bind(t, &none, TimeWait, true), Stops::Certain);
        assert_eq!(
            stops_bind(t, &addr, TimeWait, true),
            Stops::Unless("SO_REUSEADDR")
        );
        assert_eq!(
            stops_bind(t, &addr, Closed, false),
            Stops::Unless("SO_REUSEADDR")
        );
        assert_eq!(
            stops_bind(t, &port, Listen, true),
            Stops::Unless("SO_REUSEPORT")
        );
        assert_eq!(stops_bind(t, &port, Listen, false), Stops::Certain);
        assert_eq!(
            stops_bind(t, &port, TimeWait, false),
            Stops::Unless("SO_REUSEPORT")
        );
        let u = Protocol::Udp;
        assert_eq!(stops_bind(u, &none, Unconnected, true), Stops::Certain);
        assert_eq!(
            stops_bind(u, &addr, Unconnected, false),
            Stops::Unless("SO_REUSEADDR")
        );
        assert_eq!(stops_bind(u, &port, Unconnected, false), Stops::Certain);
    }
}
