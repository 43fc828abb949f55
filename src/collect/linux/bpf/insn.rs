//! Collect stage, Linux, BPF owner source: a tiny eBPF assembler. Each method appends one
//! instruction with the encoding from the kernel's `include/uapi/linux/bpf.h`; forward
//! jumps name a label that `finish` resolves, so the program reads top to bottom.

/// One encoded instruction: opcode, dst/src registers, offset, immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The 8 bytes the kernel reads (little-endian: dst in the low nibble).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

/// Registers: R0 return value, R1-R5 arguments (clobbered by calls), R6-R9 kept across
/// calls, R10 the read-only frame pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg(pub u8);
pub const R0: Reg = Reg(0);
pub const R1: Reg = Reg(1);
pub const R2: Reg = Reg(2);
pub const R3: Reg = Reg(3);
pub const R4: Reg = Reg(4);
pub const R6: Reg = Reg(6);
pub const R7: Reg = Reg(7);
pub const R8: Reg = Reg(8);
pub const R9: Reg = Reg(9);
pub const FP: Reg = Reg(10);

/// Load/store width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    B = 0x10,
    H = 0x08,
    W = 0x00,
    DW = 0x18,
}

impl Size {
    /// The width that loads a field of `bytes` bytes.
    pub fn of(bytes: u32) -> Option<Size> {
        match bytes {
            1 => Some(Size::B),
            2 => Some(Size::H),
            4 => Some(Size::W),
            8 => Some(Size::DW),
            _ => None,
        }
    }
}

const LD: u8 = 0x00;
const IMM: u8 = 0x00;
const ATOMIC: u8 = 0xc0;
/// src_reg of a 64-bit immediate load whose value is a map's descriptor.
const PSEUDO_MAP_FD: u8 = 1;
/// src_reg of a 64-bit immediate load whose value is a subprogram (a callback), named by
/// its distance from the next instruction.
const PSEUDO_FUNC: u8 = 4;
/// src_reg of a call to a kernel function (a kfunc), named by its BTF id in vmlinux.
const PSEUDO_KFUNC_CALL: u8 = 2;
const LDX: u8 = 0x01;
const ST: u8 = 0x02;
const STX: u8 = 0x03;
const JMP: u8 = 0x05;
const ALU64: u8 = 0x07;
const MEM: u8 = 0x60;
const K: u8 = 0x00;
const X: u8 = 0x08;

pub const ADD: u8 = 0x00;
pub const SUB: u8 = 0x10;
pub const RSH: u8 = 0x70;
pub const LSH: u8 = 0x60;
pub const AND: u8 = 0x50;
pub const OR: u8 = 0x40;
pub const XOR: u8 = 0xa0;
pub const MUL: u8 = 0x20;
const MOV: u8 = 0xb0;

pub const JEQ: u8 = 0x10;
pub const JNE: u8 = 0x50;
pub const JLT: u8 = 0xa0;
pub const JGT: u8 = 0x20;
pub const JGE: u8 = 0x30;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;

/// Helper function ids (`___BPF_FUNC_MAPPER` order in bpf.h).
pub const PROBE_READ_KERNEL: i32 = 113;
pub const SEQ_WRITE: i32 = 127;
pub const GET_CURRENT_TASK_BTF: i32 = 158;
pub const SOCK_FROM_FILE: i32 = 162;
pub const KTIME_GET_NS: i32 = 5;
pub const GET_CURRENT_PID_TGID: i32 = 14;
pub const GET_CURRENT_UID_GID: i32 = 15;
pub const GET_CURRENT_COMM: i32 = 16;
pub const GET_CURRENT_CGROUP_ID: i32 = 80;
pub const RINGBUF_RESERVE: i32 = 131;
pub const RINGBUF_SUBMIT: i32 = 132;
pub const MAP_LOOKUP_ELEM: i32 = 1;
pub const GET_CURRENT_TASK: i32 = 35;
/// bpf_loop (Linux 5.17+): calls a callback subprogram up to 2^23 times.
pub const LOOP: i32 = 181;

/// A program, and each of its functions' (name, first instruction).
pub type Funcs = (Vec<Insn>, Vec<(&'static str, usize)>);

/// A program under construction.
#[derive(Default)]
pub struct Asm {
    insns: Vec<Insn>,
    /// (instruction index, label) of each jump still to resolve.
    fixups: Vec<(usize, &'static str)>,
    labels: Vec<(&'static str, usize)>,
    /// (instruction index, subprogram) of each callback reference to resolve.
    sub_refs: Vec<(usize, &'static str)>,
    subs: Vec<(&'static str, usize)>,
}

fn regs(dst: Reg, src: Reg) -> u8 {
    (src.0 << 4) | (dst.0 & 0x0f)
}

impl Asm {
    fn push(&mut self, code: u8, dst: Reg, src: Reg, off: i16, imm: i32) {
        self.insns.push(Insn {
            code,
            regs: regs(dst, src),
            off,
            imm,
        });
    }

    /// dst = *(size *)(src + off)
    pub fn ldx(&mut self, size: Size, dst: Reg, src: Reg, off: i16) {
        self.push(LDX | MEM | size as u8, dst, src, off, 0);
    }

    /// *(size *)(dst + off) = imm
    pub fn st(&mut self, size: Size, dst: Reg, off: i16, imm: i32) {
        self.push(ST | MEM | size as u8, dst, R0, off, imm);
    }

    /// *(size *)(dst + off) = src
    pub fn stx(&mut self, size: Size, dst: Reg, off: i16, src: Reg) {
        self.push(STX | MEM | size as u8, dst, src, off, 0);
    }

    /// dst = the map behind descriptor `fd` (a two-slot 64-bit immediate load).
    pub fn ld_map_fd(&mut self, dst: Reg, fd: i32) {
        self.push(LD | IMM | Size::DW as u8, dst, Reg(PSEUDO_MAP_FD), 0, fd);
        self.push(0, R0, R0, 0, 0);
    }

    /// dst = the subprogram `name` (a callback for a helper such as bpf_loop; two slots).
    pub fn ld_func(&mut self, dst: Reg, name: &'static str) {
        self.sub_refs.push((self.insns.len(), name));
        self.push(LD | IMM | Size::DW as u8, dst, Reg(PSEUDO_FUNC), 0, 0);
        self.push(0, R0, R0, 0, 0);
    }

    /// r0 = the kernel function with BTF id `btf_id` (r1..r5).
    pub fn call_kfunc(&mut self, btf_id: u32) {
        self.push(JMP | CALL, R0, Reg(PSEUDO_KFUNC_CALL), 0, btf_id as i32);
    }

    /// Starts subprogram `name` here, after the previous function's last instruction (an
    /// exit or a jump), as the verifier wants. Jumps stay within their function; a
    /// callback reference may name a subprogram before or after it.
    pub fn sub(&mut self, name: &'static str) {
        self.subs.push((name, self.insns.len()));
    }

    /// dst = imm (any 64-bit value; two slots)
    pub fn ld_imm64(&mut self, dst: Reg, imm: u64) {
        self.push(LD | IMM | Size::DW as u8, dst, R0, 0, imm as u32 as i32);
        self.push(0, R0, R0, 0, (imm >> 32) as u32 as i32);
    }

    /// lock *(u64 *)(dst + off) += src
    pub fn atomic_add(&mut self, dst: Reg, off: i16, src: Reg) {
        self.push(STX | ATOMIC | Size::DW as u8, dst, src, off, i32::from(ADD));
    }

    /// dst = src (64-bit)
    pub fn mov(&mut self, dst: Reg, src: Reg) {
        self.push(ALU64 | MOV | X, dst, src, 0, 0);
    }

    /// dst = imm (64-bit, sign-extended)
    pub fn mov_imm(&mut self, dst: Reg, imm: i32) {
        self.push(ALU64 | MOV | K, dst, R0, 0, imm);
    }

    /// dst op= imm (64-bit), op one of ADD, AND, MUL
    pub fn alu_imm(&mut self, op: u8, dst: Reg, imm: i32) {
        self.push(ALU64 | op | K, dst, R0, 0, imm);
    }

    /// dst op= src (64-bit)
    pub fn alu(&mut self, op: u8, dst: Reg, src: Reg) {
        self.push(ALU64 | op | X, dst, src, 0, 0);
    }

    /// if dst op imm goto label
    pub fn jmp_imm(&mut self, op: u8, dst: Reg, imm: i32, label: &'static str) {
        self.fixups.push((self.insns.len(), label));
        self.push(JMP | op | K, dst, R0, 0, imm);
    }

    /// if dst op src goto label
    pub fn jmp(&mut self, op: u8, dst: Reg, src: Reg, label: &'static str) {
        self.fixups.push((self.insns.len(), label));
        self.push(JMP | op | X, dst, src, 0, 0);
    }

    /// goto label
    pub fn ja(&mut self, label: &'static str) {
        self.fixups.push((self.insns.len(), label));
        self.push(JMP, R0, R0, 0, 0);
    }

    /// r0 = helper(r1..r5)
    pub fn call(&mut self, helper: i32) {
        self.push(JMP | CALL, R0, R0, 0, helper);
    }

    pub fn exit(&mut self) {
        self.push(JMP | EXIT, R0, R0, 0, 0);
    }

    /// Marks the next instruction as `name`. Labels are forward-only and used once: the
    /// program never loops (the verifier would need bounds), and one name per place keeps
    /// the listing unambiguous.
    pub fn label(&mut self, name: &'static str) {
        self.labels.push((name, self.insns.len()));
    }

    /// The program, with every jump pointed at its label.
    pub fn finish(self) -> Result<Vec<Insn>, String> {
        Ok(self.finish_funcs()?.0)
    }

    /// The program, and where each of its functions starts: the main program ("main"
    /// at 0), then each subprogram in order (for the program's BTF func_info).
    pub fn finish_funcs(mut self) -> Result<Funcs, String> {
        let mut funcs = vec![("main", 0)];
        funcs.extend(self.subs.iter().copied());
        let n = self.insns.len();
        if funcs.windows(2).any(|w| w[0].1 >= w[1].1) || funcs.last().is_some_and(|f| f.1 >= n) {
            return Err("a function is empty, or out of order".into());
        }
        // The function an instruction belongs to: the last one starting at or before it.
        let func_of = |at: usize| funcs.iter().rposition(|f| f.1 <= at);
        for &(at, name) in &self.fixups {
            let mut hits = self.labels.iter().filter(|l| l.0 == name);
            let target = match (hits.next(), hits.next()) {
                (Some(&(_, t)), None) => t,
                (None, _) => return Err(format!("jump to undefined label {name}")),
                (Some(_), Some(_)) => return Err(format!("label {name} defined twice")),
            };
            if target <= at || target >= n {
                return Err(format!("label {name} is not ahead of its jump"));
            }
            if func_of(at) != func_of(target) {
                return Err(format!("jump to {name} leaves its function"));
            }
            self.insns[at].off =
                i16::try_from(target - at - 1).map_err(|_| format!("jump to {name} too far"))?;
        }
        for &(at, name) in &self.sub_refs {
            let mut hits = self.subs.iter().filter(|s| s.0 == name);
            let target = match (hits.next(), hits.next()) {
                (Some(&(_, t)), None) => t,
                (Some(_), Some(_)) => return Err(format!("subprogram {name} defined twice")),
                _ => return Err(format!("callback to undefined subprogram {name}")),
            };
            self.insns[at].imm = i32::try_from(target as i64 - at as i64 - 1)
                .map_err(|_| format!("callback {name} too far"))?;
        }
        Ok((self.insns, funcs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_kernel_headers() {
        let mut a = Asm::default();
        a.ldx(Size::DW, R7, R6, 8); // r7 = *(u64 *)(r6 + 8)
        a.jmp_imm(JEQ, R7, 0, "out"); // if r7 == 0 goto out
        a.st(Size::W, FP, -20, 0); // *(u32 *)(r10 - 20) = 0
        a.call(SEQ_WRITE);
        a.label("out");
        a.mov_imm(R0, 0);
        a.exit();
        let p = a.finish().unwrap();
        let bytes: Vec<[u8; 8]> = p.iter().map(|i| i.to_bytes()).collect();
        assert_eq!(bytes[0], [0x79, 0x67, 8, 0, 0, 0, 0, 0]);
        assert_eq!(bytes[1], [0x15, 0x07, 2, 0, 0, 0, 0, 0]);
        assert_eq!(bytes[2], [0x62, 0x0a, 0xec, 0xff, 0, 0, 0, 0]);
        assert_eq!(bytes[3], [0x85, 0, 0, 0, 127, 0, 0, 0]);
        assert_eq!(bytes[4], [0xb7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes[5], [0x95, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn wide_loads_and_atomics_encode_like_the_kernel_headers() {
        let mut a = Asm::default();
        a.ld_map_fd(R1, 7); // r1 = map fd 7 (BPF_PSEUDO_MAP_FD)
        a.ld_imm64(R2, 0xf000_0001); // above i32::MAX: both halves
        a.atomic_add(R0, 0, R1); // lock *(u64 *)(r0 + 0) += r1
        let b: Vec<[u8; 8]> = a.finish().unwrap().iter().map(|i| i.to_bytes()).collect();
        assert_eq!(b[0], [0x18, 0x11, 0, 0, 7, 0, 0, 0]);
        assert_eq!(b[1], [0; 8]);
        assert_eq!(b[2], [0x18, 0x02, 0, 0, 1, 0, 0, 0xf0]);
        assert_eq!(b[3], [0; 8]);
        assert_eq!(b[4], [0xdb, 0x10, 0, 0, 0, 0, 0, 0]);
    }

    /// A callback is named by its distance from the instruction after the 64-bit load,
    /// forward or back; a kfunc call by its BTF id, with src_reg 2.
    #[test]
    fn callbacks_and_kfuncs_encode_like_the_kernel_headers() {
        let mut a = Asm::default();
        a.ld_func(R2, "cb"); // 0-1: r2 = cb (BPF_PSEUDO_FUNC)
        a.call_kfunc(64_927); // 2
        a.exit(); // 3
        a.sub("cb");
        a.ld_func(R2, "cb"); // 4-5: itself, backwards
        a.exit(); // 6
        let (p, funcs) = a.finish_funcs().unwrap();
        let b: Vec<[u8; 8]> = p.iter().map(|i| i.to_bytes()).collect();
        assert_eq!(b[0], [0x18, 0x42, 0, 0, 3, 0, 0, 0]); // 0 + 3 + 1 = 4
        assert_eq!(b[1], [0; 8]);
        assert_eq!(b[2], [0x85, 0x20, 0, 0, 0x9f, 0xfd, 0, 0]);
        assert_eq!(b[4], [0x18, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]); // 4 - 1 + 1
        assert_eq!(funcs, vec![("main", 0), ("cb", 4)]);
    }

    #[test]
    fn refuses_jumps_out_of_a_function_and_empty_functions() {
        let mut a = Asm::default();
        a.jmp_imm(JEQ, R0, 0, "inside_cb");
        a.exit();
        a.sub("cb");
        a.label("inside_cb");
        a.exit();
        assert_eq!(
            a.finish_funcs().unwrap_err(),
            "jump to inside_cb leaves its function"
        );
        let mut a = Asm::default();
        a.ld_func(R1, "cb");
        a.exit();
        a.sub("cb");
        assert_eq!(
            a.finish_funcs().unwrap_err(),
            "a function is empty, or out of order"
        );
        let mut a = Asm::default();
        a.ld_func(R1, "nowhere");
        a.exit();
        assert_eq!(
            a.finish_funcs().unwrap_err(),
            "callback to undefined subprogram nowhere"
        );
    }

    #[test]
    fn refuses_bad_labels() {
        let mut a = Asm::default();
        a.jmp_imm(JEQ, R0, 0, "nowhere");
        a.exit();
        assert_eq!(a.finish().unwrap_err(), "jump to undefined label nowhere");
        let mut a = Asm::default();
        a.label("back");
        a.jmp_imm(JEQ, R0, 0, "back");
        a.exit();
        assert_eq!(
            a.finish().unwrap_err(),
            "label back is not ahead of its jump"
        );
        let mut a = Asm::default();
        a.jmp_imm(JEQ, R0, 0, "twice");
        a.label("twice");
        a.exit();
        a.label("twice");
        a.exit();
        assert_eq!(a.finish().unwrap_err(), "label twice defined twice");
    }
}
