//! Collect stage, Linux: netlink sock_diag for the tables (with a /proc/net fallback),
//! one /proc/*/fd pass for the holders, sysinfo for the holders' details.

pub mod bpf;
mod fdscan;
mod netlink;
pub mod procnet;

pub use fdscan::scan_owners;
#[doc(hidden)]
pub use netlink::parse_sock_diag_dump;

use crate::collect::{Harvest, TableQuery};
use crate::error::Error;
use netlink::{Diag, DiagError};

/// Environment switch that forces the /proc/net fallback (tests, and sandboxes where
/// netlink misbehaves rather than failing cleanly).
pub const FORCE_PROCFS_ENV: &str = "PORTSCOPE_FORCE_PROCFS";

/// Reads every table the query asks for. Netlink first; per table, /proc/net where the
/// kernel refuses netlink, with one warning saying so.
pub fn harvest(query: &TableQuery) -> Result<Harvest, Error> {
    let mut h = Harvest::default();
    let forced = std::env::var_os(FORCE_PROCFS_ENV).is_some_and(|v| !v.is_empty() && v != "0");
    let mut diag = if forced {
        h.warnings
            .push(format!("netlink sock_diag not used ({FORCE_PROCFS_ENV} is set): read /proc/net instead; IPv6 v6-only flags are unknown"));
        None
    } else {
        match Diag::open() {
            Ok(d) => Some(d),
            Err(e) => {
                h.warnings.push(format!(
                    "netlink sock_diag unavailable ({e}): read /proc/net instead; IPv6 v6-only flags are unknown"
                ));
                None
            }
        }
    };
    for &proto in &query.protocols {
        for &family in &query.families {
            if let Some(d) = diag.as_mut() {
                let before = h.sockets.len();
                let r = d.dump(proto, family, query, &mut h.sockets);
                if r.is_err() {
                    h.sockets.truncate(before);
                }
                match r {
                    Ok(()) => continue,
                    Err(DiagError::NoHandler) => h.warnings.push(format!(
                        "the kernel has no sock_diag handler for {proto}: read /proc/net instead"
                    )),
                    Err(DiagError::Io(e)) => h.warnings.push(format!(
                        "netlink sock_diag failed for {proto} ({e}): read /proc/net instead"
                    )),
                }
            }
            h.procfs = true;
            if let Err(e) = procnet::read_table(proto, family, query, &mut h.sockets) {
                // A kernel without IPv6 has no tcp6/udp6: that is an empty table, not an
                // error. A missing IPv4 table means /proc is not what it should be.
                if e.kind() == std::io::ErrorKind::NotFound && family == crate::model::Family::Ipv6
                {
                    continue;
                }
                return Err(Error::Tables(e.to_string()));
            }
        }
    }
    h.warnings.dedup();
    Ok(h)
}

/// This host's ephemeral port range (what the OS hands out for port 0 and connect()).
pub fn ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|w| w.parse::<u16>());
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) if lo <= hi => Some((lo, hi)),
        _ => None,
    }
}
