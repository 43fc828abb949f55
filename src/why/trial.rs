//! Facts stage: the trial bind itself, as the application would do it, and the same in a
//! forked child that has become another user (`--as`). System calls through rustix; the
//! fork and the user database through the system-call layer (`src/sys/`).
//!
//! [`trial_bind`] allocates nothing and touches only its own descriptor, so it is safe in a
//! forked child and can run in a thread that has entered another network namespace.

use crate::error::Error;
use crate::model::Protocol;
use crate::sys;
use crate::why::{BindRequest, RunAs, Trial, TrialStep};
use rustix::io::Errno;
use rustix::net::{sockopt, AddressFamily, SocketFlags, SocketType};
use rustix::thread::{CapabilitySet, CapabilitySets};
use std::io;
use std::os::fd::OwnedFd;

/// The options a trial sets, in order, by their name for messages.
const OPTION_NAMES: [&str; 4] = ["SO_REUSEADDR", "SO_REUSEPORT", "IPV6_V6ONLY", "IP_FREEBIND"];

/// Creates the socket, sets the options given, binds, and closes at once. Never listens, so
/// nothing can connect to it. Returns 0 or the errno, and the step that failed.
pub fn trial_bind(req: &BindRequest) -> (i32, TrialStep) {
    let v6 = req.addr.is_ipv6();
    let domain = if v6 {
        AddressFamily::INET6
    } else {
        AddressFamily::INET
    };
    let ty = match req.protocol {
        Protocol::Tcp => SocketType::STREAM,
        Protocol::Udp => SocketType::DGRAM,
    };
    // Closed when dropped, on every path: the port is released at once (no listen, no
    // connection, so no TIME_WAIT).
    let fd = match rustix::net::socket_with(domain, ty, SocketFlags::CLOEXEC, None) {
        Ok(fd) => fd,
        Err(e) => return (e.raw_os_error(), TrialStep::Socket),
    };
    let o = &req.options;
    let freebind: fn(&OwnedFd, bool) -> rustix::io::Result<()> = if v6 {
        |fd, on| sockopt::set_ipv6_freebind(fd, on)
    } else {
        |fd, on| sockopt::set_ip_freebind(fd, on)
    };
    let opts: [(bool, &dyn Fn() -> rustix::io::Result<()>); 4] = [
        (o.reuseaddr, &|| sockopt::set_socket_reuseaddr(&fd, true)),
        (o.reuseport, &|| sockopt::set_socket_reuseport(&fd, true)),
        (v6 && o.v6only.is_some(), &|| {
            sockopt::set_ipv6_v6only(&fd, o.v6only == Some(true))
        }),
        (o.freebind, &|| freebind(&fd, true)),
    ];
    for (i, (on, set)) in opts.iter().enumerate() {
        if !on {
            continue;
        }
        if let Err(e) = set() {
            return (e.raw_os_error(), TrialStep::Option(OPTION_NAMES[i]));
        }
    }
    let e = match rustix::net::bind(&fd, &req.addr) {
        Ok(()) => 0,
        Err(e) => e.raw_os_error(),
    };
    (e, TrialStep::Bind)
}

/// A capability set as a 64-bit mask.
fn mask(s: CapabilitySet) -> u64 {
    s.bits()
}

/// This thread's (effective, permitted, inheritable) sets as 64-bit masks (capget; no
/// allocation). None: capget failed.
fn capabilities() -> Option<(u64, u64, u64)> {
    let c = rustix::thread::capabilities(None).ok()?;
    Some((mask(c.effective), mask(c.permitted), mask(c.inheritable)))
}

/// CAP_NET_BIND_SERVICE in this thread's effective set.
pub fn has_net_bind_service() -> bool {
    capabilities().is_some_and(|(e, _, _)| e & CapabilitySet::NET_BIND_SERVICE.bits() != 0)
}

/// Gives up every capability for good, in a child that has just changed its user: a
/// change of user clears them only without SECBIT_NO_SETUID_FIXUP or SECBIT_KEEP_CAPS
/// (`setpriv --securebits +no_setuid_fixup` keeps them all). Drops the bounding set (while
/// CAP_SETPCAP may still allow it), clears the ambient set, sets no_new_privs, then sets
/// the effective, permitted and inheritable sets to zero. Returns what remains as
/// (effective, permitted, inheritable): all zero, or the trial must not run. Async-signal
/// -safe: system calls only. Failures are judged by the capget at the end, not here.
fn drop_every_capability() -> (u64, u64, u64) {
    for cap in 0..64 {
        let _ = rustix::thread::remove_capability_from_bounding_set(
            CapabilitySet::from_bits_retain(1 << cap),
        );
    }
    let _ = rustix::thread::clear_ambient_capability_set();
    let _ = rustix::thread::set_no_new_privs(true);
    let _ = rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::empty(),
            permitted: CapabilitySet::empty(),
            inheritable: CapabilitySet::empty(),
        },
    );
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

/// Becomes `user` (groups, then GID, then UID): in a forked child, the only thread, so the
/// per-thread calls change the whole process.
fn become_user(groups: &[rustix::process::Gid], user: &RunAs) -> Result<(), Errno> {
    rustix::thread::set_thread_groups(groups)?;
    rustix::thread::set_thread_gid(rustix::process::Gid::from_raw(user.gid))?;
    rustix::thread::set_thread_uid(rustix::process::Uid::from_raw(user.uid))
}

/// The child's side of [`run_as`]: system calls only, no allocation.
fn child_report(req: &BindRequest, groups: &[rustix::process::Gid], user: &RunAs) -> [u8; MSG_LEN] {
    let mut msg = [0u8; MSG_LEN];
    if let Err(e) = become_user(groups, user) {
        msg[4] = 255;
        msg[..4].copy_from_slice(&e.raw_os_error().to_ne_bytes());
        return msg;
    }
    let left = drop_every_capability();
    if left != (0, 0, 0) {
        // Not the user's answer: the child still holds capabilities.
        msg[4] = 254;
        msg[10..].copy_from_slice(&(left.0 | left.1 | left.2).to_ne_bytes());
        return msg;
    }
    let (e, step) = trial_bind(req);
    msg[..4].copy_from_slice(&e.to_ne_bytes());
    msg[4] = step_code(step);
    msg[5] = u8::from(has_net_bind_service());
    msg[6..10].copy_from_slice(&rustix::process::geteuid().as_raw().to_ne_bytes());
    msg
}

/// The trial in a forked child that drops to `user`'s UID, GID and groups first, then
/// gives up every capability explicitly (a change of user keeps them under
/// SECBIT_NO_SETUID_FIXUP or SECBIT_KEEP_CAPS) and checks with capget that none remains;
/// if one does, no answer (an error), never a bind tried with privileges. Reports back
/// through a pipe.
pub fn run_as(req: &BindRequest, user: &RunAs) -> anyhow::Result<Trial> {
    // Made before the fork: the child allocates nothing.
    let groups: Vec<rustix::process::Gid> = user
        .groups
        .iter()
        .map(|&g| rustix::process::Gid::from_raw(g))
        .collect();
    let Some(msg) = sys::child::report(|| child_report(req, &groups, user))? else {
        anyhow::bail!(
            "the trial child for uid {} ended without an answer",
            user.uid
        );
    };
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
    let entry = match (sys::users::by_name(user), user.parse::<u32>()) {
        (Some(e), _) => Some(e),
        (None, Ok(uid)) => sys::users::by_uid(uid).or(Some((None, uid, uid))),
        (None, Err(_)) => None,
    };
    let (name, uid, gid) = entry.ok_or_else(bad)?;
    let groups = name
        .as_deref()
        .and_then(|n| sys::users::groups(n, gid))
        .unwrap_or_else(|| vec![gid]);
    Ok(RunAs {
        name,
        uid,
        gid,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::why::BindOptions;

    #[test]
    fn trial_binds_a_free_port_and_reports_a_taken_one() {
        // The port is free once our listener is gone, but on a shared host another
        // process may take it (an ephemeral port) before the second bind: then the answer
        // is EADDRINUSE again, which is right; a few fresh ports make a free one certain.
        let free_after_drop = (0..8).any(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let req = BindRequest {
                protocol: Protocol::Tcp,
                addr: l.local_addr().unwrap(),
                options: BindOptions::default(),
            };
            assert_eq!(trial_bind(&req), (libc::EADDRINUSE, TrialStep::Bind));
            drop(l);
            let r = trial_bind(&req);
            assert!(
                matches!(r, (0 | libc::EADDRINUSE, TrialStep::Bind)),
                "{r:?}"
            );
            r.0 == 0
        });
        assert!(free_after_drop);
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut req = BindRequest {
            protocol: Protocol::Udp,
            addr: u.local_addr().unwrap(),
            options: BindOptions::default(),
        };
        assert_eq!(trial_bind(&req), (libc::EADDRINUSE, TrialStep::Bind));
        // SO_REUSEPORT on both sides shares a UDP port only between sockets that both
        // set it: ours did not.
        req.options.reuseport = true;
        assert_eq!(trial_bind(&req), (libc::EADDRINUSE, TrialStep::Bind));
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
