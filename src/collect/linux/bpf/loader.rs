//! Collect stage, Linux, BPF owner source: the bpf(2) calls (load, link, iterator) and
//! the read of the iterator's output. Every descriptor is an OwnedFd: the program, link
//! and iterator are gone when the scan returns.

use super::insn::Insn;
use super::progbtf::FuncInfo;
use super::BpfError;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_ITER_CREATE: libc::c_long = 33;
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_TRACE_ITER: u32 = 28;

/// The BPF_PROG_LOAD part of `union bpf_attr` up to `attach_prog_fd` (bpf.h).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_prog_fd: u32,
    _pad: u32,
}

/// The BPF_LINK_CREATE part: without iter_info, an iterator walks every task.
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    iter_info: u64,
    iter_info_len: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct IterCreateAttr {
    link_fd: u32,
    flags: u32,
}

/// bpf(cmd, attr, sizeof attr) returning a new descriptor.
fn bpf_fd<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<OwnedFd> {
    // SAFETY: attr is a live, fully initialised #[repr(C)] prefix of union bpf_attr whose
    // pointers (if any) point to buffers that outlive the call; the size passed is its own.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success bpf() returns a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

const LICENSE: &[u8] = b"GPL\0";
/// The owner programs' names, as bpftool and the tests see them.
pub const NAME_TASK_FILE: &[u8] = b"portscope_owner";
pub const NAME_FDTABLE: &[u8] = b"portscope_fdtab";

/// Loads `insns` as an iterator program (`iter/task_file`, `iter/task`: the target is
/// `attach_btf_id`), with its functions' BTF where it has subprograms. On refusal, loads
/// once more with the verifier's log on, so the error can say why.
pub fn load(
    insns: &[Insn],
    attach_btf_id: u32,
    name: &[u8],
    funcs: Option<&FuncInfo>,
) -> Result<OwnedFd, BpfError> {
    load_with(
        insns,
        BPF_PROG_TYPE_TRACING,
        BPF_TRACE_ITER,
        attach_btf_id,
        name,
        funcs,
    )
}

/// Loads `insns` as a program of `prog_type` and attach type, named `name` (at most 15
/// bytes) for bpftool and the tests; `attach_btf_id` for tracing programs, else 0.
pub fn load_prog(
    insns: &[Insn],
    prog_type: u32,
    expected_attach_type: u32,
    attach_btf_id: u32,
    name: &[u8],
) -> Result<OwnedFd, BpfError> {
    load_with(
        insns,
        prog_type,
        expected_attach_type,
        attach_btf_id,
        name,
        None,
    )
}

fn load_with(
    insns: &[Insn],
    prog_type: u32,
    expected_attach_type: u32,
    attach_btf_id: u32,
    name: &[u8],
    funcs: Option<&FuncInfo>,
) -> Result<OwnedFd, BpfError> {
    let code: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
    let name = &name[..name.len().min(15)];
    let attempt = |log: &mut [u8]| {
        let mut attr = ProgLoadAttr {
            prog_type,
            insn_cnt: insns.len() as u32,
            insns: code.as_ptr() as u64,
            license: LICENSE.as_ptr() as u64,
            expected_attach_type,
            attach_btf_id,
            ..Default::default()
        };
        if let Some(f) = funcs {
            attr.prog_btf_fd = f.btf.as_raw_fd() as u32;
            attr.func_info_rec_size = 8;
            attr.func_info = f.records.as_ptr() as u64;
            attr.func_info_cnt = f.records.len() as u32;
        }
        attr.prog_name[..name.len()].copy_from_slice(name);
        if !log.is_empty() {
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
        }
        bpf_fd(BPF_PROG_LOAD, &mut attr)
    };
    let err = match attempt(&mut []) {
        Ok(fd) => return Ok(fd),
        Err(e) => e,
    };
    let mut log = vec![0u8; 256 * 1024];
    let verdict = match attempt(&mut log) {
        Ok(_) => String::new(), // accepted the second time: report the first refusal as is
        Err(_) => last_lines(&log),
    };
    Err(BpfError::classify("load the program", &err, &verdict))
}

const BPF_BTF_LOAD: libc::c_long = 18;

/// The BPF_BTF_LOAD part of `union bpf_attr`, without a log.
#[repr(C)]
#[derive(Default)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
    _pad: u32,
}

/// Loads a BTF blob (a program's own types: see progbtf.rs).
pub fn load_btf(blob: &[u8]) -> Result<OwnedFd, BpfError> {
    let mut attr = BtfLoadAttr {
        btf: blob.as_ptr() as u64,
        btf_size: blob.len() as u32,
        ..Default::default()
    };
    bpf_fd(BPF_BTF_LOAD, &mut attr)
        .map_err(|e| BpfError::classify("load the program's BTF", &e, ""))
}

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_PROG_GET_NEXT_ID: libc::c_long = 11;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;

/// The BPF_MAP_CREATE part of `union bpf_attr` up to `map_name`.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

/// BPF_MAP_*_ELEM.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// BPF_RAW_TRACEPOINT_OPEN: with no name, attaches a tracing program (fentry, fexit, BTF
/// tracepoint) where its attach_btf_id points.
#[repr(C)]
#[derive(Default)]
struct RawTracepointAttr {
    name: u64,
    prog_fd: u32,
    _pad: u32,
    cookie: u64,
}

/// BPF_PROG_GET_NEXT_ID / BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
#[derive(Default)]
struct GetIdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

/// BPF_OBJ_GET_INFO_BY_FD.
#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// A new map; `name` at most 15 bytes.
pub fn map_create(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    name: &[u8],
) -> Result<OwnedFd, BpfError> {
    let mut attr = MapCreateAttr {
        map_type,
        key_size,
        value_size,
        max_entries,
        ..Default::default()
    };
    let name = &name[..name.len().min(15)];
    attr.map_name[..name.len()].copy_from_slice(name);
    bpf_fd(BPF_MAP_CREATE, &mut attr).map_err(|e| BpfError::classify("create a map", &e, ""))
}

/// The value of the u64 at index `key` of an array map.
pub fn map_lookup_u64(map: &OwnedFd, key: u32) -> Result<u64, BpfError> {
    let mut value = 0u64;
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: &key as *const u32 as u64,
        value: &mut value as *mut u64 as u64,
        ..Default::default()
    };
    // SAFETY: attr is the fully initialised prefix of union bpf_attr for this command;
    // key and value point to live u32/u64 locals matching the map's key and value sizes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_LOOKUP_ELEM,
            &mut attr as *mut MapElemAttr,
            std::mem::size_of::<MapElemAttr>() as libc::c_uint,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(BpfError::classify("read a map", &e, ""));
    }
    Ok(value)
}

/// Attaches a loaded fentry/fexit/tp_btf program; the link lives as long as its descriptor.
pub fn attach_tracing(prog: &OwnedFd, what: &str) -> Result<OwnedFd, BpfError> {
    let mut attr = RawTracepointAttr {
        prog_fd: prog.as_raw_fd() as u32,
        ..Default::default()
    };
    bpf_fd(BPF_RAW_TRACEPOINT_OPEN, &mut attr)
        .map_err(|e| BpfError::classify(&format!("attach to {what}"), &e, ""))
}

/// Attaches a cgroup program to the cgroup whose directory `cgroup` is open; the link
/// lives as long as its descriptor, and applies to every cgroup below it.
pub fn attach_cgroup(
    prog: &OwnedFd,
    cgroup: &OwnedFd,
    attach_type: u32,
    what: &str,
) -> Result<OwnedFd, BpfError> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type,
        ..Default::default()
    };
    bpf_fd(BPF_LINK_CREATE, &mut attr)
        .map_err(|e| BpfError::classify(&format!("attach to {what}"), &e, ""))
}

/// Every BPF program loaded on this host, as (id, name): what the tests compare before
/// and after, to see that nothing was left attached. Programs that go away meanwhile
/// are skipped.
pub fn loaded_programs() -> io::Result<Vec<(u32, String)>> {
    let mut out = Vec::new();
    let mut id = 0u32;
    loop {
        let mut attr = GetIdAttr {
            id,
            ..Default::default()
        };
        // SAFETY: the GET_NEXT_ID prefix of union bpf_attr, fully initialised; the kernel
        // writes next_id inside it.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_GET_NEXT_ID,
                &mut attr as *mut GetIdAttr,
                std::mem::size_of::<GetIdAttr>() as libc::c_uint,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOENT) {
                return Ok(out);
            }
            return Err(e);
        }
        id = attr.next_id;
        let mut by_id = GetIdAttr {
            id,
            ..Default::default()
        };
        let Ok(fd) = bpf_fd(BPF_PROG_GET_FD_BY_ID, &mut by_id) else {
            continue;
        };
        // struct bpf_prog_info up to its name (bytes 64..80).
        let mut info = [0u8; 80];
        let mut attr = InfoAttr {
            bpf_fd: fd.as_raw_fd() as u32,
            info_len: info.len() as u32,
            info: info.as_mut_ptr() as u64,
        };
        // SAFETY: the OBJ_GET_INFO_BY_FD prefix, fully initialised; info points to a live
        // buffer of info_len bytes, which the kernel fills at most.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_OBJ_GET_INFO_BY_FD,
                &mut attr as *mut InfoAttr,
                std::mem::size_of::<InfoAttr>() as libc::c_uint,
            )
        };
        if r == 0 {
            let name = &info[64..80];
            let end = name.iter().position(|&b| b == 0).unwrap_or(16);
            out.push((id, String::from_utf8_lossy(&name[..end]).into_owned()));
        }
    }
}

/// The last two non-empty lines of a NUL-terminated verifier log, joined.
fn last_lines(log: &[u8]) -> String {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(2)..].join(" / ")
}

/// Attaches the program as an iterator and opens one walk over every task's files.
pub fn open_iter(prog: &OwnedFd) -> Result<OwnedFd, BpfError> {
    open_iter_of(prog, None)
}

/// [`open_iter`] over the one task `tid` (a number in our PID namespace; Linux 6.1+).
pub fn open_iter_tid(prog: &OwnedFd, tid: u32) -> Result<OwnedFd, BpfError> {
    open_iter_of(prog, Some(tid))
}

fn open_iter_of(prog: &OwnedFd, tid: Option<u32>) -> Result<OwnedFd, BpfError> {
    // union bpf_iter_link_info's task member: tid, pid, pid_fd (one of them set).
    let info: [u32; 3] = [tid.unwrap_or(0), 0, 0];
    let mut link = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_TRACE_ITER,
        ..Default::default()
    };
    if tid.is_some() {
        link.iter_info = info.as_ptr() as u64;
        link.iter_info_len = std::mem::size_of_val(&info) as u32;
    }
    let link = bpf_fd(BPF_LINK_CREATE, &mut link)
        .map_err(|e| BpfError::classify("attach the iterator", &e, ""))?;
    let mut iter = IterCreateAttr {
        link_fd: link.as_raw_fd() as u32,
        flags: 0,
    };
    // The iterator keeps its own reference to the link: dropping ours here is fine.
    bpf_fd(BPF_ITER_CREATE, &mut iter)
        .map_err(|e| BpfError::classify("create the iterator", &e, ""))
}

/// The most EAGAINs one walk may see. The kernel ends a read with EAGAIN after a million
/// objects (descriptors for task_file, tasks for the fdtable program) that wrote nothing (bpf_seq_read, MAX_ITER_OBJS), keeping its
/// position: the walk goes on with the next read. 4,096 of them is four billion silent
/// descriptors, more than a host's memory holds; past it the kernel is not making progress.
const MAX_AGAIN: u32 = 4096;

/// Reads the iterator to its end, handing every whole record to `each`. The error is the
/// read's (the caller tells E2BIG, an object too big for the iterator's buffer, apart).
pub fn read_records(iter: &OwnedFd, len: usize, each: impl FnMut(&[u8])) -> io::Result<()> {
    read_all(
        |buf| {
            // SAFETY: buf is writable for its length.
            let n = unsafe { libc::read(iter.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        },
        len,
        each,
    )
}

/// [`read_records`] over any `read`: reads until it returns 0, again after EINTR and
/// after EAGAIN (up to [`MAX_AGAIN`] times).
fn read_all(
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    len: usize,
    mut each: impl FnMut(&[u8]),
) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut have = 0usize;
    let mut again = 0u32;
    loop {
        let n = match read(&mut buf[have..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && again < MAX_AGAIN => {
                again += 1;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::other(format!(
                    "{e}, {again} times: the walk made no end"
                )))
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        have += n;
        let whole = have - have % len;
        buf[..whole].chunks_exact(len).for_each(&mut each);
        // A read may end inside a record: keep its start for the next one.
        buf.copy_within(whole..have, 0);
        have -= whole;
    }
    if have != 0 {
        return Err(io::Error::other(format!(
            "it ended inside a record ({have} of {len} bytes)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_layouts_match_bpf_h() {
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, attach_btf_id), 108);
        assert_eq!(std::mem::offset_of!(LinkCreateAttr, iter_info), 16);
        assert_eq!(std::mem::offset_of!(LinkCreateAttr, iter_info_len), 24);
    }

    /// A read that ends with EAGAIN (a million silent descriptors) is read again, and the
    /// records on either side of it all arrive, a record split across reads included.
    #[test]
    fn a_read_ended_by_eagain_is_read_again_to_the_end() {
        let data: Vec<u8> = (0u8..40).collect();
        // 8-byte records: 3 bytes, EAGAIN, EINTR, 13 bytes, EAGAIN twice, the rest, end.
        let mut script: Vec<io::Result<usize>> = vec![
            Ok(3),
            Err(io::Error::from_raw_os_error(libc::EAGAIN)),
            Err(io::Error::from_raw_os_error(libc::EINTR)),
            Ok(13),
            Err(io::Error::from_raw_os_error(libc::EAGAIN)),
            Err(io::Error::from_raw_os_error(libc::EAGAIN)),
            Ok(24),
            Ok(0),
        ];
        script.reverse();
        let mut at = 0;
        let read = |buf: &mut [u8]| {
            let r = script.pop().expect("read after the end");
            if let Ok(n) = r {
                buf[..n].copy_from_slice(&data[at..at + n]);
                at += n;
            }
            r
        };
        let mut got = Vec::new();
        read_all(read, 8, |r| got.push(r.to_vec())).unwrap();
        let want: Vec<Vec<u8>> = data.chunks(8).map(|c| c.to_vec()).collect();
        assert_eq!(got, want);
    }

    /// A kernel that answers EAGAIN forever is given up on, with an error saying so.
    #[test]
    fn eagain_forever_ends_in_an_error() {
        let mut calls = 0u32;
        let read = |_: &mut [u8]| {
            calls += 1;
            Err(io::Error::from_raw_os_error(libc::EAGAIN))
        };
        let e = read_all(read, 8, |_| panic!("no record")).unwrap_err();
        assert_eq!(e.raw_os_error(), None, "{e:?}");
        assert!(e.to_string().contains("no end"), "{e:?}");
        assert_eq!(calls, MAX_AGAIN + 1);
    }

    #[test]
    fn keeps_the_end_of_the_verifier_log() {
        let log =
            b"0: (bf) r6 = r1\n\n1: (79) r8 = *(u64 *)(r6 +24)\nR8 invalid mem access\n\0junk";
        assert_eq!(
            last_lines(log),
            "1: (79) r8 = *(u64 *)(r6 +24) / R8 invalid mem access"
        );
        assert_eq!(last_lines(b"\0"), "");
    }
}
