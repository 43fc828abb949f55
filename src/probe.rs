//! Known sockets for `listen` and `verify`: opened here so their truth is known before the
//! pipeline reads them back.

use crate::model::{Family, Protocol};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};

/// One opened socket, as `--json` prints it (one JSON object per line).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Opened {
    pub protocol: Protocol,
    pub family: Family,
    pub address: IpAddr,
    pub port: u16,
    pub v6only: Option<bool>,
    /// The `listen` process itself.
    pub pid: u32,
    /// Every process holding the socket: `pid`, and with --fork its child.
    pub pids: Vec<u32>,
}

/// A socket portscope opened itself, with what it should look like.
pub struct Probe {
    pub protocol: Protocol,
    pub local: SocketAddr,
    /// For IPv6: the IPV6_V6ONLY flag as set (None: the system default was kept).
    pub v6only: Option<bool>,
    pub socket: Socket,
}

/// Opens a TCP listener or a bound UDP socket on `addr` (port 0: the OS picks one).
/// `v6only` sets IPV6_V6ONLY on IPv6 sockets; None keeps the system default.
pub fn open(protocol: Protocol, addr: SocketAddr, v6only: Option<bool>) -> io::Result<Probe> {
    let (ty, proto) = match protocol {
        Protocol::Tcp => (Type::STREAM, socket2::Protocol::TCP),
        Protocol::Udp => (Type::DGRAM, socket2::Protocol::UDP),
    };
    let socket = Socket::new(Domain::for_address(addr), ty, Some(proto))
        .map_err(|e| step("creating the socket", e))?;
    if addr.is_ipv6() {
        if let Some(v) = v6only {
            socket
                .set_only_v6(v)
                .map_err(|e| step("setting IPV6_V6ONLY", e))?;
        }
    }
    if protocol == Protocol::Tcp {
        // A fixed --port must be reusable right after a previous run's time_wait.
        socket
            .set_reuse_address(true)
            .map_err(|e| step("setting SO_REUSEADDR", e))?;
    }
    // A failed bind is what "cannot open ADDR" already means: no step named.
    socket.bind(&addr.into())?;
    if protocol == Protocol::Tcp {
        socket.listen(128).map_err(|e| step("listen()", e))?;
    }
    let local = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an inet socket"))?;
    let v6only = if local.is_ipv6() {
        Some(socket.only_v6()?)
    } else {
        None
    };
    Ok(Probe {
        protocol,
        local,
        v6only,
        socket,
    })
}

/// An error that says which step failed (`creating the socket: Too many open files`), so a
/// descriptor limit or a refused option is not mistaken for the address. Keeps the kind, and
/// the OS error text (callers match "os error 99").
fn step(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The kernel's inode number for a socket we hold (Linux: what sock_diag reports).
#[cfg(unix)]
pub fn inode_of(s: &Socket) -> Option<u64> {
    rustix::fs::fstat(s).ok().map(|st| st.st_ino)
}

#[cfg(not(unix))]
pub fn inode_of(_s: &Socket) -> Option<u64> {
    None
}

/// A forked child that holds our descriptors (all of them but `close_in_child`) until it
/// is dropped: one socket, two owners, as a server and its forked workers have.
#[cfg(target_os = "linux")]
pub struct Holder {
    pub pid: u32,
    /// Our end of the child's lifeline: closing it lets the child exit.
    hold: Option<std::os::fd::OwnedFd>,
}

#[cfg(target_os = "linux")]
impl Holder {
    /// Returns once the child has closed `close_in_child`, so what it holds is settled.
    pub fn spawn(close_in_child: &[libc::c_int]) -> anyhow::Result<Holder> {
        use rustix::pipe::{pipe_with, PipeFlags};
        use std::os::fd::AsRawFd;
        let failed = |what: &str, e: io::Error| {
            anyhow::Error::new(step(what, e))
                .context("cannot fork a process to share the test sockets")
        };
        let (hold_r, hold_w) =
            pipe_with(PipeFlags::CLOEXEC).map_err(|e| failed("creating a pipe", e.into()))?;
        let (ready_r, ready_w) =
            pipe_with(PipeFlags::CLOEXEC).map_err(|e| failed("creating a pipe", e.into()))?;
        let mut close: Vec<libc::c_int> = close_in_child.to_vec();
        close.extend([hold_w.as_raw_fd(), ready_r.as_raw_fd()]);
        // The child makes only system calls (src/sys/child.rs's contract): it dies with us,
        // says it is ready, and holds until our end of the lifeline closes.
        let pid = crate::sys::child::spawn(&close, || {
            let _ = rustix::process::set_parent_process_death_signal(Some(
                rustix::process::Signal::KILL,
            ));
            let _ = rustix::io::write(&ready_w, &[1u8]);
            let _ = rustix::io::read(&hold_r, &mut [0u8; 1]);
        })
        .map_err(|e| failed("fork()", e))?;
        drop((hold_r, ready_w));
        // One byte, or end of file if the child died first: either way it is settled.
        let _ = rustix::io::read(&ready_r, &mut [0u8; 1]);
        Ok(Holder {
            pid,
            hold: Some(hold_w),
        })
    }
}

#[cfg(target_os = "linux")]
impl Drop for Holder {
    fn drop(&mut self) {
        // Closing our end releases the child; then reap it, by PID.
        drop(self.hold.take());
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
        }
    }
}

/// Forking a holder uses Linux-only calls (pipe2, PR_SET_PDEATHSIG).
#[cfg(not(target_os = "linux"))]
pub struct Holder {
    pub pid: u32,
}

#[cfg(not(target_os = "linux"))]
impl Holder {
    pub fn spawn(_close_in_child: &[i32]) -> anyhow::Result<Holder> {
        Err(crate::error::Error::Unsupported("forking a socket holder").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_loopback_listeners_with_known_flags() {
        let p = open(Protocol::Tcp, "127.0.0.1:0".parse().unwrap(), None).unwrap();
        assert_eq!(p.local.ip().to_string(), "127.0.0.1");
        assert_ne!(p.local.port(), 0);
        assert_eq!(p.v6only, None);
        assert!(inode_of(&p.socket).unwrap() > 0);
        if let Ok(p6) = open(Protocol::Udp, "[::1]:0".parse().unwrap(), Some(true)) {
            assert_eq!(p6.v6only, Some(true));
        }
    }
}
