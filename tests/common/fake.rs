//! The one fake host (as bandwhich's fakes module): a socket builder and a host, a socket
//! table and an owner scan handed to the pipeline as a `Collector`, with no root and no
//! kernel. Every test that needs a host without a kernel builds it here.
#![allow(dead_code)]

#[cfg(target_os = "linux")]
use portscope::collect::linux::placement::{published_backend, Roots};
use portscope::collect::{Collector, Harvest, OwnerScan, OwnerSource, TableSource};
use portscope::error::Error;
use portscope::fast_hash::InodeSet;
#[cfg(target_os = "linux")]
use portscope::model::Published;
use portscope::model::{
    Endpoint, Family, Netns, OwnerSourceKind, Process, ProcessTable, Protocol, SockState,
    SocketHarvest, TableQuery, TableSourceKind,
};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

/// A socket as the kernel reports it: `tcp("127.0.0.1:80")`, then only what differs
/// from the defaults (namespace 0, listening / unconnected, queues 0, no uid, no inode).
#[derive(Clone)]
pub struct Sock(SocketHarvest);

fn endpoint(addr: &str) -> Endpoint {
    let a: std::net::SocketAddr = addr.parse().unwrap();
    Endpoint {
        address: a.ip(),
        port: a.port(),
    }
}

fn sock(protocol: Protocol, local: &str, state: SockState) -> Sock {
    let local = endpoint(local);
    Sock(SocketHarvest {
        netns: 0,
        protocol,
        family: Family::of(&local.address),
        local,
        remote: None,
        state,
        v6only: None,
        recv_queue: Some(0),
        send_queue: Some(0),
        inode: 0,
        uid: None,
        cgroup_id: None,
    })
}

/// A socket of `protocol`: [`tcp`] or [`udp`].
/// `who`'s view as the fake-host tests ask for it: numeric ports, JSON or the blocks.
pub fn who_view(json: bool) -> portscope::query::WhoView {
    portscope::query::WhoView {
        first: false,
        numeric: true,
        quiet: false,
        output: portscope::query::Output {
            json,
            ..Default::default()
        },
    }
}

pub fn socket(protocol: Protocol, local: &str) -> Sock {
    match protocol {
        Protocol::Tcp => tcp(local),
        Protocol::Udp => udp(local),
    }
}

pub fn tcp(local: &str) -> Sock {
    sock(Protocol::Tcp, local, SockState::Listen)
}

pub fn udp(local: &str) -> Sock {
    sock(Protocol::Udp, local, SockState::Unconnected)
}

impl Sock {
    pub fn remote(mut self, remote: &str) -> Sock {
        self.0.remote = Some(endpoint(remote));
        self
    }
    pub fn state(mut self, state: SockState) -> Sock {
        self.0.state = state;
        self
    }
    pub fn inode(mut self, inode: u64) -> Sock {
        self.0.inode = inode;
        self
    }
    pub fn uid(mut self, uid: Option<u32>) -> Sock {
        self.0.uid = uid;
        self
    }
    pub fn netns(mut self, netns: u16) -> Sock {
        self.0.netns = netns;
        self
    }
    pub fn v6only(mut self, v6only: Option<bool>) -> Sock {
        self.0.v6only = v6only;
        self
    }
    pub fn send_queue(mut self, n: u32) -> Sock {
        self.0.send_queue = Some(n);
        self
    }
    pub fn build(self) -> SocketHarvest {
        self.0
    }
}

/// The host at one moment: its sockets and which process holds which inode.
#[derive(Clone, Default)]
pub struct Step {
    pub sockets: Vec<SocketHarvest>,
    pub holders: Vec<(u64, u32)>,
}

/// When the host moves to its next step.
#[derive(Clone, Copy, Default, PartialEq)]
pub enum Advance {
    /// Each table read sees the next step (the re-check after the owner scan sees what
    /// changed meanwhile, as on a real host).
    #[default]
    EveryRead,
    /// Each read of the listening states (the main harvest of a `watch` tick) does; a
    /// re-check, which asks for every state, sees the same step as its tick.
    ListeningReads,
}

/// A fake host. The table answers like the kernel (protocol, family, state and port
/// filters applied); socket `netns` N lives in `namespaces[N]`, and the host's own view
/// holds namespace 0 only.
#[derive(Clone, Default)]
pub struct FakeHost {
    pub steps: Vec<Step>,
    pub advance: Advance,
    pub namespaces: Vec<Arc<Netns>>,
    /// What `confirm` (the exact lookups) finds still there.
    pub confirms: InodeSet,
    pub processes: Vec<Process>,
    /// The details of a pid not in `processes`; None: it has vanished.
    pub process_of: Option<fn(u32) -> Process>,
    pub users: Vec<(u32, &'static str)>,
    /// The name of a uid not in `users`.
    pub any_user: Option<&'static str>,
    /// Descriptor tables that could not be read.
    pub denied: usize,
    /// Every process was visible (root in the initial PID namespace).
    pub sees_every_process: bool,
    pub scanned: usize,
    /// Docker's state on disk, for the published-port lookups.
    #[cfg(target_os = "linux")]
    pub roots: Option<Roots>,
}

/// What the host was asked, for tests that check the questions.
#[derive(Default)]
pub struct Asked {
    pub tables: RefCell<Vec<TableQuery>>,
    pub confirms: RefCell<Vec<u64>>,
    at: Cell<usize>,
    listening_reads: Cell<usize>,
}

impl Asked {
    /// How many reads of the listening states (ticks of `watch`) the table answered.
    pub fn listening_reads(&self) -> usize {
        self.listening_reads.get()
    }
}

struct Shared {
    host: FakeHost,
    asked: Rc<Asked>,
}

impl Shared {
    fn step(&self) -> &Step {
        let last = self.host.steps.len().saturating_sub(1);
        &self.host.steps[self.asked.at.get().min(last)]
    }
}

impl FakeHost {
    /// A host with one step: these sockets, held by these (inode, pid).
    pub fn new(sockets: Vec<SocketHarvest>, holders: Vec<(u64, u32)>) -> FakeHost {
        FakeHost {
            steps: vec![Step { sockets, holders }],
            ..FakeHost::default()
        }
    }

    /// The host as a collector, and what it will be asked.
    pub fn collector(self) -> (Rc<Asked>, Collector) {
        let asked = Rc::new(Asked::default());
        let shared = Rc::new(Shared {
            host: self,
            asked: asked.clone(),
        });
        let c = Collector {
            tables: Box::new(Tables {
                shared: shared.clone(),
                every: false,
            }),
            owners: Box::new(Owners(shared)),
            ephemeral: Some((32768, 60999)),
        };
        (asked, c)
    }
}

struct Tables {
    shared: Rc<Shared>,
    /// Every namespace, not only the host's own.
    every: bool,
}

impl TableSource for Tables {
    fn kind(&self) -> TableSourceKind {
        TableSourceKind::Netlink
    }
    fn confirm(&mut self, sockets: &[&SocketHarvest]) -> InodeSet {
        let asked = sockets.iter().map(|s| s.inode);
        let asked_then = &self.shared.asked.confirms;
        asked_then.borrow_mut().extend(asked.clone());
        asked
            .filter(|i| self.shared.host.confirms.contains(i))
            .collect()
    }
    fn harvest(&mut self, q: &TableQuery) -> Result<Harvest, Error> {
        let (host, asked) = (&self.shared.host, &self.shared.asked);
        let reads = asked.tables.borrow().len();
        asked.tables.borrow_mut().push(q.clone());
        match host.advance {
            Advance::EveryRead => asked.at.set(reads),
            Advance::ListeningReads if q.states.is_some() => {
                asked.at.set(asked.listening_reads.get());
                asked.listening_reads.set(asked.listening_reads.get() + 1);
            }
            Advance::ListeningReads => {}
        }
        let mut h = Harvest::new(TableSourceKind::Netlink);
        let seen = if self.every { host.namespaces.len() } else { 1 };
        h.namespaces = host.namespaces.iter().take(seen).cloned().collect();
        h.sockets = (self.shared.step().sockets.iter())
            .filter(|s| self.every || s.netns == 0)
            .filter(|s| q.protocols.contains(&s.protocol) && q.families.contains(&s.family))
            .filter(|s| q.wants_state(s.state))
            .filter(|s| {
                q.ports.as_ref().is_none_or(|pf| {
                    pf.for_protocol(s.protocol)
                        .iter()
                        .any(|&(lo, hi)| lo <= s.local.port && s.local.port <= hi)
                })
            })
            .cloned()
            .collect();
        Ok(h)
    }
    fn every_namespace(&self) -> Option<Box<dyn TableSource>> {
        (self.shared.host.namespaces.len() > 1).then(|| {
            Box::new(Tables {
                shared: self.shared.clone(),
                every: true,
            }) as Box<dyn TableSource>
        })
    }
}

struct Owners(Rc<Shared>);

impl OwnerSource for Owners {
    fn kind(&self) -> OwnerSourceKind {
        OwnerSourceKind::Procfs
    }
    fn scan(&mut self, wanted: &InodeSet, _first: bool) -> std::io::Result<OwnerScan> {
        let host = &self.0.host;
        Ok(OwnerScan {
            holders: (self.0.step().holders.iter())
                .filter(|(i, _)| wanted.contains(i))
                .copied()
                .collect(),
            denied: host.denied,
            scanned: host.scanned,
            sees_every_process: host.sees_every_process,
            ..OwnerScan::default()
        })
    }
    fn details(&mut self, pids: &[u32]) -> ProcessTable {
        let host = &self.0.host;
        pids.iter()
            .filter_map(|&pid| {
                let known = host.processes.iter().find(|p| p.pid == pid).cloned();
                let p = known.or_else(|| host.process_of.map(|f| f(pid)))?;
                Some((pid, Arc::new(p)))
            })
            .collect()
    }
    fn user_name(&mut self, uid: u32) -> Option<String> {
        let host = &self.0.host;
        let known = host.users.iter().find(|(u, _)| *u == uid).map(|(_, n)| *n);
        known.or(host.any_user).map(str::to_owned)
    }
    #[cfg(target_os = "linux")]
    fn published(&mut self, argv: &[String], proto: Protocol, port: u16) -> Option<Published> {
        published_backend(self.0.host.roots.as_ref()?, argv, proto, port)
    }
}
