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
    denied: usize,
    vanished: usize,
    scanned: usize,
}

fn scan_part(
    proc_fd: RawFd,
    pids: &[u32],
    next: &AtomicUsize,
    wanted: &InodeSet,
    stop_at_first: Option<&AtomicBool>,
) -> Part {
    let mut part = Part::default();
    let mut dbuf = vec![0u8; DIRENT_BUF];
    let mut link = [0u8; 64];
    let mut path = [0u8; 16];
    const CHUNK: usize = 16;
    loop {
        let start = next.fetch_add(CHUNK, Ordering::Relaxed);
        if start >= pids.len() {
            break;
        }
        for &pid in &pids[start..(start + CHUNK).min(pids.len())] {
            if stop_at_first.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return part;
            }
            // "<pid>/fd\0" without formatting machinery.
            let mut digits = [0u8; 10];
            let mut n = pid;
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
            path[..d.len()].copy_from_slice(d);
            path[d.len()..d.len() + 4].copy_from_slice(b"/fd\0");
            let Ok(cpath) = CStr::from_bytes_with_nul(&path[..d.len() + 4]) else {
                continue;
            };
            let fd_dir = match open_dir_at(proc_fd, cpath) {
                Ok(fd) => fd,
                Err(e) => {
                    match e.raw_os_error() {
                        Some(libc::EACCES) | Some(libc::EPERM) => part.denied += 1,
                        _ => part.vanished += 1,
                    }
                    continue;
                }
            };
            part.scanned += 1;
            let dfd = fd_dir.as_raw_fd();
            let mut found = false;
            let r = for_each_entry(dfd, &mut dbuf, |name| {
                // SAFETY: name is NUL-terminated; link is writable for its length.
                let n = unsafe {
                    libc::readlinkat(dfd, name.as_ptr(), link.as_mut_ptr().cast(), link.len())
                };
                if n > 0 {
                    if let Some(ino) = socket_inode(&link[..n as usize]) {
                        if wanted.contains(&ino) {
                            part.holders.push((ino, pid));
                            found = true;
                            if stop_at_first.is_some() {
                                return false;
                            }
                        }
                    }
                }
                true
            });
            if r.is_err() {
                // The process exited while we read its table: what we saw stands.
                part.vanished += 1;
            }
            if found {
                if let Some(s) = stop_at_first {
                    s.store(true, Ordering::Relaxed);
                    return part;
                }
            }
        }
    }
    part
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
        scan.denied += p.denied;
        scan.vanished += p.vanished;
        scan.scanned += p.scanned;
    }
    scan.stopped_early = first && stop.load(Ordering::Relaxed);
    // With hidepid=invisible other users' processes are not even listed, so no open is
    // refused: count that as a denial, or their sockets would look held by nobody here.
    // SAFETY: geteuid cannot fail.
    if scan.denied == 0 && unsafe { libc::geteuid() } != 0 {
        let hides = std::fs::read_to_string("/proc/self/mountinfo")
            .map(|m| proc_hides_pids(&m))
            .unwrap_or(false);
        if hides {
            scan.denied = 1;
        }
    }
    Ok(scan)
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
            && opts
                .split(',')
                .any(|o| o == "hidepid=2" || o == "hidepid=invisible")
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
