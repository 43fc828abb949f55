//! Unit tests of the BPF owner source: record decoding, deduplication, error kinds, and
//! (as root) the live program against our own sockets.

use super::*;

fn rec(pid: u32, tid: u32, fd: u32, inode: u64, netns: u64) -> Record {
    Record {
        pid,
        tid,
        fd,
        inode,
        netns,
    }
}

#[test]
fn decodes_the_record_the_program_writes() {
    let mut b = Vec::new();
    b.extend(7u32.to_ne_bytes());
    b.extend(9u32.to_ne_bytes());
    b.extend(3u32.to_ne_bytes());
    b.extend(0u32.to_ne_bytes());
    b.extend(123_456_789_012u64.to_ne_bytes());
    b.extend(4_026_531_840u64.to_ne_bytes());
    assert_eq!(b.len(), program::RECORD_LEN);
    assert_eq!(
        Record::parse(&b),
        rec(7, 9, 3, 123_456_789_012, 4_026_531_840)
    );
}

#[test]
fn dedup_keeps_one_record_per_table_entry_and_the_lowest_tid() {
    let records = vec![
        // A leader that exited: both live threads report the shared table.
        rec(100, 102, 3, 500, 1),
        rec(100, 101, 3, 500, 1),
        rec(100, 102, 4, 501, 1),
        rec(100, 101, 4, 501, 1),
        // A thread with its own table: fd 4 there is another socket, kept.
        rec(100, 103, 4, 777, 1),
        // Same inode number in another network namespace: another socket.
        rec(100, 101, 5, 500, 2),
        rec(7, 7, 3, 500, 1),
    ];
    assert_eq!(
        dedup(records),
        vec![
            rec(7, 7, 3, 500, 1),
            rec(100, 101, 3, 500, 1),
            rec(100, 101, 4, 501, 1),
            rec(100, 103, 4, 777, 1),
            rec(100, 101, 5, 500, 2),
        ]
    );
}

#[test]
fn owner_scan_has_the_procfs_shape() {
    let records = vec![
        rec(0, 0, 3, 500, 1), // outside our PID namespace: not nameable
        rec(7, 7, 3, 500, 1),
        rec(7, 7, 4, 600, 1),
        rec(9, 9, 3, 500, 1),
    ];
    let mut wanted = InodeSet::default();
    wanted.insert(500);
    let scan = owner_scan(&records, &wanted, false);
    assert_eq!(scan.holders, vec![(500, 7), (500, 9)]);
    assert_eq!(
        (scan.scanned, scan.denied, scan.stopped_early),
        (3, 0, false)
    );
    let scan = owner_scan(&records, &wanted, true);
    assert_eq!(scan.holders, vec![(500, 7)]);
    assert!(scan.stopped_early);
    let scan = owner_scan(&records, &InodeSet::default(), true);
    assert_eq!((scan.holders.len(), scan.stopped_early), (0, false));
}

#[test]
fn errors_name_their_kind_and_step() {
    let e = |n| io::Error::from_raw_os_error(n);
    assert_eq!(
        BpfError::classify("load the program", &e(libc::EPERM), ""),
        BpfError::Permission("load the program: Operation not permitted (os error 1)".into())
    );
    assert!(matches!(
        BpfError::classify("load the program", &e(libc::EACCES), ""),
        BpfError::Permission(_)
    ));
    // EACCES with a verifier log is the verifier refusing, not a permission check.
    let v = BpfError::classify(
        "load the program",
        &e(libc::EACCES),
        "R1 invalid mem access",
    );
    assert!(
        matches!(&v, BpfError::Unsupported(m) if m.ends_with("verifier: R1 invalid mem access")),
        "{v}"
    );
    for n in [libc::ENOENT, libc::EINVAL, libc::ENOSYS, 524] {
        assert!(matches!(
            BpfError::classify("x", &e(n), ""),
            BpfError::Unsupported(_)
        ));
    }
    assert_eq!(
        BpfError::classify("read the iterator", &e(libc::EIO), "").to_string(),
        "BPF owner scan failed: read the iterator: Input/output error (os error 5)"
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn inode_of(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn finds_our_own_listener_with_fd_and_netns() {
    if !is_root() {
        return crate::test_skip::skip("not root: cannot load a BPF program");
    }
    use std::os::fd::AsRawFd;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fd = l.as_raw_fd();
    let ino = inode_of(&format!("/proc/self/fd/{fd}"));
    let walk = scan().unwrap();
    let records = walk.records;
    let me = std::process::id();
    // Other tests' children, forked and not yet exec'd, may hold a copy for a moment.
    let ours: Vec<&Record> = records
        .iter()
        .filter(|r| r.inode == ino && r.pid == me)
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!((ours[0].pid, ours[0].fd), (me, fd as u32));
    assert_eq!(ours[0].netns, inode_of("/proc/self/ns/net"));
    assert!(ours[0].tid >= me, "{:?}", ours[0]);
}
