//! Collect stage, Linux: netlink sock_diag for the tables (with a /proc/net fallback), one
//! /proc/*/fd pass for the holders, sysinfo for the holders' details.

pub mod bpf;
pub mod destroy;
mod fdscan;
mod netlink;
pub mod pidfd;
pub mod procnet;

pub use fdscan::{foreign_proc, foreign_proc_warning, in_initial_pid_namespace, scan_owners};
#[doc(hidden)]
pub use netlink::parse_sock_diag_dump;

use crate::collect::{Harvest, OwnerScan, OwnerSource, TableSource, UserNames};
use crate::error::Error;
use crate::fast_hash::InodeSet;
use crate::model::{Family, OwnerSourceKind, ProcessTable, Protocol, TableQuery, TableSourceKind};
use netlink::{Diag, DiagError};

/// netlink sock_diag (what ss uses); per table, /proc/net where the kernel refuses netlink,
/// does not answer in time, or has no handler, with one warning saying so.
#[derive(Default)]
pub struct NetlinkTables {
    /// Opened on first use and kept for the re-check.
    diag: Option<Diag>,
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
        for &proto in &query.protocols {
            for &family in &query.families {
                if let Some(d) = self.diag.as_mut() {
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
        Ok(h)
    }
}

/// /proc/net/{tcp,tcp6,udp,udp6} only (`--table-source procnet`).
pub struct ProcnetTables;

impl TableSource for ProcnetTables {
    fn kind(&self) -> TableSourceKind {
        TableSourceKind::Procnet
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

/// The /proc/*/fd scan, with sysinfo and the user database for details.
#[derive(Default)]
pub struct ProcfsOwners {
    users: UserNames,
}

impl OwnerSource for ProcfsOwners {
    fn kind(&self) -> OwnerSourceKind {
        OwnerSourceKind::Procfs
    }
    fn scan(&mut self, wanted: &InodeSet, first: bool) -> std::io::Result<OwnerScan> {
        scan_owners(wanted, first)
    }
    fn details(&mut self, pids: &[u32]) -> ProcessTable {
        crate::collect::process_details(pids, &mut self.users)
    }
    fn user_name(&mut self, uid: u32) -> Option<String> {
        self.users.name(uid)
    }
}

/// Below this many open files on the host (/proc/sys/fs/file-nr) the BPF iterator's fixed
/// set-up (BTF walk and verifier, ~2.5 ms) costs more than reading every descriptor
/// through /proc (~2.5 µs each): `auto` then scans /proc. Measured: see BENCHMARKS.md.
pub const BPF_MIN_FILES: u64 = 2_000;

/// Open files on the host, a cheap estimate of the descriptors a scan would read
/// (descriptors that share a file count once).
fn open_files() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/fs/file-nr").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The BPF task_file iterator; with `auto`, only where it pays, falling back to the /proc
/// scan when the kernel refuses it (no privilege, no BTF, an old kernel): silently for
/// the user, visibly in `sources.owners`.
pub struct BpfOwners {
    auto: bool,
    /// What ran last: Bpf, or Procfs after a fallback (or by choice of `auto`).
    ran: OwnerSourceKind,
    procfs: ProcfsOwners,
}

impl BpfOwners {
    pub fn new(auto: bool) -> BpfOwners {
        BpfOwners {
            auto,
            ran: OwnerSourceKind::Bpf,
            procfs: ProcfsOwners::default(),
        }
    }

    /// Explicit bpf always runs; `auto` only where the host has enough open files, and
    /// only with a working /proc (process details come from there: a PID without them
    /// would read as "exited").
    fn worth_it(&self) -> bool {
        !self.auto || open_files().is_some_and(|n| n >= BPF_MIN_FILES)
    }
}

impl OwnerSource for BpfOwners {
    fn kind(&self) -> OwnerSourceKind {
        self.ran
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
        if self.ran == OwnerSourceKind::Bpf && self.worth_it() {
            match bpf::scan_owners(wanted, first) {
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
}
