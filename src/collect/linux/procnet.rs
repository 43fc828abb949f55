//! Collect stage, Linux fallback: the socket tables from /proc/net/{tcp,tcp6,udp,udp6},
//! for sandboxes that refuse netlink sock_diag. These files do not carry the IPV6_V6ONLY
//! flag, and give a listener's send queue as 0 rather than its backlog limit.

use crate::model::{Endpoint, Family, Protocol, SockState, SocketHarvest, TableQuery};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub fn read_table(
    proto: Protocol,
    family: Family,
    query: &TableQuery,
    out: &mut Vec<SocketHarvest>,
) -> io::Result<()> {
    read_table_at("/proc/net", proto, family, query, out)
}

/// The same from another directory: /proc/PID/net shows that process's namespace.
pub fn read_table_at(
    base: &str,
    proto: Protocol,
    family: Family,
    query: &TableQuery,
    out: &mut Vec<SocketHarvest>,
) -> io::Result<()> {
    let file = match (proto, family) {
        (Protocol::Tcp, Family::Ipv4) => "tcp",
        (Protocol::Tcp, Family::Ipv6) => "tcp6",
        (Protocol::Udp, Family::Ipv4) => "udp",
        (Protocol::Udp, Family::Ipv6) => "udp6",
    };
    let path = format!("{base}/{file}");
    let text = crate::collect::read_text(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
    parse_table(&text, proto, family, query, out);
    Ok(())
}

pub fn parse_table(
    text: &str,
    proto: Protocol,
    family: Family,
    query: &TableQuery,
    out: &mut Vec<SocketHarvest>,
) {
    for line in text.lines().skip(1) {
        if let Some(s) = parse_line(line, proto, family) {
            if query.wants_state(s.state) {
                out.push(s);
            }
        }
    }
}

fn parse_addr(s: &str, family: Family) -> Option<Endpoint> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    // Each 32-bit word is printed in host byte order.
    let address = match family {
        Family::Ipv4 if a.len() == 8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(a, 16).ok()?.to_ne_bytes(),
        )),
        Family::Ipv6 if a.len() == 32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                let w = u32::from_str_radix(&a[i * 8..i * 8 + 8], 16).ok()?;
                b[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(Endpoint { address, port })
}

fn parse_line(line: &str, proto: Protocol, family: Family) -> Option<SocketHarvest> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 {
        return None;
    }
    let local = parse_addr(f[1], family)?;
    let rem = parse_addr(f[2], family)?;
    let code = u8::from_str_radix(f[3], 16).ok()?;
    let state = match proto {
        Protocol::Tcp => SockState::from_tcp_kernel(code)?,
        Protocol::Udp => SockState::from_udp_kernel(code),
    };
    let (tx, rx) = f[4].split_once(':')?;
    let remote = if rem.port == 0 && rem.address.is_unspecified() {
        None
    } else {
        Some(rem)
    };
    let v6only = match local.address {
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => Some(false),
        _ => None,
    };
    Some(SocketHarvest {
        protocol: proto,
        family,
        local,
        remote,
        state,
        v6only,
        recv_queue: Some(u32::from_str_radix(rx, 16).ok()?),
        // A listener's backlog limit is not in /proc/net (tx_queue reads 0 there): unknown.
        send_queue: if state == SockState::Listen {
            None
        } else {
            Some(u32::from_str_radix(tx, 16).ok()?)
        },
        uid: {
            let inode: u64 = f[9].parse().ok()?;
            let uid: u32 = f[7].parse().ok()?;
            (inode != 0).then_some(uid)
        },
        inode: f[9].parse().ok()?,
        netns: 0,
        cgroup_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000002 00:00000000 00000000  1000        0 123456 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000004:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 20 4 30 10 -1
";
    const UDP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 999 2 0000000000000000 0
";

    fn all() -> TableQuery {
        TableQuery {
            protocols: vec![],
            families: vec![],
            states: None,
            ports: None,
        }
    }

    #[test]
    fn parses_tcp4_rows() {
        let mut v = Vec::new();
        parse_table(TCP, Protocol::Tcp, Family::Ipv4, &all(), &mut v);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].local.to_string(), "127.0.0.1:8080");
        assert_eq!(v[0].state, SockState::Listen);
        assert_eq!(
            (v[0].recv_queue, v[0].uid, v[0].inode),
            (Some(2), Some(1000), 123456)
        );
        assert_eq!(v[1].remote.unwrap().to_string(), "127.0.0.1:50000");
        assert_eq!(v[1].state, SockState::Established);
        assert_eq!(v[1].send_queue, Some(4));
    }

    #[test]
    fn parses_udp6_rows_and_filters_states() {
        let mut v = Vec::new();
        parse_table(UDP6, Protocol::Udp, Family::Ipv6, &all(), &mut v);
        assert_eq!(v[0].local.to_string(), "[::1]:53");
        assert_eq!(v[0].state, SockState::Unconnected);
        assert_eq!(v[0].remote, None);
        let q = TableQuery {
            states: Some(vec![SockState::Connected]),
            ..all()
        };
        let mut v = Vec::new();
        parse_table(UDP6, Protocol::Udp, Family::Ipv6, &q, &mut v);
        assert!(v.is_empty());
    }
}
