//! Collect stage, Linux, BPF owner source: the `iter/task` program, which walks each
//! task's descriptor table itself and reads only the sockets, with every kernel struct
//! offset taken from this kernel's BTF. It writes the records program.rs's `iter/task_file`
//! program writes, at a fraction of the cost: task_file takes the task lock and a file
//! reference for every descriptor and runs the program once per descriptor; this one runs
//! once per task and skips empty bitmap words, reading a file only where a bit is set.
//!
//! In C it would read (`read` is bpf_probe_read_kernel; `f->x` on a file or socket is a
//! direct load from a pointer made by the kfunc bpf_rdonly_cast, see below):
//!
//! ```c
//! SEC("iter/task") int owners(struct bpf_iter__task *ctx) {
//!     struct seq_file *seq = ctx->meta->seq;  struct task_struct *task = ctx->task;
//!     if (!task) { marker(seq, TRAILER, 0); return 0; }  // the walk's end (stop call)
//!     struct files_struct *files = read(&task->files);
//!     if (!files) return 0;                              // a kernel thread, or exiting
//!     // Threads that share the leader's table are walked with the leader (task_file's
//!     // skip_if_dup_files); a thread with a table of its own (unshare(CLONE_FILES)) is
//!     // walked, under its own tid.
//!     if (task->pid != task->tgid && read(&read(&task->group_leader)->files) == files)
//!         return 0;
//!     // socket_file_ops is not in the BTF: learnt from our own socket at descriptor K
//!     // (an immediate, fixed when the program is assembled; the reader holds it open).
//!     struct task_struct *me = (void *)bpf_get_current_task();
//!     c.sock_ops = read(&read(&read(&read(&me->files)->fdt)->fd)[K])->f_op;
//!     if (!c.sock_ops) { marker(seq, INCOMPLETE, 0); return 0; }
//!     r.pid, r.tid = the task's numbers at the reader's PID namespace level (program.rs);
//!     struct fdtable *fdt = read(&files->fdt);           // once: bounds and arrays agree
//!     if (!fdt) return 0;
//!     c.fd = read(&fdt->fd);  c.open = read(&fdt->open_fds);
//!     u64 words = (read(&fdt->max_fds) + 63) / 64;
//!     if (words > BPF_MAX_LOOPS) { marker(seq, INCOMPLETE, 0); return 0; }
//!     bpf_loop(words, word, &c, 0);
//!     if (c.truncated || read(&task->files) != files)       // capped, or the table was
//!         marker(seq, TRUNCATED, (u64)r.pid << 32 | r.tid);  // freed: walked again
//!     else marker(seq, PARTIAL, c.count);                // the descriptors of this table
//!     return 0;
//! }
//! static long word(u64 k, struct ctx *c) {               // descriptors 64 k ..
//!     if (!(c->word = read(&c->open[k]))) return 0;      // no descriptor: skipped
//!     c->base = 64 * k;
//!     bpf_loop(8, byte, c, 0);
//!     return c->stop;
//! }
//! static long byte(u64 j, struct ctx *c) {               // 8 of them: one read of fd[]
//!     if (!(c->bits = c->word >> 8 * j & 0xff)) return 0;
//!     c->fd0 = c->base + 8 * j;
//!     bpf_probe_read_kernel(c->chunk, 64, &c->fd[c->fd0]);
//!     bpf_loop(8, slot, c, 0);
//!     return c->stop;
//! }
//! static long slot(u64 m, struct ctx *c) {
//!     struct file *f = c->chunk[m];
//!     if (!(c->bits >> m & 1) || !f) return 0;          // a slot reserved, or just closed
//!     c->count++;
//!     if (f->f_op != c->sock_ops) return 0;
//!     if (c->written >= MAX_RECORDS) { c->truncated = c->stop = 1; return 1; }
//!     r.fd = c->fd0 + m;
//!     r.inode = f->f_inode->i_ino;
//!     r.netns = ((struct socket *)f->private_data)->sk->__sk_common.skc_net.net->ns.inum;
//!     if (bpf_seq_write(seq, &r, sizeof(r))) { c->stop = 1; return 1; }  // buffer full
//!     c->written++;
//!     return 0;
//! }
//! ```
//!
//! The per-task pointer chains go through bpf_probe_read_kernel, which never faults and
//! reads 0 where it cannot read. It also keeps the verifier fast: a direct load of a
//! pointer field from a trusted BTF pointer makes it search the whole vmlinux BTF by
//! name, up to four times per load (`ctx->meta->seq` is the one such load here;
//! `task->pid` and `->tgid` are scalars). Per descriptor, though, the helper costs too
//! much: with a helper call to read each file's f_op (a likely cache miss) the walk
//! measured ~100 ns per descriptor on the bench's large load, ~55 ns without. bpf_rdonly_cast
//! (Linux 6.2+) makes a file address an untrusted BTF pointer, loaded from directly: the
//! cast is inlined, each load is a plain load that reads 0 instead of faulting, and the
//! verifier does no trust search for it.
//!
//! Concurrency (the program runs under RCU, with no lock on the table):
//! - The table may be resized meanwhile: fdt is read once per task and only its own
//!   max_fds, fd[] and open_fds are used; the old table is freed only after an RCU grace
//!   period, so a walk of it sees the table as it was when the walk began.
//! - A file may be closed meanwhile: a slot read as NULL is skipped; one closed after its
//!   pointer was read is still a struct file in memory (their slab is
//!   SLAB_TYPESAFE_BY_RCU), perhaps another file's by then, and may be reported at that
//!   descriptor: a descriptor closed during the walk may or may not be seen, as with
//!   any walk that does not stop the process. Nothing is taken, so nothing is leaked.
//! - The task may exit (or unshare its table) meanwhile: the kernel clears task->files
//!   and then frees the table at once, without waiting for RCU, and a fork may reuse the
//!   memory for a copy of another process's table. task->files is read again after the
//!   walk; if it changed, the task's records end with TRUNCATED instead of PARTIAL, so
//!   the walker drops them and walks the task again alone (it finds nothing if the task
//!   is gone).
//! - The stack is one 512-byte budget across frames: fd[] is read 8 pointers at a time,
//!   into the main program's frame, which the callbacks reach through their context.
//!
//! One task's output must fit the iterator's buffer (8 pages): when a write does not fit
//! behind earlier tasks' records, the kernel drops what the task wrote and shows the task
//! again first in the next read; if it still does not fit, the read fails (E2BIG). So a
//! task writes at most MAX_RECORDS records; a table with more sockets ends with a
//! TRUNCATED marker naming the task, and the walker walks that task alone with
//! task_file (see mod.rs).

use super::btf::{Btf, BtfError};
use super::insn::*;
use super::program::{
    load, ptr, Load, NetnsPath, MAX_PID_NS_LEVEL, REC, RECORD_LEN, REC_FD, REC_INODE, REC_NETNS,
    REC_PAD, REC_PID, REC_TID, TRAILER,
};

/// The function whose BTF id the program attaches to (`iter/task`).
pub const TARGET_FUNC: &str = "bpf_iter_task";
/// The kfunc (Linux 6.2+) that turns an address into a BTF pointer the program may load
/// from directly: the load is inlined, and a fault in it reads 0.
pub const RDONLY_CAST: &str = "bpf_rdonly_cast";
/// The fd of the record written after each table: its inode is the table's descriptors.
pub const PARTIAL: u32 = u32::MAX - 1;
/// The fd of the record saying a table could not be walked (no socket to learn
/// socket_file_ops from, or more words than bpf_loop allows): the walk is incomplete.
pub const INCOMPLETE: u32 = u32::MAX - 2;
/// The fd of the record written instead of PARTIAL for a task with more than
/// MAX_RECORDS sockets, whose records stop there; its inode is pid << 32 | tid.
pub const TRUNCATED: u32 = u32::MAX - 3;
/// The most records one task writes: with its last record, one read of the iterator
/// (8 pages, 32 KiB on x86-64) must hold them all, or the kernel fails the read (E2BIG).
pub const MAX_RECORDS: i32 = 1000;
/// BPF_MAX_LOOPS: bpf_loop refuses more iterations (2^23 words: 512M descriptors).
const MAX_LOOPS: i32 = 1 << 23;

/// Frame 0's stack, shared with the callbacks (which reach it through their context,
/// the caller's frame pointer): the record at fp-32 (as program.rs), then the context.
const SEQ: i16 = -40;
const FDS: i16 = -48;
const OPEN: i16 = -56;
const SOCK_OPS: i16 = -64;
const COUNT: i16 = -72;
const WORD: i16 = -80;
const BASE: i16 = -88;
const STOP: i16 = -96;
const SCRATCH: i16 = -104;
const BITS: i16 = -112;
const FD0: i16 = -120;
const WRITTEN: i16 = -128;
const TRUNC: i16 = -136;
/// fd[FD0 .. FD0 + 8], read in one go.
const CHUNK: i16 = -200;
const CHUNK_FILES: i32 = 8;
/// The task's files_struct as the walk began (compared again after it).
const FILES: i16 = -208;

pub const STRUCTS: &[&str] = &[
    "bpf_iter_meta",
    "task_struct",
    "files_struct",
    "fdtable",
    "file",
    "inode",
    "pid",
    "upid",
    "socket",
    "sock",
    "net",
];

/// Every offset the program needs, read from the running kernel's BTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub attach_btf_id: u32,
    pub ctx_meta: i16,
    pub ctx_task: i16,
    pub meta_seq: i16,
    pub task_files: i16,
    pub task_group_leader: i16,
    pub task_thread_pid: i16,
    pub task_tgid: i16,
    pub task_pid: i16,
    pub files_fdt: i16,
    pub fdt_max_fds: i16,
    pub fdt_fd: i16,
    pub fdt_open_fds: i16,
    pub file_f_op: i16,
    pub file_inode: i16,
    pub file_private: i16,
    pub inode_ino: Load,
    pub pid_level: i16,
    pub pid_numbers: i32,
    pub upid_size: i32,
    pub upid_nr: i32,
    pub netns: NetnsPath,
    /// The kfunc bpf_rdonly_cast, and the types it casts to.
    pub rdonly_cast: u32,
    pub file_type: u32,
    pub socket_type: u32,
}

impl Layout {
    pub fn from_btf(btf: &Btf) -> Result<Layout, BtfError> {
        let func = btf.func(TARGET_FUNC)?;
        let arg = |name| -> Result<i16, BtfError> { Ok(btf.param_index(func, name)? as i16 * 8) };
        let (pid_numbers, upid_size) = btf.array("pid", &["numbers"])?;
        if !(4..=64).contains(&upid_size) {
            return Err(BtfError::Missing(format!(
                "struct upid of {upid_size} bytes"
            )));
        }
        Ok(Layout {
            attach_btf_id: func,
            ctx_meta: arg("meta")?,
            ctx_task: arg("task")?,
            meta_seq: ptr(btf, "bpf_iter_meta", &["seq"])?,
            task_files: ptr(btf, "task_struct", &["files"])?,
            task_group_leader: ptr(btf, "task_struct", &["group_leader"])?,
            task_thread_pid: ptr(btf, "task_struct", &["thread_pid"])?,
            task_tgid: load(btf, "task_struct", &["tgid"], &[4])?.off,
            task_pid: load(btf, "task_struct", &["pid"], &[4])?.off,
            files_fdt: ptr(btf, "files_struct", &["fdt"])?,
            fdt_max_fds: load(btf, "fdtable", &["max_fds"], &[4])?.off,
            fdt_fd: ptr(btf, "fdtable", &["fd"])?,
            fdt_open_fds: ptr(btf, "fdtable", &["open_fds"])?,
            file_f_op: ptr(btf, "file", &["f_op"])?,
            file_inode: ptr(btf, "file", &["f_inode"])?,
            file_private: ptr(btf, "file", &["private_data"])?,
            inode_ino: load(btf, "inode", &["i_ino"], &[4, 8])?,
            pid_level: load(btf, "pid", &["level"], &[4])?.off,
            pid_numbers: pid_numbers as i32,
            upid_size: upid_size as i32,
            upid_nr: load(btf, "upid", &["nr"], &[4])?.off.into(),
            netns: NetnsPath {
                socket_sk: ptr(btf, "socket", &["sk"])?,
                sock_net: ptr(btf, "sock", &["__sk_common", "skc_net", "net"])?,
                net_inum: load(btf, "net", &["ns", "inum"], &[4])?.off,
            },
            rdonly_cast: btf.func(RDONLY_CAST)?,
            file_type: btf.struct_id("file")?,
            socket_type: btf.struct_id("socket")?,
        })
    }
}

/// *(frame + dst) = bpf_probe_read_kernel(size bytes at src + off). `src` is read first,
/// so it may be any register but r1 and r2.
fn read(a: &mut Asm, frame: Reg, dst: i16, size: i32, src: Reg, off: i32) {
    if src != R3 {
        a.mov(R3, src);
    }
    if off != 0 {
        a.alu_imm(ADD, R3, off);
    }
    a.mov(R1, frame);
    a.alu_imm(ADD, R1, dst.into());
    a.mov_imm(R2, size);
    a.call(PROBE_READ_KERNEL);
}

/// dst = 0, computed from `src` (a value the verifier does not know) so that it does not
/// know this 0 either (see `context`).
fn unknown_zero(a: &mut Asm, dst: Reg, src: Reg) {
    a.mov(dst, src);
    a.alu(XOR, dst, src);
}

/// SCRATCH = *(SCRATCH + off): one step along a pointer chain.
fn follow(a: &mut Asm, frame: Reg, off: i16) {
    a.ldx(Size::DW, R3, frame, SCRATCH);
    read(a, frame, SCRATCH, 8, R3, off.into());
}

/// The program for this kernel's layout, learning socket_file_ops from our descriptor
/// `anchor_fd` (a socket the reader holds open while the program may run); and where
/// each of its functions starts (for its BTF).
pub fn build(l: &Layout, anchor_fd: u32) -> Result<Funcs, String> {
    let anchor = i32::try_from(anchor_fd)
        .ok()
        .and_then(|k| k.checked_mul(8))
        .ok_or_else(|| format!("descriptor {anchor_fd} too high for an immediate"))?;
    let mut a = Asm::default();
    a.ldx(Size::DW, R2, R1, l.ctx_meta); //          the seq, kept for every write
    a.ldx(Size::DW, R2, R2, l.meta_seq);
    a.stx(Size::DW, FP, SEQ, R2);
    a.st(Size::W, FP, REC_PAD, 0);
    a.ldx(Size::DW, R7, R1, l.ctx_task); //          r7 = task
    a.jmp_imm(JEQ, R7, 0, "trailer");
    table(&mut a, l);
    socket_ops(&mut a, l, anchor);
    ids(&mut a, l);
    walk(&mut a, l);
    a.label("out");
    a.mov_imm(R0, 0);
    a.exit();
    a.label("incomplete");
    marker(&mut a, INCOMPLETE, None);
    a.label("trailer");
    marker(&mut a, TRAILER, None);
    word_callback(&mut a);
    byte_callback(&mut a);
    slot_callback(&mut a, l);
    a.finish_funcs()
}

/// r8 = task->files; to `out` without one, or for a thread that shares its leader's.
fn table(a: &mut Asm, l: &Layout) {
    read(a, FP, SCRATCH, 8, R7, l.task_files.into());
    a.ldx(Size::DW, R8, FP, SCRATCH);
    a.jmp_imm(JEQ, R8, 0, "out");
    a.ldx(Size::W, R1, R7, l.task_pid); //           the leader: walked
    a.ldx(Size::W, R2, R7, l.task_tgid);
    a.jmp(JEQ, R1, R2, "own");
    read(a, FP, SCRATCH, 8, R7, l.task_group_leader.into());
    follow(a, FP, l.task_files); //                  the leader's table: walked with it
    a.ldx(Size::DW, R1, FP, SCRATCH);
    a.jmp(JEQ, R1, R8, "out");
    a.label("own");
    a.stx(Size::DW, FP, FILES, R8);
}

/// SOCK_OPS = current->files->fdt->fd[K]->f_op; r9 = current. To `incomplete` if 0.
fn socket_ops(a: &mut Asm, l: &Layout, anchor: i32) {
    a.call(GET_CURRENT_TASK);
    a.mov(R9, R0);
    read(a, FP, SCRATCH, 8, R9, l.task_files.into());
    follow(a, FP, l.files_fdt);
    follow(a, FP, l.fdt_fd);
    a.ldx(Size::DW, R3, FP, SCRATCH); //             &fd[K]
    read(a, FP, SCRATCH, 8, R3, anchor);
    follow(a, FP, l.file_f_op);
    a.ldx(Size::DW, R1, FP, SCRATCH);
    a.stx(Size::DW, FP, SOCK_OPS, R1);
    a.jmp_imm(JEQ, R1, 0, "incomplete");
}

/// REC_PID and REC_TID: the task's numbers at the reader's PID namespace level (r9 =
/// current on entry; the level after).
fn ids(a: &mut Asm, l: &Layout) {
    a.st(Size::W, FP, REC_PID, 0);
    a.st(Size::W, FP, REC_TID, 0);
    read(a, FP, SCRATCH, 8, R9, l.task_thread_pid.into());
    a.ldx(Size::DW, R3, FP, SCRATCH);
    read(a, FP, SCRATCH, 4, R3, l.pid_level.into());
    a.ldx(Size::W, R9, FP, SCRATCH); //              r9 = L
    a.jmp_imm(JGT, R9, MAX_PID_NS_LEVEL, "named");
    a.jmp_imm(JNE, R9, 0, "nested");
    a.ldx(Size::W, R1, R7, l.task_tgid); //          L == 0: the task's own numbers
    a.stx(Size::W, FP, REC_PID, R1);
    a.ldx(Size::W, R1, R7, l.task_pid);
    a.stx(Size::W, FP, REC_TID, R1);
    a.ja("named");
    a.label("nested");
    read(a, FP, SCRATCH, 8, R7, l.task_group_leader.into());
    follow(a, FP, l.task_thread_pid);
    a.ldx(Size::DW, R6, FP, SCRATCH);
    nr_at(a, l, REC_PID, "pid_done");
    a.label("pid_done");
    read(a, FP, SCRATCH, 8, R7, l.task_thread_pid.into());
    a.ldx(Size::DW, R6, FP, SCRATCH);
    nr_at(a, l, REC_TID, "named");
    a.label("named");
}

/// *(u32 *)(fp + dst) = r6 (a struct pid) && r6->level >= L ? r6->numbers[L].nr : 0,
/// with L in r9; continues at `done` (dst is 0 on entry).
fn nr_at(a: &mut Asm, l: &Layout, dst: i16, done: &'static str) {
    a.jmp_imm(JEQ, R6, 0, done);
    read(a, FP, SCRATCH, 4, R6, l.pid_level.into());
    a.ldx(Size::W, R1, FP, SCRATCH);
    a.jmp(JLT, R1, R9, done);
    a.mov(R3, R9);
    a.alu_imm(MUL, R3, l.upid_size);
    a.alu(ADD, R3, R6);
    read(a, FP, dst, 4, R3, l.pid_numbers + l.upid_nr);
}

/// The table of r8 (files): fdt read once, its words walked, its count written.
fn walk(a: &mut Asm, l: &Layout) {
    read(a, FP, SCRATCH, 8, R8, l.files_fdt.into());
    a.ldx(Size::DW, R8, FP, SCRATCH); //             r8 = fdt
    a.jmp_imm(JEQ, R8, 0, "out");
    read(a, FP, FDS, 8, R8, l.fdt_fd.into());
    read(a, FP, OPEN, 8, R8, l.fdt_open_fds.into());
    read(a, FP, SCRATCH, 4, R8, l.fdt_max_fds.into());
    a.ldx(Size::W, R9, FP, SCRATCH); //              r9 = words = (max_fds + 63) / 64
    a.alu_imm(ADD, R9, 63);
    a.alu_imm(RSH, R9, 6);
    a.jmp_imm(JGT, R9, MAX_LOOPS, "incomplete");
    context(a);
    a.mov(R1, R9);
    a.ld_func(R2, "word");
    a.mov(R3, FP); //                                the callbacks' context: this frame
    a.mov_imm(R4, 0);
    a.call(LOOP);
    a.ldx(Size::DW, R1, FP, TRUNC);
    a.jmp_imm(JNE, R1, 0, "truncated");
    // The table walked without a lock: a task that exited (or unshared its table) during
    // the walk freed it at once, and the memory may be another process's table by now.
    // Its files pointer changed before that free: then its records are not trusted, and
    // the task is walked again alone (or is gone).
    read(a, FP, SCRATCH, 8, R7, l.task_files.into());
    a.ldx(Size::DW, R1, FP, SCRATCH);
    a.ldx(Size::DW, R2, FP, FILES);
    a.jmp(JNE, R1, R2, "truncated");
    marker(a, PARTIAL, Some(COUNT));
    a.label("truncated"); //                         its records stopped: say whose
    a.ldx(Size::W, R1, FP, REC_PID);
    a.alu_imm(LSH, R1, 32);
    a.ldx(Size::W, R2, FP, REC_TID);
    a.alu(OR, R1, R2);
    a.stx(Size::DW, FP, SCRATCH, R1);
    marker(a, TRUNCATED, Some(SCRATCH));
}

/// Every slot the callbacks write, written before the first call with what the verifier
/// will see in it after any number of calls: a number it does not know (a 0 at run
/// time, made by `unknown_zero`, each from a value of its own so that no two slots look
/// linked). The verifier, which checks a callback as a loop, then finds the second pass
/// the same as the first and stops; with stored constants it went round again for every
/// kind of value a slot took, and checked more than twice the instructions.
fn context(a: &mut Asm) {
    unknown_zero(a, R3, R8);
    let slots = [
        COUNT, STOP, WORD, BASE, BITS, FD0, WRITTEN, TRUNC, REC_FD, REC_INODE, REC_NETNS,
    ];
    for slot in slots
        .into_iter()
        .chain((0..CHUNK_FILES as i16).map(|m| CHUNK + 8 * m))
    {
        a.alu(OR, R3, R3); //                        a value of its own (no id)
        a.stx(Size::DW, FP, slot, R3);
    }
}

/// Writes a record with pid, tid = TRAILER, `fd`, and inode = *(fp + inode) or 0; then
/// returns 0.
fn marker(a: &mut Asm, fd: u32, inode: Option<i16>) {
    a.st(Size::W, FP, REC_PID, TRAILER as i32);
    a.st(Size::W, FP, REC_TID, TRAILER as i32);
    a.st(Size::W, FP, REC_FD, fd as i32);
    a.st(Size::W, FP, REC_PAD, 0);
    match inode {
        Some(slot) => {
            a.ldx(Size::DW, R1, FP, slot);
            a.stx(Size::DW, FP, REC_INODE, R1);
        }
        None => a.st(Size::DW, FP, REC_INODE, 0),
    }
    a.st(Size::DW, FP, REC_NETNS, 0);
    a.ldx(Size::DW, R1, FP, SEQ);
    a.mov(R2, FP);
    a.alu_imm(ADD, R2, REC.into());
    a.mov_imm(R3, RECORD_LEN as i32);
    a.call(SEQ_WRITE);
    a.mov_imm(R0, 0);
    a.exit();
}

/// word(k, ctx): bitmap word k; its bytes through `byte`. Returns STOP (1 ends bpf_loop).
fn word_callback(a: &mut Asm) {
    a.sub("word");
    a.mov(R6, R2);
    a.mov(R7, R1);
    a.ldx(Size::DW, R3, R6, OPEN); //                WORD = open_fds[k]
    a.mov(R1, R7);
    a.alu_imm(LSH, R1, 3);
    a.alu(ADD, R3, R1);
    read(a, R6, WORD, 8, R3, 0);
    a.ldx(Size::DW, R1, R6, WORD);
    a.jmp_imm(JEQ, R1, 0, "word_empty");
    a.alu_imm(LSH, R7, 6); //                        BASE = 64 k
    a.stx(Size::DW, R6, BASE, R7);
    inner_loop(a, 8, "byte", "word_empty");
}

/// byte(j, ctx): byte j of WORD; where a bit is set, fd[] read 8 pointers at a time and
/// each descriptor handed to `slot`. Returns STOP.
fn byte_callback(a: &mut Asm) {
    a.sub("byte");
    a.mov(R6, R2);
    a.mov(R8, R1);
    a.alu_imm(LSH, R8, 3);
    a.ldx(Size::DW, R7, R6, WORD);
    a.alu(RSH, R7, R8);
    a.alu_imm(AND, R7, 0xff);
    a.jmp_imm(JEQ, R7, 0, "byte_empty");
    a.stx(Size::DW, R6, BITS, R7);
    a.ldx(Size::DW, R1, R6, BASE); //                FD0 = BASE + 8 j
    a.alu(ADD, R8, R1);
    a.stx(Size::DW, R6, FD0, R8);
    a.mov(R3, R8); //                                CHUNK = fd[FD0 .. FD0 + 8]
    a.alu_imm(LSH, R3, 3);
    a.ldx(Size::DW, R1, R6, FDS);
    a.alu(ADD, R3, R1);
    read(a, R6, CHUNK, CHUNK_FILES * 8, R3, 0);
    inner_loop(a, CHUNK_FILES, "slot", "byte_empty");
}

/// A callback's end: bpf_loop(n, `func`, the context in r6), then returns STOP (1 ends
/// the caller's loop too); at `empty`, returns 0 (nothing to walk).
fn inner_loop(a: &mut Asm, n: i32, func: &'static str, empty: &'static str) {
    a.mov_imm(R1, n);
    a.ld_func(R2, func);
    a.mov(R3, R6);
    a.mov_imm(R4, 0);
    a.call(LOOP);
    a.ldx(Size::DW, R0, R6, STOP);
    a.alu_imm(AND, R0, 1);
    a.exit();
    a.label(empty);
    a.mov_imm(R0, 0);
    a.exit();
}

/// slot(m, ctx): descriptor FD0 + m, if bit m of BITS is set and CHUNK[m] (read at a
/// variable offset of the stack) holds a file: counted, and if a socket, its record
/// written. Returns 1 (stop) when the seq buffer is full. r6 = ctx, r7 = m, r8 = the file.
fn slot_callback(a: &mut Asm, l: &Layout) {
    let n = l.netns;
    a.sub("slot");
    a.mov(R6, R2);
    a.mov(R7, R1);
    a.alu_imm(AND, R7, CHUNK_FILES - 1); //          bounds the offset for the verifier
    a.ldx(Size::DW, R1, R6, BITS);
    a.alu(RSH, R1, R7);
    a.alu_imm(AND, R1, 1);
    a.jmp_imm(JEQ, R1, 0, "slot_done");
    a.mov(R1, R7);
    a.alu_imm(LSH, R1, 3);
    a.alu(ADD, R1, R6);
    a.ldx(Size::DW, R8, R1, CHUNK);
    a.jmp_imm(JEQ, R8, 0, "slot_done"); //           reserved, or closed meanwhile
    a.ldx(Size::DW, R1, R6, COUNT);
    a.alu_imm(ADD, R1, 1);
    a.stx(Size::DW, R6, COUNT, R1);
    a.mov(R1, R8);
    cast(a, l.rdonly_cast, l.file_type);
    a.mov(R8, R0);
    a.ldx(Size::DW, R1, R8, l.file_f_op);
    a.ldx(Size::DW, R2, R6, SOCK_OPS);
    a.jmp(JNE, R1, R2, "slot_done");
    a.ldx(Size::DW, R1, R6, WRITTEN); //             a socket: its record, if room
    a.jmp_imm(JGE, R1, MAX_RECORDS, "slot_truncated");
    a.ldx(Size::DW, R1, R6, FD0);
    a.alu(ADD, R1, R7);
    a.stx(Size::W, R6, REC_FD, R1);
    a.ldx(Size::DW, R1, R8, l.file_inode);
    a.ldx(l.inode_ino.size, R1, R1, l.inode_ino.off);
    a.stx(Size::DW, R6, REC_INODE, R1);
    a.ldx(Size::DW, R1, R8, l.file_private);
    cast(a, l.rdonly_cast, l.socket_type);
    a.ldx(Size::DW, R1, R0, n.socket_sk);
    a.ldx(Size::DW, R1, R1, n.sock_net);
    a.ldx(Size::W, R1, R1, n.net_inum);
    a.stx(Size::DW, R6, REC_NETNS, R1);
    a.ldx(Size::DW, R1, R6, SEQ);
    a.mov(R2, R6);
    a.alu_imm(ADD, R2, REC.into());
    a.mov_imm(R3, RECORD_LEN as i32);
    a.call(SEQ_WRITE);
    a.jmp_imm(JNE, R0, 0, "slot_full"); //           the seq buffer is full
    a.ldx(Size::DW, R1, R6, WRITTEN);
    a.alu_imm(ADD, R1, 1);
    a.stx(Size::DW, R6, WRITTEN, R1);
    a.label("slot_done");
    a.mov_imm(R0, 0);
    a.exit();
    a.label("slot_truncated");
    a.mov_imm(R1, 1);
    a.stx(Size::DW, R6, TRUNC, R1);
    a.label("slot_full");
    a.mov_imm(R1, 1);
    a.stx(Size::DW, R6, STOP, R1);
    a.mov_imm(R0, 1);
    a.exit();
}

/// r0 = bpf_rdonly_cast(r1, type): r1 as a BTF pointer the program loads from directly
/// (inlined by the verifier: no call at run time). Clobbers r1-r5.
fn cast(a: &mut Asm, kfunc: u32, type_id: u32) {
    a.mov_imm(R2, type_id as i32);
    a.call_kfunc(kfunc);
}

#[cfg(test)]
#[path = "fdtable_tests.rs"]
mod tests;
