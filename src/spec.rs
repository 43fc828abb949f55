//! Filter stage input: the port SPEC grammar shared by `who`, `list --port` and `listen`.
//!
//! `[ADDR:]ITEMS[/PROTO]` where ITEMS is a comma list of ports (`8080`), ranges
//! (`8000-8100`) and service names (`http`); ADDR is an IPv4 address, `[IPv6]`, `*` or empty.

use crate::error::Error;
use crate::model::{Endpoint, Protocol};
use crate::services::Services;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The accepted forms, quoted in every rejection so the user sees what would work.
pub const FORMS: &str = "expected PORT, :PORT, PORT/tcp|udp, ADDR:PORT, [IPV6]:PORT, *:PORT, \
LOW-HIGH, a comma list, or a service name";

/// One run of ports, optionally bound to one protocol (service names are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
    pub proto: Option<Protocol>,
}

/// A parsed SPEC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// The text as typed, for messages.
    pub text: String,
    /// None matches any address.
    pub addr: Option<IpAddr>,
    pub proto: Option<Protocol>,
    pub ranges: Vec<PortRange>,
}

fn bad(value: &str, why: &str) -> Error {
    Error::invalid("port", value, format!("{why}; {FORMS}"))
}

impl PortSpec {
    pub fn parse(text: &str, services: &Services) -> Result<PortSpec, Error> {
        let s = text.trim();
        if s.is_empty() {
            return Err(bad(text, "empty"));
        }
        let (addr_part, rest) = split_addr(s).map_err(|why| bad(text, why))?;
        let addr = match addr_part {
            None | Some("") | Some("*") => None,
            Some(a) => Some(parse_ip(a).ok_or_else(|| bad(text, "not an IP address"))?),
        };
        let (items, proto) = match rest.rsplit_once('/') {
            Some((items, p)) => {
                let proto = p
                    .parse::<Protocol>()
                    .map_err(|_| bad(text, "protocol must be tcp or udp"))?;
                (items, Some(proto))
            }
            None => (rest, None),
        };
        if items.is_empty() {
            return Err(bad(text, "missing port"));
        }
        let mut ranges = Vec::new();
        for item in items.split(',') {
            parse_item(item, proto, services, &mut ranges).map_err(|why| bad(text, &why))?;
        }
        Ok(PortSpec {
            text: text.to_string(),
            addr,
            proto,
            ranges,
        })
    }

    /// Does a socket of `proto` with this end match? An address matches every socket a bind
    /// of it would conflict with (see `addr_covers`): sockets bound to it, wildcard sockets
    /// that receive it, and, for a wildcard SPEC, every socket of its family on the port.
    /// So `list -p` and `who` agree, and `who` says "free" only when the bind would work.
    pub fn matches(&self, proto: Protocol, end: &Endpoint, v6only: Option<bool>) -> bool {
        if self.proto.is_some_and(|p| p != proto) {
            return false;
        }
        if let Some(want) = self.addr {
            if !addr_covers(end.address, want, v6only) {
                return false;
            }
        }
        self.ranges
            .iter()
            .any(|r| r.low <= end.port && end.port <= r.high && r.proto.is_none_or(|p| p == proto))
    }

    /// The single (address, port, protocol) this spec names, for `listen`.
    pub fn single(&self) -> Option<(Option<IpAddr>, u16, Option<Protocol>)> {
        match self.ranges.as_slice() {
            [r] if r.low == r.high => Some((self.addr, r.low, r.proto.or(self.proto))),
            _ => None,
        }
    }
}

/// `1.2.3.4:80,5.6.7.8:90`: a comma list shares one address, so a second address is
/// refused by name rather than misread as an unbracketed IPv6 address.
const ONE_ADDRESS: &str = "one address per SPEC: a comma list shares it (ADDR:80,443); \
give each other address its own SPEC";

/// Splits `ADDR:ITEMS` into its parts; IPv6 addresses must be bracketed.
fn split_addr(s: &str) -> Result<(Option<&str>, &str), &'static str> {
    if let Some(inner) = s.strip_prefix('[') {
        let (a, rest) = inner
            .split_once(']')
            .ok_or("missing ']' after IPv6 address")?;
        let rest = rest.strip_prefix(':').ok_or("expected ':PORT' after ']'")?;
        if rest.contains([':', '[']) {
            return Err(ONE_ADDRESS);
        }
        if a.parse::<Ipv6Addr>().is_err() {
            return Err("not an IPv6 address");
        }
        return Ok((Some(a), rest));
    }
    match s.rsplit_once(':') {
        None => Ok((None, s)),
        Some((a, _)) if a.contains(',') => Err(ONE_ADDRESS),
        Some((a, _)) if a.contains(':') => Err("IPv6 addresses need brackets, as in [::1]:8080"),
        Some((a, rest)) => Ok((Some(a), rest)),
    }
}

fn parse_ip(a: &str) -> Option<IpAddr> {
    a.parse::<Ipv4Addr>()
        .map(IpAddr::V4)
        .or_else(|_| a.parse::<Ipv6Addr>().map(IpAddr::V6))
        .ok()
}

fn parse_port(s: &str) -> Result<u16, String> {
    if s.is_empty() {
        return Err("missing port".into());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{s}' is not a port number"));
    }
    s.parse::<u16>()
        .map_err(|_| "ports are 0-65535".to_string())
}

fn parse_item(
    item: &str,
    proto: Option<Protocol>,
    services: &Services,
    out: &mut Vec<PortRange>,
) -> Result<(), String> {
    if item.is_empty() {
        return Err("empty item in comma list".into());
    }
    let first = item.as_bytes()[0];
    if first.is_ascii_digit() || first == b'-' || first == b'+' {
        let (low, high) = match item[1..].find('-').map(|i| i + 1) {
            Some(i) => {
                let (lo, hi) = (&item[..i], &item[i + 1..]);
                let (lo, hi) = (parse_port(lo)?, parse_port(hi)?);
                if lo > hi {
                    return Err(format!("range start {lo} is greater than its end {hi}"));
                }
                (lo, hi)
            }
            None => {
                let p = parse_port(item)?;
                (p, p)
            }
        };
        out.push(PortRange {
            low,
            high,
            proto: None,
        });
        return Ok(());
    }
    let found = services.lookup(item);
    if found.is_empty() {
        return Err(format!("unknown service name '{item}'"));
    }
    let before = out.len();
    for &(p, port) in found {
        if proto.is_none_or(|want| want == p) {
            out.push(PortRange {
                low: port,
                high: port,
                proto: Some(p),
            });
        }
    }
    if out.len() == before {
        return Err(format!(
            "service '{item}' is not defined for {}",
            proto.map_or("", |p| p.as_str())
        ));
    }
    Ok(())
}

/// Folds IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) to IPv4, as the kernel treats them.
pub fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Would a bind of `want` conflict with a socket bound to `bound` on the same port? This is
/// the kernel's overlap rule (`inet_rcv_saddr_equal`), so "free" means the bind would work:
/// - equal addresses overlap (a v4-mapped `::ffff:a.b.c.d` is the IPv4 address);
/// - a wildcard on either side overlaps every address of its family: `0.0.0.0` all of IPv4,
///   `[::]` all of IPv6;
/// - an IPv6 wildcard also overlaps all of IPv4 unless it is v6-only. On the socket side
///   `v6only` says so (None: the kernel did not say, so it may: it overlaps); on the SPEC
///   side `[::]` is asked as a default (dual-stack) bind would be made, so it overlaps
///   IPv4 sockets too; `-6` is the way to ask about IPv6 sockets only.
fn addr_covers(bound: IpAddr, want: IpAddr, v6only: Option<bool>) -> bool {
    let (bound, want) = (canonical(bound), canonical(want));
    if bound == want {
        return true;
    }
    let v6_wild = |a: IpAddr| a.is_ipv6() && a.is_unspecified();
    let same_family = bound.is_ipv4() == want.is_ipv4();
    if same_family && (bound.is_unspecified() || want.is_unspecified()) {
        return true;
    }
    // Different families from here: one side IPv4 (or mapped), the other native IPv6.
    (v6_wild(bound) && want.is_ipv4() && v6only != Some(true)) || (v6_wild(want) && bound.is_ipv4())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> Services {
        Services::builtin()
    }

    fn p(s: &str) -> PortSpec {
        PortSpec::parse(s, &svc()).unwrap()
    }

    fn err(s: &str) -> String {
        PortSpec::parse(s, &svc()).unwrap_err().to_string()
    }

    fn ep(a: &str, port: u16) -> Endpoint {
        Endpoint {
            address: a.parse().unwrap(),
            port,
        }
    }

    #[test]
    fn every_form_parses() {
        let one = |lo, hi| PortRange {
            low: lo,
            high: hi,
            proto: None,
        };
        assert_eq!(p("8080").ranges, vec![one(8080, 8080)]);
        assert_eq!(p(":8080").ranges, vec![one(8080, 8080)]);
        assert_eq!(p(":8080").addr, None);
        assert_eq!(p("*:8080").addr, None);
        assert_eq!(p("8080/tcp").proto, Some(Protocol::Tcp));
        assert_eq!(p("8080/UDP").proto, Some(Protocol::Udp));
        assert_eq!(p("127.0.0.1:8080").addr, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(p("[::1]:8080").addr, Some("::1".parse().unwrap()));
        assert_eq!(p("8000-8100").ranges, vec![one(8000, 8100)]);
        assert_eq!(
            p("80,443,8000-8100").ranges,
            vec![one(80, 80), one(443, 443), one(8000, 8100)]
        );
        let http = p("http");
        assert_eq!(
            http.ranges,
            vec![PortRange {
                low: 80,
                high: 80,
                proto: Some(Protocol::Tcp)
            }]
        );
        assert_eq!(p("ssh/tcp").ranges[0].low, 22);
        assert_eq!(p("0").single(), Some((None, 0, None)));
        assert_eq!(
            p("[::1]:7000/udp").single(),
            Some((Some("::1".parse().unwrap()), 7000, Some(Protocol::Udp)))
        );
    }

    #[test]
    fn bad_input_names_the_token_and_why() {
        assert_eq!(
            err("70000"),
            format!("invalid port '70000': ports are 0-65535; {FORMS}")
        );
        assert!(err("abc").contains("unknown service name 'abc'"));
        assert!(err("-1").starts_with("invalid port '-1':"));
        assert!(err("90-80").contains("range start 90 is greater than its end 80"));
        assert!(err(":").contains("missing port"));
        assert!(err("1.2.3.4:").contains("missing port"));
        assert!(err("::1:80").contains("brackets"));
        assert!(err("[::1]80").contains("':PORT'"));
        assert!(err("80/sctp").contains("tcp or udp"));
        assert!(err("http/udp").contains("not defined for udp"));
        assert!(err("1.2.3:80").contains("not an IP address"));
        assert!(err("80,,81").contains("empty item"));
        assert!(err("").contains("empty"));
    }

    #[test]
    fn address_list_in_one_spec_names_the_real_cause() {
        for text in [
            "1.2.3.4:80,5.6.7.8:90",
            "[::1]:80,[::2]:90",
            "[::1]:80,1.2.3.4:90",
        ] {
            assert_eq!(
                err(text),
                format!("invalid port '{text}': {ONE_ADDRESS}; {FORMS}"),
                "{text}"
            );
        }
        // One address for the whole list is fine.
        assert_eq!(p("1.2.3.4:80,90").ranges.len(), 2);
    }

    #[test]
    fn wildcard_spec_is_not_free_when_loopback_held() {
        // What binding the SPEC's address would collide with, socket by socket.
        let any4 = p("0.0.0.0:8080");
        assert!(any4.matches(Protocol::Tcp, &ep("127.0.0.1", 8080), None));
        assert!(any4.matches(Protocol::Tcp, &ep("10.1.2.3", 8080), None));
        assert!(any4.matches(Protocol::Tcp, &ep("::ffff:127.0.0.1", 8080), Some(false)));
        assert!(any4.matches(Protocol::Tcp, &ep("::", 8080), Some(false)));
        assert!(any4.matches(Protocol::Tcp, &ep("::", 8080), None));
        assert!(!any4.matches(Protocol::Tcp, &ep("::", 8080), Some(true)));
        assert!(!any4.matches(Protocol::Tcp, &ep("::1", 8080), Some(true)));
        assert!(!any4.matches(Protocol::Tcp, &ep("127.0.0.1", 8081), None));
        // `[::ffff:0.0.0.0]` is the IPv4 wildcard to the kernel.
        let mapped_any = p("[::ffff:0.0.0.0]:8080");
        assert!(mapped_any.matches(Protocol::Tcp, &ep("127.0.0.1", 8080), None));
        assert!(!mapped_any.matches(Protocol::Tcp, &ep("::1", 8080), Some(true)));
        // A default `[::]` bind is dual-stack: it collides with both families.
        let any6 = p("[::]:8080");
        for (a, v6only) in [
            ("::1", Some(true)),
            ("fe80::1", Some(true)),
            ("::", Some(true)),
            ("::", Some(false)),
            ("127.0.0.1", None),
            ("0.0.0.0", None),
            ("::ffff:127.0.0.1", Some(false)),
        ] {
            assert!(any6.matches(Protocol::Udp, &ep(a, 8080), v6only), "{a}");
        }
        assert!(!any6.matches(Protocol::Udp, &ep("::1", 53), Some(true)));
        // A specific v4-mapped SPEC is its IPv4 address.
        let mapped = p("[::ffff:127.0.0.1]:8080");
        assert!(mapped.matches(Protocol::Tcp, &ep("127.0.0.1", 8080), None));
        assert!(mapped.matches(Protocol::Tcp, &ep("0.0.0.0", 8080), None));
        assert!(!mapped.matches(Protocol::Tcp, &ep("::", 8080), Some(true)));
        assert!(!mapped.matches(Protocol::Tcp, &ep("::1", 8080), Some(true)));
    }

    #[test]
    fn matching_respects_protocol_address_and_wildcards() {
        let s = p("127.0.0.1:8080");
        assert!(s.matches(Protocol::Tcp, &ep("127.0.0.1", 8080), None));
        assert!(s.matches(Protocol::Udp, &ep("0.0.0.0", 8080), None));
        assert!(s.matches(Protocol::Tcp, &ep("::", 8080), None));
        assert!(s.matches(Protocol::Tcp, &ep("::ffff:127.0.0.1", 8080), None));
        assert!(!s.matches(Protocol::Tcp, &ep("127.0.0.2", 8080), None));
        assert!(!s.matches(Protocol::Tcp, &ep("::1", 8080), None));
        assert!(!s.matches(Protocol::Tcp, &ep("127.0.0.1", 8081), None));
        // A v6-only wildcard cannot receive IPv4; a dual-stack one can.
        assert!(!s.matches(Protocol::Tcp, &ep("::", 8080), Some(true)));
        assert!(s.matches(Protocol::Tcp, &ep("::", 8080), Some(false)));
        assert!(p("[::1]:8080").matches(Protocol::Tcp, &ep("::", 8080), Some(true)));
        let s = p("[::1]:53/udp");
        assert!(s.matches(Protocol::Udp, &ep("::1", 53), None));
        assert!(!s.matches(Protocol::Udp, &ep("0.0.0.0", 53), None));
        assert!(!s.matches(Protocol::Tcp, &ep("::1", 53), None));
        let s = p("domain");
        assert!(s.matches(Protocol::Udp, &ep("0.0.0.0", 53), None));
        assert!(s.matches(Protocol::Tcp, &ep("0.0.0.0", 53), None));
        let s = p("http");
        assert!(!s.matches(Protocol::Udp, &ep("0.0.0.0", 80), None));
    }
}
