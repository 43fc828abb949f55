//! Collect stage, Linux, BPF owner source: the `iter/task_file` program, written as
//! instructions, with every kernel struct offset taken from this kernel's BTF.
//!
//! This file is the program's source. In C it would read:
//!
//! ```c
//! SEC("iter/task_file") int owners(struct bpf_iter__task_file *ctx) {
//!     struct file *file = ctx->file; struct task_struct *task = ctx->task;
//!     if (!file) {            // the walk's end (the stop call): one trailer record
//!         struct record t = { .pid = ~0, .tid = ~0, .fd = ~0,
//!                             .inode = ctx->meta->seq_num };  // index of the last object
//!         bpf_seq_write(ctx->meta->seq, &t, sizeof(t));
//!         return 0;
//!     }
//!     if (!task) return 0;                           // the verifier insists
//!     // Only sockets: f_op is socket_file_ops, which the helper checks on the file
//!     // itself, without reaching for the inode of every other descriptor. (An O_PATH
//!     // descriptor of a socket's filesystem path is not one: procfs says socket:[N]
//!     // only for sockfs files.)
//!     struct socket *sock = bpf_sock_from_file(file);
//!     if (!sock || !file->f_inode) return 0;
//!     struct record r = { .fd = ctx->fd, .inode = file->f_inode->i_ino };
//!     if (sock->sk && sock->sk->__sk_common.skc_net.net)
//!         r.netns = sock->sk->__sk_common.skc_net.net->ns.inum;
//!     unsigned L = bpf_get_current_task_btf()->thread_pid->level; // the reader's level
//!     if (L == 0) {           // the initial namespace: the task's own global numbers
//!         r.pid = task->tgid;
//!         r.tid = task->pid;
//!     } else {
//!         r.pid = nr_at(task->group_leader->thread_pid, L);
//!         r.tid = nr_at(task->thread_pid, L);
//!     }
//!     bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
//!     return 0;
//! }
//! // Where this kernel's `struct socket` does not have the expected shape (no netns
//! // path in its BTF), sockets are told by the inode instead, and netns stays 0:
//! //     if ((inode->i_mode & S_IFMT) != S_IFSOCK || inode->i_sb->s_magic != SOCKFS_MAGIC)
//! //         return 0;
//! // pid_nr_ns() without its namespace check: the iterator walks only the tasks of the
//! // PID namespace of the process that opened it (find_ge_pid(tid, its ns)), so every
//! // task it visits has a number at the reader's level, in the reader's namespace.
//! static u32 nr_at(struct pid *p, unsigned L) {
//!     if (!p || p->level < L) return 0;
//!     return p->numbers[L].nr;
//! }
//! ```
//!
//! `numbers[L]` has a variable offset, which the verifier does not allow as a direct load
//! from a BTF pointer, hence bpf_probe_read_kernel for those two reads. Every other read
//! is a direct load, checked by the verifier against BTF and fault-safe in the kernel.

use super::btf::{Btf, BtfError};
use super::insn::*;

/// Size of one record written by the program (see `Record::parse`).
pub const RECORD_LEN: usize = 32;
/// `SOCKFS_MAGIC` from include/uapi/linux/magic.h.
const SOCKFS_MAGIC: i32 = 0x534F_434B;
/// MAX_PID_NS_LEVEL in the kernel: bounds the variable offset for the verifier.
pub(super) const MAX_PID_NS_LEVEL: i32 = 32;
/// The function whose BTF id the program attaches to (`iter/task_file`).
pub const TARGET_FUNC: &str = "bpf_iter_task_file";
/// The pid, tid and fd of the trailer record the program writes once, at the walk's end.
pub const TRAILER: u32 = u32::MAX;

/// Stack layout: the record at fp-32, scratch at fp-40 (fdtable.rs keeps the record
/// at the same place).
pub(super) const REC: i16 = -32;
pub(super) const REC_PID: i16 = REC;
pub(super) const REC_TID: i16 = REC + 4;
pub(super) const REC_FD: i16 = REC + 8;
pub(super) const REC_PAD: i16 = REC + 12;
pub(super) const REC_INODE: i16 = REC + 16;
pub(super) const REC_NETNS: i16 = REC + 24;
const SCRATCH: i16 = -40;

/// A field offset and load width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    pub off: i16,
    pub size: Size,
}

/// Where the network namespace inode is, from a `struct socket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetnsPath {
    pub socket_sk: i16,
    pub sock_net: i16,
    pub net_inum: i16,
}

/// Every offset the program needs, read from the running kernel's BTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub attach_btf_id: u32,
    pub ctx_meta: i16,
    pub ctx_task: i16,
    pub ctx_fd: i16,
    pub ctx_file: i16,
    pub meta_seq: i16,
    /// bpf_iter_meta.seq_num: the index of the object being shown.
    pub meta_seq_num: i16,
    pub file_inode: i16,
    pub inode_mode: Load,
    pub inode_ino: Load,
    pub inode_sb: i16,
    pub sb_magic: Load,
    pub task_thread_pid: i16,
    pub task_group_leader: i16,
    /// task_struct.tgid and .pid: the global numbers (level 0).
    pub task_tgid: i16,
    pub task_pid: i16,
    pub pid_level: i16,
    pub pid_numbers: i32,
    pub upid_size: i32,
    pub upid_nr: i32,
    /// None when this kernel's structs do not have the expected shape: netns is then 0.
    pub netns: Option<NetnsPath>,
}

pub const STRUCTS: &[&str] = &[
    "bpf_iter_meta",
    "file",
    "inode",
    "super_block",
    "task_struct",
    "pid",
    "upid",
    "socket",
    "sock",
    "net",
];

/// A BTF offset as a load's 16-bit displacement (the event programs use it too).
pub(super) fn off16(v: u32, what: &str) -> Result<i16, BtfError> {
    i16::try_from(v).map_err(|_| BtfError::Missing(format!("{what} at offset {v}: too far")))
}

/// How to load `root.path`, from the running kernel's BTF, where its size is one of `sizes`
/// (the event programs use it too).
pub(super) fn load(btf: &Btf, root: &str, path: &[&str], sizes: &[u32]) -> Result<Load, BtfError> {
    let f = btf.field(root, path)?;
    let what = format!("{root}.{}", path.join("."));
    match Size::of(f.size) {
        Some(size) if sizes.contains(&f.size) => Ok(Load {
            off: off16(f.offset, &what)?,
            size,
        }),
        _ => Err(BtfError::Missing(format!("{what} of {} bytes", f.size))),
    }
}

/// A pointer field (8 bytes).
pub(super) fn ptr(btf: &Btf, root: &str, path: &[&str]) -> Result<i16, BtfError> {
    Ok(load(btf, root, path, &[8])?.off)
}

impl Layout {
    pub fn from_btf(btf: &Btf) -> Result<Layout, BtfError> {
        let func = btf.func(TARGET_FUNC)?;
        // The context of a tracing program is the target's arguments, 8 bytes each.
        let arg = |name| -> Result<i16, BtfError> { Ok(btf.param_index(func, name)? as i16 * 8) };
        let (pid_numbers, upid_size) = btf.array("pid", &["numbers"])?;
        let upid_nr = load(btf, "upid", &["nr"], &[4])?.off.into();
        if !(4..=64).contains(&upid_size) {
            return Err(BtfError::Missing(format!(
                "struct upid of {upid_size} bytes"
            )));
        }
        let netns = (|| -> Result<NetnsPath, BtfError> {
            Ok(NetnsPath {
                socket_sk: ptr(btf, "socket", &["sk"])?,
                sock_net: ptr(btf, "sock", &["__sk_common", "skc_net", "net"])?,
                net_inum: load(btf, "net", &["ns", "inum"], &[4])?.off,
            })
        })()
        .ok();
        Ok(Layout {
            attach_btf_id: func,
            ctx_meta: arg("meta")?,
            ctx_task: arg("task")?,
            ctx_fd: arg("fd")?,
            ctx_file: arg("file")?,
            meta_seq: ptr(btf, "bpf_iter_meta", &["seq"])?,
            meta_seq_num: load(btf, "bpf_iter_meta", &["seq_num"], &[8])?.off,
            file_inode: ptr(btf, "file", &["f_inode"])?,
            inode_mode: load(btf, "inode", &["i_mode"], &[2])?,
            inode_ino: load(btf, "inode", &["i_ino"], &[4, 8])?,
            inode_sb: ptr(btf, "inode", &["i_sb"])?,
            sb_magic: load(btf, "super_block", &["s_magic"], &[4, 8])?,
            task_thread_pid: ptr(btf, "task_struct", &["thread_pid"])?,
            task_group_leader: ptr(btf, "task_struct", &["group_leader"])?,
            task_tgid: load(btf, "task_struct", &["tgid"], &[4])?.off,
            task_pid: load(btf, "task_struct", &["pid"], &[4])?.off,
            pid_level: load(btf, "pid", &["level"], &[4])?.off,
            pid_numbers: pid_numbers as i32,
            upid_size: upid_size as i32,
            upid_nr,
            netns,
        })
    }
}

/// *(u32 *)(fp + dst) = nr_at(r1, L = r9); continues at `done`.
fn nr_at_level(a: &mut Asm, l: &Layout, dst: i16, done: &'static str) {
    a.jmp_imm(JEQ, R1, 0, done); //           if (!p) return 0
    a.ldx(Size::W, R2, R1, l.pid_level); //   if (p->level < L) return 0
    a.jmp(JLT, R2, R9, done);
    a.mov(R2, R9); //                          r3 = &p->numbers[L].nr
    a.alu_imm(MUL, R2, l.upid_size);
    a.alu(ADD, R1, R2);
    a.alu_imm(ADD, R1, l.pid_numbers + l.upid_nr);
    a.mov(R3, R1);
    a.mov(R1, FP); //                          copied to SCRATCH
    a.alu_imm(ADD, R1, SCRATCH.into());
    a.mov_imm(R2, 4);
    a.call(PROBE_READ_KERNEL);
    a.jmp_imm(JNE, R0, 0, done);
    a.ldx(Size::W, R1, FP, SCRATCH);
    a.stx(Size::W, FP, dst, R1);
}

/// The program for this kernel's layout.
pub fn build(l: &Layout) -> Result<Vec<Insn>, String> {
    let mut a = Asm::default();
    a.mov(R6, R1); //                                 r6 = ctx (kept across calls)
    a.ldx(Size::DW, R8, R6, l.ctx_file); //           r8 = ctx->file
    a.jmp_imm(JEQ, R8, 0, "trailer");
    a.ldx(Size::DW, R7, R6, l.ctx_task); //           r7 = ctx->task
    a.jmp_imm(JEQ, R7, 0, "out");
    match l.netns {
        Some(n) => {
            a.mov(R1, R8); //                         r0 = bpf_sock_from_file(file)
            a.call(SOCK_FROM_FILE);
            a.jmp_imm(JEQ, R0, 0, "out");
            a.ldx(Size::DW, R1, R8, l.file_inode); // r1 = file->f_inode
            a.jmp_imm(JEQ, R1, 0, "out");
            record_start(&mut a, l);
            a.ldx(Size::DW, R1, R0, n.socket_sk); //  ->sk
            a.jmp_imm(JEQ, R1, 0, "pids");
            a.ldx(Size::DW, R1, R1, n.sock_net); //   ->__sk_common.skc_net.net
            a.jmp_imm(JEQ, R1, 0, "pids");
            a.ldx(Size::W, R1, R1, n.net_inum); //    ->ns.inum
            a.stx(Size::DW, FP, REC_NETNS, R1);
        }
        None => {
            a.ldx(Size::DW, R1, R8, l.file_inode); // r1 = file->f_inode
            a.jmp_imm(JEQ, R1, 0, "out");
            a.ldx(l.inode_mode.size, R2, R1, l.inode_mode.off); // S_ISSOCK(inode->i_mode)
            a.alu_imm(AND, R2, 0xf000);
            a.jmp_imm(JNE, R2, 0xc000, "out");
            a.ldx(Size::DW, R2, R1, l.inode_sb); //   inode->i_sb->s_magic == SOCKFS_MAGIC
            a.jmp_imm(JEQ, R2, 0, "out");
            a.ldx(l.sb_magic.size, R2, R2, l.sb_magic.off);
            a.jmp_imm(JNE, R2, SOCKFS_MAGIC, "out");
            record_start(&mut a, l);
        }
    }
    a.label("pids");
    a.call(GET_CURRENT_TASK_BTF); //                  r1 = current->thread_pid
    a.ldx(Size::DW, R1, R0, l.task_thread_pid);
    a.jmp_imm(JEQ, R1, 0, "emit");
    a.ldx(Size::W, R9, R1, l.pid_level); //           r9 = L = its level
    a.jmp_imm(JGT, R9, MAX_PID_NS_LEVEL, "emit");
    a.jmp_imm(JNE, R9, 0, "nested");
    a.ldx(Size::W, R1, R7, l.task_tgid); //           L == 0: r.pid = task->tgid
    a.stx(Size::W, FP, REC_PID, R1);
    a.ldx(Size::W, R1, R7, l.task_pid); //            r.tid = task->pid
    a.stx(Size::W, FP, REC_TID, R1);
    a.ja("emit");
    a.label("nested");
    a.ldx(Size::DW, R1, R7, l.task_group_leader); //  r.pid = nr_at(leader->thread_pid)
    a.jmp_imm(JEQ, R1, 0, "tid");
    a.ldx(Size::DW, R1, R1, l.task_thread_pid);
    nr_at_level(&mut a, l, REC_PID, "tid");
    a.label("tid");
    a.ldx(Size::DW, R1, R7, l.task_thread_pid); //    r.tid = nr_at(task->thread_pid)
    nr_at_level(&mut a, l, REC_TID, "emit");
    a.ja("emit");
    // No file: the stop call at the walk's end. The trailer says how far the walk went.
    a.label("trailer");
    a.ldx(Size::DW, R1, R6, l.ctx_meta); //           r.inode = ctx->meta->seq_num
    a.ldx(Size::DW, R2, R1, l.meta_seq_num);
    a.stx(Size::DW, FP, REC_INODE, R2);
    a.st(Size::W, FP, REC_PID, TRAILER as i32);
    a.st(Size::W, FP, REC_TID, TRAILER as i32);
    a.st(Size::W, FP, REC_FD, TRAILER as i32);
    a.st(Size::W, FP, REC_PAD, 0);
    a.st(Size::DW, FP, REC_NETNS, 0);
    a.label("emit");
    a.ldx(Size::DW, R1, R6, l.ctx_meta); //           bpf_seq_write(ctx->meta->seq, &r, 32)
    a.ldx(Size::DW, R1, R1, l.meta_seq);
    a.mov(R2, FP);
    a.alu_imm(ADD, R2, REC.into());
    a.mov_imm(R3, RECORD_LEN as i32);
    a.call(SEQ_WRITE);
    a.label("out");
    a.mov_imm(R0, 0);
    a.exit();
    a.finish()
}

/// With r1 = the socket's inode: r.inode, r.fd, and every other field zeroed.
fn record_start(a: &mut Asm, l: &Layout) {
    a.ldx(l.inode_ino.size, R2, R1, l.inode_ino.off); // r.inode = inode->i_ino
    a.stx(Size::DW, FP, REC_INODE, R2);
    a.ldx(Size::W, R2, R6, l.ctx_fd); //              r.fd = ctx->fd
    a.stx(Size::W, FP, REC_FD, R2);
    a.st(Size::W, FP, REC_PID, 0);
    a.st(Size::W, FP, REC_TID, 0);
    a.st(Size::W, FP, REC_PAD, 0);
    a.st(Size::DW, FP, REC_NETNS, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(netns: bool) -> Layout {
        Layout {
            attach_btf_id: 1,
            ctx_meta: 0,
            ctx_task: 8,
            ctx_fd: 16,
            ctx_file: 24,
            meta_seq: 0,
            meta_seq_num: 16,
            file_inode: 32,
            inode_mode: Load {
                off: 0,
                size: Size::H,
            },
            inode_ino: Load {
                off: 64,
                size: Size::DW,
            },
            inode_sb: 40,
            sb_magic: Load {
                off: 96,
                size: Size::DW,
            },
            task_thread_pid: 1000,
            task_group_leader: 1008,
            task_tgid: 1100,
            task_pid: 1104,
            pid_level: 4,
            pid_numbers: 96,
            upid_size: 16,
            upid_nr: 0,
            netns: netns.then_some(NetnsPath {
                socket_sk: 24,
                sock_net: 48,
                net_inum: 160,
            }),
        }
    }

    #[test]
    fn the_record_written_is_the_whole_initialised_record() {
        for netns in [false, true] {
            let p = build(&layout(netns)).unwrap();
            // Ends: r1 = seq, r2 = fp - 32, r3 = 32, call seq_write, r0 = 0, exit.
            let n = p.len();
            assert_eq!(p[n - 4].imm, RECORD_LEN as i32);
            assert_eq!(p[n - 5].imm, i32::from(REC));
            assert_eq!((p[n - 3].code, p[n - 3].imm), (0x85, SEQ_WRITE));
            assert_eq!(p[n - 1].code, 0x95);
            // Every byte of the record is stored before the write: 4 words + 2 dwords.
            let stores: Vec<i16> = p
                .iter()
                .filter(|i| (i.code == 0x62 || i.code == 0x63) && i.regs & 0x0f == 10)
                .map(|i| i.off)
                .collect();
            for off in [REC_PID, REC_TID, REC_FD, REC_PAD] {
                assert!(stores.contains(&off), "{off} not stored");
            }
            let dw: Vec<i16> = p
                .iter()
                .filter(|i| (i.code == 0x7a || i.code == 0x7b) && i.regs & 0x0f == 10)
                .map(|i| i.off)
                .collect();
            assert!(dw.contains(&REC_INODE) && dw.contains(&REC_NETNS), "{dw:?}");
        }
    }

    /// With the socket's BTF shape known, sockets are told by bpf_sock_from_file before
    /// any inode is read (no i_mode or s_magic load); without it, by the inode. Level 0
    /// takes task->tgid and task->pid, straight after the level test.
    #[test]
    fn sockets_are_told_by_the_helper_and_level_zero_reads_the_task() {
        let loads_from = |p: &[Insn], off: i16| {
            p.iter()
                .filter(|i| i.code & 0x07 == 0x01 && i.off == off)
                .count()
        };
        let l = layout(true);
        let p = build(&l).unwrap();
        let helper = p
            .iter()
            .position(|i| i.code == 0x85 && i.imm == SOCK_FROM_FILE);
        let inode = p
            .iter()
            .position(|i| i.code & 0x07 == 0x01 && i.off == l.file_inode);
        assert!(helper.unwrap() < inode.unwrap());
        assert_eq!(loads_from(&p, l.sb_magic.off), 0);
        let p_old = build(&layout(false)).unwrap();
        assert_eq!(loads_from(&p_old, l.sb_magic.off), 1);
        for p in [&p, &p_old] {
            let level = p.iter().position(|i| i.code == 0x55 && i.imm == 0).unwrap();
            assert_eq!(p[level + 1].off, l.task_tgid);
            assert_eq!(p[level + 3].off, l.task_pid);
        }
    }

    #[test]
    fn netns_reads_only_when_the_layout_has_them() {
        let calls = |p: &[Insn], id| p.iter().filter(|i| i.code == 0x85 && i.imm == id).count();
        for netns in [false, true] {
            let p = build(&layout(netns)).unwrap();
            // numbers[L].nr of the leader and of the thread.
            assert_eq!(calls(&p, PROBE_READ_KERNEL), 2);
            assert_eq!(calls(&p, SOCK_FROM_FILE), usize::from(netns));
            assert_eq!(calls(&p, GET_CURRENT_TASK_BTF), 1);
        }
    }
}
