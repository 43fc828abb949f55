//! Tests of fdwork.rs: the /proc scan's threads and work sharing.

use super::*;
use std::os::unix::fs::MetadataExt;

fn run(sh: &Shared, threads: usize) -> Vec<(u64, u32)> {
    let mut holders: Vec<(u64, u32)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads).map(|_| s.spawn(|| scan_part(sh))).collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap().holders)
            .collect()
    });
    holders.sort_unstable();
    holders
}

/// One table of ~5,000 descriptors holding one socket twice, at a low and a high
/// descriptor: each slice finds exactly the descriptors in its range.
#[test]
fn a_large_table_is_read_in_slices_and_found_whole() {
    let need = 6000;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit to write into.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if lim.rlim_max < need {
        eprintln!(
            "skipped: RLIMIT_NOFILE hard limit {} < {need}",
            lim.rlim_max
        );
        return;
    }
    if lim.rlim_cur < need {
        lim.rlim_cur = need;
        // SAFETY: lim is a valid rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ino = std::fs::metadata(format!("/proc/self/fd/{}", l.as_raw_fd()))
        .unwrap()
        .ino();
    let files: Vec<std::fs::File> = (0..5000)
        .map(|_| std::fs::File::open("/dev/null").unwrap())
        .collect();
    let high = l.try_clone().unwrap();
    assert!(high.as_raw_fd() > 4000, "fd {}", high.as_raw_fd());
    let me = std::process::id();
    let proc_dir = open_dir_at(libc::AT_FDCWD, c"/proc").unwrap();
    let mut wanted = InodeSet::default();
    wanted.insert(ino);
    let pids = [me];
    let pfd = proc_dir.as_raw_fd();

    // Two threads: the table is split; one thread: it is not. Same holders.
    let two = Shared::new(pfd, &pids, &wanted, None, 2);
    assert!(two.split);
    assert_eq!(run(&two, 2), vec![(ino, me), (ino, me)]);
    let one = Shared::new(pfd, &pids, &wanted, None, 1);
    assert!(!one.split);
    assert_eq!(run(&one, 1), vec![(ino, me), (ino, me)]);

    // A slice starting above the low descriptor sees only the high one, and one
    // ending below the high descriptor only the low one.
    let mut w = Worker {
        sh: &one,
        dbuf: vec![0u8; DIRENT_BUF],
        tbuf: Vec::new(),
        part: Part::default(),
    };
    let (lo, hi) = (l.as_raw_fd() as u32, high.as_raw_fd() as u32);
    let slice = |start, end| Slice {
        pid: me,
        tid: None,
        start,
        end,
    };
    assert!(w.scan_table(slice(lo + 1, u32::MAX)));
    assert!(w.scan_table(slice(0, hi)));
    assert!(!w.scan_table(slice(lo + 1, hi)));
    assert_eq!(w.part.holders, vec![(ino, me), (ino, me)]);
    drop(files);
}

/// A socket on descriptor 0 is read before the listing and found exactly once: the
/// listing skips 0. With --first, the scan stops there.
#[test]
fn a_socket_on_descriptor_0_is_found_once() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ino = std::fs::metadata(format!("/proc/self/fd/{}", l.as_raw_fd()))
        .unwrap()
        .ino();
    let mut child = std::process::Command::new("sleep")
        .arg("1000")
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(l)))
        .spawn()
        .unwrap();
    let pid = child.id();
    let proc_dir = open_dir_at(libc::AT_FDCWD, c"/proc").unwrap();
    let mut wanted = InodeSet::default();
    wanted.insert(ino);
    let pids = [pid];
    let all = Shared::new(proc_dir.as_raw_fd(), &pids, &wanted, None, 1);
    let part = scan_part(&all);
    let stop = AtomicBool::new(false);
    let first = Shared::new(proc_dir.as_raw_fd(), &pids, &wanted, Some(&stop), 1);
    let first_part = scan_part(&first);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(part.holders, vec![(ino, pid)]);
    assert_eq!((part.denied, part.vanished), (0, 0));
    assert_eq!(first_part.holders, vec![(ino, pid)]);
    assert!(stop.load(Ordering::Relaxed), "--first stops at the holder");
}
