//! `portscope watch` from kernel events (Linux, BPF): attach, take one snapshot as polling
//! does, then turn each kernel record into a row the way the pipeline makes rows (classify,
//! filter, join with the actor as holder) and let watch::live reconcile it with what was
//! already said.

use super::watch_rows::{next_on_schedule, tick, write_event, write_snapshot, Settings, Wake};
use crate::collect::linux::bpf::events::{EventKind as Hook, EventSource, KernelEvent};
use crate::collect::linux::placement;
use crate::collect::{Collector, OwnerScan};
use crate::filter;
use crate::join::{self, ScanFacts};
use crate::model::{
    Endpoint, Family, Netns, Process, ProcessTable, Protocol, SockState, Socket, SocketHarvest,
};
use crate::pipeline;
use crate::query::Query;
use crate::render::events::{self, rfc3339_ms};
use crate::watch::live::{Change, Live};
use crate::watch::{self, Actor, Matching};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Per-process details are read once per (pid, comm) and kept this many at most: a burst
/// from one process costs one /proc read, and a fork storm cannot grow the cache forever.
const MAX_CACHED: usize = 4096;

/// Turns kernel records into rows: the caches of one watch run.
struct Rows<'a> {
    q: &'a Query,
    classifier: crate::classify::Classifier,
    current_netns: u64,
    namespaces: HashMap<u64, Arc<Netns>>,
    processes: HashMap<(u32, String), Arc<Process>>,
    placements: HashMap<u64, placement::ProcessPlacement>,
    users: HashMap<u32, Option<Arc<str>>>,
}

fn tcp_state(code: u8) -> Option<SockState> {
    SockState::from_tcp_kernel(code)
}

impl<'a> Rows<'a> {
    /// The caches, starting with the namespaces the snapshot named.
    fn new(c: &Collector, q: &'a Query, current_netns: u64, snapshot: &[Socket]) -> Rows<'a> {
        Rows {
            q,
            classifier: pipeline::classifier(q.view().numeric, c.ephemeral),
            current_netns,
            namespaces: snapshot
                .iter()
                .filter_map(|s| Some((s.netns.inode?, s.netns.clone())))
                .collect(),
            processes: HashMap::new(),
            placements: HashMap::new(),
            users: HashMap::new(),
        }
    }

    // Every method takes the collector, which the snapshot needs between events too.
    fn netns(&mut self, inode: u64) -> Arc<Netns> {
        let current = self.current_netns;
        self.namespaces
            .entry(inode)
            .or_insert_with(|| {
                Arc::new(Netns {
                    inode: Some(inode),
                    name: (inode != current).then(|| netns_name(inode)).flatten(),
                    current: inode == current,
                })
            })
            .clone()
    }

    fn user(&mut self, c: &mut Collector, uid: u32) -> Option<Arc<str>> {
        self.users
            .entry(uid)
            .or_insert_with(|| c.owners.user_name(uid).map(Arc::from))
            .clone()
    }

    /// The actor as a holder: its /proc details while it runs, else what the event said
    /// (comm, uid) with the container and unit of its cgroup.
    fn process(&mut self, c: &mut Collector, e: &KernelEvent) -> Arc<Process> {
        let key = (e.pid, e.comm.clone());
        if let Some(p) = self.processes.get(&key) {
            return p.clone();
        }
        if self.processes.len() >= MAX_CACHED {
            self.processes.clear();
        }
        let p = match c.owners.details(&[e.pid]).remove(&e.pid) {
            Some(p) => p,
            None => {
                let place = self.placement(c, e.cgroup_id);
                Arc::new(Process {
                    pid: e.pid,
                    name: e.comm.clone(),
                    cmdline: Vec::new(),
                    user: self.user(c, e.uid).map(|u| u.to_string()),
                    uid: Some(e.uid),
                    ppid: None,
                    tid: None,
                    container: place.container,
                    unit: place.unit,
                })
            }
        };
        self.processes.insert(key, p.clone());
        p
    }

    fn placement(&mut self, c: &mut Collector, cgroup_id: u64) -> placement::ProcessPlacement {
        if let Some(p) = self.placements.get(&cgroup_id) {
            return p.clone();
        }
        let place = match c.owners.cgroup_path(cgroup_id) {
            Some(path) => {
                let found = placement::classify(&path);
                let roots = placement::Roots::system();
                placement::ProcessPlacement {
                    container: found.container.map(|c| placement::resolve(&roots, &c)),
                    unit: found.unit,
                }
            }
            None => placement::ProcessPlacement::default(),
        };
        self.placements.insert(cgroup_id, place.clone());
        place
    }

    /// The socket as a record describes it in `state`, as a selected row, or None: the
    /// pipeline's stages for one socket (classify, filter, join, place, owner filter).
    fn row(
        &mut self,
        c: &mut Collector,
        e: &KernelEvent,
        state: SockState,
        holder: Option<&Arc<Process>>,
    ) -> Option<Socket> {
        let h = harvest(e, state);
        let class = self.classifier.classify(&h);
        if !filter::socket_matches(self.q.selection(), &h, &class) {
            return None;
        }
        let namespaces = [self.netns(e.netns)];
        let (scan, processes) = holders(c, e, holder);
        let user_names: HashMap<u32, Option<Arc<str>>> =
            [(e.uid, self.user(c, e.uid))].into_iter().collect();
        let cgroups = HashMap::new();
        let mut socket = join::join(
            vec![(h, class)],
            ScanFacts {
                holders: &mut scan.holders.clone(),
                processes: &processes,
                denied: scan.denied > 0,
                proc_unavailable: scan.unavailable,
                stopped_early: false,
                not_looked_up: false,
                fd_limited: scan.fd_limited > 0,
                source_failed: false,
                sees_every_process: scan.sees_every_process,
                thread_holders: &scan.thread_holders,
                namespaces: &namespaces,
                cgroups: &cgroups,
                still_present: None,
                user_names: &user_names,
            },
        )
        .pop()?;
        // Placed as the pipeline places every row: watch's lines name the same container
        // and unit as the snapshot's.
        crate::pipeline::place(c.owners.as_mut(), std::slice::from_mut(&mut socket));
        (!self.q.selection().has_owner_filters()
            || filter::owner_matches(self.q.selection(), &socket))
        .then_some(socket)
    }

    /// What a record did: the socket after it and before it, as selected rows.
    fn change(&mut self, c: &mut Collector, e: &KernelEvent, live: &Live) -> Option<Change> {
        let key = if e.inode != 0 {
            (e.netns, e.inode)
        } else {
            // Closed, its file gone, the connection winding down (fin_wait, last_ack): the
            // table lists it without an inode too. Known by its ends, or not at all.
            let end = |a: std::net::SocketAddr| Endpoint {
                address: a.ip(),
                port: a.port(),
            };
            live.key_by_ends(e.netns, end(e.local), end(e.remote))?
        };
        let udp = e.protocol == 17;
        let shape = |code: u8| match udp {
            true => Some(SockState::from_udp_kernel(code)),
            false => tcp_state(code),
        };
        let (now, then) = match e.kind {
            // TCP_CLOSE: the socket left the tables.
            Hook::State => ((e.new_state != 7).then_some(e.new_state), Some(e.old_state)),
            Hook::Bind => (Some(e.new_state), None),
            Hook::Release => (None, Some(e.old_state)),
        };
        let holder = acted(e).then(|| self.process(c, e));
        let now = now
            .and_then(shape)
            .and_then(|st| self.row(c, e, st, holder.as_ref()));
        let then = then
            .and_then(shape)
            .and_then(|st| self.row(c, e, st, holder.as_ref()));
        let by = holder.map(|h| Actor {
            pid: e.pid,
            comm: e.comm.clone(),
            uid: e.uid,
            user: h.user.clone(),
            container: h.container.clone(),
            unit: h.unit.clone(),
        });
        Some(Change { key, now, then, by })
    }
}

/// The socket a record describes, in `state`, as the table would list it.
fn harvest(e: &KernelEvent, state: SockState) -> SocketHarvest {
    SocketHarvest {
        protocol: if e.protocol == 17 {
            Protocol::Udp
        } else {
            Protocol::Tcp
        },
        family: if e.ipv6 { Family::Ipv6 } else { Family::Ipv4 },
        local: Endpoint {
            address: e.local.ip(),
            port: e.local.port(),
        },
        remote: (e.remote.port() != 0).then_some(Endpoint {
            address: e.remote.ip(),
            port: e.remote.port(),
        }),
        state,
        v6only: e.ipv6.then_some(e.v6only),
        recv_queue: None,
        send_queue: None,
        inode: e.inode,
        uid: Some(e.uid),
        netns: 0,
        cgroup_id: None,
    }
}

/// Who holds the record's socket: the actor, who holds what it made; where no process
/// acted (a packet's doing), looked up as the pipeline would (rare: -a, first seen that
/// way).
fn holders(
    c: &mut Collector,
    e: &KernelEvent,
    actor: Option<&Arc<Process>>,
) -> (OwnerScan, ProcessTable) {
    match actor {
        Some(h) => (
            OwnerScan {
                holders: vec![(e.inode, h.pid)],
                ..Default::default()
            },
            [(h.pid, h.clone())].into_iter().collect(),
        ),
        None => {
            let wanted: crate::fast_hash::InodeSet = [e.inode].into_iter().collect();
            let scan = c.owners.scan(&wanted, false).unwrap_or_default();
            let pids: Vec<u32> = scan.holders.iter().map(|&(_, p)| p).collect();
            let processes = c.owners.details(&pids);
            (scan, processes)
        }
    }
}

/// Whether the task the kernel was running made the change: bind, release, and the TCP
/// transitions a system call makes (listen, connect, close, shutdown, and a listener's
/// close or exit). Others follow a packet's arrival, in whatever task was interrupted.
fn acted(e: &KernelEvent) -> bool {
    const LISTEN: u8 = 10;
    match e.kind {
        Hook::Bind | Hook::Release => true,
        // SYN_SENT, FIN_WAIT1, LAST_ACK, LISTEN; out of LISTEN.
        Hook::State => matches!(e.new_state, 2 | 4 | 9 | LISTEN) || e.old_state == LISTEN,
    }
}

/// The `ip netns` name of a namespace first seen in an event (created after the
/// snapshot), as the table source names them: a bind mount in /run/netns.
fn netns_name(inode: u64) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir("/run/netns")
        .ok()?
        .flatten()
        .find(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.ino() == inode))
        .map(|e| e.file_name().to_string_lossy().into_owned())
}

/// Waits for the ring or a signal, until a deadline (None: none).
pub type WaitFd<'a> =
    dyn FnMut(Option<Instant>, Option<BorrowedFd<'_>>) -> std::io::Result<Wake> + 'a;

/// Event-mode watch: `src` was attached before this is called, so the snapshot taken here
/// misses nothing that happens after it.
pub fn run(
    c: &mut Collector,
    q: &Query,
    s: &Settings,
    mut src: EventSource,
    current_netns: u64,
    wait: &mut WaitFd<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let start = Instant::now();
    let end = s.duration.map(|d| start + d);
    let mut said = HashSet::new();
    let first = tick(c, q, &mut said)?;
    write_snapshot(out, q, s, &first)?;
    super::print_notes(
        &join::hidden_summary(&first, super::running_as_root())
            .into_iter()
            .collect::<Vec<_>>(),
    );
    let mut live = Live::new(&first, current_netns);
    let mut rows = Rows::new(c, q, current_netns, &first);
    let mut w = Written {
        out,
        q,
        s,
        changes: 0,
    };
    let mut next_snapshot = s.snapshot_every.map(|d| start + d);
    let mut settling = true;
    let mut busy_until = start;
    loop {
        // Everything committed so far, then what the ring could not hold.
        let mut records = Vec::new();
        src.drain(|e| records.push(e));
        for e in &records {
            let Some(change) = rows.change(c, e, &live) else {
                continue;
            };
            if w.events(live.apply(change, settling))? {
                return Ok(0);
            }
        }
        settling = false;
        w.lost(src.lost()?)?;
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            return Ok(0);
        }
        if let (Some(at), Some(every)) = (next_snapshot, s.snapshot_every) {
            if now >= at {
                if resnapshot(c, &mut said, &mut live, current_netns, &mut w)? {
                    return Ok(0);
                }
                next_snapshot = Some(next_on_schedule(at, every, now));
            }
        }
        // After events, look again every READ_EVERY on our own for READ_ON: the kernel
        // does not announce every record (see EventSource::READ_ON).
        if !records.is_empty() {
            busy_until = now + EventSource::READ_ON;
        }
        let read_on = (now < busy_until).then(|| now + EventSource::READ_EVERY);
        // No deadline: wake only for events or a signal.
        let until = [end, next_snapshot, read_on].into_iter().flatten().min();
        if wait(until, Some(src.as_fd()))? == Wake::Stop {
            return Ok(0);
        }
    }
}

/// What the event loop writes, counted against --count.
struct Written<'a> {
    out: &'a mut dyn Write,
    q: &'a Query,
    s: &'a Settings,
    changes: u64,
}

impl Written<'_> {
    /// Writes each event; true once --count is reached (the rest are not written).
    fn events(&mut self, events: impl IntoIterator<Item = watch::Event>) -> anyhow::Result<bool> {
        for ev in events {
            write_event(self.out, self.q, self.s, &ev)?;
            self.changes += 1;
            if self.s.count.is_some_and(|n| self.changes >= n) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Says that `lost` records found no room in the ring, if any did.
    fn lost(&mut self, lost: u64) -> anyhow::Result<()> {
        if lost > 0 {
            let ts = rfc3339_ms(SystemTime::now());
            events::write_lost(self.out, lost, &ts, &self.s.host, self.s.jsonl)?;
            self.out.flush()?;
        }
        Ok(())
    }
}

/// A fresh table: whatever events could not say (a lost record, a holder that forked or
/// exited) shows as polling would show it, then the table itself. True once --count is
/// reached.
fn resnapshot(
    c: &mut Collector,
    said: &mut HashSet<String>,
    live: &mut Live,
    current_netns: u64,
    w: &mut Written<'_>,
) -> anyhow::Result<bool> {
    let mut known = live.sockets();
    crate::sort::sort(&mut known, w.q.view().sort, w.q.view().reverse);
    let current = tick(c, w.q, said)?;
    if w.events(watch::diff(&known, &current, Matching::Strict))? {
        return Ok(true);
    }
    live.replace(&current, current_netns);
    write_snapshot(w.out, w.q, w.s, &current)?;
    Ok(false)
}
