//! Collect stage: where OS data comes in. Each backend is a value behind one of two
//! interfaces (a socket-table source, an owner source), chosen once by the command and
//! handed to the pipeline in a [`Collector`]; tests hand in fakes (bandwhich's
//! `OsInputOutput`). OS-specific code sits behind `cfg`.
//!
//! Nothing here prints: problems come back as values (`Harvest::warnings`, `OwnerScan`).

use crate::error::Error;
use crate::fast_hash::InodeSet;
use crate::model::{
    Netns, NetnsSource, OwnerSourceKind, Placement, ProcessTable, Protocol, Published,
    SocketHarvest, TableQuery, TableSourceKind,
};
use std::sync::Arc;

pub mod cache;
#[cfg(target_os = "linux")]
pub mod linux;

pub mod netstat2;
mod procinfo;
#[cfg(target_os = "linux")]
pub mod starttime;

pub use procinfo::{effective_uid, lookup_user, process_details, UserNames};

/// The socket tables as read.
#[derive(Debug)]
pub struct Harvest {
    pub sockets: Vec<SocketHarvest>,
    /// One line each, for stderr and the JSON `warnings` array.
    pub warnings: Vec<String>,
    /// The backend that produced the rows (after any fallback).
    pub source: TableSourceKind,
    /// The namespaces read; each socket's `netns` indexes this.
    pub namespaces: Vec<Arc<Netns>>,
    /// Per namespace, when more than the current one was read: which backend read it.
    pub per_netns: Vec<NetnsSource>,
}

impl Harvest {
    /// An empty harvest of the current namespace (inode unknown until the source sets it).
    pub fn new(source: TableSourceKind) -> Harvest {
        Harvest {
            sockets: Vec::new(),
            warnings: Vec::new(),
            source,
            namespaces: vec![Arc::new(Netns::current(None))],
            per_netns: Vec::new(),
        }
    }
}

/// Where each wanted socket inode was found, and what the scan could not see.
#[derive(Debug, Default)]
pub struct OwnerScan {
    /// (inode, pid) pairs, in no order; a socket shared by several processes appears once
    /// per process (and once per descriptor within a process: callers deduplicate).
    pub holders: Vec<(u64, u32)>,
    /// The holders (also in `holders`) found only in a thread's own descriptor table:
    /// (inode, pid, tid). A thread that unshared its table, or a process whose leader
    /// exited.
    pub thread_holders: Vec<(u64, u32, u32)>,
    /// Descriptor tables that could not be opened because portscope ran out of
    /// descriptors (EMFILE/ENFILE): their owners are unknown, not absent.
    pub fd_limited: usize,
    /// Processes whose descriptor table could not be read for lack of permission.
    pub denied: usize,
    /// Processes that exited between listing /proc and reading their descriptors.
    pub vanished: usize,
    /// Processes scanned.
    pub scanned: usize,
    /// Descriptors the scan went through (read by the /proc scan, walked by the BPF
    /// iterator); None where the source cannot say.
    pub descriptors: Option<u64>,
    /// The BPF program that walked them; None for the /proc scan.
    pub walk_program: Option<crate::model::OwnerWalkProgram>,
    /// True when the scan stopped at the first holder (`who --first`).
    pub stopped_early: bool,
    /// /proc could not be read at all: no owner is known.
    pub unavailable: bool,
    /// The scan saw every process on the host (root, the initial PID namespace, nothing
    /// denied or hidden): a socket it found no holder for is held by no process.
    pub sees_every_process: bool,
    /// One line each: what the scan could not do (fallbacks, lost workers).
    pub warnings: Vec<String>,
}

/// A socket-table backend.
pub trait TableSource {
    /// What `sources.table` says when this backend answers without falling back.
    fn kind(&self) -> TableSourceKind;
    /// Reads every table the query asks for.
    fn harvest(&mut self, query: &TableQuery) -> Result<Harvest, Error>;
    /// A new question begins (each `watch` tick): forget what was found for the last one,
    /// such as which namespaces exist. The re-check within one question keeps it.
    fn begin(&mut self) {}
    /// Whether a network namespace that exists but cannot be read ends the harvest with
    /// [`Error::NetnsUnreadable`] (true) or is reported in `per_netns` and a warning.
    /// Sources of the current namespace only have nothing to refuse.
    fn refuse_unreadable_netns(&mut self, _refuse: bool) {}
    /// The inodes of `sockets` (from this source's last harvest) that the source can
    /// confirm still exist without reading whole tables. It may confirm none: a socket
    /// left out is not gone, only not confirmed, and the caller asks `harvest`.
    fn confirm(&mut self, _sockets: &[&SocketHarvest]) -> InodeSet {
        InodeSet::default()
    }
    /// The same backend over every network namespace, to follow a published port into
    /// its container; None where the backend reads only its own (netstat2).
    fn every_namespace(&self) -> Option<Box<dyn TableSource>> {
        None
    }
}

/// An owner backend: which processes hold which socket inodes, and their details.
pub trait OwnerSource {
    fn kind(&self) -> OwnerSourceKind;
    /// Called once before the socket tables are read. A source may start work here that
    /// needs no wanted set (on a thread, overlapping the dump), as long as `scan` still
    /// answers as if it had started after the dump.
    fn prepare(&mut self) {}
    /// Called once the tables were read, when a scan is likely to follow: a source may
    /// start its walk here (on a thread) while the caller does work that needs no owners;
    /// `scan` still answers as of a walk that began after the dump. A walk no scan asks
    /// for is dropped with the source.
    fn begin_scan(&mut self) {}
    /// Finds the holders of `wanted`; `first`: stop at the first holder found.
    fn scan(&mut self, wanted: &InodeSet, first: bool) -> std::io::Result<OwnerScan>;
    /// Name, command line, UID and parent of each PID; PIDs that exited are left out.
    fn details(&mut self, pids: &[u32]) -> ProcessTable;
    /// The user name of a UID, where the system knows one.
    fn user_name(&mut self, uid: u32) -> Option<String>;
    /// The cgroup path of a kernel cgroup id (a socket's INET_DIAG_CGROUP_ID).
    fn cgroup_path(&mut self, _id: u64) -> Option<String> {
        None
    }

    // Placement: where a socket lives, from cgroups and the container engines' state on
    // disk. An owner source carries these lookups with its filesystem roots (the real
    // host's, or a fake host's in tests); the defaults know nothing.

    /// The container and unit a cgroup path names (for a socket whose owner is hidden).
    fn cgroup_placement(&mut self, _path: &str) -> Placement {
        Placement::default()
    }
    /// What a host port held by a process with `argv` publishes (docker-proxy, conmon).
    fn published(&mut self, _argv: &[String], _proto: Protocol, _port: u16) -> Option<Published> {
        None
    }
    /// Containers publishing `port` by DNAT alone (no host socket).
    fn dnat_published(&mut self, _port: u16, _proto: Protocol) -> Vec<Published> {
        Vec::new()
    }
    /// The `.socket` unit that declares a listener systemd holds.
    fn socket_unit(&mut self, _proto: Protocol, _local: std::net::SocketAddr) -> Option<String> {
        None
    }
}

/// Everything the pipeline reads from the host, chosen once and passed down.
pub struct Collector {
    pub tables: Box<dyn TableSource>,
    pub owners: Box<dyn OwnerSource>,
    /// This host's ephemeral port range (what the OS hands out for port 0 and connect()).
    pub ephemeral: Option<(u16, u16)>,
}

/// `--table-source`: which backend reads the socket tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableChoice {
    /// netlink, falling back to /proc/net (Linux); netstat2 elsewhere.
    #[default]
    Auto,
    Netlink,
    Procnet,
    Netstat2,
}

/// `--netns`: which network namespaces to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetnsChoice {
    #[default]
    Current,
    All,
    /// An `ip netns` name (/run/netns/NAME).
    Name(String),
    /// The namespace of this process.
    Pid(u32),
    /// An nsfs file (a bind mount, or /proc/PID/ns/net).
    Path(std::path::PathBuf),
}

/// `--owner-source`: which backend joins sockets to processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OwnerChoice {
    /// The /proc scan (Linux); netstat2's PIDs elsewhere.
    #[default]
    Auto,
    Procfs,
    Bpf,
    None,
}

/// An owner source that joins nothing (`--owner-source none`, like ss without -p).
#[derive(Default)]
pub struct NoOwners {
    /// Socket cgroups and placement are table data, resolved without an owner join: one
    /// walk of the cgroup2 tree per run, made on first use.
    #[cfg(target_os = "linux")]
    places: linux::LazyPlacer,
}

impl OwnerSource for NoOwners {
    fn kind(&self) -> OwnerSourceKind {
        OwnerSourceKind::None
    }
    fn scan(&mut self, _: &InodeSet, _: bool) -> std::io::Result<OwnerScan> {
        Ok(OwnerScan::default())
    }
    fn details(&mut self, _: &[u32]) -> ProcessTable {
        ProcessTable::new()
    }
    fn user_name(&mut self, uid: u32) -> Option<String> {
        UserNames::default().name(uid)
    }
    #[cfg(target_os = "linux")]
    fn cgroup_path(&mut self, id: u64) -> Option<String> {
        self.places.get().cgroup_path_by_id(id)
    }
    #[cfg(target_os = "linux")]
    fn cgroup_placement(&mut self, path: &str) -> Placement {
        self.places.get().placement(path)
    }
    #[cfg(target_os = "linux")]
    fn published(&mut self, argv: &[String], proto: Protocol, port: u16) -> Option<Published> {
        self.places.get().published_backend(argv, proto, port)
    }
    #[cfg(target_os = "linux")]
    fn dnat_published(&mut self, port: u16, proto: Protocol) -> Vec<Published> {
        self.places.get().dnat_published(port, proto)
    }
    #[cfg(target_os = "linux")]
    fn socket_unit(&mut self, proto: Protocol, local: std::net::SocketAddr) -> Option<String> {
        self.places.get().socket_unit(proto, local)
    }
}

impl Collector {
    /// Commands that act or answer "free" (kill, close, wait, why) call this with true:
    /// an unreadable namespace is then an error (exit 3), never "nothing there"; `who`
    /// calls it with false and answers partially. By default only a namespace named
    /// explicitly (`--netns NAME|PID|PATH`) is refused.
    pub fn refuse_unreadable_netns(&mut self, refuse: bool) {
        self.tables.refuse_unreadable_netns(refuse);
    }

    /// The real host, with the backends the user chose.
    pub fn system(
        table: TableChoice,
        owners: OwnerChoice,
        netns: NetnsChoice,
    ) -> Result<Collector, Error> {
        raise_descriptor_limit();
        let (tables, netstat_holders) = table_source(table, netns)?;
        let owners: Box<dyn OwnerSource> = match owners {
            OwnerChoice::None => Box::new(NoOwners::default()),
            _ => owner_source(owners, netstat_holders)?,
        };
        Ok(Collector {
            tables,
            owners,
            ephemeral: ephemeral_range(),
        })
    }
}

#[cfg(target_os = "linux")]
fn table_source(
    choice: TableChoice,
    netns: NetnsChoice,
) -> Result<(Box<dyn TableSource>, Option<netstat2::Holders>), Error> {
    if netns != NetnsChoice::Current {
        let procnet_only =
            match choice {
                TableChoice::Auto | TableChoice::Netlink => false,
                TableChoice::Procnet => true,
                TableChoice::Netstat2 => return Err(Error::invalid(
                    "option",
                    "--table-source netstat2",
                    "reads only the current network namespace; use netlink or procnet with --netns",
                )),
            };
        let t = linux::netns::NamespacedTables::new(netns, procnet_only)?;
        return Ok((Box::new(t), None));
    }
    Ok(match choice {
        TableChoice::Auto | TableChoice::Netlink => (Box::new(linux::NetlinkTables::new()), None),
        TableChoice::Procnet => (Box::new(linux::ProcnetTables), None),
        TableChoice::Netstat2 => (Box::new(netstat2::Netstat2Tables::new()), None),
    })
}

#[cfg(not(target_os = "linux"))]
fn table_source(
    choice: TableChoice,
    netns: NetnsChoice,
) -> Result<(Box<dyn TableSource>, Option<netstat2::Holders>), Error> {
    if netns != NetnsChoice::Current {
        return Err(Error::Unsupported("--netns"));
    }
    match choice {
        TableChoice::Auto | TableChoice::Netstat2 => {
            let t = netstat2::Netstat2Tables::new();
            let holders = t.holders();
            Ok((Box::new(t), Some(holders)))
        }
        TableChoice::Netlink => Err(Error::Unsupported("--table-source netlink")),
        TableChoice::Procnet => Err(Error::Unsupported("--table-source procnet")),
    }
}

#[cfg(target_os = "linux")]
fn owner_source(
    choice: OwnerChoice,
    _netstat: Option<netstat2::Holders>,
) -> Result<Box<dyn OwnerSource>, Error> {
    Ok(match choice {
        OwnerChoice::Procfs => Box::new(linux::ProcfsOwners::default()),
        OwnerChoice::Bpf => Box::new(linux::BpfOwners::new(false)),
        _ => Box::new(linux::BpfOwners::new(true)),
    })
}

#[cfg(not(target_os = "linux"))]
fn owner_source(
    choice: OwnerChoice,
    netstat: Option<netstat2::Holders>,
) -> Result<Box<dyn OwnerSource>, Error> {
    match (choice, netstat) {
        (OwnerChoice::Procfs, _) => Err(Error::Unsupported("--owner-source procfs")),
        (OwnerChoice::Bpf, _) => Err(Error::Unsupported("--owner-source bpf")),
        (_, Some(h)) => Ok(Box::new(netstat2::Netstat2Owners::new(h))),
        (_, None) => Err(Error::Unsupported("owners without netstat2")),
    }
}

/// Raises the soft descriptor limit to the hard one: a scan started under `ulimit -n 5`
/// must not lose owners to EMFILE (it still reports any it cannot open).
#[cfg(unix)]
fn raise_descriptor_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let r = getrlimit(Resource::Nofile);
    // None is unlimited.
    let below = match (r.current, r.maximum) {
        (Some(cur), Some(max)) => cur < max,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if below {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: r.maximum,
                maximum: r.maximum,
            },
        );
    }
}

#[cfg(not(unix))]
fn raise_descriptor_limit() {}

/// Reads a whole file into `buf`, which is kept between calls (its memory set up once),
/// and returns the length read. procfs reports size 0, so `std::fs::read` starts with a
/// 32-byte probe and doubles from there (eight reads for a 3 KiB mountinfo), with a statx
/// and an lseek first that tell nothing there; this reads into room for the usual sizes.
pub fn read_into(path: impl AsRef<std::path::Path>, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    read_file(path.as_ref(), buf, false)
}

/// [`read_into`] for a /proc file the kernel writes out in one piece: a `single_open` seq
/// file (/proc/PID/stat, status, cgroup) or /proc/PID/cmdline. A read that leaves room in
/// the buffer then returned all of it, so the read that would return 0 is not made (one
/// system call in four, for each holder's details). Not for files written record by
/// record (/proc/net/*, mountinfo), whose reads stop at a page.
pub fn read_record(path: impl AsRef<std::path::Path>, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    read_file(path.as_ref(), buf, true)
}

fn read_file(path: &std::path::Path, buf: &mut Vec<u8>, one_piece: bool) -> std::io::Result<usize> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    if buf.len() < 4096 {
        buf.resize(4096, 0);
    }
    let mut have = 0;
    loop {
        if have == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[have..]) {
            Ok(0) => return Ok(have),
            Ok(n) if one_piece && have + n < buf.len() => return Ok(have + n),
            Ok(n) => have += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// [`read_record`] as text.
pub fn read_record_text(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    file_text(path.as_ref(), true)
}

fn file_text(path: &std::path::Path, one_piece: bool) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let n = read_file(path, &mut buf, one_piece)?;
    buf.truncate(n);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// A whole (small) text file, such as one in /proc, read as [`read_into`] does.
pub fn read_text(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    file_text(path.as_ref(), false)
}

/// The CPUs this process may use (std's count: affinity, then any cgroup CPU quota),
/// read once: the count reads up to four files, and only work large enough to share
/// asks for it.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// This host's ephemeral port range (what the OS hands out for port 0 and connect()).
#[cfg(target_os = "linux")]
pub fn ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|w| w.parse::<u16>());
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) if lo <= hi => Some((lo, hi)),
        _ => None,
    }
}

/// The IANA dynamic range, which macOS and Windows use by default.
#[cfg(not(target_os = "linux"))]
pub fn ephemeral_range() -> Option<(u16, u16)> {
    Some((49152, 65535))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// One read is trusted only when it left room: a file larger than the first buffer
    /// is read whole, and /proc files written in one piece read as std reads them.
    #[test]
    fn a_record_is_read_whole() {
        let path = std::env::temp_dir().join(format!("portscope-record-{}", std::process::id()));
        let long: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(&path, &long).unwrap();
        let mut buf = Vec::new();
        let n = read_record(&path, &mut buf).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(&buf[..n], &long[..]);
        let n = read_record("/proc/self/cmdline", &mut buf).unwrap();
        assert_eq!(&buf[..n], &std::fs::read("/proc/self/cmdline").unwrap()[..]);
        let cgroup = read_record_text("/proc/self/cgroup").unwrap();
        assert_eq!(
            cgroup,
            std::fs::read_to_string("/proc/self/cgroup").unwrap()
        );
        assert!(cgroup.ends_with('\n'), "{cgroup:?}");
    }
}
