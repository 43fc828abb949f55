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
        eprintln!("SKIP: not root: cannot load a BPF program");
        return;
    }
    use std::os::fd::AsRawFd;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fd = l.as_raw_fd();
    let ino = inode_of(&format!("/proc/self/fd/{fd}"));
    let records = scan().unwrap();
    let ours: Vec<&Record> = records.iter().filter(|r| r.inode == ino).collect();
    let me = std::process::id();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!((ours[0].pid, ours[0].fd), (me, fd as u32));
    assert_eq!(ours[0].netns, inode_of("/proc/self/ns/net"));
    assert!(ours[0].tid >= me, "{:?}", ours[0]);
}
