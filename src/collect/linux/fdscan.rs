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

/// Calls `f` with each entry name (NUL-terminated) of the directory `fd`.
fn for_each_entry(fd: RawFd, buf: &mut [u8], mut f: impl FnMut(&CStr) -> bool) -> io::Result<()> {
    loop {
        // SAFETY: buf is writable for buf.len() bytes.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(());
        }
        let mut off = 0usize;
        let n = n as usize;
        while off + 19 < n {
            // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &buf[off + 19..(off + reclen).min(n)];
            if let Ok(name) = CStr::from_bytes_until_nul(name) {
                let b = name.to_bytes();
                if b != b"." && b != b".." && !f(name) {
                    return Ok(());
                }
            }
            off += reclen;
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

struct Worker<'a> {
    proc_fd: RawFd,
    wanted: &'a InodeSet,
    stop_at_first: Option<&'a AtomicBool>,
    dbuf: Vec<u8>,
    tbuf: Vec<u8>,
    part: Part,
}

impl Worker<'_> {
    /// Reads one descriptor table; true when a wanted socket was found in it.
    fn scan_table(&mut self, pid: u32, tid: Option<u32>) -> bool {
        let mut path = [0u8; 48];
        let cpath = proc_path(&mut path, pid, tid, b"fd");
        let fd_dir = match open_dir_at(self.proc_fd, cpath) {
            Ok(fd) => fd,
            Err(e) => {
                count_failure(&mut self.part, &e);
                return false;
            }
        };
        let dfd = fd_dir.as_raw_fd();
        let (wanted, first) = (self.wanted, self.stop_at_first.is_some());
        let part = &mut self.part;
        let mut link = [0u8; 64];
        let mut found = false;
        let mut refused = false;
        let r = for_each_entry(dfd, &mut self.dbuf, |name| {
            // SAFETY: name is NUL-terminated; link is writable for its length.
            let n = unsafe {
                libc::readlinkat(dfd, name.as_ptr(), link.as_mut_ptr().cast(), link.len())
            };
            if n < 0 {
                // A listable table whose links may not be read (a non-dumpable process,
                // an LSM): its sockets are held by someone we cannot see.
                let e = io::Error::last_os_error().raw_os_error();
                refused |= matches!(e, Some(libc::EACCES) | Some(libc::EPERM));
            } else if n > 0 {
                if let Some(ino) = socket_inode(&link[..n as usize]) {
                    if wanted.contains(&ino) {
                        part.holders.push((ino, pid));
                        if let Some(t) = tid {
                            part.thread_holders.push((ino, pid, t));
                        }
                        found = true;
                        if first {
                            return false;
                        }
                    }
                }
            }
            true
        });
        if r.is_err() {
            // The process exited while we read its table: what we saw stands.
            self.part.vanished += 1;
        }
        if refused {
            self.part.denied += 1;
        }
        found
    }

    /// Threads with a descriptor table of their own: one that called
    /// unshare(CLONE_FILES), or every live thread once the leader has exited (its own
    /// table is then empty). Each distinct table is read once.
    fn scan_threads(&mut self, pid: u32) -> bool {
        let mut path = [0u8; 48];
        let Ok(task_dir) = open_dir_at(self.proc_fd, proc_path(&mut path, pid, None, b"task"))
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
                found |= self.scan_table(pid, Some(tid));
                if found && self.stop_at_first.is_some() {
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
        // SAFETY: p is NUL-terminated; the descriptor is closed below.
        let fd =
            unsafe { libc::openat(self.proc_fd, p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return false;
        }
        let mut buf = [0u8; 512];
        // SAFETY: buf is writable for its length; fd is ours.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        // SAFETY: fd is ours and open.
        unsafe { libc::close(fd) };
        let text = &buf[..n.max(0) as usize];
        // "pid (comm) S ...": the state follows the last ')'.
        let state = text
            .iter()
            .rposition(|&b| b == b')')
            .and_then(|i| text.get(i + 2));
        !matches!(state, Some(b'Z') | Some(b'X') | None)
    }
}

fn scan_part(
    proc_fd: RawFd,
    pids: &[u32],
    next: &AtomicUsize,
    wanted: &InodeSet,
    stop_at_first: Option<&AtomicBool>,
) -> Part {
    let mut w = Worker {
        proc_fd,
        wanted,
        stop_at_first,
        dbuf: vec![0u8; DIRENT_BUF],
        tbuf: vec![0u8; 4096],
        part: Part::default(),
    };
    const CHUNK: usize = 16;
    loop {
        let start = next.fetch_add(CHUNK, Ordering::Relaxed);
        if start >= pids.len() {
            break;
        }
        for &pid in &pids[start..(start + CHUNK).min(pids.len())] {
            if stop_at_first.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return w.part;
            }
            let before = (w.part.denied, w.part.vanished, w.part.fd_limited);
            let mut found = w.scan_table(pid, None);
            if (w.part.denied, w.part.vanished, w.part.fd_limited) != before {
                continue;
            }
            w.part.scanned += 1;
            if !(found && stop_at_first.is_some()) {
                found |= w.scan_threads(pid);
            }
            if found {
                if let Some(s) = stop_at_first {
                    s.store(true, Ordering::Relaxed);
                    return w.part;
                }
            }
        }
    }
    w.part
}

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
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    // A thread costs ~20 µs to start: not worth it for an idle laptop's few hundred PIDs.
    let threads = if pids.len() < 256 { 1 } else { threads };
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let stop_ref = first.then_some(&stop);
    let parts: Vec<Option<Part>> = if threads == 1 {
        vec![Some(scan_part(pfd, &pids, &next, wanted, stop_ref))]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| s.spawn(|| scan_part(pfd, &pids, &next, wanted, stop_ref)))
                .collect();
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
