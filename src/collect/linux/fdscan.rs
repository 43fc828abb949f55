//! Collect stage, Linux: which processes hold which socket inodes, by one pass over
//! /proc/*/fd. This is ~95% of the work on a busy host, so it is allocation-free on the
//! hot path: getdents64 and readlinkat into reused buffers, relative to directory
//! descriptors, `socket:[N]` parsed in place, and the PID list split across cores.

use crate::collect::OwnerScan;
use crate::fast_hash::InodeSet;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use super::fdwork::{scan_part, Shared};
use super::procdir::*;

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

/// Open files on the host (/proc/sys/fs/file-nr): what [`descriptors_at_least`] falls back
/// to where the kernel does not count descriptors. It undercounts descriptors shared by
/// forked processes (each open file description counts once) and counts files no table
/// holds.
pub fn open_files() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/fs/file-nr").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The descriptors the processes `pids` hold, summed until `enough` is reached (so a big
/// host costs no more than a small one): the work an owner scan does, from one stat of
/// each /proc/PID/fd (its size is the count since Linux 6.2). Before 6.2, or where /proc
/// gives no counts, file-nr's estimate. Threads with tables of their own are not counted.
pub fn descriptors_at_least(proc_fd: RawFd, pids: &[u32], enough: u64) -> Option<u64> {
    if !fd_counts_reported(proc_fd) {
        return open_files();
    }
    let mut sum = 0u64;
    for &pid in pids {
        sum += fd_count(proc_fd, pid).unwrap_or(0);
        if sum >= enough {
            break;
        }
    }
    Some(sum)
}

/// [`descriptors_at_least`] over every process in /proc.
pub fn host_descriptors_at_least(enough: u64) -> Option<u64> {
    let proc_dir = open_dir_at(libc::AT_FDCWD, c"/proc").ok()?;
    let pids = list_pids(proc_dir.as_raw_fd()).ok()?;
    descriptors_at_least(proc_dir.as_raw_fd(), &pids, enough)
}

/// The cores this process may use that nothing else is running on: the runnable count in
/// /proc/loadavg ("R/T", this thread included) against the CPUs we may run on. A thread
/// started on a busy core only queues behind the other work: on a 2-core host with both
/// cores busy, two scan threads measured slower than one.
///
/// One reading is a moment: a task runnable for an instant (the parent that just started
/// us, a kernel worker) counts as much as one that keeps a core busy, and made one /proc
/// scan in six run on one thread on an idle host (0.36 s instead of 0.20 s). So the
/// count is the lowest of `earlier` (taken before some other work, e.g. listing /proc)
/// and one taken now: what keeps a core busy is in both.
pub fn free_cpus_since(earlier: Option<usize>) -> usize {
    free_of(crate::collect::cores(), earlier, runnable_now())
}

/// Free cores of `cpus` by the lower of two runnable counts (this thread included in each).
fn free_of(cpus: usize, earlier: Option<usize>, now: Option<usize>) -> usize {
    let running = match (earlier, now) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(1),
    };
    cpus.saturating_sub(running.saturating_sub(1)).max(1)
}

/// The runnable task count now (this thread included), where /proc/loadavg says.
pub fn runnable_now() -> Option<usize> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| runnable(&t))
}

/// The runnable task count of a /proc/loadavg line ("0.29 1.43 2.32 1/85 15663").
fn runnable(loadavg: &str) -> Option<usize> {
    loadavg
        .split_whitespace()
        .nth(3)?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// From this many descriptors on the host the /proc scan uses every free core (up to 8);
/// below it one thread. A thread costs ~50 µs to start and join, a descriptor ~3 µs to
/// read, so a second one pays from a few hundred descriptors if it gets a core; 1,000
/// leaves margin. Not pinned down by measurement: on the loaded host where it was tried
/// (BENCHMARKS.md, issue 13) a second thread on a busy core lost at every size, which is
/// what [`free_cpus`] is for, and a quiet host was not to be had.
pub const SCAN_THREADS_MIN_DESCRIPTORS: u64 = 1_000;

/// Finds the holders of `wanted` among every process visible in /proc.
/// `first`: stop at the first holder found (`who --first`).
pub fn scan_owners(wanted: &InodeSet, first: bool) -> io::Result<OwnerScan> {
    scan_owners_counted(wanted, first, None)
}

/// [`scan_owners`], with the host's descriptors already counted (by `auto`, at least up
/// to [`SCAN_THREADS_MIN_DESCRIPTORS`]), so they are not counted twice.
pub fn scan_owners_counted(
    wanted: &InodeSet,
    first: bool,
    counted: Option<u64>,
) -> io::Result<OwnerScan> {
    // Read only where the scan may use threads (a small host counted by `auto` will not).
    let busy_before = counted
        .is_none_or(|n| n >= SCAN_THREADS_MIN_DESCRIPTORS)
        .then(runnable_now)
        .flatten();
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
    // By work, not by process count: 250 processes may hold 70k descriptors. Without
    // counts (an odd /proc), by the old rule of thumb. And only on cores that are free.
    let worth_it = counted
        .or_else(|| descriptors_at_least(pfd, &pids, SCAN_THREADS_MIN_DESCRIPTORS))
        .map_or(pids.len() >= 256, |n| n >= SCAN_THREADS_MIN_DESCRIPTORS);
    let threads = match worth_it {
        true => free_cpus_since(busy_before).clamp(1, 8),
        false => 1,
    };
    let stop = AtomicBool::new(false);
    let sh = Shared::new(pfd, &pids, wanted, first.then_some(&stop), threads);
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
        *scan.descriptors.get_or_insert(0) += p.descriptors;
    }
    scan.stopped_early = first && stop.load(Ordering::Relaxed);
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let foreign = foreign_proc();
    scan.sees_every_process =
        root && scan.denied == 0 && in_initial_pid_namespace() && foreign.is_none();
    if let Some((seen, me)) = foreign {
        scan.warnings.push(foreign_proc_warning(seen, me));
    }
    // With hidepid=invisible other users' processes are not even listed, so no open is
    // refused: count that as a denial, or their sockets would look held by nobody here.
    if scan.denied == 0 && !root {
        let hides = crate::collect::read_text("/proc/self/mountinfo")
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
    fn reads_the_runnable_count() {
        assert_eq!(runnable("0.29 1.43 2.32 1/85 15663\n"), Some(1));
        assert_eq!(runnable("10.79 6.86 4.19 8/137 4615"), Some(8));
        assert_eq!(runnable("0.29 1.43 2.32"), None);
        assert_eq!(runnable("a b c x/85 1"), None);
        assert!(free_cpus_since(None) >= 1);
    }

    /// A task runnable in one reading only (the parent that started us) leaves the other
    /// core free; one in both readings keeps it.
    #[test]
    fn free_cores_count_what_is_busy_in_both_readings() {
        assert_eq!(free_of(2, Some(2), Some(1)), 2);
        assert_eq!(free_of(2, Some(1), Some(2)), 2);
        assert_eq!(free_of(2, Some(2), Some(2)), 1);
        assert_eq!(free_of(2, Some(5), Some(3)), 1);
        assert_eq!(free_of(8, None, Some(3)), 6);
        assert_eq!(free_of(8, Some(1), None), 8);
        assert_eq!(free_of(4, None, None), 4);
    }

    /// The link-count shortcut agrees with listing /proc/PID/task, for a process with one
    /// thread and for one with three (python3, its threads parked until stdin closes).
    /// The count is each table's size summed, and stops once it reaches `enough`: a host
    /// with a million descriptors costs no more stats than one with a thousand.
    #[test]
    fn descriptors_are_summed_until_enough() {
        use std::process::{Command, Stdio};
        let proc_dir = open_dir_at(libc::AT_FDCWD, c"/proc").unwrap();
        let pfd = proc_dir.as_raw_fd();
        if !fd_counts_reported(pfd) {
            return crate::test_skip::skip("this kernel does not count descriptors (< 6.2)");
        }
        let mut child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let c = child.id();
        // 0, 1, 2 and whatever the test harness let it inherit.
        let n = std::fs::read_dir(format!("/proc/{c}/fd")).unwrap().count() as u64;
        assert!(n >= 3);
        assert_eq!(descriptors_at_least(pfd, &[c, c, c], 100 * n), Some(3 * n));
        assert_eq!(descriptors_at_least(pfd, &[c, c, c], n + 1), Some(2 * n));
        // A process gone between the listing and the count adds nothing.
        assert_eq!(
            descriptors_at_least(pfd, &[c, u32::MAX - 1], 100 * n),
            Some(n)
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn thread_count_is_the_task_listing_length() {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let proc_dir = open_dir_at(libc::AT_FDCWD, c"/proc").unwrap();
        let listed = |pid: u32| {
            std::fs::read_dir(format!("/proc/{pid}/task"))
                .unwrap()
                .count()
        };
        let mut one = Command::new("sleep").arg("30").spawn().unwrap();
        let three = "import sys, threading\n\
            ts = [threading.Thread(target=sys.stdin.read) for _ in range(2)]\n\
            [t.start() for t in ts]\nprint('ready', flush=True)\n[t.join() for t in ts]";
        let Ok(mut many) = Command::new("python3")
            .args(["-c", three])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
        else {
            one.kill().unwrap();
            one.wait().unwrap();
            return crate::test_skip::skip("python3 is not installed");
        };
        let mut ready = String::new();
        std::io::BufReader::new(many.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        let counts =
            [one.id(), many.id()].map(|p| (thread_count(proc_dir.as_raw_fd(), p), listed(p)));
        one.kill().unwrap();
        one.wait().unwrap();
        drop(many.stdin.take());
        many.wait().unwrap();
        assert_eq!(ready.trim(), "ready");
        assert_eq!(counts, [(Some(1), 1), (Some(3), 3)]);
        assert_eq!(thread_count(proc_dir.as_raw_fd(), u32::MAX), None);
    }

    /// Where the kernel reports it, /proc/PID/fd's size is the number of entries it lists:
    /// for a child holding a known set of descriptors, and for a kernel thread (none).
    #[test]
    fn fd_count_is_the_fd_listing_length() {
        let proc_dir = open_dir_at(libc::AT_FDCWD, c"/proc").unwrap();
        let pfd = proc_dir.as_raw_fd();
        if !fd_counts_reported(pfd) {
            return crate::test_skip::skip(
                "this kernel does not report /proc/PID/fd sizes (before 6.2)",
            );
        }
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let listed = std::fs::read_dir(format!("/proc/{}/fd", child.id()))
            .unwrap()
            .count();
        let counted = fd_count(pfd, child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(counted, Some(listed as u64));
        assert!(listed >= 1, "{listed}");
        // kthreadd (PID 2) where this PID namespace has it: no descriptors at all.
        if std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c == "kthreadd\n") {
            assert_eq!(fd_count(pfd, 2), Some(0));
        }
        assert_eq!(fd_count(pfd, u32::MAX), None);
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
        // Other unit tests fork (why's trial bind): a child forked while the listener is open
        // holds a copy too. This process must be a holder, once; any other is our child.
        let me = std::process::id();
        let ours_or_a_child = |pid: u32| {
            pid == me
                || std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|t| {
                    t.lines()
                        .any(|l| l.strip_prefix("PPid:").map(str::trim) == Some(&me.to_string()))
                })
        };
        let scan = scan_owners(&wanted, false).unwrap();
        let mine: Vec<_> = scan.holders.iter().filter(|h| h.1 == me).collect();
        assert_eq!(mine, vec![&(ino, me)], "{:?}", scan.holders);
        assert!(scan
            .holders
            .iter()
            .all(|&(i, p)| i == ino && ours_or_a_child(p)));
        assert!(scan.scanned >= 1);
        let scan = scan_owners(&wanted, true).unwrap();
        assert_eq!(scan.holders.len(), 1, "{:?}", scan.holders);
        assert_eq!(scan.holders[0].0, ino);
        assert!(ours_or_a_child(scan.holders[0].1), "{:?}", scan.holders);
        assert!(scan.stopped_early);
    }
}
