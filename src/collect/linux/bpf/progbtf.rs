//! Collect stage, Linux, BPF owner source: a program's own BTF, naming its functions.
//! The verifier wants it (func_info: each subprogram's start and a BTF `FUNC`) for any
//! program that hands a callback to a helper, as fdtable.rs does to bpf_loop. Every
//! function is `int f(void)`: the verifier checks argument types only for global
//! subprograms, and these are static but for the main program.

use super::loader;
use super::BpfError;
use std::os::fd::OwnedFd;

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: u32 = 24;
const KIND_INT: u32 = 1;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const LINKAGE_STATIC: u32 = 0;
const LINKAGE_GLOBAL: u32 = 1;
/// BTF_INT_SIGNED, 32 bits.
const INT_SIGNED_32: u32 = 0x0100_0020;
/// Type ids: 1 `int`, 2 `int (void)`, then one `FUNC` per function, in order.
const FIRST_FUNC_ID: u32 = 3;

/// The BTF blob for functions `names` (the first is the main program, global).
pub fn blob(names: &[&str]) -> Vec<u8> {
    let mut strings = b"\0int\0".to_vec();
    let mut types: Vec<u32> = vec![1, KIND_INT << 24, 4, INT_SIGNED_32];
    types.extend([0, KIND_FUNC_PROTO << 24, 1]);
    for (i, name) in names.iter().enumerate() {
        let linkage = if i == 0 {
            LINKAGE_GLOBAL
        } else {
            LINKAGE_STATIC
        };
        types.extend([strings.len() as u32, KIND_FUNC << 24 | linkage, 2]);
        strings.extend(name.as_bytes());
        strings.push(0);
    }
    let types: Vec<u8> = types.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut b = Vec::with_capacity(HEADER_LEN as usize + types.len() + strings.len());
    b.extend(MAGIC.to_le_bytes());
    b.extend([1u8, 0]); // version 1, no flags
    for v in [HEADER_LEN, 0, types.len() as u32, types.len() as u32] {
        b.extend(v.to_le_bytes());
    }
    b.extend((strings.len() as u32).to_le_bytes());
    b.extend(types);
    b.extend(strings);
    b
}

/// The loaded BTF and the func_info records (`struct bpf_func_info`: instruction offset,
/// type id) that point each function at its `FUNC`.
pub struct FuncInfo {
    pub btf: OwnedFd,
    pub records: Vec<[u32; 2]>,
}

impl FuncInfo {
    /// For functions `(name, first instruction)`, the main program first.
    pub fn load(funcs: &[(&str, usize)]) -> Result<FuncInfo, BpfError> {
        let names: Vec<&str> = funcs.iter().map(|f| f.0).collect();
        let btf = loader::load_btf(&blob(&names))?;
        let records = funcs
            .iter()
            .zip(FIRST_FUNC_ID..)
            .map(|(&(_, at), id)| [at as u32, id])
            .collect();
        Ok(FuncInfo { btf, records })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_function_after_int_and_its_prototype() {
        let b = blob(&["main", "word"]);
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        assert_eq!(&b[..4], &[0x9f, 0xeb, 1, 0]);
        let (type_len, str_len) = (u32_at(12) as usize, u32_at(20) as usize);
        assert_eq!(type_len, (4 + 3 + 3 + 3) * 4);
        assert_eq!(u32_at(16) as usize, type_len);
        let strings = &b[24 + type_len..];
        assert_eq!(
            (strings.len(), strings),
            (str_len, &b"\0int\0main\0word\0"[..])
        );
        let t = |i: usize| u32_at(24 + 4 * i);
        assert_eq!([t(0), t(1), t(2), t(3)], [1, 1 << 24, 4, INT_SIGNED_32]);
        assert_eq!([t(4), t(5), t(6)], [0, 13 << 24, 1]); // int (void)
        assert_eq!([t(7), t(8), t(9)], [5, 12 << 24 | 1, 2]); // global main
        assert_eq!([t(10), t(11), t(12)], [10, 12 << 24, 2]); // static word
    }
}
