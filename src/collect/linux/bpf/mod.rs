//! Collect stage, Linux: the BPF owner source. A BPF iterator program walks every task's
//! descriptor table inside the kernel and writes a record per socket descriptor, so naming
//! owners costs no syscall per descriptor (the procfs scan in fdscan.rs pays a readlink
//! each). No libbpf, no compiler: the program is assembled here from the running kernel's
//! BTF, loaded with bpf(2), read, and dropped. Two programs write the same records:
//! - fdtable.rs's `iter/task` program, which reads each task's table itself and only the
//!   sockets' files (Linux 6.2+: bpf_loop, bpf_rdonly_cast): several times cheaper per
//!   descriptor; tried first;
//! - program.rs's `iter/task_file` program, which the kernel runs once per open file
//!   (Linux 5.11+: bpf_get_current_task_btf, bpf_sock_from_file): where the first does not
//!   load, for a table with more sockets than the first writes for one task, or where it
//!   cannot finish a walk (see [`Walker::read`]).
//!
//! Needs BTF and CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN); callers fall back to the
//! procfs scan on [`BpfError::Permission`] and [`BpfError::Unsupported`].

mod btf;
pub mod events;
mod events_prog;
mod fdtable;
mod insn;
mod loader;
mod progbtf;
mod program;

use crate::collect::OwnerScan;
use crate::fast_hash::InodeSet;
pub use crate::model::OwnerWalkProgram as Program;
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
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
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

/// The kernel's types, read once for both programs: where one cannot be followed,
/// why.
struct Layouts {
    fdtable: Result<fdtable::Layout, BpfError>,
    task_file: Result<program::Layout, BpfError>,
}

fn layouts() -> Result<Layouts, BpfError> {
    let blob = btf::Blob::open(VMLINUX_BTF)
        .map_err(|e| BpfError::classify(&format!("read {VMLINUX_BTF}"), &e, ""))?;
    let structs: Vec<&str> = program::STRUCTS
        .iter()
        .chain(
            fdtable::STRUCTS
                .iter()
                .filter(|s| !program::STRUCTS.contains(s)),
        )
        .copied()
        .collect();
    let funcs = [
        program::TARGET_FUNC,
        fdtable::TARGET_FUNC,
        fdtable::RDONLY_CAST,
    ];
    let btf = btf::Btf::parse(blob.bytes(), &structs, &funcs)
        .map_err(|e| BpfError::Unsupported(format!("read {VMLINUX_BTF}: {e}")))?;
    let fields =
        |e: btf::BtfError| BpfError::Unsupported(format!("find the program's fields: {e}"));
    Ok(Layouts {
        fdtable: fdtable::Layout::from_btf(&btf).map_err(fields),
        task_file: program::Layout::from_btf(&btf).map_err(fields),
    })
}

/// A socket of ours at a known descriptor, open while the fdtable program may run: the
/// program reads its f_op to learn socket_file_ops, which the BTF does not hold.
struct Anchor {
    fd: std::os::fd::OwnedFd,
    inode: u64,
}

impl Anchor {
    fn open() -> Result<Anchor, BpfError> {
        let fail = |e: io::Error| BpfError::Other(format!("open a socket to learn from: {e}"));
        let fd =
            std::os::fd::OwnedFd::from(std::os::unix::net::UnixDatagram::unbound().map_err(fail)?);
        let inode = rustix::fs::fstat(&fd).map_err(|e| fail(e.into()))?.st_ino;
        Ok(Anchor { fd, inode })
    }

    fn raw(&self) -> u32 {
        use std::os::fd::AsRawFd;
        self.fd.as_raw_fd() as u32
    }
}

/// The fdtable program, loaded, with the socket it learns from.
struct Fdtable {
    prog: std::os::fd::OwnedFd,
    anchor: Anchor,
}

fn load_fdtable(l: &Result<fdtable::Layout, BpfError>) -> Result<Fdtable, BpfError> {
    let l = l.as_ref().map_err(Clone::clone)?;
    let anchor = Anchor::open()?;
    let (insns, funcs) = fdtable::build(l, anchor.raw())
        .map_err(|e| BpfError::Other(format!("assemble the program: {e}")))?;
    let funcs = progbtf::FuncInfo::load(&funcs)?;
    let prog = loader::load(&insns, l.attach_btf_id, loader::NAME_FDTABLE, Some(&funcs))?;
    Ok(Fdtable { prog, anchor })
}

fn load_task_file(l: &Result<program::Layout, BpfError>) -> Result<std::os::fd::OwnedFd, BpfError> {
    let l = l.as_ref().map_err(Clone::clone)?;
    let insns =
        program::build(l).map_err(|e| BpfError::Other(format!("assemble the program: {e}")))?;
    loader::load(&insns, l.attach_btf_id, loader::NAME_TASK_FILE, None)
}

/// A program assembled for this kernel and loaded: the fixed cost (BTF walk and
/// verifier) paid once, after which each [`Walker::read`] is one walk over every task.
pub struct Walker {
    /// The fdtable program; None where it does not load, or could not finish a walk.
    fdtable: Option<Fdtable>,
    /// The task_file program, loaded where it is needed.
    task_file: Option<std::os::fd::OwnedFd>,
    task_file_layout: Result<program::Layout, BpfError>,
}

impl Walker {
    /// The fdtable program where this kernel runs it (Linux 6.2+), else the task_file
    /// program, silently: which one walked is in [`Walk::program`].
    pub fn load() -> Result<Walker, BpfError> {
        let layouts = layouts()?;
        let mut w = Walker {
            fdtable: load_fdtable(&layouts.fdtable).ok(),
            task_file: None,
            task_file_layout: layouts.task_file,
        };
        if w.fdtable.is_none() {
            w.task_file()?;
        }
        Ok(w)
    }

    /// Exactly `program`, with no fallback at load (for tests and measurements).
    pub fn load_only(program: Program) -> Result<Walker, BpfError> {
        let layouts = layouts()?;
        let mut w = Walker {
            fdtable: None,
            task_file: None,
            task_file_layout: layouts.task_file,
        };
        match program {
            Program::TaskFdtable => w.fdtable = Some(load_fdtable(&layouts.fdtable)?),
            Program::TaskFile => {
                w.task_file()?;
            }
        }
        Ok(w)
    }

    fn task_file(&mut self) -> Result<&std::os::fd::OwnedFd, BpfError> {
        if self.task_file.is_none() {
            self.task_file = Some(load_task_file(&self.task_file_layout)?);
        }
        Ok(self.task_file.as_ref().expect("loaded above"))
    }

    /// Every socket descriptor of every process visible in the caller's PID namespace,
    /// once per (pid, fd, inode, netns), sorted by pid then fd, as of this call; and how
    /// many descriptors the walk went through. A table with more sockets than the
    /// fdtable program writes for one task (MAX_RECORDS) is walked again alone, by
    /// task_file. Where the fdtable walk cannot finish (a table with no bitmap bpf_loop
    /// can go through, none of our sockets to learn from, or that second walk failing),
    /// the whole walk is task_file's, and stays so for later reads.
    pub fn read(&mut self) -> Result<Walk, BpfError> {
        if let Some(f) = &self.fdtable {
            // Any failure of this walk (a read error, a second walk that failed) is
            // task_file's to answer, as an unfinished walk is.
            let anchor = f.anchor.inode;
            if let Ok(Some((mut walk, truncated))) = read_fdtable(&f.prog, &f.anchor) {
                if truncated.is_empty()
                    || self
                        .complete(&mut walk, &truncated, anchor)
                        .unwrap_or(false)
                {
                    return Ok(walk);
                }
            }
            self.fdtable = None;
        }
        read_task_file(self.task_file()?)
    }

    /// Replaces the records of each truncated (pid, tid) with a task_file walk of that
    /// task alone: cut short at MAX_RECORDS, or its table freed during the walk (then the
    /// records are not trusted). A task that no longer exists holds nothing: its records
    /// go. False where a live one comes back without a record: this kernel cannot walk
    /// one task by its tid (before the iterator's tid filter was fixed, a thread's).
    /// Our anchor socket (inode `anchor`) is left out of those walks too.
    fn complete(
        &mut self,
        walk: &mut Walk,
        truncated: &[(u32, u32)],
        anchor: u64,
    ) -> Result<bool, BpfError> {
        let prog = self.task_file()?;
        for &(pid, tid) in truncated {
            if tid == 0 {
                return Ok(false); // 0 would mean every task
            }
            let mut alone = read_records(&loader::open_iter_tid(prog, tid)?)?;
            alone.records.retain(|r| r.inode != anchor);
            walk.records.retain(|r| (r.pid, r.tid) != (pid, tid));
            if !alone.records.iter().any(|r| r.pid == pid) {
                // Our /proc (the caller's PID namespace: a foreign /proc never gets here).
                let gone = std::fs::metadata(format!("/proc/{tid}")).is_err();
                match gone {
                    true => continue,
                    false => return Ok(false),
                }
            }
            walk.records.extend(alone.records);
            walk.descriptors = walk.descriptors.zip(alone.descriptors).map(|(a, b)| a + b);
        }
        walk.records = dedup(std::mem::take(&mut walk.records));
        Ok(true)
    }
}

fn read_failed(e: io::Error) -> BpfError {
    BpfError::classify("read the iterator", &e, "")
}

fn read_task_file(prog: &std::os::fd::OwnedFd) -> Result<Walk, BpfError> {
    read_records(&loader::open_iter(prog)?)
}

/// One walk of the task_file program: its trailer's inode is the index of the last
/// descriptor.
fn read_records(iter: &std::os::fd::OwnedFd) -> Result<Walk, BpfError> {
    let mut records = Vec::with_capacity(1024);
    let mut last_index = None;
    loader::read_records(iter, program::RECORD_LEN, |b| {
        let r = Record::parse(b);
        if (r.pid, r.tid, r.fd) == (program::TRAILER, program::TRAILER, program::TRAILER) {
            last_index = Some(r.inode);
        } else {
            records.push(r);
        }
    })
    .map_err(read_failed)?;
    Ok(Walk {
        records: dedup(records),
        descriptors: last_index.map(|i| i + 1),
        program: Program::TaskFile,
    })
}

/// The (pid, tid) of each task whose records the fdtable program cut short.
type Truncated = Vec<(u32, u32)>;

/// One walk of the fdtable program, and the tasks whose records were truncated. Each table's count comes in a PARTIAL record (a truncated one's comes
/// from its second walk), the trailer says the walk ended; our anchor socket is left
/// out. None where the walk could not finish: a table could not be walked, or a read
/// failed with E2BIG (one task's records more than a read holds, which MAX_RECORDS is
/// there to prevent).
fn read_fdtable(
    prog: &std::os::fd::OwnedFd,
    anchor: &Anchor,
) -> Result<Option<(Walk, Truncated)>, BpfError> {
    let iter = loader::open_iter(prog)?;
    let mut records = Vec::with_capacity(1024);
    let mut truncated = Vec::new();
    let (mut counted, mut ended, mut incomplete) = (0u64, false, false);
    let read = loader::read_records(&iter, program::RECORD_LEN, |b| {
        let r = Record::parse(b);
        match (r.pid, r.tid, r.fd) {
            (program::TRAILER, program::TRAILER, program::TRAILER) => ended = true,
            (program::TRAILER, program::TRAILER, fdtable::PARTIAL) => counted += r.inode,
            (program::TRAILER, program::TRAILER, fdtable::INCOMPLETE) => incomplete = true,
            (program::TRAILER, program::TRAILER, fdtable::TRUNCATED) => {
                truncated.push(((r.inode >> 32) as u32, r.inode as u32))
            }
            _ if r.inode == anchor.inode => {}
            _ => records.push(r),
        }
    });
    match read {
        Err(e) if e.raw_os_error() == Some(libc::E2BIG) => return Ok(None),
        Err(e) => return Err(read_failed(e)),
        Ok(()) if incomplete => return Ok(None),
        Ok(()) => {}
    }
    // With tables still to walk again, the records stay as written until then (`complete`
    // de-duplicates): merged now, a thread's own copy of a descriptor could go with the
    // truncated leader's record it was merged into.
    let records = match truncated.is_empty() {
        true => dedup(records),
        false => records,
    };
    let walk = Walk {
        records,
        descriptors: ended.then_some(counted),
        program: Program::TaskFdtable,
    };
    Ok(Some((walk, truncated)))
}

/// One walk's answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Walk {
    /// See [`Walker::read`].
    pub records: Vec<Record>,
    /// Descriptors walked; None without the walk's trailer.
    pub descriptors: Option<u64>,
    /// The program that walked.
    pub program: Program,
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
