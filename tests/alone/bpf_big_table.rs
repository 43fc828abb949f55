//! The BPF owner source where one descriptor table holds more sockets than one read of
//! the iterator holds (the fdtable program writes a task's records in one go, at most 8
//! pages: ~1,000 sockets): that task is walked again alone, and nothing is missed.
#![cfg(target_os = "linux")]

use crate::common;

use common::{is_root, serial, skip};
use portscope::collect::linux::bpf::{self, Program};
use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

/// Sockets this test holds in its own table: more than a read of the iterator holds.
const SOCKETS: usize = 1_500;

fn inode(fd: &OwnedFd) -> u64 {
    std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .ino()
}

#[test]
fn a_table_with_more_sockets_than_a_read_holds_is_walked_whole() {
    let _g = serial();
    if !is_root() {
        skip("not root: cannot load a BPF program");
        return;
    }
    if !crate::bpf::fdtable_expected() {
        skip("this kernel cannot run the fdtable program");
        return;
    }
    // SAFETY: getrlimit/setrlimit on a local struct, checked.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        if r.rlim_max < SOCKETS as u64 + 200 {
            skip("the descriptor hard limit is too low");
            return;
        }
        r.rlim_cur = r.rlim_cur.max(SOCKETS as u64 + 200);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
    }
    let held: Vec<OwnedFd> = (0..SOCKETS)
        .map(|_| std::os::unix::net::UnixDatagram::unbound().unwrap().into())
        .collect();
    let want: BTreeSet<u64> = held.iter().map(inode).collect();
    let me = std::process::id();
    let mut fdtable = bpf::Walker::load_only(Program::TaskFdtable).unwrap();
    // Twice with one walker: it keeps the fdtable program for its next read.
    for walk in [
        bpf::scan().unwrap(),
        fdtable.read().unwrap(),
        fdtable.read().unwrap(),
    ] {
        assert_eq!(walk.program, Program::TaskFdtable);
        let ours: BTreeSet<u64> = walk
            .records
            .iter()
            .filter(|r| r.pid == me)
            .map(|r| r.inode)
            .collect();
        assert!(
            want.is_subset(&ours),
            "{} of {SOCKETS}",
            want.intersection(&ours).count()
        );
        // Counted: at least this table (the host's other tables may change between the
        // two walks, so their totals are not compared).
        let n = walk.descriptors.unwrap();
        assert!(n >= SOCKETS as u64, "{n}");
    }
    drop(held);
}
