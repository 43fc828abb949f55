//! Collect stage, Linux, BPF event source: the programs that report sockets as they
//! change, written as instructions with every struct offset from this kernel's BTF.
//!
//! In C they would read (one body, three entries):
//!
//! ```c
//! SEC("tp_btf/inet_sock_set_state")                 // TCP: listen(), close, -a: all
//! int state(u64 *ctx) { emit(KIND_STATE, (struct sock *)ctx[0], ctx[1], ctx[2]); return 0; }
//! SEC("cgroup/post_bind4") SEC("cgroup/post_bind6") // bind() of UDP (and TCP)
//! int bind(struct bpf_sock *ctx) { emit(KIND_BIND, sk = ctx, st, st); return 1; }
//! SEC("cgroup/sock_release")                        // UDP close; bound-only TCP close
//! int release(struct bpf_sock *ctx) { if (udp || st == TCP_CLOSE) emit(...); return 1; }
//!
//! static void emit(u8 kind, struct sock *sk, u8 old, u8 new) {
//!     if (!sk || !tcp_or_udp(sk) || !inet_family(sk)) return;
//!     if (NETNS && sk->__sk_common.skc_net.net->ns.inum != NETNS) return; // --netns
//!     struct event *e = bpf_ringbuf_reserve(&ring, sizeof(*e), 0);
//!     if (!e) { __sync_fetch_and_add(bpf_map_lookup_elem(&lost, &zero), 1); return; }
//!     e->... = sk->__sk_common.skc_...;           // every byte written
//!     e->inode = sk->sk_socket->file->f_inode->i_ino;   // 0 once orphaned
//!     e->pid_tgid, uid, cgroup id, comm, ktime = bpf_get_current_*();
//!     bpf_ringbuf_submit(e, 0);
//! }
//! ```
//!
//! The tracepoint's socket is a BTF pointer: direct loads, checked by the verifier. A
//! cgroup program's context is the same `struct sock *`, but the verifier only lets it
//! read a few `struct bpf_sock` fields (not the source address at release), so there each
//! field is read with bpf_probe_read_kernel from the pointer (allowed with CAP_PERFMON).
//! fentry/fexit on inet_bind/inet_release would need no cgroup, but trampolines are
//! refused on some kernels (EPERM at load, with no verifier log, on the 6.18 this was
//! written on); cgroup hooks work wherever cgroup2 and BPF do.

use super::btf::{Btf, BtfError};
use super::insn::*;
use super::program::{load, off16, Load};

/// Size of one event record (see `events::KernelEvent::parse`).
pub const EVENT_LEN: usize = 112;

/// Record offsets.
pub const OFF_KIND: i16 = 0;
pub const OFF_OLD: i16 = 1;
pub const OFF_NEW: i16 = 2;
pub const OFF_V6ONLY: i16 = 3;
pub const OFF_FAMILY: i16 = 4;
pub const OFF_PROTO: i16 = 6;
pub const OFF_LPORT: i16 = 8;
pub const OFF_RPORT: i16 = 10;
pub const OFF_NETNS: i16 = 12;
pub const OFF_TGID: i16 = 16;
pub const OFF_TID: i16 = 20;
pub const OFF_UID: i16 = 24;
pub const OFF_LADDR4: i16 = 28;
pub const OFF_RADDR4: i16 = 32;
pub const OFF_PAD: i16 = 36;
pub const OFF_CGROUP: i16 = 40;
pub const OFF_INODE: i16 = 48;
pub const OFF_LADDR6: i16 = 56;
pub const OFF_RADDR6: i16 = 72;
pub const OFF_COMM: i16 = 88;
pub const OFF_KTIME: i16 = 104;

/// The reader is woken at most this often (see `build`); it reads on its own for a
/// while after each wake-up.
pub const WAKE_EVERY_NS: i32 = 1_000_000;
/// Index of the last wake-up's time in the counters map (index 0: records lost).
pub const LAST_WAKE_KEY: i32 = 1;
const RB_NO_WAKEUP: i32 = 1;
const RB_FORCE_WAKEUP: i32 = 2;

pub const KIND_STATE: i32 = 1;
pub const KIND_BIND: i32 = 2;
pub const KIND_RELEASE: i32 = 3;

const IPPROTO_TCP: i32 = 6;
const IPPROTO_UDP: i32 = 17;
const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
const TCP_CLOSE: i32 = 7;

/// bpf.h program and attach types.
pub const BPF_PROG_TYPE_TRACING: u32 = 26;
pub const BPF_PROG_TYPE_CGROUP_SOCK: u32 = 9;
pub const BPF_TRACE_RAW_TP: u32 = 23;
pub const BPF_CGROUP_INET4_POST_BIND: u32 = 12;
pub const BPF_CGROUP_INET6_POST_BIND: u32 = 13;
pub const BPF_CGROUP_INET_SOCK_RELEASE: u32 = 34;

/// The tracepoint's BTF type (what a tp_btf program attaches to).
pub const TRACEPOINT: &str = "btf_trace_inet_sock_set_state";
pub const FUNCS: &[&str] = &[TRACEPOINT];

pub const STRUCTS: &[&str] = &["sock", "sock_common", "socket", "file", "inode", "net"];

/// Where a program hooks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// tp_btf/inet_sock_set_state.
    State,
    /// cgroup post_bind4 or post_bind6.
    Bind,
    /// cgroup sock_release.
    Release,
}

/// One program to load and attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub hook: Hook,
    pub prog_type: u32,
    pub attach_type: u32,
    /// The tracepoint's BTF id; 0 for cgroup programs.
    pub btf_id: u32,
    pub name: &'static str,
    /// What it attaches to, for error messages.
    pub what: &'static str,
}

/// Every offset the programs need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub targets: Vec<Target>,
    pub sk_protocol: Load,
    pub family: Load,
    pub state: Load,
    pub num: Load,
    pub dport: Load,
    pub rcv_saddr: i16,
    pub daddr: i16,
    pub v6_rcv_saddr: i16,
    pub v6_daddr: i16,
    /// Byte and bit of skc_ipv6only.
    pub ipv6only: (i16, i32),
    pub sk_net: i16,
    pub net_inum: i16,
    pub sk_socket: i16,
    pub socket_file: i16,
    pub file_inode: i16,
    pub inode_ino: Load,
}

/// Offset of a field of exactly `size` bytes (structs too: in6_addr is 16).
fn offset_of(btf: &Btf, root: &str, path: &[&str], size: u32) -> Result<i16, BtfError> {
    let f = btf.field(root, path)?;
    let what = format!("{root}.{}", path.join("."));
    if f.size != size {
        return Err(BtfError::Missing(format!("{what} of {} bytes", f.size)));
    }
    off16(f.offset, &what)
}

fn targets(tracepoint: u32) -> Vec<Target> {
    let cgroup = |attach_type, name, what| Target {
        hook: if attach_type == BPF_CGROUP_INET_SOCK_RELEASE {
            Hook::Release
        } else {
            Hook::Bind
        },
        prog_type: BPF_PROG_TYPE_CGROUP_SOCK,
        attach_type,
        btf_id: 0,
        name,
        what,
    };
    vec![
        Target {
            hook: Hook::State,
            prog_type: BPF_PROG_TYPE_TRACING,
            attach_type: BPF_TRACE_RAW_TP,
            btf_id: tracepoint,
            name: "ps_ev_state",
            what: "tracepoint sock:inet_sock_set_state",
        },
        cgroup(
            BPF_CGROUP_INET4_POST_BIND,
            "ps_ev_bind4",
            "cgroup post_bind4",
        ),
        cgroup(
            BPF_CGROUP_INET6_POST_BIND,
            "ps_ev_bind6",
            "cgroup post_bind6",
        ),
        cgroup(
            BPF_CGROUP_INET_SOCK_RELEASE,
            "ps_ev_release",
            "cgroup sock_release",
        ),
    ]
}

impl Layout {
    pub fn from_btf(btf: &Btf) -> Result<Layout, BtfError> {
        let sk = |path: &[&str], sizes: &[u32]| {
            let mut p = vec!["__sk_common"];
            p.extend_from_slice(path);
            load(btf, "sock", &p, sizes)
        };
        let common = btf.field("sock", &["__sk_common"])?.offset;
        let (byte, bit) = btf.bitfield("sock_common", "skc_ipv6only")?;
        let v6 = |name| offset_of(btf, "sock", &["__sk_common", name], 16);
        Ok(Layout {
            targets: targets(btf.func(TRACEPOINT)?),
            sk_protocol: load(btf, "sock", &["sk_protocol"], &[1, 2])?,
            family: sk(&["skc_family"], &[2])?,
            state: sk(&["skc_state"], &[1])?,
            num: sk(&["skc_num"], &[2])?,
            dport: sk(&["skc_dport"], &[2])?,
            rcv_saddr: sk(&["skc_rcv_saddr"], &[4])?.off,
            daddr: sk(&["skc_daddr"], &[4])?.off,
            v6_rcv_saddr: v6("skc_v6_rcv_saddr")?,
            v6_daddr: v6("skc_v6_daddr")?,
            ipv6only: (off16(common + byte, "skc_ipv6only")?, bit as i32),
            sk_net: sk(&["skc_net", "net"], &[8])?.off,
            net_inum: load(btf, "net", &["ns", "inum"], &[4])?.off,
            sk_socket: load(btf, "sock", &["sk_socket"], &[8])?.off,
            socket_file: load(btf, "socket", &["file"], &[8])?.off,
            file_inode: load(btf, "file", &["f_inode"], &[8])?.off,
            inode_ino: load(btf, "inode", &["i_ino"], &[4, 8])?,
        })
    }
}

/// Map descriptors and settings the programs are built with.
#[derive(Debug, Clone, Copy)]
pub struct Maps {
    pub ring: i32,
    pub lost: i32,
    /// Only sockets of this network namespace (its inode); 0: every namespace.
    pub netns: u32,
}

/// How a program reads the socket: through a BTF pointer, or with probe reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Direct,
    Probe,
}

/// The stack slot probe reads land in.
const SLOT: i16 = -8;

/// r1 = *(size *)(src + off), zero-extended. Clobbers r1-r5. A failed probe read leaves 0.
fn read(a: &mut Asm, mode: Mode, size: Size, bytes: i32, src: Reg, off: i16) {
    match mode {
        Mode::Direct => a.ldx(size, R1, src, off),
        Mode::Probe => {
            a.mov(R3, src);
            a.alu_imm(ADD, R3, off.into());
            a.st(Size::DW, FP, SLOT, 0);
            a.mov(R1, FP);
            a.alu_imm(ADD, R1, SLOT.into());
            a.mov_imm(R2, bytes);
            a.call(PROBE_READ_KERNEL);
            a.ldx(Size::DW, R1, FP, SLOT);
        }
    }
}

fn bytes(size: Size) -> i32 {
    match size {
        Size::B => 1,
        Size::H => 2,
        Size::W => 4,
        Size::DW => 8,
    }
}

/// r1 = the field at `l`, from the socket in r6.
fn read_sk(a: &mut Asm, mode: Mode, l: Load) {
    read(a, mode, l.size, bytes(l.size), R6, l.off);
}

/// *(size *)(r7 + to) = sk field
fn copy(a: &mut Asm, mode: Mode, size: Size, from: i16, to: i16) {
    read(a, mode, size, bytes(size), R6, from);
    a.stx(size, R7, to, R1);
}

/// The entry of `hook`: leaves the socket in r6, old/new state in r8/r9, or jumps to "out".
fn entry(a: &mut Asm, l: &Layout, hook: Hook, mode: Mode) {
    match hook {
        Hook::State => {
            a.ldx(Size::DW, R6, R1, 0);
            a.ldx(Size::DW, R8, R1, 8);
            a.ldx(Size::DW, R9, R1, 16);
            a.jmp_imm(JEQ, R6, 0, "out");
            read_sk(a, mode, l.sk_protocol);
            a.jmp_imm(JNE, R1, IPPROTO_TCP, "out");
        }
        Hook::Bind | Hook::Release => {
            a.mov(R6, R1);
            read_sk(a, mode, l.state);
            a.mov(R8, R1);
            a.mov(R9, R1);
            read_sk(a, mode, l.sk_protocol);
            a.jmp_imm(JEQ, R1, IPPROTO_UDP, "proto_ok");
            a.jmp_imm(JNE, R1, IPPROTO_TCP, "out");
            if hook == Hook::Release {
                // A TCP socket that listened or connected is the tracepoint's to report.
                a.jmp_imm(JNE, R8, TCP_CLOSE, "out");
            }
            a.label("proto_ok");
        }
    }
}

/// The program for `hook`: keep only the sockets wanted, reserve a record in the ring, fill
/// it from the socket and the task, and submit it (or count it lost when the ring is full).
pub fn build(l: &Layout, hook: Hook, m: Maps) -> Result<Vec<Insn>, String> {
    let mode = if hook == Hook::State {
        Mode::Direct
    } else {
        Mode::Probe
    };
    let mut a = Asm::default();
    entry(&mut a, l, hook, mode);
    only_wanted(&mut a, l, mode, m.netns);
    a.ld_map_fd(R1, m.ring);
    a.mov_imm(R2, EVENT_LEN as i32);
    a.mov_imm(R3, 0);
    a.call(RINGBUF_RESERVE);
    a.jmp_imm(JEQ, R0, 0, "lost");
    a.mov(R7, R0);
    fill_socket(&mut a, l, hook, mode);
    fill_identity(&mut a, l, mode);
    fill_task(&mut a);
    submit(&mut a, m.lost);
    a.label("lost"); //                        the ring is full: count it, never silently
    a.st(Size::W, FP, -16, 0);
    a.mov(R2, FP);
    a.alu_imm(ADD, R2, -16);
    a.ld_map_fd(R1, m.lost);
    a.call(MAP_LOOKUP_ELEM);
    a.jmp_imm(JEQ, R0, 0, "out");
    a.mov_imm(R1, 1);
    a.atomic_add(R0, 0, R1);
    a.label("out");
    // A cgroup program's verdict: 1 lets the bind or release go on, as it always must.
    a.mov_imm(R0, i32::from(mode == Mode::Probe));
    a.exit();
    a.finish()
}

/// Jumps to "out" unless the socket (r6) is IPv4 or IPv6 and, with `netns` (not 0), in
/// that namespace.
fn only_wanted(a: &mut Asm, l: &Layout, mode: Mode, netns: u32) {
    read_sk(a, mode, l.family);
    a.jmp_imm(JEQ, R1, AF_INET, "family_ok");
    a.jmp_imm(JNE, R1, AF_INET6, "out");
    a.label("family_ok");
    if netns != 0 {
        read(a, mode, Size::DW, 8, R6, l.sk_net);
        a.jmp_imm(JEQ, R1, 0, "out");
        read(a, mode, Size::W, 4, R1, l.net_inum);
        // Compared through a register: an immediate above i32::MAX would sign-extend.
        a.ld_imm64(R2, u64::from(netns));
        a.jmp(JNE, R1, R2, "out");
    }
}

/// The record (r7): what happened (the kind, old and new state in r8/r9), and the socket's
/// flags, protocol, ports and addresses.
fn fill_socket(a: &mut Asm, l: &Layout, hook: Hook, mode: Mode) {
    let kind = match hook {
        Hook::State => KIND_STATE,
        Hook::Bind => KIND_BIND,
        Hook::Release => KIND_RELEASE,
    };
    a.st(Size::B, R7, OFF_KIND, kind);
    a.stx(Size::B, R7, OFF_OLD, R8);
    a.stx(Size::B, R7, OFF_NEW, R9);
    read(a, mode, Size::B, 1, R6, l.ipv6only.0);
    a.alu_imm(RSH, R1, l.ipv6only.1);
    a.alu_imm(AND, R1, 1);
    a.stx(Size::B, R7, OFF_V6ONLY, R1);
    read_sk(a, mode, l.family);
    a.stx(Size::H, R7, OFF_FAMILY, R1);
    read_sk(a, mode, l.sk_protocol);
    a.stx(Size::H, R7, OFF_PROTO, R1);
    copy(a, mode, Size::H, l.num.off, OFF_LPORT);
    copy(a, mode, Size::H, l.dport.off, OFF_RPORT);
    copy(a, mode, Size::W, l.rcv_saddr, OFF_LADDR4);
    copy(a, mode, Size::W, l.daddr, OFF_RADDR4);
    a.st(Size::W, R7, OFF_PAD, 0);
    for (from, to) in [(l.v6_rcv_saddr, OFF_LADDR6), (l.v6_daddr, OFF_RADDR6)] {
        copy(a, mode, Size::DW, from, to);
        copy(a, mode, Size::DW, from + 8, to + 8);
    }
}

/// The record's socket identity: its namespace's inode and its own (0 where a pointer on
/// the way is NULL: a socket without a file has no inode).
fn fill_identity(a: &mut Asm, l: &Layout, mode: Mode) {
    a.st(Size::W, R7, OFF_NETNS, 0);
    read(a, mode, Size::DW, 8, R6, l.sk_net);
    a.jmp_imm(JEQ, R1, 0, "no_netns");
    read(a, mode, Size::W, 4, R1, l.net_inum);
    a.stx(Size::W, R7, OFF_NETNS, R1);
    a.label("no_netns");
    a.st(Size::DW, R7, OFF_INODE, 0);
    read(a, mode, Size::DW, 8, R6, l.sk_socket);
    a.jmp_imm(JEQ, R1, 0, "no_inode");
    read(a, mode, Size::DW, 8, R1, l.socket_file);
    a.jmp_imm(JEQ, R1, 0, "no_inode");
    read(a, mode, Size::DW, 8, R1, l.file_inode);
    a.jmp_imm(JEQ, R1, 0, "no_inode");
    let ino = l.inode_ino;
    read(a, mode, ino.size, bytes(ino.size), R1, ino.off);
    a.stx(Size::DW, R7, OFF_INODE, R1);
    a.label("no_inode");
}

/// The record's actor: the task the kernel is running (pid, tid, uid, cgroup, comm) and
/// the time.
fn fill_task(a: &mut Asm) {
    a.call(GET_CURRENT_PID_TGID);
    a.stx(Size::W, R7, OFF_TID, R0);
    a.alu_imm(RSH, R0, 32);
    a.stx(Size::W, R7, OFF_TGID, R0);
    a.call(GET_CURRENT_UID_GID);
    a.stx(Size::W, R7, OFF_UID, R0);
    a.call(GET_CURRENT_CGROUP_ID);
    a.stx(Size::DW, R7, OFF_CGROUP, R0);
    a.call(KTIME_GET_NS);
    a.stx(Size::DW, R7, OFF_KTIME, R0);
    a.mov(R1, R7);
    a.alu_imm(ADD, R1, OFF_COMM.into());
    a.mov_imm(R2, 16);
    a.call(GET_CURRENT_COMM);
}

/// Submits the record, then jumps to "out". Waking the reader costs more than all the rest
/// (an irq_work self-IPI: 3-6 µs in a VM): wake it at most once per WAKE_EVERY_NS (the
/// last wake's time kept in the `lost` map); the reader, once woken, reads again within
/// that time on its own (events.rs), so nothing waits longer.
fn submit(a: &mut Asm, lost_map: i32) {
    a.st(Size::W, FP, -16, LAST_WAKE_KEY);
    a.mov(R2, FP);
    a.alu_imm(ADD, R2, -16);
    a.ld_map_fd(R1, lost_map);
    a.call(MAP_LOOKUP_ELEM);
    a.mov_imm(R9, RB_NO_WAKEUP);
    a.jmp_imm(JEQ, R0, 0, "submit");
    a.ldx(Size::DW, R1, R0, 0);
    a.ldx(Size::DW, R2, R7, OFF_KTIME);
    a.mov(R3, R2);
    a.alu(SUB, R3, R1);
    a.jmp_imm(JLT, R3, WAKE_EVERY_NS, "submit");
    a.stx(Size::DW, R0, 0, R2);
    a.mov_imm(R9, RB_FORCE_WAKEUP);
    a.label("submit");
    a.mov(R1, R7);
    a.mov(R2, R9);
    a.call(RINGBUF_SUBMIT);
    a.ja("out");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let l = |off, size| Load { off, size };
        Layout {
            targets: targets(7),
            sk_protocol: l(500, Size::H),
            family: l(16, Size::H),
            state: l(18, Size::B),
            num: l(14, Size::H),
            dport: l(12, Size::H),
            rcv_saddr: 4,
            daddr: 0,
            v6_rcv_saddr: 72,
            v6_daddr: 56,
            ipv6only: (19, 5),
            sk_net: 48,
            net_inum: 200,
            sk_socket: 600,
            socket_file: 16,
            file_inode: 32,
            inode_ino: l(64, Size::DW),
        }
    }

    const MAPS: Maps = Maps {
        ring: 3,
        lost: 4,
        netns: 4_026_531_840,
    };

    /// Bytes of the reserved record (r7) each program writes: stores through r7, and the
    /// comm helper's 16 bytes at OFF_COMM.
    fn written(p: &[Insn]) -> Vec<bool> {
        let mut w = vec![false; EVENT_LEN];
        for i in p {
            let (class, size) = (i.code & 0x07, i.code & 0x18);
            if (class == 0x02 || class == 0x03) && i.regs & 0x0f == 7 && i.code & 0xe0 == 0x60 {
                let n = match size {
                    0x10 => 1,
                    0x08 => 2,
                    0x00 => 4,
                    _ => 8,
                };
                w[i.off as usize..i.off as usize + n].fill(true);
            }
        }
        if p.iter()
            .any(|i| i.code == 0x85 && i.imm == GET_CURRENT_COMM)
        {
            w[OFF_COMM as usize..OFF_COMM as usize + 16].fill(true);
        }
        w
    }

    #[test]
    fn every_byte_of_the_record_is_written_and_cgroup_programs_allow() {
        let l = layout();
        for hook in [Hook::State, Hook::Bind, Hook::Release] {
            let p = build(&l, hook, MAPS).unwrap();
            let w = written(&p);
            let missing: Vec<usize> = (0..EVENT_LEN).filter(|&b| !w[b]).collect();
            assert_eq!(missing, Vec::<usize>::new(), "{hook:?}");
            // The last two instructions: r0 = verdict, exit. A cgroup program that
            // returned 0 would make bind() fail with EPERM.
            let n = p.len();
            assert_eq!(p[n - 1].code, 0x95);
            assert_eq!(p[n - 2].imm, i32::from(hook != Hook::State), "{hook:?}");
            // The netns filter compares against the full 64-bit inode (ld_imm64).
            let imm64 = p
                .iter()
                .position(|i| i.code == 0x18 && i.regs >> 4 == 0)
                .unwrap();
            let v = u64::from(p[imm64].imm as u32) | (u64::from(p[imm64 + 1].imm as u32) << 32);
            assert_eq!(v, u64::from(MAPS.netns));
            // Reads through the socket: direct loads on the tracepoint, probe reads else.
            let probes = p
                .iter()
                .filter(|i| i.code == 0x85 && i.imm == PROBE_READ_KERNEL);
            assert_eq!(probes.count() == 0, hook == Hook::State, "{hook:?}");
        }
    }

    #[test]
    fn the_reader_is_woken_at_most_once_per_interval() {
        let p = build(&layout(), Hook::State, MAPS).unwrap();
        let submit = p
            .iter()
            .position(|i| i.code == 0x85 && i.imm == RINGBUF_SUBMIT)
            .unwrap();
        // r2 = r9 (the flags chosen), r9 = NO_WAKEUP unless the interval passed, then FORCE.
        assert_eq!((p[submit - 1].code, p[submit - 1].regs), (0xbf, 0x92));
        let flags: Vec<i32> = p[..submit]
            .iter()
            .filter(|i| i.code == 0xb7 && i.regs & 0x0f == 9)
            .map(|i| i.imm)
            .collect();
        assert_eq!(flags, [RB_NO_WAKEUP, RB_FORCE_WAKEUP]);
        assert!(p.iter().any(|i| i.code == 0xa5 && i.imm == WAKE_EVERY_NS));
    }
}
