//! Collect stage, Linux: the /proc directory primitives the owner scan is made of
//! (getdents64 and readlinkat into reused buffers, relative to directory descriptors;
//! `socket:[N]` parsed in place; per-process counts), shared by the scan (fdscan.rs) and
//! its worker threads (fdwork.rs), so neither imports the other for them.

use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

pub(super) const DIRENT_BUF: usize = 32 * 1024;

pub(super) fn open_dir_at(dir: RawFd, path: &CStr) -> io::Result<OwnedFd> {
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
pub(super) fn getdents(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
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
pub(super) fn entries(buf: &[u8], mut f: impl FnMut(&CStr) -> bool) -> bool {
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
pub(super) fn for_each_entry(
    fd: RawFd,
    buf: &mut [u8],
    mut f: impl FnMut(&CStr) -> bool,
) -> io::Result<()> {
    loop {
        let n = getdents(fd, buf)?;
        if n == 0 || !entries(&buf[..n], &mut f) {
            return Ok(());
        }
    }
}

pub(super) fn parse_u32(b: &[u8]) -> Option<u32> {
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
pub(super) fn socket_inode(link: &[u8]) -> Option<u64> {
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

/// Counts and finds, per worker thread.
#[derive(Default)]
pub(super) struct Part {
    pub holders: Vec<(u64, u32)>,
    /// Holders found only in a thread's own descriptor table: (inode, pid, tid).
    pub thread_holders: Vec<(u64, u32, u32)>,
    pub denied: usize,
    pub vanished: usize,
    pub fd_limited: usize,
    pub scanned: usize,
    /// Descriptor links read.
    pub descriptors: u64,
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
pub(super) fn proc_path<'b>(
    buf: &'b mut [u8; 48],
    pid: u32,
    tid: Option<u32>,
    leaf: &[u8],
) -> &'b CStr {
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
pub(super) fn same_files(pid: u32, tid: u32) -> Option<bool> {
    const KCMP_FILES: libc::c_long = 2;
    // SAFETY: kcmp takes plain integers and touches no memory of ours.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, pid, tid, KCMP_FILES, 0, 0) };
    (r >= 0).then_some(r == 0)
}

/// stat of /proc/PID/`leaf`, relative to the /proc descriptor.
fn stat_at(proc_fd: RawFd, pid: Option<u32>, leaf: &[u8]) -> Option<libc::stat> {
    let mut path = [0u8; 48];
    let p = match pid {
        Some(pid) => proc_path(&mut path, pid, None, leaf),
        None => {
            path[..5].copy_from_slice(b"self/");
            path[5..5 + leaf.len()].copy_from_slice(leaf);
            CStr::from_bytes_with_nul(&path[..=5 + leaf.len()]).ok()?
        }
    };
    // SAFETY: stat is plain data the kernel fills; p is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; proc_fd is a directory descriptor the caller keeps open.
    let rc = unsafe { libc::fstatat(proc_fd, p.as_ptr(), &mut st, 0) };
    (rc == 0).then_some(st)
}

/// How many threads `pid` has, from one stat of /proc/PID/task: procfs gives that
/// directory 2 + the thread count as its link count (proc_task_getattr). One call
/// instead of opening and listing the directory, for the single-threaded processes that
/// most hosts are mostly made of. None when it cannot be read or looks unlike procfs.
pub(super) fn thread_count(proc_fd: RawFd, pid: u32) -> Option<u64> {
    let st = stat_at(proc_fd, Some(pid), b"task")?;
    #[allow(clippy::useless_conversion)] // nlink_t is u32 on some targets
    let links = u64::from(st.st_nlink);
    links.checked_sub(2).filter(|&n| n >= 1)
}

/// How many descriptors `pid`'s table holds: since Linux 6.2 the size of /proc/PID/fd is
/// its count (proc_fd_getattr). Before, the size is 0 for every process; see
/// [`fd_counts_reported`].
pub(super) fn fd_count(proc_fd: RawFd, pid: u32) -> Option<u64> {
    let st = stat_at(proc_fd, Some(pid), b"fd")?;
    u64::try_from(st.st_size).ok()
}

/// Whether this kernel reports descriptor counts as /proc/PID/fd's size: our own table
/// is never empty while we scan (it holds /proc's descriptor at least).
pub(super) fn fd_counts_reported(proc_fd: RawFd) -> bool {
    stat_at(proc_fd, None, b"fd").is_some_and(|st| st.st_size > 0)
}

/// Why a directory could not be opened, counted where the answer needs it.
pub(super) fn count_failure(part: &mut Part, e: &io::Error) {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => part.denied += 1,
        // Out of descriptors is not "the process vanished": its owners would silently go.
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOMEM) => part.fd_limited += 1,
        _ => part.vanished += 1,
    }
}

/// Every PID under /proc, through std (for the namespace walks, which are not hot).
pub(super) fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}
