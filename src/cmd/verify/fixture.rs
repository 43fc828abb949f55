//! The sockets `verify` opens and what each must look like; closed on drop, also on error
//! (and the forked holder dies with us through PR_SET_PDEATHSIG on Ctrl-C).

use super::{must_open, Checks, Expect};
use crate::model::{Protocol, SockState};
use crate::probe::{self, Opened, Probe};
use socket2::{Domain, Socket, Type};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Child, Command, Stdio};

pub struct Fixture {
    pub expect: Vec<Expect>,
    _probes: Vec<Probe>,
    _sockets: Vec<Socket>,
    forked: Option<probe::Holder>,
    child: Option<Child>,
}

fn addr_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.raw_os_error(),
                Some(libc::EADDRNOTAVAIL) | Some(libc::EAFNOSUPPORT) | Some(libc::EPROTONOSUPPORT)
            )
        })
    }) || e.to_string().contains("os error 99")
        || e.to_string().contains("os error 97")
}

/// Who the fixture's own sockets belong to: this process.
struct Us<'a> {
    pid: u32,
    uid: u32,
    comm: &'a str,
}

impl Us<'_> {
    /// A listener or bound socket of ours, held by this process alone, its port picked by
    /// the OS (the callers say otherwise where it is not).
    fn socket(
        &self,
        label: String,
        protocol: Protocol,
        local: SocketAddr,
        inode: Option<u64>,
    ) -> Expect {
        Expect {
            label,
            protocol,
            local,
            remote: None,
            state: SockState::Listen,
            v6only: None,
            inode,
            pids: vec![self.pid],
            name: self.comm.to_string(),
            uid: self.uid,
            os_picked: true,
        }
    }

    /// What one of our probes must look like.
    fn probe(&self, label: String, p: &Probe, state: SockState, os_picked: bool) -> Expect {
        Expect {
            state,
            v6only: p.v6only,
            os_picked,
            ..self.socket(label, p.protocol, p.local, probe::inode_of(&p.socket))
        }
    }
}

impl Fixture {
    pub fn open(
        port: Option<u16>,
        children: bool,
        comm: &str,
        checks: &mut Checks,
    ) -> anyhow::Result<Fixture> {
        let us = Us {
            pid: std::process::id(),
            uid: crate::collect::effective_uid(),
            comm,
        };
        let mut fx = Fixture {
            expect: Vec::new(),
            _probes: Vec::new(),
            _sockets: Vec::new(),
            forked: None,
            child: None,
        };
        let (tcp4, have_v6) = fx.open_tcp_listeners(&us, port, checks)?;
        fx.open_tcp_pair(&us, tcp4, port.is_none())?;
        fx.open_udp(&us, have_v6, checks)?;
        fx.open_shared(&us)?;
        if children {
            fx.open_child(checks)?;
        }
        Ok(fx)
    }

    /// TCP listeners: IPv4 (returned, for the pair), IPv6-only, dual-stack. Also whether
    /// the host has an IPv6 loopback.
    fn open_tcp_listeners(
        &mut self,
        us: &Us,
        port: Option<u16>,
        checks: &mut Checks,
    ) -> anyhow::Result<(Probe, bool)> {
        let fixed = port.unwrap_or(0);
        let os_picked = port.is_none();
        let tcp4 = must_open(
            Protocol::Tcp,
            SocketAddr::from(([127, 0, 0, 1], fixed)),
            None,
        )?;
        let label = format!("tcp listener {}", tcp4.local);
        self.expect
            .push(us.probe(label, &tcp4, SockState::Listen, os_picked));
        let v6_addr: SocketAddr = format!("[::1]:{fixed}").parse()?;
        let mut have_v6 = true;
        match must_open(Protocol::Tcp, v6_addr, Some(true)) {
            Ok(p) => {
                let label = format!("tcp v6-only listener {}", p.local);
                self.expect
                    .push(us.probe(label, &p, SockState::Listen, os_picked));
                self._probes.push(p);
            }
            Err(e) if addr_unavailable(&e) => {
                have_v6 = false;
                checks.skip(
                    "tcp v6-only listener [::1]",
                    "no IPv6 loopback on this host",
                );
            }
            Err(e) => return Err(e),
        }
        // The dual-stack one takes a port the OS picks: a fixed one is taken by 127.0.0.1.
        // It is a wildcard, so nothing is ever sent to it; it lives for this run only.
        match must_open(Protocol::Tcp, "[::]:0".parse()?, Some(false)) {
            Ok(p) => {
                let label = format!("tcp dual-stack listener {}", p.local);
                self.expect
                    .push(us.probe(label, &p, SockState::Listen, true));
                self._probes.push(p);
            }
            Err(e) => checks.skip(
                "tcp dual-stack listener [::]",
                format!("host refused it: {e}"),
            ),
        }
        Ok((tcp4, have_v6))
    }

    /// An established pair over IPv4: the client end gets an ephemeral port.
    fn open_tcp_pair(&mut self, us: &Us, tcp4: Probe, os_picked: bool) -> anyhow::Result<()> {
        let client = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        client.connect(&tcp4.local.into()).map_err(|e| {
            anyhow::anyhow!("cannot connect to test listener '{}': {e}", tcp4.local)
        })?;
        let (server, _) = tcp4.socket.accept()?;
        let caddr = client
            .local_addr()?
            .as_socket()
            .ok_or_else(|| anyhow::anyhow!("client address"))?;
        let saddr = server
            .local_addr()?
            .as_socket()
            .ok_or_else(|| anyhow::anyhow!("server address"))?;
        let pair = |label: String, local, remote, s: &Socket, os_picked| Expect {
            remote: Some(remote),
            state: SockState::Established,
            os_picked,
            ..us.socket(label, Protocol::Tcp, local, probe::inode_of(s))
        };
        self.expect.push(pair(
            format!("tcp client {caddr}"),
            caddr,
            saddr,
            &client,
            true,
        ));
        self.expect.push(pair(
            format!("tcp accepted {saddr}"),
            saddr,
            caddr,
            &server,
            os_picked,
        ));
        self._sockets.push(client);
        self._sockets.push(server);
        self._probes.push(tcp4);
        Ok(())
    }

    /// UDP: bound on each family, and one connected.
    fn open_udp(&mut self, us: &Us, have_v6: bool, checks: &mut Checks) -> anyhow::Result<()> {
        let udp4 = must_open(Protocol::Udp, "127.0.0.1:0".parse()?, None)?;
        let label = format!("udp bound {}", udp4.local);
        self.expect
            .push(us.probe(label, &udp4, SockState::Unconnected, true));
        if have_v6 {
            let udp6 = must_open(Protocol::Udp, "[::1]:0".parse()?, Some(true))?;
            let label = format!("udp v6-only bound {}", udp6.local);
            self.expect
                .push(us.probe(label, &udp6, SockState::Unconnected, true));
            self._probes.push(udp6);
        } else {
            checks.skip("udp bound [::1]", "no IPv6 loopback on this host");
        }
        let udpc = must_open(Protocol::Udp, "127.0.0.1:0".parse()?, None)?;
        udpc.socket.connect(&udp4.local.into())?;
        let label = format!("udp connected {}", udpc.local);
        self.expect.push(Expect {
            remote: Some(udp4.local),
            state: SockState::Connected,
            ..us.socket(
                label,
                Protocol::Udp,
                udpc.local,
                probe::inode_of(&udpc.socket),
            )
        });
        self._probes.push(udp4);
        self._probes.push(udpc);
        Ok(())
    }

    /// A listener shared with a forked child: one socket, two owners.
    fn open_shared(&mut self, us: &Us) -> anyhow::Result<()> {
        let shared = must_open(Protocol::Tcp, "127.0.0.1:0".parse()?, None)?;
        let others: Vec<RawFd> = self
            ._probes
            .iter()
            .map(|p| p.socket.as_raw_fd())
            .chain(self._sockets.iter().map(|s| s.as_raw_fd()))
            .collect();
        // The child keeps only the shared listener (it closes the others).
        let holder = probe::Holder::spawn(&others)?;
        let pid = holder.pid;
        self.forked = Some(holder);
        let label = format!("tcp listener shared with a forked child {}", shared.local);
        let inode = probe::inode_of(&shared.socket);
        self.expect.push(Expect {
            pids: vec![us.pid, pid],
            ..us.socket(label, Protocol::Tcp, shared.local, inode)
        });
        self._probes.push(shared);
        Ok(())
    }

    /// The same kind of socket held by a separate process under another user (root only).
    fn open_child(&mut self, checks: &mut Checks) -> anyhow::Result<()> {
        const NOBODY: u32 = 65534;
        if crate::collect::effective_uid() != 0 {
            checks.skip("listener of another user", "needs root (--children)");
            return Ok(());
        }
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(&exe);
        cmd.args(["listen", "--json", "127.0.0.1:0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.uid(NOBODY).gid(NOBODY);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                checks.skip(
                    "listener of another user",
                    format!("cannot run {} as uid {NOBODY}: {e}", exe.display()),
                );
                return Ok(());
            }
        };
        let line = child
            .stdout
            .take()
            .map(|o| {
                let mut l = String::new();
                let _ = BufReader::new(o).read_line(&mut l);
                l
            })
            .unwrap_or_default();
        let pid = child.id();
        self.child = Some(child);
        let opened: Opened = match serde_json::from_str(line.trim()) {
            Ok(o) => o,
            Err(_) => {
                checks.skip(
                    "listener of another user",
                    "the child could not open its listener (is the binary readable by nobody?)",
                );
                return Ok(());
            }
        };
        self.expect.push(Expect {
            label: format!(
                "tcp listener of uid {NOBODY} {}:{}",
                opened.address, opened.port
            ),
            protocol: Protocol::Tcp,
            local: SocketAddr::new(opened.address, opened.port),
            remote: None,
            state: SockState::Listen,
            v6only: None,
            inode: None,
            pids: vec![pid],
            // The child was executed by its resolved path: comm is that file name.
            name: exe
                .file_name()
                .map(|n| {
                    let b = n.as_encoded_bytes();
                    String::from_utf8_lossy(&b[..b.len().min(15)]).into_owned()
                })
                .unwrap_or_default(),
            uid: NOBODY,
            os_picked: true,
        });
        Ok(())
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop(self.forked.take()); // the holder exits and is reaped
        if let Some(mut c) = self.child.take() {
            drop(c.stdin.take()); // `listen` exits when stdin closes
            let _ = c.wait();
        }
    }
}
