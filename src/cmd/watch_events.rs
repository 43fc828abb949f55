//! `portscope watch` from kernel events (Linux, BPF): attach, take one snapshot as polling
//! does, then turn each kernel record into a row the way the pipeline makes rows (classify,
//! filter, join with the actor as holder) and let watch::live reconcile it with what was
//! already said.

use super::watch_rows::{write_event, write_snapshot, Settings, Wake};
use crate::collect::linux::bpf::events::{EventKind as Hook, EventSource, KernelEvent};
use crate::collect::linux::placement;
use crate::collect::Collector;
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

impl Rows<'_> {
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

    /// The socket as a record describes it in `state`, as a selected row, or None.
    fn row(
        &mut self,
        c: &mut Collector,
        e: &KernelEvent,
        state: SockState,
        holder: Option<&Arc<Process>>,
    ) -> Option<Socket> {
        let protocol = if e.protocol == 17 {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        let h = SocketHarvest {
            protocol,
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
        };
        let class = self.classifier.classify(&h);
        if !filter::socket_matches(self.q, &h, &class) {
            return None;
        }
        let namespaces = [self.netns(e.netns)];
        // The actor holds what it made; where no process acted (a packet's doing), the
        // holders are looked up as the pipeline would (rare: -a, first seen that way).
        let scan = match holder {
            Some(h) => crate::collect::OwnerScan {
                holders: vec![(e.inode, h.pid)],
                ..Default::default()
            },
            None => {
                let wanted: crate::fast_hash::InodeSet = [e.inode].into_iter().collect();
                c.owners.scan(&wanted, false).unwrap_or_default()
            }
        };
        let mut holders = scan.holders.clone();
        let mut processes: ProcessTable = holder.iter().map(|h| (h.pid, (*h).clone())).collect();
        if holder.is_none() {
            let pids: Vec<u32> = holders.iter().map(|&(_, p)| p).collect();
            processes = c.owners.details(&pids);
        }
        let user_names: HashMap<u32, Option<Arc<str>>> =
            [(e.uid, self.user(c, e.uid))].into_iter().collect();
        let cgroups = HashMap::new();
        let socket = join::join(
            vec![(h, class)],
            ScanFacts {
                holders: &mut holders,
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
        let mut socket = socket;
        crate::pipeline::place(c.owners.as_mut(), std::slice::from_mut(&mut socket));
        (!self.q.has_owner_filters() || filter::owner_matches(self.q, &socket)).then_some(socket)
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
    let first = super::watch_rows::tick(c, q, &mut said)?;
    write_snapshot(out, q, s, &first)?;
    super::print_notes(
        &join::hidden_summary(&first, super::running_as_root())
            .into_iter()
            .collect::<Vec<_>>(),
    );
    let mut live = Live::new(&first, current_netns);
    let mut rows = Rows {
        q,
        classifier: pipeline::classifier(q.numeric, c.ephemeral),
        current_netns,
        namespaces: first
            .iter()
            .filter_map(|s| Some((s.netns.inode?, s.netns.clone())))
            .collect(),
        processes: HashMap::new(),
        placements: HashMap::new(),
        users: HashMap::new(),
    };
    let mut next_snapshot = s.snapshot_every.map(|d| start + d);
    let mut changes = 0u64;
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
            for ev in live.apply(change, settling) {
                write_event(out, q, s, &ev)?;
                changes += 1;
                if s.count.is_some_and(|n| changes >= n) {
                    return Ok(0);
                }
            }
        }
        settling = false;
        let lost = src.lost()?;
        if lost > 0 {
            events::write_lost(out, lost, &rfc3339_ms(SystemTime::now()), &s.host, s.jsonl)?;
            out.flush()?;
        }
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            return Ok(0);
        }
        if let (Some(at), Some(every)) = (next_snapshot, s.snapshot_every) {
            if now >= at {
                // A fresh table: whatever events could not say (a lost record, a holder
                // that forked or exited) shows as polling would show it.
                let mut known = live.sockets();
                crate::sort::sort(&mut known, q.sort, q.reverse);
                let current = super::watch_rows::tick(c, q, &mut said)?;
                for ev in watch::diff(&known, &current, Matching::Strict) {
                    write_event(out, q, s, &ev)?;
                    changes += 1;
                    if s.count.is_some_and(|n| changes >= n) {
                        return Ok(0);
                    }
                }
                live.replace(&current, current_netns);
                write_snapshot(out, q, s, &current)?;
                let next = at + every;
                next_snapshot = Some(if next <= now { now + every } else { next });
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
