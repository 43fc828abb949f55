//! Facts stage, system calls: the trial bind itself, as the application would do it, and
//! the same in a forked child that has become another user (`--as`).
//!
//! [`trial_bind`] allocates nothing and touches only its own descriptor, so it is safe in a
//! forked child and can run in a thread that has entered another network namespace.

use crate::error::Error;
use crate::model::Protocol;
use crate::why::{BindRequest, RunAs, Trial, TrialStep};
use std::ffi::{CStr, CString};
use std::io;
use std::net::SocketAddr;

/// The options a trial sets, in order, by their name for messages.
const OPTION_NAMES: [&str; 4] = ["SO_REUSEADDR", "SO_REUSEPORT", "IPV6_V6ONLY", "IP_FREEBIND"];

/// Creates the socket, sets the options given, binds, and closes at once. Never listens, so
/// nothing can connect to it. Returns 0 or the errno, and the step that failed.
pub fn trial_bind(req: &BindRequest) -> (i32, TrialStep) {
    let v6 = req.addr.is_ipv6();
    let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    let ty = match req.protocol {
        Protocol::Tcp => libc::SOCK_STREAM,
        Protocol::Udp => libc::SOCK_DGRAM,
    };
    // SAFETY: a new descriptor, owned here and closed on every path below.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return (errno(), TrialStep::Socket);
    }
    let o = &req.options;
    let freebind = if v6 {
        (libc::SOL_IPV6, libc::IPV6_FREEBIND)
    } else {
        (libc::SOL_IP, libc::IP_FREEBIND)
    };
    let opts: [(bool, libc::c_int, libc::c_int, libc::c_int); 4] = [
        (o.reuseaddr, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1),
        (o.reuseport, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1),
        (
            v6 && o.v6only.is_some(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            libc::c_int::from(o.v6only == Some(true)),
        ),
        (o.freebind, freebind.0, freebind.1, 1),
    ];
    for (i, &(on, level, name, value)) in opts.iter().enumerate() {
        if !on {
            continue;
        }
        // SAFETY: an int option on our descriptor, its size given.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            let e = errno();
            // SAFETY: closing our own descriptor.
            unsafe { libc::close(fd) };
            return (e, TrialStep::Option(OPTION_NAMES[i]));
        }
    }
    let rc = bind_addr(fd, &req.addr);
    let e = if rc == 0 { 0 } else { errno() };
    // SAFETY: closing our own descriptor: the port is released at once (no listen, no
    // connection, so no TIME_WAIT).
    unsafe { libc::close(fd) };
    (e, TrialStep::Bind)
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn bind_addr(fd: libc::c_int, addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: zeroed sockaddr_in filled in field by field.
            let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = a.port().to_be();
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            // SAFETY: a valid sockaddr_in and its size.
            unsafe {
                libc::bind(
                    fd,
                    (&sa as *const libc::sockaddr_in).cast(),
                    size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(a) => {
            // SAFETY: zeroed sockaddr_in6 filled in field by field.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = a.port().to_be();
            sa.sin6_addr.s6_addr = a.ip().octets();
            sa.sin6_scope_id = a.scope_id();
            // SAFETY: a valid sockaddr_in6 and its size.
            unsafe {
                libc::bind(
                    fd,
                    (&sa as *const libc::sockaddr_in6).cast(),
                    size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

/// This thread's (effective, permitted, inheritable) sets as 64-bit masks (capget; no
/// allocation). None: capget failed.
fn capabilities() -> Option<(u64, u64, u64)> {
    let mut h = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut d = [CapData::default(); 2];
    // SAFETY: capget with a version-3 header and room for its two data words.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) };
    let wide = |f: fn(&CapData) -> u32| u64::from(f(&d[0])) | (u64::from(f(&d[1])) << 32);
    (rc == 0).then(|| {
        (
            wide(|c| c.effective),
            wide(|c| c.permitted),
            wide(|c| c.inheritable),
        )
    })
}

/// CAP_NET_BIND_SERVICE in this thread's effective set.
pub fn has_net_bind_service() -> bool {
    const CAP_NET_BIND_SERVICE: u32 = 10;
    capabilities().is_some_and(|(e, _, _)| e & (1 << CAP_NET_BIND_SERVICE) != 0)
}

/// Gives up every capability for good, in a child that has just changed its user: a
/// change of user clears them only without SECBIT_NO_SETUID_FIXUP or SECBIT_KEEP_CAPS
/// (`setpriv --securebits +no_setuid_fixup` keeps them all). Drops the bounding set (while
/// CAP_SETPCAP may still allow it), clears the ambient set, sets no_new_privs, then sets
/// the effective, permitted and inheritable sets to zero. Returns what remains as
/// (effective, permitted, inheritable): all zero, or the trial must not run. Async-signal
/// -safe: system calls only.
fn drop_every_capability() -> (u64, u64, u64) {
    // SAFETY: prctl and capset with plain integer arguments and a local header and data;
    // failures are judged by the capget below, not here.
    unsafe {
        for cap in 0..64 {
            libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        );
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        let mut h = CapHeader {
            version: CAP_VERSION_3,
            pid: 0,
        };
        let d = [CapData::default(); 2];
        libc::syscall(libc::SYS_capset, &mut h, d.as_ptr());
    }
    capabilities().unwrap_or((u64::MAX, u64::MAX, u64::MAX))
}

fn step_code(s: TrialStep) -> u8 {
    match s {
        TrialStep::Socket => 0,
        TrialStep::Bind => 1,
        TrialStep::Option(name) => {
            2 + OPTION_NAMES.iter().position(|n| *n == name).unwrap_or(0) as u8
        }
    }
}

fn step_of(code: u8) -> TrialStep {
    match code {
        0 => TrialStep::Socket,
        1 => TrialStep::Bind,
        n => TrialStep::Option(OPTION_NAMES[usize::from(n - 2).min(OPTION_NAMES.len() - 1)]),
    }
}

/// The trial as this process.
pub fn run_here(req: &BindRequest) -> Trial {
    let (e, step) = trial_bind(req);
    Trial {
        errno: (e != 0).then_some(e),
        step,
        uid: crate::collect::effective_uid(),
        cap_net_bind_service: has_net_bind_service(),
    }
}

/// The child's report: errno (4 bytes), step code (1; 254: capabilities remain, 255: the
/// change of user failed), CAP_NET_BIND_SERVICE (1), euid (4), capabilities left (8).
const MSG_LEN: usize = 18;

/// The trial in a forked child that drops to `user`'s UID, GID and groups first, then
/// gives up every capability explicitly (a change of user keeps them under
/// SECBIT_NO_SETUID_FIXUP or SECBIT_KEEP_CAPS) and checks with capget that none remains;
/// if one does, no answer (an error), never a bind tried with privileges. Reports back
/// through a pipe.
pub fn run_as(req: &BindRequest, user: &RunAs) -> anyhow::Result<Trial> {
    let mut fds = [0; 2];
    // SAFETY: a pipe into a local array, checked.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error().into());
    }
    let groups: Vec<libc::gid_t> = user.groups.clone();
    // SAFETY: the child calls only async-signal-safe functions (setgroups, setgid,
    // setuid, prctl, capset, socket calls, capget, write, _exit) and allocates nothing.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = io::Error::last_os_error();
        // SAFETY: our own pipe ends.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        return Err(e.into());
    }
    if pid == 0 {
        // SAFETY: see above; the child never returns.
        unsafe {
            libc::close(fds[0]);
            let mut msg = [0u8; MSG_LEN];
            let dropped = libc::setgroups(groups.len(), groups.as_ptr()) == 0
                && libc::setgid(user.gid) == 0
                && libc::setuid(user.uid) == 0;
            let left = if dropped {
                drop_every_capability()
            } else {
                (0, 0, 0)
            };
            if dropped && left != (0, 0, 0) {
                // Not the user's answer: the child still holds capabilities.
                msg[4] = 254;
                msg[10..].copy_from_slice(&(left.0 | left.1 | left.2).to_ne_bytes());
            } else if dropped {
                let (e, step) = trial_bind(req);
                msg[..4].copy_from_slice(&e.to_ne_bytes());
                msg[4] = step_code(step);
                msg[5] = u8::from(has_net_bind_service());
                msg[6..10].copy_from_slice(&libc::geteuid().to_ne_bytes());
            } else {
                msg[4] = 255;
                msg[..4].copy_from_slice(&errno().to_ne_bytes());
            }
            libc::write(fds[1], msg.as_ptr().cast(), msg.len());
            libc::_exit(0);
        }
    }
    // SAFETY: the parent closes the child's end, reads a fixed-size message, reaps by PID.
    let (n, msg) = unsafe {
        libc::close(fds[1]);
        let mut msg = [0u8; MSG_LEN];
        let mut got = 0usize;
        while got < msg.len() {
            let r = libc::read(fds[0], msg[got..].as_mut_ptr().cast(), msg.len() - got);
            if r <= 0 {
                break;
            }
            got += r as usize;
        }
        libc::close(fds[0]);
        let mut st = 0;
        libc::waitpid(pid, &mut st, 0);
        (got, msg)
    };
    if n != msg.len() {
        anyhow::bail!(
            "the trial child for uid {} ended without an answer",
            user.uid
        );
    }
    let e = i32::from_ne_bytes(msg[..4].try_into().unwrap_or_default());
    if msg[4] == 254 {
        let left = u64::from_ne_bytes(msg[10..18].try_into().unwrap_or_default());
        anyhow::bail!(
            "cannot answer for uid {}: capabilities remain after the change of user \
             (mask {left:#x}) and could not be dropped, so a trial bind would not be that user's",
            user.uid
        );
    }
    if msg[4] == 255 {
        anyhow::bail!(
            "cannot become uid {} gid {}: {}",
            user.uid,
            user.gid,
            io::Error::from_raw_os_error(e)
        );
    }
    Ok(Trial {
        errno: (e != 0).then_some(e),
        step: step_of(msg[4]),
        uid: u32::from_ne_bytes(msg[6..10].try_into().unwrap_or_default()),
        cap_net_bind_service: msg[5] == 1,
    })
}

/// `--as USER`: a user name or a numeric UID, with its primary GID and groups.
pub fn lookup(user: &str) -> Result<RunAs, Error> {
    let bad = || Error::invalid("user", user, "no such user name or UID");
    let by_name = CString::new(user).ok().and_then(|c| {
        passwd(|pw, b, l, r| {
            // SAFETY: valid arguments for the duration of the call.
            unsafe { libc::getpwnam_r(c.as_ptr(), pw, b, l, r) }
        })
    });
    let entry = match (by_name, user.parse::<u32>()) {
        (Some(e), _) => Some(e),
        (None, Ok(uid)) => passwd(|pw, b, l, r| {
            // SAFETY: valid arguments for the duration of the call.
            unsafe { libc::getpwuid_r(uid, pw, b, l, r) }
        })
        .or(Some((None, uid, uid))),
        (None, Err(_)) => None,
    };
    let (name, uid, gid) = entry.ok_or_else(bad)?;
    let mut groups = vec![gid];
    if let Some(n) = name.as_deref().and_then(|n| CString::new(n).ok()) {
        let mut list = vec![0 as libc::gid_t; 256];
        let mut count = list.len() as libc::c_int;
        // SAFETY: list has room for `count` entries; getgrouplist says how many it wrote.
        let rc = unsafe { libc::getgrouplist(n.as_ptr(), gid, list.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            list.truncate(count.max(0) as usize);
            groups = list;
        }
    }
    Ok(RunAs {
        name,
        uid,
        gid,
        groups,
    })
}

type PwCall<'a> =
    dyn Fn(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> libc::c_int + 'a;

/// (name, uid, gid) of the entry a getpw*_r call finds.
fn passwd(
    call: impl Fn(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> libc::c_int,
) -> Option<(Option<String>, u32, u32)> {
    let call: &PwCall = &call;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: passwd is plain data the call fills in; buf outlives every use of it.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = call(&mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut result);
    if rc != 0 || result.is_null() {
        return None;
    }
    let name = (!pw.pw_name.is_null()).then(|| {
        // SAFETY: NUL-terminated by getpw*_r, inside buf.
        unsafe { CStr::from_ptr(pw.pw_name) }
            .to_string_lossy()
            .into_owned()
    });
    Some((name, pw.pw_uid, pw.pw_gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::why::BindOptions;

    #[test]
    fn trial_binds_a_free_port_and_reports_a_taken_one() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut req = BindRequest {
            protocol: Protocol::Tcp,
            addr: l.local_addr().unwrap(),
            options: BindOptions::default(),
        };
        assert_eq!(trial_bind(&req), (libc::EADDRINUSE, TrialStep::Bind));
        drop(l);
        assert_eq!(trial_bind(&req), (0, TrialStep::Bind));
        req.options.reuseport = true;
        req.protocol = Protocol::Udp;
        assert_eq!(trial_bind(&req).0, 0);
    }

    #[test]
    fn steps_round_trip_through_their_codes() {
        for s in [
            TrialStep::Socket,
            TrialStep::Bind,
            TrialStep::Option("IP_FREEBIND"),
        ] {
            assert_eq!(step_of(step_code(s)), s);
        }
    }

    #[test]
    fn users_resolve_by_name_and_number() {
        let root = lookup("root").unwrap();
        assert_eq!(
            (root.uid, root.gid, root.name.as_deref()),
            (0, 0, Some("root"))
        );
        assert_eq!(lookup("0").unwrap().uid, 0);
        assert_eq!(lookup("4000000").unwrap().uid, 4_000_000);
        assert_eq!(
            lookup("no-such-user-x").unwrap_err().to_string(),
            "invalid user 'no-such-user-x': no such user name or UID"
        );
    }
}
