//! Collect stage, Linux: the threads of the /proc scan (fdscan.rs) and how they share
//! the work: PIDs in small chunks, then slices of any table too large for one getdents
//! buffer, so the threads stay busy until the last descriptor, however the descriptors
//! are spread over processes.

use super::procdir::{
    count_failure, entries, fd_count, fd_counts_reported, for_each_entry, getdents, open_dir_at,
    parse_u32, proc_path, same_files, socket_inode, thread_count, Part, DIRENT_BUF,
};
use crate::fast_hash::InodeSet;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

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

/// Room for the largest /proc/PID/fd entry (a 19-byte header and up to 10 digits and a
/// NUL, 8-aligned: 32 bytes), with margin: a getdents result leaving less than this
/// unused filled the buffer. (One leaving more is not the end of the listing: getdents
/// also returns early when a signal is pending, so the listing reads on until 0.)
const DIRENT_ROOM: usize = 64;

/// Descriptors per slice of a large table: ~5 ms of readlink, fine enough to balance two
/// threads, coarse enough that the extra open and lseek per slice do not count.
const SLICE: u32 = 2048;

/// What the scan threads share: the PID list (taken in chunks), then slices of tables.
pub(super) struct Shared<'a> {
    proc_fd: RawFd,
    pids: &'a [u32],
    next: AtomicUsize,
    wanted: &'a InodeSet,
    stop_at_first: Option<&'a AtomicBool>,
    /// Cut large tables into slices (more than one thread, and not `--first`).
    split: bool,
    /// The kernel reports each table's size as /proc/PID/fd's: empty ones (every kernel
    /// thread) need no open and listing.
    fd_counts: bool,
    queue: Mutex<Queue>,
    more: Condvar,
}

struct Queue {
    slices: Vec<Slice>,
    /// Threads still taking PIDs: each may yet add slices.
    listing: usize,
}

impl<'a> Shared<'a> {
    /// Work for `threads` threads; `stop_at_first`: the flag `--first` stops them with.
    pub(super) fn new(
        proc_fd: RawFd,
        pids: &'a [u32],
        wanted: &'a InodeSet,
        stop_at_first: Option<&'a AtomicBool>,
        threads: usize,
    ) -> Shared<'a> {
        Shared {
            proc_fd,
            pids,
            next: AtomicUsize::new(0),
            wanted,
            stop_at_first,
            split: threads > 1 && stop_at_first.is_none(),
            fd_counts: fd_counts_reported(proc_fd),
            queue: Mutex::new(Queue {
                slices: Vec::new(),
                listing: threads,
            }),
            more: Condvar::new(),
        }
    }

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
        // Should the seek fail, the listing starts at 0 and read_links skips to `start`.
        if s.start > 0 {
            // SAFETY: plain integers on a descriptor we own.
            unsafe { libc::lseek(dfd, i64::from(s.start) + 2, libc::SEEK_SET) };
        }
        let mut split_at = None;
        let mut found = false;
        // Descriptor 0's link first, before the listing: when this process's links are
        // refused (ptrace_may_access: root without CAP_SYS_PTRACE, a non-dumpable
        // process, an LSM), the listing would build an inode per descriptor only to be
        // thrown away. Its answer is kept, so the listing skips 0.
        let mut zero_read = false;
        if s.start == 0 {
            match read_link(dfd, c"0", s, self.sh, &mut self.part) {
                Link::Refused => return false,
                Link::Wanted => {
                    found = true;
                    if self.sh.stop_at_first.is_some() {
                        return true;
                    }
                }
                Link::Other | Link::Absent => {}
            }
            zero_read = true;
        }
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
            if s.end == u32::MAX
                && split_at.is_none()
                && self.sh.split
                && n + DIRENT_ROOM > self.dbuf.len()
            {
                split_at = self.share_rest(s, &self.dbuf[..n]);
            }
            let end = split_at.unwrap_or(s.end);
            let (more, hit) = read_links(
                dfd,
                &self.dbuf[..n],
                Range { s, end, zero_read },
                self.sh,
                &mut self.part,
            );
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
        if thread_count(self.sh.proc_fd, pid) == Some(1) {
            return false;
        }
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
        // Its own table empty (a kernel thread, a leader that exited): nothing to read
        // there, though its threads may still have tables of their own.
        let empty = self.sh.fd_counts && fd_count(self.sh.proc_fd, pid) == Some(0);
        let mut found = !empty && self.scan_table(Slice::whole(pid, None));
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

/// The descriptors of one getdents result to read: those of slice `s` below `end`, but
/// for descriptor 0 when it was read before the listing.
struct Range {
    s: Slice,
    end: u32,
    zero_read: bool,
}

/// Reads the links of one getdents result's entries in `r`; (whether the table goes on
/// past this buffer, whether a wanted socket was found).
fn read_links(dfd: RawFd, buf: &[u8], r: Range, sh: &Shared, part: &mut Part) -> (bool, bool) {
    let s = r.s;
    let mut found = false;
    let first = sh.stop_at_first.is_some();
    let more = entries(buf, |name| {
        if s.start > 0 || r.end != u32::MAX {
            match parse_u32(name.to_bytes()) {
                Some(fd) if fd < s.start => return true,
                Some(fd) if fd < r.end => {}
                _ => return false,
            }
        }
        if r.zero_read && name.to_bytes() == b"0" {
            return true;
        }
        match read_link(dfd, name, s, sh, part) {
            // Refused: every other link of this table is refused too (the check is on
            // the process, not the descriptor), so stop asking.
            Link::Refused => false,
            Link::Wanted => {
                found = true;
                !first
            }
            Link::Other | Link::Absent => true,
        }
    });
    (more, found)
}

/// What one descriptor's link said.
enum Link {
    /// A socket the question wants: recorded in the part.
    Wanted,
    /// Anything else that could be read.
    Other,
    /// No such descriptor (closed since the listing, or never open).
    Absent,
    /// The process's links may not be read: counted as denied in the part.
    Refused,
}

/// Reads the link of descriptor `name` in the table open as `dfd`, recording a wanted
/// socket's holder (and the thread, for a thread's own table) in `part`.
fn read_link(dfd: RawFd, name: &CStr, s: Slice, sh: &Shared, part: &mut Part) -> Link {
    let mut link = [0u8; 64];
    // SAFETY: name is NUL-terminated; link is writable for its length.
    let n = unsafe { libc::readlinkat(dfd, name.as_ptr(), link.as_mut_ptr().cast(), link.len()) };
    if n < 0 {
        // A listable table whose links may not be read (a non-dumpable process, an LSM):
        // its sockets are held by someone we cannot see.
        return match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) => {
                part.denied += 1;
                Link::Refused
            }
            _ => Link::Absent,
        };
    }
    part.descriptors += 1;
    match socket_inode(&link[..n as usize]) {
        Some(ino) if sh.wanted.contains(&ino) => {
            part.holders.push((ino, s.pid));
            if let Some(t) = s.tid {
                part.thread_holders.push((ino, s.pid, t));
            }
            Link::Wanted
        }
        _ => Link::Other,
    }
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
pub(super) fn scan_part(sh: &Shared) -> Part {
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

#[cfg(test)]
#[path = "fdwork_tests.rs"]
mod tests;
