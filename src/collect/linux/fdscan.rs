//! Collect stage, Linux: which processes hold which socket inodes, by one pass over
//! /proc/*/fd. This is ~95% of the work on a busy host, so it is allocation-free on the
//! hot path: getdents64 and readlinkat into reused buffers, relative to directory
//! descriptors, `socket:[N]` parsed in place, and the PID list split across cores.

use crate::collect::OwnerScan;
use crate::fast_hash::InodeSet;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

const DIRENT_BUF: usize = 32 * 1024;

fn open_dir_at(dir: RawFd, path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: path is NUL-terminated; the result is checked.
    let fd = unsafe {
        libc::openat(
            dir,
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: fresh descriptor we own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// One getdents64 call into `buf`: the bytes filled, 0 at the end of the directory.
fn getdents(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is writable for buf.len() bytes.
    let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Calls `f` with each entry name (NUL-terminated) in one getdents64 result, `.` and
/// `..` left out; false when `f` asked to stop.
fn entries(buf: &[u8], mut f: impl FnMut(&CStr) -> bool) -> bool {
    let mut off = 0usize;
    let n = buf.len();
    while off + 19 < n {
        // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
        let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
        if reclen == 0 {
            break;
        }
        if let Ok(name) = CStr::from_bytes_until_nul(&buf[off + 19..(off + reclen).min(n)]) {
            let b = name.to_bytes();
            if b != b"." && b != b".." && !f(name) {
                return false;
            }
        }
        off += reclen;
    }
    true
}

/// Calls `f` with each entry name (NUL-terminated) of the directory `fd`.
fn for_each_entry(fd: RawFd, buf: &mut [u8], mut f: impl FnMut(&CStr) -> bool) -> io::Result<()> {
    loop {
        let n = getdents(fd, buf)?;
        if n == 0 || !entries(&buf[..n], &mut f) {
            return Ok(());
        }
    }
}

fn parse_u32(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    u32::try_from(v).ok()
}

/// Parses `socket:[12345]` in place.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let rest = link.strip_prefix(b"socket:[")?;
    let rest = rest.strip_suffix(b"]")?;
    let mut v: u64 = 0;
    for &c in rest {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// Every PID under /proc.
pub fn list_pids(proc_fd: RawFd) -> io::Result<Vec<u32>> {
    let mut pids = Vec::with_capacity(1024);
    let mut buf = vec![0u8; DIRENT_BUF];
    for_each_entry(proc_fd, &mut buf, |name| {
        if let Some(p) = parse_u32(name.to_bytes()) {
            pids.push(p);
        }
        true
    })?;
    Ok(pids)
}

/// Counts and finds, per worker thread.
#[derive(Default)]
struct Part {
    holders: Vec<(u64, u32)>,
    /// Holders found only in a thread's own descriptor table: (inode, pid, tid).
    thread_holders: Vec<(u64, u32, u32)>,
    denied: usize,
    vanished: usize,
    fd_limited: usize,
    scanned: usize,
}

/// Writes `<n>` into `out` as decimal, returning the digits' length.
fn put_u32(out: &mut [u8], mut n: u32) -> usize {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let d = &digits[i..];
    out[..d.len()].copy_from_slice(d);
    d.len()
}

/// `<pid>/fd`, `<pid>/task` or `<pid>/task/<tid>/fd`, NUL-terminated, in `buf`: no
/// formatting machinery on the hot path.
fn proc_path<'b>(buf: &'b mut [u8; 48], pid: u32, tid: Option<u32>, leaf: &[u8]) -> &'b CStr {
    let mut at = put_u32(buf, pid);
    if let Some(t) = tid {
        buf[at..at + 6].copy_from_slice(b"/task/");
        at += 6;
        at += put_u32(&mut buf[at..], t);
    }
    buf[at] = b'/';
    buf[at + 1..at + 1 + leaf.len()].copy_from_slice(leaf);
    at += 1 + leaf.len();
    buf[at] = 0;
    CStr::from_bytes_with_nul(&buf[..=at]).unwrap_or(c"")
}

/// Whether two tasks share one descriptor table (kcmp KCMP_FILES); None when the kernel
/// cannot say (no CONFIG_KCMP, or not permitted).
fn same_files(pid: u32, tid: u32) -> Option<bool> {
    const KCMP_FILES: libc::c_long = 2;
    // SAFETY: kcmp takes plain integers and touches no memory of ours.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, pid, tid, KCMP_FILES, 0, 0) };
    (r >= 0).then_some(r == 0)
}

/// Why a directory could not be opened, counted where the answer needs it.
fn count_failure(part: &mut Part, e: &io::Error) {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => part.denied += 1,
        // Out of descriptors is not "the process vanished": its owners would silently go.
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOMEM) => part.fd_limited += 1,
        _ => part.vanished += 1,
    }
}

/// Descriptors `start..end` of one table (`tid`: a thread's own table). A whole table is
/// `0..u32::MAX`; a table too large for one getdents buffer is cut into slices that any
/// scan thread may take, so one process with 60k descriptors keeps both cores busy.
#[derive(Clone, Copy)]
struct Slice {
    pid: u32,
    tid: Option<u32>,
    start: u32,
    end: u32,
}

impl Slice {
    fn whole(pid: u32, tid: Option<u32>) -> Slice {
        Slice {
            pid,
            tid,
            start: 0,
            end: u32::MAX,
        }
    }
}

/// Descriptors per slice of a large table: ~5 ms of readlink, fine enough to balance two
/// threads, coarse enough that the extra open and lseek per slice do not count.
const SLICE: u32 = 2048;

/// What the scan threads share: the PID list (taken in chunks), then slices of tables.
struct Shared<'a> {
    proc_fd: RawFd,
    pids: &'a [u32],
    next: AtomicUsize,
    wanted: &'a InodeSet,
    stop_at_first: Option<&'a AtomicBool>,
    /// Cut large tables into slices (more than one thread, and not `--first`).
    split: bool,
    queue: Mutex<Queue>,
    more: Condvar,
}

struct Queue {
    slices: Vec<Slice>,
    /// Threads still taking PIDs: each may yet add slices.
    listing: usize,
}

impl Shared<'_> {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn try_slice(&self) -> Option<Slice> {
        if !self.split {
            return None;
        }
        self.queue().slices.pop()
    }

    /// A slice, once one is there; None when none is left and no thread can add one.
    fn wait_slice(&self) -> Option<Slice> {
        let mut q = self.queue();
        loop {
            if let Some(s) = q.slices.pop() {
                return Some(s);
            }
            if q.listing == 0 {
                return None;
            }
            q = self.more.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn add_slices(&self, s: impl Iterator<Item = Slice>) {
        self.queue().slices.extend(s);
        self.more.notify_all();
    }
}

/// A thread's stake in `Queue::listing`, given up when it has no PID left to take, or
/// when it unwinds: a thread that died must not leave the others waiting for slices.
struct Listing<'a>(Option<&'a Shared<'a>>);

impl Listing<'_> {
    fn done(&mut self) {
        if let Some(sh) = self.0.take() {
            sh.queue().listing -= 1;
            sh.more.notify_all();
        }
    }
}

impl Drop for Listing<'_> {
    fn drop(&mut self) {
        self.done();
    }
}

struct Worker<'a> {
    sh: &'a Shared<'a>,
    dbuf: Vec<u8>,
    tbuf: Vec<u8>,
    part: Part,
}

impl Worker<'_> {
    /// Reads one descriptor table, or a slice of it; true when a wanted socket was found.
    fn scan_table(&mut self, s: Slice) -> bool {
        let mut path = [0u8; 48];
        let cpath = proc_path(&mut path, s.pid, s.tid, b"fd");
        let fd_dir = match open_dir_at(self.sh.proc_fd, cpath) {
            Ok(fd) => fd,
            Err(e) => {
                // A slice of a process that exited since: counted once, with its table.
                if s.start == 0 || e.raw_os_error() != Some(libc::ENOENT) {
                    count_failure(&mut self.part, &e);
                }
                return false;
            }
        };
        let dfd = fd_dir.as_raw_fd();
        // The position in /proc/PID/fd is the descriptor number + 2 (after . and ..).
        // SAFETY: plain integers on a descriptor we own.
        if s.start > 0 && unsafe { libc::lseek(dfd, i64::from(s.start) + 2, libc::SEEK_SET) } < 0 {
            return false;
        }
        let mut split_at = None;
        let mut found = false;
        loop {
            let n = match getdents(dfd, &mut self.dbuf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => {
                    // The process exited while we read its table: what we saw stands.
                    self.part.vanished += 1;
                    break;
                }
            };
            // A full first buffer: more than ~1,300 descriptors. Hand the rest out.
            if s.end == u32::MAX && split_at.is_none() && self.sh.split && n + 64 > self.dbuf.len()
            {
                split_at = self.share_rest(s, &self.dbuf[..n]);
            }
            let end = split_at.unwrap_or(s.end);
            let (more, hit) = read_links(dfd, &self.dbuf[..n], s, end, self.sh, &mut self.part);
            found |= hit;
            if !more || split_at.is_some() || (found && self.sh.stop_at_first.is_some()) {
                break;
            }
        }
        found
    }

    /// Queues slices for the descriptors after the last one in `first` (one getdents
    /// result), up to the table's size (FDSize), the last one open-ended; returns where
    /// this thread's part ends, or None when the table's size is unknown.
    fn share_rest(&self, s: Slice, first: &[u8]) -> Option<u32> {
        let mut last = None;
        entries(first, |name| {
            last = parse_u32(name.to_bytes());
            true
        });
        let from = last?.checked_add(1)?;
        let size = self.fd_table_size(s.pid, s.tid)?;
        let starts = (from..size.max(from + 1)).step_by(SLICE as usize);
        let slices = starts.map(|start| Slice {
            start,
            end: if start.saturating_add(SLICE) >= size {
                u32::MAX
            } else {
                start + SLICE
            },
            ..s
        });
        self.sh.add_slices(slices);
        Some(from)
    }

    /// FDSize from /proc/PID[/task/TID]/status: one more than the highest descriptor the
    /// table can hold now.
    fn fd_table_size(&self, pid: u32, tid: Option<u32>) -> Option<u32> {
        let mut path = [0u8; 48];
        let p = proc_path(&mut path, pid, tid, b"status");
        let mut buf = [0u8; 4096];
        let text = read_small(self.sh.proc_fd, p, &mut buf)?;
        let at = text.windows(8).position(|w| w == b"FDSize:\t")? + 8;
        let digits = text[at..].split(|&b| b == b'\n').next()?;
        parse_u32(digits)
    }

    /// Threads with a descriptor table of their own: one that called
    /// unshare(CLONE_FILES), or every live thread once the leader has exited (its own
    /// table is then empty). Each distinct table is read once.
    fn scan_threads(&mut self, pid: u32) -> bool {
        let mut path = [0u8; 48];
        let Ok(task_dir) = open_dir_at(self.sh.proc_fd, proc_path(&mut path, pid, None, b"task"))
        else {
            return false;
        };
        let mut tids: Vec<u32> = Vec::new();
        let _ = for_each_entry(task_dir.as_raw_fd(), &mut self.tbuf, |name| {
            if let Some(t) = parse_u32(name.to_bytes()) {
                tids.push(t);
            }
            true
        });
        drop(task_dir);
        if tids.len() <= 1 {
            return false;
        }
        let mut read: Vec<u32> = vec![pid];
        let mut leader_alive: Option<bool> = None;
        let mut found = false;
        for tid in tids.into_iter().filter(|&t| t != pid) {
            let mut distinct = true;
            for &r in &read {
                let same = match same_files(r, tid) {
                    Some(same) => same,
                    // Without kcmp, only the threads of an exited leader are read (not
                    // every thread of every process, which would multiply the cost).
                    None => r != pid || *leader_alive.get_or_insert_with(|| self.leader_alive(pid)),
                };
                if same {
                    distinct = false;
                    break;
                }
            }
            if distinct {
                read.push(tid);
                found |= self.scan_table(Slice::whole(pid, Some(tid)));
                if found && self.sh.stop_at_first.is_some() {
                    return true;
                }
            }
        }
        found
    }

    /// Whether the thread-group leader still runs (it is a zombie once it called
    /// pthread_exit while other threads live).
    fn leader_alive(&self, pid: u32) -> bool {
        let mut path = [0u8; 48];
        let p = proc_path(&mut path, pid, None, b"stat");
        let mut buf = [0u8; 512];
        let Some(text) = read_small(self.sh.proc_fd, p, &mut buf) else {
            return false;
        };
        // "pid (comm) S ...": the state follows the last ')'.
        let state = text
            .iter()
            .rposition(|&b| b == b')')
            .and_then(|i| text.get(i + 2));
        !matches!(state, Some(b'Z') | Some(b'X') | None)
    }

    /// One process: its table, then its threads' own tables. True when the scan may stop
    /// (`--first` found a holder).
    fn scan_pid(&mut self, pid: u32) -> bool {
        let before = (self.part.denied, self.part.vanished, self.part.fd_limited);
        let mut found = self.scan_table(Slice::whole(pid, None));
        if (self.part.denied, self.part.vanished, self.part.fd_limited) != before {
            return false;
        }
        self.part.scanned += 1;
        let first = self.sh.stop_at_first;
        if !(found && first.is_some()) {
            found |= self.scan_threads(pid);
        }
        match first {
            Some(stop) if found => {
                stop.store(true, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }
}

/// Reads the links of one getdents result's entries below `end`; (whether the table goes
/// on past this buffer, whether a wanted socket was found).
fn read_links(
    dfd: RawFd,
    buf: &[u8],
    s: Slice,
    end: u32,
    sh: &Shared,
    part: &mut Part,
) -> (bool, bool) {
    let mut link = [0u8; 64];
    let mut found = false;
    let first = sh.stop_at_first.is_some();
    let more = entries(buf, |name| {
        if end != u32::MAX && parse_u32(name.to_bytes()).is_none_or(|fd| fd >= end) {
            return false;
        }
        // SAFETY: name is NUL-terminated; link is writable for its length.
        let n =
            unsafe { libc::readlinkat(dfd, name.as_ptr(), link.as_mut_ptr().cast(), link.len()) };
        if n > 0 {
            if let Some(ino) = socket_inode(&link[..n as usize]) {
                if sh.wanted.contains(&ino) {
                    part.holders.push((ino, s.pid));
                    if let Some(t) = s.tid {
                        part.thread_holders.push((ino, s.pid, t));
                    }
                    found = true;
                    return !first;
                }
            }
        }
        true
    });
    (more, found)
}

/// Reads a small /proc file relative to `dir` into `buf`; None if it cannot be read.
fn read_small<'b>(dir: RawFd, path: &CStr, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    // SAFETY: path is NUL-terminated; the descriptor is closed below.
    let fd = unsafe { libc::openat(dir, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: buf is writable for its length; fd is ours.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: fd is ours and open.
    unsafe { libc::close(fd) };
    Some(&buf[..usize::try_from(n).ok()?])
}

/// One scan thread: PIDs in chunks, slices as they come, until nothing is left.
fn scan_part(sh: &Shared) -> Part {
    let mut w = Worker {
        sh,
        dbuf: vec![0u8; DIRENT_BUF],
        tbuf: vec![0u8; 4096],
        part: Part::default(),
    };
    let mut listing = Listing(Some(sh));
    const CHUNK: usize = 4;
    let stopped = || sh.stop_at_first.is_some_and(|s| s.load(Ordering::Relaxed));
    while listing.0.is_some() {
        if let Some(s) = sh.try_slice() {
            w.scan_table(s);
            continue;
        }
        let start = sh.next.fetch_add(CHUNK, Ordering::Relaxed);
        if start >= sh.pids.len() {
            listing.done();
            break;
        }
        for &pid in &sh.pids[start..(start + CHUNK).min(sh.pids.len())] {
            if stopped() || w.scan_pid(pid) {
                return w.part;
            }
        }
    }
    while let Some(s) = sh.wait_slice() {
        w.scan_table(s);
    }
    w.part
}

/// Open files on the host (/proc/sys/fs/file-nr): a cheap estimate of the descriptors a
/// scan reads (descriptors that share a file count once; files no table holds count).
pub fn open_files() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/fs/file-nr").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// From this many open files on the host the /proc scan uses every core (up to 8); below
/// it one thread, as starting the others costs more than they save. Measured: see
/// BENCHMARKS.md, "One scan thread or two".
pub const SCAN_THREADS_MIN_FILES: u64 = 1_000;

/// Finds the holders of `wanted` among every process visible in /proc.
/// `first`: stop at the first holder found (`who --first`).
pub fn scan_owners(wanted: &InodeSet, first: bool) -> io::Result<OwnerScan> {
    let proc_dir = open_dir_at(libc::AT_FDCWD, c"/proc")?;
    let pfd = proc_dir.as_raw_fd();
    let pids = list_pids(pfd)?;
    // Our own process is always there on a real procfs: an empty listing means /proc is
    // something else (a tmpfs over it, a broken mount), and nothing found there is true.
    if !pids.contains(&std::process::id()) {
        return Err(io::Error::other(
            "/proc lists no processes (not a procfs mount?)",
        ));
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    // By work, not by process count: 250 processes may hold 70k descriptors. Without
    // file-nr (an odd /proc), by the old rule of thumb.
    let worth_it = open_files().map_or(pids.len() >= 256, |n| n >= SCAN_THREADS_MIN_FILES);
    let threads = if worth_it { cpus } else { 1 };
    let stop = AtomicBool::new(false);
    let sh = Shared {
        proc_fd: pfd,
        pids: &pids,
        next: AtomicUsize::new(0),
        wanted,
        stop_at_first: first.then_some(&stop),
        split: threads > 1 && !first,
        queue: Mutex::new(Queue {
            slices: Vec::new(),
            listing: threads,
        }),
        more: Condvar::new(),
    };
    let parts: Vec<Option<Part>> = if threads == 1 {
        vec![Some(scan_part(&sh))]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(|| scan_part(&sh))).collect();
            handles.into_iter().map(|h| h.join().ok()).collect()
        })
    };
    // A worker that died took its share of the PIDs with it: an answer missing those
    // owners would be wrong, not partial, so the scan as a whole fails (and says so).
    let Some(parts): Option<Vec<Part>> = parts.into_iter().collect() else {
        return Err(io::Error::other("an owner-scan worker thread failed"));
    };
    let mut scan = OwnerScan::default();
    for p in parts {
        scan.holders.extend(p.holders);
        scan.thread_holders.extend(p.thread_holders);
        scan.fd_limited += p.fd_limited;
        scan.denied += p.denied;
        scan.vanished += p.vanished;
        scan.scanned += p.scanned;
    }
    scan.stopped_early = first && stop.load(Ordering::Relaxed);
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    scan.sees_every_process =
        root && scan.denied == 0 && in_initial_pid_namespace() && foreign_proc().is_none();
    if let Some((seen, me)) = foreign_proc() {
        scan.warnings.push(foreign_proc_warning(seen, me));
    }
    // With hidepid=invisible other users' processes are not even listed, so no open is
    // refused: count that as a denial, or their sockets would look held by nobody here.
    if scan.denied == 0 && !root {
        let hides = std::fs::read_to_string("/proc/self/mountinfo")
            .map(|m| proc_hides_pids(&m))
            .unwrap_or(false);
        if hides {
            scan.denied = 1;
        }
    }
    Ok(scan)
}

/// What /proc calls this process and what getpid() says, when they differ: /proc then
/// belongs to another PID namespace (`unshare -p -f` without --mount-proc), and every PID
/// read from it means nothing in ours.
pub fn foreign_proc() -> Option<(u32, u32)> {
    let link = std::fs::read_link("/proc/self").ok()?;
    let seen: u32 = link.to_str()?.parse().ok()?;
    let me = std::process::id();
    (seen != me).then_some((seen, me))
}

pub fn foreign_proc_warning(seen: u32, me: u32) -> String {
    format!(
        "/proc belongs to another PID namespace (it calls this process {seen}, getpid() says {me}): \
         the PIDs shown are that namespace's and mean nothing here, so do not pass them to kill; \
         mount this namespace's own /proc (unshare --mount-proc)"
    )
}

/// The initial PID namespace has a fixed inode (PROC_PID_INIT_INO).
pub fn in_initial_pid_namespace() -> bool {
    std::fs::read_link("/proc/self/ns/pid").is_ok_and(|l| l.as_os_str() == "pid:[4026531836]")
}

/// Whether /proc is mounted with hidepid=2 / hidepid=invisible (mountinfo's super options).
fn proc_hides_pids(mountinfo: &str) -> bool {
    mountinfo.lines().any(|l| {
        let mut halves = l.splitn(2, " - ");
        let (Some(left), Some(right)) = (halves.next(), halves.next()) else {
            return false;
        };
        let mount_point = left.split(' ').nth(4);
        let mut r = right.split(' ');
        let fstype = r.next();
        let opts = r.nth(1).unwrap_or("");
        mount_point == Some("/proc")
            && fstype == Some("proc")
            && opts.split(',').any(|o| {
                // invisible (2) hides other users' processes; ptraceable (4) hides
                // every process we may not ptrace: either way, unseen means denied.
                matches!(
                    o,
                    "hidepid=2" | "hidepid=invisible" | "hidepid=4" | "hidepid=ptraceable"
                )
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_socket_links_in_place() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"socket:[]"), Some(0));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"socket:[12x]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"socket:[99999999999999999999999]"), None);
    }

    #[test]
    fn detects_hidepid_invisible() {
        let plain = "22 27 0:21 / /proc rw,relatime - proc proc rw\n";
        assert!(!proc_hides_pids(plain));
        assert!(proc_hides_pids(
            "22 27 0:21 / /proc rw - proc proc rw,hidepid=2\n"
        ));
        assert!(proc_hides_pids(
            "1 2 0:5 / /proc rw - proc proc rw,hidepid=invisible\n"
        ));
        assert!(!proc_hides_pids(
            "1 2 0:5 / /proc rw - proc proc rw,hidepid=noaccess\n"
        ));
        // hidepid_ptraceable_is_permission_denied (issue 11, item 5)
        assert!(proc_hides_pids(
            "1 2 0:5 / /proc rw - proc proc rw,hidepid=ptraceable\n"
        ));
        assert!(proc_hides_pids(
            "1 2 0:5 / /proc rw - proc proc rw,hidepid=4\n"
        ));
        assert!(!proc_hides_pids(
            "1 2 0:5 / /mnt/proc rw - proc proc rw,hidepid=2\n"
        ));
    }

    #[test]
    fn parses_pids() {
        assert_eq!(parse_u32(b"4242"), Some(4242));
        assert_eq!(parse_u32(b"self"), None);
        assert_eq!(parse_u32(b""), None);
        assert_eq!(parse_u32(b"99999999999"), None);
    }

    #[test]
    fn finds_our_own_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        use std::os::unix::fs::MetadataExt;
        let fd = l.as_raw_fd();
        let ino = std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .unwrap()
            .ino();
        let mut wanted = InodeSet::default();
        wanted.insert(ino);
        let scan = scan_owners(&wanted, false).unwrap();
        assert_eq!(scan.holders, vec![(ino, std::process::id())]);
        assert!(scan.scanned >= 1);
        let scan = scan_owners(&wanted, true).unwrap();
        assert_eq!(scan.holders, vec![(ino, std::process::id())]);
        assert!(scan.stopped_early);
    }
}
