//! Collect stage, Linux: the BPF owner source. One `iter/task_file` program walks every
//! task's descriptor table inside the kernel and writes a record per socket descriptor, so
//! naming owners costs no syscall per descriptor (the procfs scan in fdscan.rs pays a
//! readlink each). No libbpf, no compiler: the program is assembled here from the running
//! kernel's BTF (see program.rs for its source), loaded with bpf(2), read, and dropped.
//!
//! Needs Linux >= 5.11 (bpf_get_current_task_btf, bpf_sock_from_file) with BTF, and
//! CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN); callers fall back to the procfs scan on
//! [`BpfError::Permission`] and [`BpfError::Unsupported`].

mod btf;
pub mod events;
mod events_prog;
mod insn;
mod loader;
mod program;

use crate::collect::OwnerScan;
use crate::fast_hash::InodeSet;
use std::io;

/// Where the kernel publishes its own type information.
const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// One socket descriptor, as the iterator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Record {
    /// Process (thread group) id in the caller's PID namespace; 0 if not visible there.
    pub pid: u32,
    /// Thread id in the caller's PID namespace (0 if not visible): the lowest thread seen
    /// with this descriptor, since threads that share a table report it once each.
    pub tid: u32,
    pub fd: u32,
    /// The socket's inode number (sockfs), as in `socket:[N]`.
    pub inode: u64,
    /// Inode of the socket's network namespace (as in /proc/PID/ns/net); 0 if this
    /// kernel's structs could not be followed that far.
    pub netns: u64,
}

impl Record {
    /// Decodes one record as program.rs writes it (native endian).
    fn parse(b: &[u8]) -> Record {
        let u32_at = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().unwrap_or_default());
        let u64_at = |i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().unwrap_or_default());
        Record {
            pid: u32_at(0),
            tid: u32_at(4),
            fd: u32_at(8),
            inode: u64_at(16),
            netns: u64_at(24),
        }
    }
}

/// Why the BPF source cannot answer; each message names the step that failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BpfError {
    /// EPERM/EACCES: no CAP_BPF + CAP_PERFMON (an unprivileged user, most containers).
    #[error("BPF owner scan not permitted: {0}")]
    Permission(String),
    /// This kernel cannot run the program: no BTF, no task_file iterator, another struct
    /// shape, or a verifier that refuses it.
    #[error("BPF owner scan unsupported here: {0}")]
    Unsupported(String),
    #[error("BPF owner scan failed: {0}")]
    Other(String),
}

impl BpfError {
    /// Sorts a failed step's errno into the kind callers branch on. `verifier` is the end
    /// of the verifier's log, if the load produced one: an EACCES that comes with a log
    /// is the verifier refusing the program, not a permission check.
    fn classify(step: &str, e: &io::Error, verifier: &str) -> BpfError {
        let msg = if verifier.is_empty() {
            format!("{step}: {e}")
        } else {
            format!("{step}: {e}: verifier: {verifier}")
        };
        match e.raw_os_error() {
            Some(libc::EACCES) if !verifier.is_empty() => BpfError::Unsupported(msg),
            Some(libc::EPERM | libc::EACCES) => BpfError::Permission(msg),
            // 524: the kernel's internal ENOTSUPP, which bpf(2) lets escape.
            Some(
                libc::ENOENT | libc::EINVAL | libc::ENOSYS | libc::E2BIG | libc::EOPNOTSUPP | 524,
            ) => BpfError::Unsupported(msg),
            _ => BpfError::Other(msg),
        }
    }
}

/// Assembles the program for this kernel from its BTF.
fn assemble() -> Result<(Vec<insn::Insn>, u32), BpfError> {
    let blob = btf::Blob::open(VMLINUX_BTF)
        .map_err(|e| BpfError::classify(&format!("read {VMLINUX_BTF}"), &e, ""))?;
    let btf = btf::Btf::parse(blob.bytes(), program::STRUCTS, &[program::TARGET_FUNC])
        .map_err(|e| BpfError::Unsupported(format!("read {VMLINUX_BTF}: {e}")))?;
    let layout = program::Layout::from_btf(&btf)
        .map_err(|e| BpfError::Unsupported(format!("find the program's fields: {e}")))?;
    let insns = program::build(&layout)
        .map_err(|e| BpfError::Other(format!("assemble the program: {e}")))?;
    Ok((insns, layout.attach_btf_id))
}

/// The program, assembled for this kernel and loaded: the fixed cost (BTF walk and
/// verifier) paid once, after which each [`Walker::read`] is one walk over every task.
pub struct Walker {
    prog: std::os::fd::OwnedFd,
}

impl Walker {
    pub fn load() -> Result<Walker, BpfError> {
        let (insns, attach_btf_id) = assemble()?;
        Ok(Walker {
            prog: loader::load(&insns, attach_btf_id)?,
        })
    }

    /// Every socket descriptor of every process visible in the caller's PID namespace,
    /// once per (pid, fd, inode, netns), sorted by pid then fd, as of this call; and how
    /// many descriptors the walk went through.
    pub fn read(&self) -> Result<Walk, BpfError> {
        let iter = loader::open_iter(&self.prog)?;
        let mut records = Vec::with_capacity(1024);
        let mut last_index = None;
        loader::read_records(&iter, program::RECORD_LEN, |b| {
            let r = Record::parse(b);
            if (r.pid, r.tid, r.fd) == (program::TRAILER, program::TRAILER, program::TRAILER) {
                last_index = Some(r.inode);
            } else {
                records.push(r);
            }
        })?;
        Ok(Walk {
            records: dedup(records),
            descriptors: last_index.map(|i| i + 1),
        })
    }
}

/// One walk's answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Walk {
    /// See [`Walker::read`].
    pub records: Vec<Record>,
    /// Descriptors walked (the trailer's object index + 1); None without a trailer.
    pub descriptors: Option<u64>,
}

/// Loads the program and walks once: see [`Walker::read`].
pub fn scan() -> Result<Walk, BpfError> {
    Walker::load()?.read()
}

/// One record per (pid, fd, inode, netns). The iterator visits a thread group once per
/// distinct descriptor table: threads that share the leader's table are skipped, but when
/// the leader has exited each live thread reports the shared table again, and a thread
/// that unshared its table (CLONE_FILES) reports its own. Keeps the lowest tid.
fn dedup(mut records: Vec<Record>) -> Vec<Record> {
    records.sort_unstable_by_key(|r| (r.pid, r.fd, r.inode, r.netns, r.tid));
    records.dedup_by(|b, a| (a.pid, a.fd, a.inode, a.netns) == (b.pid, b.fd, b.inode, b.netns));
    records
}

/// The records in the shape of the procfs scan (`fdscan::scan_owners`): (inode, pid) for
/// each wanted inode. Records with pid 0 (a holder outside the caller's PID namespace)
/// are left out, as /proc would not list them either. `scanned` counts the processes
/// holding at least one socket; the iterator skips nobody, so `denied` is 0. With
/// `first`, only the first holder found is kept and `stopped_early` says so.
pub fn owner_scan(records: &[Record], wanted: &InodeSet, first: bool) -> OwnerScan {
    let mut scan = OwnerScan::default();
    let mut last_pid = None;
    for r in records {
        if last_pid != Some(r.pid) {
            scan.scanned += 1;
            last_pid = Some(r.pid);
        }
        if r.pid != 0 && wanted.contains(&r.inode) {
            scan.holders.push((r.inode, r.pid));
            // Visited through a thread: a table of its own, or the exited leader's.
            if r.tid != r.pid && r.tid != 0 {
                scan.thread_holders.push((r.inode, r.pid, r.tid));
            }
            if first {
                scan.stopped_early = true;
                break;
            }
        }
    }
    scan
}

#[cfg(test)]
mod tests;
