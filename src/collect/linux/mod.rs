//! Collect stage, Linux: netlink sock_diag for the tables (with a /proc/net fallback), one
//! /proc/*/fd pass for the holders, /proc/PID/{stat,status,cmdline} for their details.

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
pub mod pidfd;
pub mod placement;
mod procdir;
pub mod procnet;

#[doc(hidden)]
pub use diag_wire::parse_sock_diag_dump;
pub use fdscan::{foreign_proc, foreign_proc_warning, in_initial_pid_namespace, scan_owners};

use crate::collect::{Harvest, OwnerScan, OwnerSource, TableSource, UserNames};
use crate::error::Error;
use crate::fast_hash::InodeSet;
use crate::model::{
    Family, OwnerSourceKind, ProcessTable, Protocol, SocketHarvest, TableQuery, TableSourceKind,
};
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

/// A [`placement::Placer`] made on first use (the host's roots read mountinfo: `who` on a
/// free port never needs it), or over the roots it was given.
#[derive(Default)]
pub struct LazyPlacer {
    roots: Option<placement::Roots>,
    placer: Option<placement::Placer>,
}

impl LazyPlacer {
    /// Lookups under `roots` instead of the host's.
    pub fn with_roots(roots: placement::Roots) -> LazyPlacer {
        LazyPlacer {
            roots: Some(roots),
            placer: None,
        }
    }

    pub fn get(&mut self) -> &mut placement::Placer {
        let roots = &mut self.roots;
        self.placer.get_or_insert_with(|| {
            placement::Placer::new(roots.take().unwrap_or_else(placement::Roots::system))
        })
    }
}

/// The /proc/*/fd scan, with /proc and the user database for details, and each
/// holder's container and unit from its cgroup.
#[derive(Default)]
pub struct ProcfsOwners {
    users: UserNames,
    places: LazyPlacer,
    /// The host's descriptors, where `auto` counted them for this question.
    counted: Option<u64>,
}

impl ProcfsOwners {
    fn placer(&mut self) -> &mut placement::Placer {
        self.places.get()
    }
}

impl OwnerSource for ProcfsOwners {
    fn kind(&self) -> OwnerSourceKind {
        OwnerSourceKind::Procfs
    }
    fn scan(&mut self, wanted: &InodeSet, first: bool) -> std::io::Result<OwnerScan> {
        fdscan::scan_owners_counted(wanted, first, self.counted.take())
    }
    fn details(&mut self, pids: &[u32]) -> ProcessTable {
        let mut table = crate::collect::process_details(pids, &mut self.users);
        for p in table.values_mut() {
            let place = self.placer().process(p.pid);
            if place.container.is_some() || place.unit.is_some() {
                let q = std::sync::Arc::make_mut(p);
                q.container = place.container;
                q.unit = place.unit;
            }
        }
        table
    }
    fn user_name(&mut self, uid: u32) -> Option<String> {
        self.users.name(uid)
    }
    fn cgroup_path(&mut self, id: u64) -> Option<String> {
        self.placer().cgroup_path_by_id(id)
    }
    fn cgroup_placement(&mut self, path: &str) -> crate::model::Placement {
        self.placer().placement(path)
    }
    fn published(
        &mut self,
        argv: &[String],
        proto: Protocol,
        port: u16,
    ) -> Option<crate::model::Published> {
        self.placer().published_backend(argv, proto, port)
    }
    fn dnat_published(&mut self, port: u16, proto: Protocol) -> Vec<crate::model::Published> {
        self.placer().dnat_published(port, proto)
    }
    fn socket_unit(&mut self, proto: Protocol, local: std::net::SocketAddr) -> Option<String> {
        self.placer().socket_unit(proto, local)
    }
}

/// Below this many descriptors held on the host the BPF iterator's fixed set-up costs more
/// than reading every descriptor through /proc, so `auto` scans /proc. Both costs grow
/// with descriptors, not processes or open files: the count is the sum of /proc/PID/fd's
/// sizes ([`fdscan::descriptors_at_least`]), not file-nr, which counts a pre-fork server's
/// shared descriptors once. Measured with bench/crossover.sh on a 2-vCPU host
/// (BENCHMARKS.md, "Choosing an owner source"): whole `list --all --json`, bpf 8.1 ms vs
/// procfs 7.2 ms at 1,020 descriptors, 7.4 ms vs 8.9 ms at 1,524.
pub const BPF_MIN_DESCRIPTORS: u64 = 1_300;

/// The iterator's thread, started by `prepare`: it loads the program while the tables are
/// dumped, then waits for `go` (sent by `begin_scan` or `scan`, so after the dump) and
/// walks once. Dropped unsent (no scan follows: a free port), it ends without walking.
struct Pending {
    go: std::sync::mpsc::Sender<()>,
    walk: std::thread::JoinHandle<Result<bpf::Walk, bpf::BpfError>>,
}

impl Pending {
    fn start(
        load: impl FnOnce() -> Result<bpf::Walker, bpf::BpfError> + Send + 'static,
    ) -> Pending {
        let (go, wait) = std::sync::mpsc::channel();
        let walk = std::thread::spawn(move || {
            let mut walker = load()?;
            wait.recv()
                .map_err(|_| bpf::BpfError::Other("no scan followed".into()))?;
            walker.read()
        });
        Pending { go, walk }
    }

    fn go(&self) {
        // A thread that already ended (the load failed) has nobody listening: fine.
        let _ = self.go.send(());
    }

    fn records(self) -> Result<bpf::Walk, bpf::BpfError> {
        self.go();
        self.walk
            .join()
            .map_err(|_| bpf::BpfError::Other("the BPF walker thread failed".into()))?
    }
}

pub struct BpfOwners {
    auto: bool,
    /// What ran last: Bpf, or Procfs after a fallback (or by choice of `auto`).
    ran: OwnerSourceKind,
    procfs: ProcfsOwners,
    /// The load (and then the walk) `prepare` started; never joined if no scan follows.
    pending: Option<Pending>,
    /// `auto`'s choice for this question, once made.
    worth_it: Option<bool>,
}

impl BpfOwners {
    pub fn new(auto: bool) -> BpfOwners {
        BpfOwners {
            auto,
            ran: OwnerSourceKind::Bpf,
            procfs: ProcfsOwners::default(),
            pending: None,
            worth_it: None,
        }
    }

    /// Explicit bpf always runs; `auto` only where the host holds enough descriptors, and
    /// only with a working /proc (process details come from there: a PID without them
    /// would read as "exited"). Counted once per question (`prepare` forgets it).
    fn worth_it(&mut self) -> bool {
        if !self.auto {
            return true;
        }
        if let Some(w) = self.worth_it {
            return w;
        }
        let counted = fdscan::host_descriptors_at_least(BPF_MIN_DESCRIPTORS);
        // Counted past SCAN_THREADS_MIN_DESCRIPTORS too: the /proc scan need not count.
        self.procfs.counted = counted;
        let w = counted.is_some_and(|n| n >= BPF_MIN_DESCRIPTORS);
        self.worth_it = Some(w);
        w
    }

    /// The iterator's answer: the program loaded by `prepare` (or now), then one walk,
    /// after the tables were read, as the procfs scan would: a socket opened meanwhile
    /// cannot look held by nobody. (Walking during the dump too and again for sockets
    /// nobody was found holding measured slower: see BENCHMARKS.md.)
    fn bpf_scan(&mut self, wanted: &InodeSet, first: bool) -> Result<OwnerScan, bpf::BpfError> {
        let walk = match self.pending.take() {
            Some(p) => p.records()?,
            None => bpf::Walker::load()?.read()?,
        };
        let mut scan = bpf::owner_scan(&walk.records, wanted, first);
        scan.descriptors = walk.descriptors;
        scan.walk_program = Some(walk.program);
        Ok(scan)
    }
}

impl OwnerSource for BpfOwners {
    fn kind(&self) -> OwnerSourceKind {
        self.ran
    }

    /// Loads the program (BTF walk, verifier: the iterator's fixed cost) on a thread
    /// while the tables are dumped; only where `scan` would use the iterator. Not gated on
    /// the cores looking free: the instantaneous runnable count read at start-up nearly
    /// always includes the parent that just exec'd us (a shell loop read 2 of 2 cores
    /// busy on an idle host), and where the cores really are busy two threads share them
    /// no worse than one thread doing both in turn.
    fn prepare(&mut self) {
        // A walk the last question started and never collected (nothing was wanted) is
        // of another moment: never an answer for this one.
        self.pending = None;
        self.worth_it = None;
        self.procfs.counted = None;
        if self.ran == OwnerSourceKind::Bpf
            && foreign_proc().is_none()
            && self.worth_it()
            && crate::collect::cores() > 1
        {
            self.pending = Some(Pending::start(bpf::Walker::load));
        }
    }

    /// The walk starts now, on the loader's thread, while the caller prepares what needs
    /// no owners (classification, order, cgroup paths); `scan` collects it.
    fn begin_scan(&mut self) {
        if let Some(p) = &self.pending {
            p.go();
        }
    }

    fn scan(&mut self, wanted: &InodeSet, first: bool) -> std::io::Result<OwnerScan> {
        // The iterator gives PIDs at our PID namespace's level, but names and command
        // lines come from /proc: with another namespace's /proc they would belong to other
        // processes. The /proc scan keeps PIDs and details in one namespace (and warns).
        let foreign = foreign_proc().is_some();
        if foreign && self.ran == OwnerSourceKind::Bpf {
            self.ran = OwnerSourceKind::Procfs;
            let mut scan = self.procfs.scan(wanted, first)?;
            if !self.auto {
                scan.warnings.push(
                    "BPF owner scan not used: /proc belongs to another PID namespace, so its \
                     process details would not match the iterator's PIDs"
                        .to_string(),
                );
            }
            return Ok(scan);
        }
        if self.ran == OwnerSourceKind::Bpf && (self.pending.is_some() || self.worth_it()) {
            match self.bpf_scan(wanted, first) {
                Ok(mut scan) => {
                    scan.sees_every_process = in_initial_pid_namespace();
                    return Ok(scan);
                }
                Err(e) if !self.auto => return Err(std::io::Error::other(e.to_string())),
                Err(bpf::BpfError::Other(e)) => {
                    self.ran = OwnerSourceKind::Procfs;
                    let mut scan = self.procfs.scan(wanted, first)?;
                    scan.warnings
                        .push(format!("BPF owner scan failed ({e}): used the /proc scan"));
                    return Ok(scan);
                }
                Err(_) => {}
            }
        }
        self.ran = OwnerSourceKind::Procfs;
        self.procfs.scan(wanted, first)
    }

    fn details(&mut self, pids: &[u32]) -> ProcessTable {
        self.procfs.details(pids)
    }

    fn user_name(&mut self, uid: u32) -> Option<String> {
        self.procfs.user_name(uid)
    }

    fn cgroup_path(&mut self, id: u64) -> Option<String> {
        self.procfs.cgroup_path(id)
    }
    fn cgroup_placement(&mut self, path: &str) -> crate::model::Placement {
        self.procfs.cgroup_placement(path)
    }
    fn published(
        &mut self,
        argv: &[String],
        proto: Protocol,
        port: u16,
    ) -> Option<crate::model::Published> {
        self.procfs.published(argv, proto, port)
    }
    fn dnat_published(&mut self, port: u16, proto: Protocol) -> Vec<crate::model::Published> {
        self.procfs.dnat_published(port, proto)
    }
    fn socket_unit(&mut self, proto: Protocol, local: std::net::SocketAddr) -> Option<String> {
        self.procfs.socket_unit(proto, local)
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

    /// A walk started for one question and never collected (nothing was wanted) is
    /// dropped by the next question's `prepare`, even when that one starts none: its
    /// records predate the new dump. (Regression: `watch` in auto mode could answer a
    /// tick with a walk from an earlier one.)
    #[test]
    fn a_walk_nobody_collected_is_not_the_next_answer() {
        let mut owners = BpfOwners::new(true);
        owners.pending = Some(Pending::start(|| {
            Err(bpf::BpfError::Other("never loaded in this test".into()))
        }));
        owners.begin_scan();
        // The next question falls to /proc (as `auto` does below BPF_MIN_DESCRIPTORS).
        owners.ran = OwnerSourceKind::Procfs;
        owners.prepare();
        assert!(owners.pending.is_none());
    }

    /// The program loaded by `prepare` walks only when `scan` runs: a socket opened
    /// after `prepare` (as one opened during the table dump) is found.
    #[test]
    fn a_socket_opened_after_prepare_is_found() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 || foreign_proc().is_some() {
            return crate::test_skip::skip("not root: cannot load a BPF program");
        }
        let mut owners = BpfOwners::new(false);
        // What `prepare` starts: loaded, and finished, before the socket exists.
        let walker = std::thread::spawn(bpf::Walker::load).join().unwrap();
        let walker = walker.unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata(format!("/proc/self/fd/{}", l.as_raw_fd()))
            .unwrap()
            .ino();
        owners.pending = Some(Pending::start(move || Ok(walker)));
        // As the pipeline does once the dump is read: the walk starts here, so a socket
        // opened before this (during the dump) is in it.
        owners.begin_scan();
        let mut wanted = InodeSet::default();
        wanted.insert(ino);
        let scan = owners.scan(&wanted, false).unwrap();
        assert_eq!(owners.kind(), OwnerSourceKind::Bpf);
        // Other unit tests fork (why's trial bind) and a child forked while the listener is
        // open holds a copy too: this process must be among the holders, and only once.
        let me = std::process::id();
        let ours: Vec<_> = scan.holders.iter().filter(|h| h.1 == me).collect();
        assert_eq!(ours, vec![&(ino, me)], "{:?}", scan.holders);
        assert!(scan.holders.iter().all(|h| h.0 == ino));
        assert!(owners.pending.is_none());
    }
}
