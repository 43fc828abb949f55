//! Unit tests of the fdtable program's shape, on a made-up layout: its callbacks, the
//! record it writes, and which reads are helper calls and which are direct loads.

use super::*;

const ANCHOR: u32 = 1234;

fn layout() -> Layout {
    Layout {
        attach_btf_id: 1,
        ctx_meta: 0,
        ctx_task: 8,
        meta_seq: 0,
        task_files: 1800,
        task_group_leader: 1300,
        task_thread_pid: 1400,
        task_tgid: 1260,
        task_pid: 1264,
        files_fdt: 32,
        fdt_max_fds: 0,
        fdt_fd: 8,
        fdt_open_fds: 24,
        file_f_op: 16,
        file_inode: 32,
        file_private: 24,
        inode_ino: Load {
            off: 64,
            size: Size::DW,
        },
        pid_level: 4,
        pid_numbers: 96,
        upid_size: 16,
        upid_nr: 0,
        netns: NetnsPath {
            socket_sk: 24,
            sock_net: 48,
            net_inum: 184,
        },
        rdonly_cast: 64_927,
        file_type: 718,
        socket_type: 3222,
    }
}

const CALL: u8 = 0x85;
const LD_IMM64: u8 = 0x18;

fn is_helper(i: &Insn, id: i32) -> bool {
    i.code == CALL && i.regs >> 4 == 0 && i.imm == id
}

fn is_kfunc(i: &Insn) -> bool {
    i.code == CALL && i.regs >> 4 == 2
}

/// The instructions of function `name`.
fn function<'a>(p: &'a [Insn], funcs: &[(&str, usize)], name: &str) -> &'a [Insn] {
    let at = funcs.iter().position(|f| f.0 == name).unwrap();
    let end = funcs.get(at + 1).map_or(p.len(), |f| f.1);
    &p[funcs[at].1..end]
}

/// Byte offsets (from the frame pointer) each instruction stores to, through `base`.
fn stored(insns: &[Insn], base: u8) -> Vec<i16> {
    insns
        .iter()
        .filter(|i| matches!(i.code & 0x07, 0x02 | 0x03) && i.code & 0xe0 == 0x60)
        .filter(|i| i.regs & 0x0f == base)
        .flat_map(|i| {
            let len = match i.code & 0x18 {
                0x18 => 8,
                0x00 => 4,
                0x08 => 2,
                _ => 1,
            };
            i.off..i.off + len
        })
        .collect()
}

/// Every bpf_loop gets its callback in r2 from a 64-bit load naming the start of `word`,
/// `byte` or `slot`, and those are the program's three subprograms.
#[test]
fn each_bpf_loop_calls_a_callback_subprogram() {
    let (p, funcs) = build(&layout(), ANCHOR).unwrap();
    let names: Vec<&str> = funcs.iter().map(|f| f.0).collect();
    assert_eq!(names, ["main", "word", "byte", "slot"]);
    let loops: Vec<usize> = (0..p.len()).filter(|&i| is_helper(&p[i], LOOP)).collect();
    assert_eq!(loops.len(), 3);
    let mut called = Vec::new();
    for at in loops {
        let ld = (0..at)
            .rev()
            .find(|&i| p[i].code == LD_IMM64 && p[i].regs & 0x0f == 2)
            .unwrap();
        assert_eq!(p[ld].regs >> 4, 4, "BPF_PSEUDO_FUNC");
        let target = (ld as i64 + i64::from(p[ld].imm) + 1) as usize;
        called.push(funcs.iter().find(|f| f.1 == target).unwrap().0);
    }
    assert_eq!(called, ["word", "byte", "slot"]);
}

/// A socket's record: pid, tid and pad come from the main program, before the walk;
/// fd, inode and netns from `slot`, before its bpf_seq_write. Together, all 32 bytes.
#[test]
fn every_record_byte_is_stored_before_it_is_written() {
    let (p, funcs) = build(&layout(), ANCHOR).unwrap();
    let main = function(&p, &funcs, "main");
    let walk = main.iter().position(|i| is_helper(i, LOOP)).unwrap();
    let slot = function(&p, &funcs, "slot");
    let write = slot.iter().position(|i| is_helper(i, SEQ_WRITE)).unwrap();
    let mut bytes = stored(&main[..walk], 10);
    bytes.extend(stored(&slot[..write], 6)); // r6: the main program's frame pointer
    for b in REC..REC + RECORD_LEN as i16 {
        assert!(bytes.contains(&b), "record byte fp{b} not stored");
    }
    // The record's own fields, not left over from an earlier socket.
    let own = stored(&slot[..write], 6);
    for b in REC_FD..REC_FD + 4 {
        assert!(own.contains(&b), "fd byte fp{b}");
    }
    for b in REC_INODE..REC + RECORD_LEN as i16 {
        assert!(own.contains(&b), "inode/netns byte fp{b}");
    }
    // Each marker writes its whole record itself, right before its bpf_seq_write.
    for at in (0..main.len()).filter(|&i| is_helper(&main[i], SEQ_WRITE)) {
        let bytes = stored(&main[at.saturating_sub(14)..at], 10);
        for b in REC..REC + RECORD_LEN as i16 {
            assert!(bytes.contains(&b), "marker at {at}: fp{b} not stored");
        }
    }
}

/// Per descriptor no helper is called: `slot` reads files through bpf_rdonly_cast and
/// direct loads, and calls only bpf_seq_write (for a socket). The task itself is read
/// directly only for its two numbers; its pointers go through bpf_probe_read_kernel.
#[test]
fn descriptors_are_read_with_direct_loads_and_tasks_with_the_helper() {
    let l = layout();
    let (p, funcs) = build(&l, ANCHOR).unwrap();
    let slot = function(&p, &funcs, "slot");
    let helpers: Vec<i32> = slot
        .iter()
        .filter(|i| i.code == CALL && !is_kfunc(i))
        .map(|i| i.imm)
        .collect();
    assert_eq!(helpers, [SEQ_WRITE]);
    let casts: Vec<u32> = slot
        .iter()
        .filter(|i| is_kfunc(i))
        .map(|i| i.imm as u32)
        .collect();
    assert_eq!(casts, [l.rdonly_cast, l.rdonly_cast]);
    let main = function(&p, &funcs, "main");
    let task_loads: Vec<i16> = main
        .iter()
        .filter(|i| i.code & 0x07 == 0x01 && i.regs >> 4 == 7)
        .map(|i| i.off)
        .collect();
    assert!(!task_loads.is_empty());
    assert!(
        task_loads
            .iter()
            .all(|&o| o == l.task_pid || o == l.task_tgid),
        "{task_loads:?}"
    );
    assert!(main.iter().any(|i| is_helper(i, PROBE_READ_KERNEL)));
}

/// socket_file_ops comes from our own descriptor: &fd[ANCHOR], as an immediate offset.
#[test]
fn the_anchor_descriptor_is_an_immediate() {
    let (p, _) = build(&layout(), ANCHOR).unwrap();
    let add_k = p
        .iter()
        .filter(|i| i.code == 0x07 && i.imm == 8 * ANCHOR as i32)
        .count();
    assert_eq!(add_k, 1);
    let too_far = build(&layout(), u32::MAX / 4);
    assert!(too_far.is_err());
}

/// The destinations (offsets from `base`) of each bpf_probe_read_kernel: `r1 = base;
/// r1 += off` before the call, `r2` the size.
fn read_into(insns: &[Insn], base: u8) -> Vec<i16> {
    let mut out = Vec::new();
    for (at, i) in insns.iter().enumerate() {
        if !is_helper(i, PROBE_READ_KERNEL) || at < 4 {
            continue;
        }
        let w = &insns[at - 4..at];
        let from_base = w
            .iter()
            .any(|i| i.code == 0xbf && i.regs == (base << 4) | 1);
        let off = w
            .iter()
            .find(|i| i.code == 0x07 && i.regs == 1)
            .map(|i| i.imm);
        let size = w
            .iter()
            .find(|i| i.code == 0xb7 && i.regs == 2)
            .map(|i| i.imm);
        if let (true, Some(off), Some(size)) = (from_base, off, size) {
            out.extend(off as i16..(off + size) as i16);
        }
    }
    out
}

/// The verifier lets a privileged program read stack it never wrote (it reads garbage
/// then): every byte the callbacks read from the main program's frame is written there
/// before the walk starts, by a store or a bpf_probe_read_kernel. (Regression: a flag
/// left out of the context read as garbage, and every task looked truncated.)
#[test]
fn the_callbacks_read_only_context_written_before_the_walk() {
    let (p, funcs) = build(&layout(), ANCHOR).unwrap();
    let main = function(&p, &funcs, "main");
    let walk = main.iter().position(|i| is_helper(i, LOOP)).unwrap();
    let mut written = stored(&main[..walk], 10);
    written.extend(read_into(&main[..walk], 10));
    for name in ["word", "byte", "slot"] {
        for i in function(&p, &funcs, name) {
            if i.code & 0x07 != 0x01 || i.regs >> 4 != 6 {
                continue; // not a load through r6, the main program's frame pointer
            }
            let len = match i.code & 0x18 {
                0x18 => 8,
                0x00 => 4,
                0x08 => 2,
                _ => 1,
            };
            for b in i.off..i.off + len {
                // CHUNK is read at a variable offset: its slots are checked as a whole.
                assert!(
                    written.contains(&b),
                    "{name} reads fp{b}, never written first"
                );
            }
        }
    }
    for b in CHUNK..CHUNK + 8 * CHUNK_FILES as i16 {
        assert!(written.contains(&b), "CHUNK byte fp{b}");
    }
}

/// One task writes at most MAX_RECORDS records and a marker: all of it fits one read
/// of the iterator (8 pages of 4 KiB), and `slot` checks the count before each write.
#[test]
fn one_task_never_writes_more_than_a_read_holds() {
    assert!((MAX_RECORDS as usize + 1) * RECORD_LEN <= 8 * 4096);
    let (p, funcs) = build(&layout(), ANCHOR).unwrap();
    let slot = function(&p, &funcs, "slot");
    let write = slot.iter().position(|i| is_helper(i, SEQ_WRITE)).unwrap();
    let cap = slot
        .iter()
        .position(|i| i.code == 0x35 && i.imm == MAX_RECORDS)
        .unwrap();
    assert!(cap < write);
    let main = function(&p, &funcs, "main");
    let markers: Vec<i32> = main
        .iter()
        .filter(|i| i.code == 0x62 && i.off == REC_FD)
        .map(|i| i.imm)
        .collect();
    for fd in [PARTIAL, TRUNCATED, INCOMPLETE, TRAILER] {
        assert!(markers.contains(&(fd as i32)), "{fd:#x} marker");
    }
}
