//! System-call layer: how many BPF programs guard a cgroup's binds (bpf(2)
//! BPF_PROG_QUERY), for `why`.

use rustix::fs::{Mode, OFlags};
use std::os::fd::AsRawFd;

/// `union bpf_attr`'s query member for BPF_PROG_QUERY.
#[repr(C)]
#[derive(Default)]
struct Query {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_F_QUERY_EFFECTIVE: u32 = 1;
const BPF_CGROUP_INET4_BIND: u32 = 8;
const BPF_CGROUP_INET6_BIND: u32 = 9;

/// The number of effective inet4 and inet6 bind programs for the cgroup at `dir`.
pub fn bind_programs(dir: &str) -> Result<(u32, u32), String> {
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("{dir}: {}", std::io::Error::from(e)))?;
    let count = |attach_type| -> Result<u32, String> {
        let mut q = Query {
            target_fd: fd.as_raw_fd() as u32,
            attach_type,
            query_flags: BPF_F_QUERY_EFFECTIVE,
            ..Query::default()
        };
        // SAFETY: bpf(2) with a zeroed query attr of its declared size; no id buffer,
        // so the kernel only writes the count back.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_QUERY,
                &mut q as *mut Query,
                size_of::<Query>(),
            )
        };
        if rc != 0 {
            return Err(format!(
                "bpf(BPF_PROG_QUERY): {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(q.prog_cnt)
    };
    count(BPF_CGROUP_INET4_BIND).and_then(|a| Ok((a, count(BPF_CGROUP_INET6_BIND)?)))
}
