//! Collect stage, Linux: netlink sock_diag for the tables (with a /proc/net fallback); the
//! owner sources (the /proc/*/fd scan and the BPF iterator) are in owners.rs.

pub mod bpf;
pub mod destroy;
mod diag_bytecode;
mod diag_wire;
mod exact;
mod fdscan;
mod fdwork;
mod netlink;
pub mod netns;
mod nsfs;
mod nsid;
mod owners;
pub mod pidfd;
pub mod placement;
mod procdir;
pub mod procnet;

#[doc(hidden)]
pub use diag_wire::parse_sock_diag_dump;
pub use fdscan::{foreign_proc, foreign_proc_warning, in_initial_pid_namespace, scan_owners};
pub use owners::{BpfOwners, LazyPlacer, ProcfsOwners, BPF_MIN_DESCRIPTORS};

use crate::collect::{Harvest, TableSource};
use crate::error::Error;
use crate::fast_hash::InodeSet;
use crate::model::{Family, Protocol, SocketHarvest, TableQuery, TableSourceKind};
use netlink::{Diag, DiagError};

/// netlink sock_diag (what ss uses); per table, /proc/net where the kernel refuses netlink,
/// does not answer in time, or has no handler, with one warning saying so.
pub struct NetlinkTables {
    /// Opened on first use and kept for the re-check.
    diag: Option<Diag>,
    /// From how many sockets the IPv6 tables are dumped on a second thread.
    parallel_min: u64,
}

impl Default for NetlinkTables {
    fn default() -> NetlinkTables {
        NetlinkTables {
            diag: None,
            parallel_min: PARALLEL_DUMP_MIN_SOCKETS,
        }
    }
}

impl NetlinkTables {
    pub fn new() -> NetlinkTables {
        NetlinkTables::default()
    }
}

const V6ONLY_UNKNOWN: &str = "IPv6 v6-only flags are unknown";

impl TableSource for NetlinkTables {
    fn kind(&self) -> TableSourceKind {
        TableSourceKind::Netlink
    }

    fn every_namespace(&self) -> Option<Box<dyn TableSource>> {
        let all = netns::NamespacedTables::new(crate::collect::NetnsChoice::All, false);
        Some(Box::new(all.ok()?))
    }

    fn harvest(&mut self, query: &TableQuery) -> Result<Harvest, Error> {
        let mut h = Harvest::new(TableSourceKind::Netlink);
        if self.diag.is_none() {
            match Diag::open() {
                Ok(d) => self.diag = Some(d),
                Err(e) => h.warnings.push(format!(
                    "netlink sock_diag unavailable ({e}): read /proc/net instead; {V6ONLY_UNKNOWN}"
                )),
            }
        }
        let mut early = match self.diag.is_some() && query.families.len() > 1 {
            true => v6_alongside(query, self.parallel_min),
            false => None,
        };
        for &proto in &query.protocols {
            for &family in &query.families {
                if let Some(d) = self.diag.as_mut() {
                    // Dumped on the other thread: taken as is; a failure there is retried
                    // here, so it falls back exactly as a dump on this thread would.
                    if family == Family::Ipv6 {
                        let done = early.as_mut().and_then(|e| e.take(proto));
                        if let Some(mut sockets) = done {
                            h.sockets.append(&mut sockets);
                            continue;
                        }
                    }
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
                        Err(DiagError::Io(e)) => {
                            let why = if e.kind() == std::io::ErrorKind::WouldBlock {
                                "no reply in time".to_string()
                            } else {
                                e.to_string()
                            };
                            h.warnings.push(format!(
                                "netlink sock_diag failed for {proto} ({why}): read /proc/net instead; {V6ONLY_UNKNOWN}"
                            ));
                            // A socket that timed out may deliver a stale reply later.
                            self.diag = None;
                        }
                    }
                }
                h.source = TableSourceKind::Procnet;
                read_procnet(proto, family, query, &mut h)?;
            }
        }
        h.warnings.dedup();
        netns::tag_current(&mut h);
        Ok(h)
    }

    /// Exact lookups, for a few sockets of the current namespace (netns index 0 here).
    fn confirm(&mut self, sockets: &[&SocketHarvest]) -> InodeSet {
        match self.diag.as_mut() {
            Some(d) if sockets.len() <= exact::MAX_LOOKUPS => exact::confirm(d, sockets),
            _ => InodeSet::default(),
        }
    }
}

/// From this many sockets in the tables (/proc/net/sockstat) the IPv6 tables are dumped
/// on a second thread, on a netlink socket of its own, while this thread dumps IPv4: the
/// dump is kernel time that scales with the sockets (~1.2 µs each), and a thread costs
/// ~50 µs to start (and, on a VM whose other vCPU sleeps, up to a few ms to run).
const PARALLEL_DUMP_MIN_SOCKETS: u64 = 4_000;

/// Each protocol's IPv6 sockets, None where its dump failed.
type V6Dumps = Vec<(Protocol, Option<Vec<SocketHarvest>>)>;

/// The IPv6 dumps of a query, running on their own thread.
struct EarlyV6 {
    thread: Option<std::thread::JoinHandle<V6Dumps>>,
    done: V6Dumps,
}

impl EarlyV6 {
    /// The sockets of `proto`'s IPv6 table, when its dump succeeded there.
    fn take(&mut self, proto: Protocol) -> Option<Vec<SocketHarvest>> {
        if let Some(t) = self.thread.take() {
            self.done = t.join().unwrap_or_default();
        }
        self.done
            .iter_mut()
            .find(|(p, _)| *p == proto)
            .and_then(|(_, s)| s.take())
    }
}

/// Starts the IPv6 dumps of `query` on a thread, where the tables hold `min_sockets` or
/// more and there is a core for it (0: always); None otherwise (or if it cannot start).
fn v6_alongside(query: &TableQuery, min_sockets: u64) -> Option<EarlyV6> {
    if !query.families.contains(&Family::Ipv6) {
        return None;
    }
    if min_sockets > 0 {
        // thread-self: /proc/net is the namespace of the thread group's leader, and this
        // may be a thread that entered another (--netns).
        let mut text = crate::collect::read_text("/proc/thread-self/net/sockstat").ok()?;
        text += &crate::collect::read_text("/proc/thread-self/net/sockstat6").unwrap_or_default();
        if sockstat_total(&text) < min_sockets || crate::collect::cores() < 2 {
            return None;
        }
    }
    let q = query.clone();
    let thread = std::thread::Builder::new()
        .spawn(move || {
            let Ok(mut d) = Diag::open() else {
                return Vec::new();
            };
            q.protocols
                .iter()
                .map(|&proto| {
                    let mut out = Vec::new();
                    let ok = d.dump(proto, Family::Ipv6, &q, &mut out).is_ok();
                    (proto, ok.then_some(out))
                })
                .collect()
        })
        .ok()?;
    Some(EarlyV6 {
        thread: Some(thread),
        done: Vec::new(),
    })
}

/// TCP (in use and time-wait) and UDP sockets counted in /proc/net/sockstat and
/// sockstat6 (the text of both, one after the other).
fn sockstat_total(text: &str) -> u64 {
    let mut total = 0;
    for line in text.lines() {
        let Some((kind, rest)) = line.split_once(": ") else {
            continue;
        };
        if !matches!(kind, "TCP" | "UDP" | "TCP6" | "UDP6") {
            continue;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        for pair in words.chunks(2) {
            if let ["inuse" | "tw", v] = pair {
                total += v.parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

/// /proc/net/{tcp,tcp6,udp,udp6} only (`--table-source procnet`).
pub struct ProcnetTables;

impl TableSource for ProcnetTables {
    fn kind(&self) -> TableSourceKind {
        TableSourceKind::Procnet
    }

    fn every_namespace(&self) -> Option<Box<dyn TableSource>> {
        let all = netns::NamespacedTables::new(crate::collect::NetnsChoice::All, true);
        Some(Box::new(all.ok()?))
    }

    fn harvest(&mut self, query: &TableQuery) -> Result<Harvest, Error> {
        let mut h = Harvest::new(TableSourceKind::Procnet);
        h.warnings
            .push(format!("table source /proc/net: {V6ONLY_UNKNOWN}"));
        for &proto in &query.protocols {
            for &family in &query.families {
                read_procnet(proto, family, query, &mut h)?;
            }
        }
        netns::tag_current(&mut h);
        Ok(h)
    }
}

fn read_procnet(
    proto: Protocol,
    family: Family,
    query: &TableQuery,
    h: &mut Harvest,
) -> Result<(), Error> {
    match procnet::read_table(proto, family, query, &mut h.sockets) {
        Ok(()) => Ok(()),
        // A kernel without IPv6 has no tcp6/udp6: that is an empty table, not an error. A
        // missing IPv4 table means /proc is not what it should be.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && family == Family::Ipv6 => Ok(()),
        Err(e) => Err(Error::Tables(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IPv6 tables dumped on their own thread give what one thread gives, in the
    /// same order (compared on this test's own sockets: the host's may change between).
    #[test]
    fn parallel_dump_reports_what_one_thread_does() {
        use std::net::{TcpListener, TcpStream, UdpSocket};
        let l4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let l6 = TcpListener::bind("[::1]:0").unwrap();
        let c6 = TcpStream::connect(l6.local_addr().unwrap()).unwrap();
        let u4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let u6 = UdpSocket::bind("[::1]:0").unwrap();
        // Ours by inode (another socket of the host may share a port number, even our
        // client's local port: outgoing connections share one where their peers differ),
        // and the accepted end, still in the queue without an inode, by its two ends.
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let inode = |fd: i32| {
            std::fs::metadata(format!("/proc/self/fd/{fd}"))
                .unwrap()
                .ino()
        };
        let fds = [
            l4.as_raw_fd(),
            l6.as_raw_fd(),
            c6.as_raw_fd(),
            u4.as_raw_fd(),
            u6.as_raw_fd(),
        ];
        let inodes: Vec<u64> = fds.iter().map(|&fd| inode(fd)).collect();
        let accepted = (c6.peer_addr().unwrap(), c6.local_addr().unwrap());
        let mine = |s: &SocketHarvest| {
            let end = |e: &crate::model::Endpoint| std::net::SocketAddr::new(e.address, e.port);
            inodes.contains(&s.inode)
                || (s.inode == 0
                    && (end(&s.local), s.remote.as_ref().map(end))
                        == (accepted.0, Some(accepted.1)))
        };
        let ours = |min: u64| {
            let mut t = NetlinkTables {
                diag: None,
                parallel_min: min,
            };
            let h = t.harvest(&TableQuery::everything()).unwrap();
            let mine: Vec<SocketHarvest> = h.sockets.into_iter().filter(|s| mine(s)).collect();
            (mine, h.warnings)
        };
        let (alone, w1) = ours(u64::MAX);
        let (split, w2) = ours(0);
        assert_eq!(alone.len(), 6, "{alone:?}");
        assert_eq!(split, alone);
        assert_eq!((w1, w2), (vec![], vec![]));
    }

    #[test]
    fn sockstat_counts_tcp_and_udp_of_both_families() {
        let text = "sockets: used 812\nTCP: inuse 7 orphan 0 tw 24 alloc 9 mem 2\n\
                    UDP: inuse 3 mem 1\nUDPLITE: inuse 5\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n\
                    TCP6: inuse 11\nUDP6: inuse 2\nRAW6: inuse 1\n";
        assert_eq!(sockstat_total(text), 7 + 24 + 3 + 11 + 2);
        assert_eq!(sockstat_total(""), 0);
    }
}
