//! Collect stage, Linux, BPF owner source: a minimal reader of the kernel's own type
//! information (/sys/kernel/btf/vmlinux), just enough to find one function's type id and
//! a few struct field offsets. Read fresh each run: offsets differ between kernels and
//! builds, and caching them would be one more thing that can go stale.

use std::collections::HashMap;

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// Why the type information cannot answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfError {
    /// Not BTF, or a section points outside the blob.
    Malformed(String),
    /// The BTF is fine but lacks what the program needs (another kernel shape).
    Missing(String),
}

impl std::fmt::Display for BtfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BtfError::Malformed(m) => write!(f, "malformed BTF: {m}"),
            BtfError::Missing(m) => write!(f, "not in the kernel's BTF: {m}"),
        }
    }
}

/// The kernel's BTF, mapped where the kernel allows it (Linux >= 6.16), else read. A read
/// of this sysfs file copies one page per syscall: ~1,300 calls for vmlinux's 5.5 MB,
/// which would be most of the set-up time.
pub enum Blob {
    Mapped { ptr: *mut libc::c_void, len: usize },
    Read(Vec<u8>),
}

impl Blob {
    pub fn open(path: &str) -> std::io::Result<Blob> {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len() as usize;
        if len > 0 {
            // SAFETY: a fresh private read-only mapping of an open file, checked below;
            // nothing else refers to it until Drop unmaps it.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_POPULATE,
                    file.as_raw_fd(),
                    0,
                )
            };
            if ptr != libc::MAP_FAILED {
                return Ok(Blob::Mapped { ptr, len });
            }
        }
        let mut v = Vec::with_capacity(len);
        std::io::Read::read_to_end(&mut &file, &mut v)?;
        Ok(Blob::Read(v))
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            // SAFETY: the mapping is len bytes, readable, and lives as long as self; the
            // kernel's BTF never changes while the system runs.
            Blob::Mapped { ptr, len } => unsafe {
                std::slice::from_raw_parts(ptr.cast::<u8>(), *len)
            },
            Blob::Read(v) => v,
        }
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        if let Blob::Mapped { ptr, len } = *self {
            // SAFETY: unmaps exactly the mapping made in open, once.
            unsafe { libc::munmap(ptr, len) };
        }
    }
}

/// A field as the program reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Byte offset from the start of the outermost struct.
    pub offset: u32,
    /// Byte size of the field's type (8 for a pointer).
    pub size: u32,
    /// Type id of the field (after typedefs and qualifiers).
    pub type_id: u32,
}

/// Parsed type section: one entry offset per type id, and the names we looked for.
pub struct Btf<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    /// Byte offset of each type in `types`; index = type id - 1.
    offsets: Vec<u32>,
    /// First STRUCT and FUNC of each wanted name.
    structs: HashMap<&'a [u8], u32>,
    funcs: HashMap<&'a [u8], u32>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Bytes after the 12-byte common header that a type of `kind` with `vlen` carries.
fn trailing(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        KIND_INT => 4,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION => 12 * vlen,
        KIND_ENUM => 8 * vlen,
        KIND_FUNC_PROTO => 8 * vlen,
        14 => 4,         // VAR
        15 => 12 * vlen, // DATASEC
        17 => 4,         // DECL_TAG
        KIND_ENUM64 => 12 * vlen,
        KIND_PTR | 7 | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_FUNC
        | 16 | KIND_TYPE_TAG => 0,
        _ => return None,
    })
}

impl<'a> Btf<'a> {
    /// Walks the type section once, remembering where each type starts and the ids of
    /// the structs and functions named in `want_structs` / `want_funcs`.
    pub fn parse(
        blob: &'a [u8],
        want_structs: &[&str],
        want_funcs: &[&str],
    ) -> Result<Btf<'a>, BtfError> {
        let bad = |m: &str| BtfError::Malformed(m.to_string());
        if u16_at(blob, 0) != Some(MAGIC) {
            return Err(bad("bad magic (not little-endian BTF)"));
        }
        let hdr_len = u32_at(blob, 4).ok_or_else(|| bad("short header"))? as usize;
        let field = |i: usize| u32_at(blob, 8 + 4 * i).map(|v| v as usize);
        let (Some(type_off), Some(type_len), Some(str_off), Some(str_len)) =
            (field(0), field(1), field(2), field(3))
        else {
            return Err(bad("short header"));
        };
        if hdr_len < HEADER_LEN {
            return Err(bad("short header"));
        }
        let section = |off: usize, len: usize| {
            let start = hdr_len.checked_add(off)?;
            blob.get(start..start.checked_add(len)?)
        };
        let types = section(type_off, type_len).ok_or_else(|| bad("type section"))?;
        let strings = section(str_off, str_len).ok_or_else(|| bad("string section"))?;
        let mut btf = Btf {
            types,
            strings,
            offsets: Vec::with_capacity(type_len / 24),
            structs: HashMap::new(),
            funcs: HashMap::new(),
        };
        let mut at = 0usize;
        while at < types.len() {
            let (Some(name_off), Some(info)) = (u32_at(types, at), u32_at(types, at + 4)) else {
                return Err(bad("truncated type"));
            };
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let extra = trailing(kind, vlen).ok_or_else(|| bad("unknown type kind"))?;
            btf.offsets.push(at as u32);
            let id = btf.offsets.len() as u32;
            // A typedef is looked up as a function: `btf_trace_<tracepoint>`, the type a
            // BTF tracepoint program attaches to, is one.
            if kind == KIND_STRUCT || kind == KIND_FUNC || kind == KIND_TYPEDEF {
                let (wanted, map) = if kind == KIND_STRUCT {
                    (want_structs, &mut btf.structs)
                } else {
                    (want_funcs, &mut btf.funcs)
                };
                // Compared in place: most of ~100k names are not wanted, and finding each
                // one's end first would cost more than the whole walk.
                let rest = strings.get(name_off as usize..).unwrap_or(&[]);
                for w in wanted.iter().map(|w| w.as_bytes()) {
                    if rest.starts_with(w) && rest.get(w.len()) == Some(&0) {
                        map.entry(&rest[..w.len()]).or_insert(id);
                    }
                }
            }
            at += 12 + extra;
        }
        if at != types.len() {
            return Err(bad("type section ends inside a type"));
        }
        Ok(btf)
    }

    fn name(&self, off: u32) -> &'a [u8] {
        let rest = self.strings.get(off as usize..).unwrap_or(&[]);
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        &rest[..end]
    }

    /// (name_off, info, size_or_type, byte offset of the trailing data) of type `id`.
    fn header(&self, id: u32) -> Option<(u32, u32, u32, usize)> {
        let at = *self.offsets.get((id as usize).checked_sub(1)?)? as usize;
        Some((
            u32_at(self.types, at)?,
            u32_at(self.types, at + 4)?,
            u32_at(self.types, at + 8)?,
            at + 12,
        ))
    }

    fn kind(info: u32) -> u32 {
        (info >> 24) & 0x1f
    }

    /// The type behind typedefs, qualifiers and type tags.
    fn resolve(&self, mut id: u32) -> Option<u32> {
        for _ in 0..32 {
            let (_, info, next, _) = self.header(id)?;
            match Self::kind(info) {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = next
                }
                _ => return Some(id),
            }
        }
        None
    }

    /// Size in bytes of a resolved type (structs, unions, ints, enums, pointers).
    fn size_of(&self, id: u32) -> Option<u32> {
        let (_, info, size, _) = self.header(id)?;
        match Self::kind(info) {
            KIND_PTR => Some(8),
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 => Some(size),
            _ => None,
        }
    }

    /// The id of the function `name` (one of `want_funcs`).
    pub fn func(&self, name: &str) -> Result<u32, BtfError> {
        self.funcs
            .get(name.as_bytes())
            .copied()
            .ok_or_else(|| BtfError::Missing(format!("function {name}")))
    }

    /// The id of struct `name` (one of `want_structs`).
    pub fn struct_id(&self, name: &str) -> Result<u32, BtfError> {
        self.structs
            .get(name.as_bytes())
            .copied()
            .ok_or_else(|| BtfError::Missing(format!("struct {name}")))
    }

    /// Finds member `name` of struct/union `id`, looking inside anonymous members too.
    /// Returns (byte offset, member type id).
    fn member(&self, id: u32, name: &[u8], depth: u32) -> Option<(u32, u32)> {
        let (_, info, _, data) = self.header(id)?;
        let kind = Self::kind(info);
        if (kind != KIND_STRUCT && kind != KIND_UNION) || depth > 8 {
            return None;
        }
        let bitfields = info >> 31 == 1;
        for i in 0..(info & 0xffff) as usize {
            let m = data + 12 * i;
            let (m_name, m_type, m_off) = (
                u32_at(self.types, m)?,
                u32_at(self.types, m + 4)?,
                u32_at(self.types, m + 8)?,
            );
            let (bit_off, bit_size) = if bitfields {
                (m_off & 0x00ff_ffff, m_off >> 24)
            } else {
                (m_off, 0)
            };
            if m_name == 0 {
                let inner = self.resolve(m_type)?;
                if let Some((off, t)) = self.member(inner, name, depth + 1) {
                    return Some((bit_off / 8 + off, t));
                }
            } else if self.name(m_name) == name {
                // A bitfield or a field not on a byte boundary cannot be loaded directly.
                if bit_size != 0 || bit_off % 8 != 0 {
                    return None;
                }
                return Some((bit_off / 8, m_type));
            }
        }
        None
    }

    /// Offset and size of `path` (member names, each inside the previous one's struct)
    /// from the start of struct `root`.
    pub fn field(&self, root: &str, path: &[&str]) -> Result<Field, BtfError> {
        let missing = || BtfError::Missing(format!("{root}.{}", path.join(".")));
        let mut id = self.struct_id(root)?;
        let mut offset = 0u32;
        for name in path {
            let (off, t) = self.member(id, name.as_bytes(), 0).ok_or_else(missing)?;
            offset += off;
            id = self.resolve(t).ok_or_else(missing)?;
        }
        let size = self.size_of(id).ok_or_else(missing)?;
        Ok(Field {
            offset,
            size,
            type_id: id,
        })
    }

    /// For a flexible array member `path` of `root` (like `struct pid.numbers[]`): its
    /// offset and the size of one element.
    pub fn array(&self, root: &str, path: &[&str]) -> Result<(u32, u32), BtfError> {
        let missing = || BtfError::Missing(format!("{root}.{}[]", path.join(".")));
        let id = self.struct_id(root)?;
        let mut offset = 0;
        let mut cur = id;
        let mut last = 0;
        for name in path {
            let (off, t) = self.member(cur, name.as_bytes(), 0).ok_or_else(missing)?;
            offset += off;
            last = self.resolve(t).ok_or_else(missing)?;
            cur = last;
        }
        let (_, info, _, data) = self.header(last).ok_or_else(missing)?;
        if Self::kind(info) != KIND_ARRAY {
            return Err(missing());
        }
        let elem = u32_at(self.types, data).ok_or_else(missing)?;
        let elem = self.resolve(elem).ok_or_else(missing)?;
        let size = self.size_of(elem).ok_or_else(missing)?;
        Ok((offset, size))
    }

    /// A one-byte bitfield member `name` directly in struct `root`: the byte offset that
    /// holds it and its bit within that byte (little-endian), so a program can load the
    /// byte and shift.
    pub fn bitfield(&self, root: &str, name: &str) -> Result<(u32, u32), BtfError> {
        let missing = || BtfError::Missing(format!("{root}.{name} (bitfield)"));
        let id = self.struct_id(root)?;
        let (_, info, _, data) = self.header(id).ok_or_else(missing)?;
        if info >> 31 != 1 {
            return Err(missing());
        }
        (0..(info & 0xffff) as usize)
            .find_map(|i| {
                let m = data + 12 * i;
                let m_name = u32_at(self.types, m)?;
                let m_off = u32_at(self.types, m + 8)?;
                let (bit_off, bit_size) = (m_off & 0x00ff_ffff, m_off >> 24);
                (self.name(m_name) == name.as_bytes() && bit_size == 1)
                    .then_some((bit_off / 8, bit_off % 8))
            })
            .ok_or_else(missing)
    }

    /// Index (0-based) of the parameter `name` of function `func`.
    pub fn param_index(&self, func: u32, name: &str) -> Result<u32, BtfError> {
        let missing = || BtfError::Missing(format!("parameter {name} of function #{func}"));
        let (_, _, proto, _) = self.header(func).ok_or_else(missing)?;
        let (_, info, _, data) = self.header(proto).ok_or_else(missing)?;
        if Self::kind(info) != KIND_FUNC_PROTO {
            return Err(missing());
        }
        (0..(info & 0xffff) as usize)
            .find(|&i| {
                u32_at(self.types, data + 8 * i).is_some_and(|n| self.name(n) == name.as_bytes())
            })
            .map(|i| i as u32)
            .ok_or_else(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made BTF blob: int (4 bytes), struct s { int a; struct { int b; }; int *p; },
    /// struct pid { int level; struct s numbers[]; }, func f(int x, int *y).
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0s\0a\0b\0p\0f\0x\0y\0pid\0level\0numbers\0";
        let name = |n: &str| {
            let pat = format!("\0{n}\0");
            strings
                .windows(pat.len())
                .position(|w| w == pat.as_bytes())
                .unwrap() as u32
                + 1
        };
        let mut t: Vec<u32> = Vec::new();
        // 1: int
        t.extend([name("int"), KIND_INT << 24, 4, 32]);
        // 2: anonymous struct { int b; }
        t.extend([0, KIND_STRUCT << 24 | 1, 4, name("b"), 1, 0]);
        // 3: int *
        t.extend([0, KIND_PTR << 24, 1]);
        // 4: struct s { int a; <anon> at 4; int *p at 8 }
        t.extend([name("s"), KIND_STRUCT << 24 | 3, 16]);
        t.extend([name("a"), 1, 0, 0, 2, 32, name("p"), 3, 64]);
        // 5: array of struct s, 0 elements
        t.extend([0, KIND_ARRAY << 24, 0, 4, 1, 0]);
        // 6: struct pid { int level; struct s numbers[] at 8 }
        t.extend([name("pid"), KIND_STRUCT << 24 | 2, 8]);
        t.extend([name("level"), 1, 0, name("numbers"), 5, 64]);
        // 7: proto (int x, int *y) -> int
        t.extend([0, KIND_FUNC_PROTO << 24 | 2, 1, name("x"), 1, name("y"), 3]);
        // 8: func f
        t.extend([name("f"), KIND_FUNC << 24, 7]);
        let types: Vec<u8> = t.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut b = Vec::new();
        b.extend(MAGIC.to_le_bytes());
        b.extend([1u8, 0]);
        b.extend((HEADER_LEN as u32).to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend((types.len() as u32).to_le_bytes());
        b.extend((types.len() as u32).to_le_bytes());
        b.extend((strings.len() as u32).to_le_bytes());
        b.extend(types);
        b.extend(strings);
        b
    }

    #[test]
    fn finds_fields_functions_and_flexible_arrays() {
        let b = blob();
        let btf = Btf::parse(&b, &["s", "pid"], &["f"]).unwrap();
        assert_eq!(btf.func("f"), Ok(8));
        assert_eq!(btf.struct_id("s"), Ok(4));
        let a = btf.field("s", &["a"]).unwrap();
        assert_eq!((a.offset, a.size), (0, 4));
        // Found through the anonymous member at byte 4.
        let inner = btf.field("s", &["b"]).unwrap();
        assert_eq!((inner.offset, inner.size), (4, 4));
        let p = btf.field("s", &["p"]).unwrap();
        assert_eq!((p.offset, p.size), (8, 8));
        assert_eq!(btf.array("pid", &["numbers"]), Ok((8, 16)));
        assert_eq!(btf.param_index(8, "x"), Ok(0));
        assert_eq!(btf.param_index(8, "y"), Ok(1));
    }

    #[test]
    fn reports_what_is_missing() {
        let b = blob();
        let btf = Btf::parse(&b, &["s"], &[]).unwrap();
        assert_eq!(
            btf.field("s", &["nope"]),
            Err(BtfError::Missing("s.nope".into()))
        );
        assert_eq!(btf.func("f"), Err(BtfError::Missing("function f".into())));
        assert!(matches!(btf.param_index(8, "z"), Err(BtfError::Missing(_))));
        // Not an array.
        assert!(btf.array("s", &["a"]).is_err());
    }

    #[test]
    fn rejects_truncated_and_foreign_blobs() {
        let b = blob();
        assert!(matches!(
            Btf::parse(&b[..b.len() - 30], &[], &[]),
            Err(BtfError::Malformed(_))
        ));
        let mut bad = b.clone();
        bad[0] = 0;
        assert!(matches!(
            Btf::parse(&bad, &[], &[]),
            Err(BtfError::Malformed(_))
        ));
        assert!(matches!(
            Btf::parse(&[], &[], &[]),
            Err(BtfError::Malformed(_))
        ));
    }
}
