//! Collect stage, Linux: the two owner sources: the /proc/*/fd scan ([`ProcfsOwners`],
//! fdscan.rs and fdwork.rs) and the BPF iterator ([`BpfOwners`], bpf/), which falls back to
//! the scan; with /proc/PID/{stat,status,cmdline} for the holders' details and their
//! placement (container, unit) from their cgroups.

use super::{bpf, fdscan, foreign_proc, in_initial_pid_namespace, placement};
use crate::collect::{OwnerScan, OwnerSource, UserNames};
use crate::fast_hash::InodeSet;
use crate::model::{OwnerSourceKind, ProcessTable, Protocol};

/// A [`placement::Placer`] made on first use (the host's roots read mountinfo: `who` on a
/// free port never needs it), or over the roots it was given.
#[derive(Default)]
pub struct LazyPlacer {
    roots: Option<placement::Roots>,
    placer: Option<placement::Placer>,
}

impl LazyPlacer {
    /// Lookups under `roots` instead of the host's.
    pub fn with_roots(roots: placement::Roots) -> LazyPlacer {
        LazyPlacer {
            roots: Some(roots),
            placer: None,
        }
    }

    pub fn get(&mut self) -> &mut placement::Placer {
        let roots = &mut self.roots;
        self.placer.get_or_insert_with(|| {
            placement::Placer::new(roots.take().unwrap_or_else(placement::Roots::system))
        })
    }
}

/// The /proc/*/fd scan, with /proc and the user database for details, and each
/// holder's container and unit from its cgroup.
#[derive(Default)]
pub struct ProcfsOwners {
    users: UserNames,
    places: LazyPlacer,
    /// The host's descriptors, where `auto` counted them for this question.
    counted: Option<u64>,
}

impl ProcfsOwners {
    fn placer(&mut self) -> &mut placement::Placer {
        self.places.get()
    }
}

impl OwnerSource for ProcfsOwners {
    fn kind(&self) -> OwnerSourceKind {
        OwnerSourceKind::Procfs
    }
    fn scan(&mut self, wanted: &InodeSet, first: bool) -> std::io::Result<OwnerScan> {
        fdscan::scan_owners_counted(wanted, first, self.counted.take())
    }
    fn details(&mut self, pids: &[u32]) -> ProcessTable {
        let mut table = crate::collect::process_details(pids, &mut self.users);
        for p in table.values_mut() {
            let place = self.placer().process(p.pid);
            if place.container.is_some() || place.unit.is_some() {
                let q = std::sync::Arc::make_mut(p);
                q.container = place.container;
                q.unit = place.unit;
            }
        }
        table
    }
    fn user_name(&mut self, uid: u32) -> Option<String> {
        self.users.name(uid)
    }
    fn cgroup_path(&mut self, id: u64) -> Option<String> {
        self.placer().cgroup_path_by_id(id)
    }
    fn cgroup_placement(&mut self, path: &str) -> crate::model::Placement {
        self.placer().placement(path)
    }
    fn published(
        &mut self,
        argv: &[String],
        proto: Protocol,
        port: u16,
    ) -> Option<crate::model::Published> {
        self.placer().published_backend(argv, proto, port)
    }
    fn dnat_published(&mut self, port: u16, proto: Protocol) -> Vec<crate::model::Published> {
        self.placer().dnat_published(port, proto)
    }
    fn socket_unit(&mut self, proto: Protocol, local: std::net::SocketAddr) -> Option<String> {
        self.placer().socket_unit(proto, local)
    }
}

/// Below this many descriptors held on the host the BPF iterator's fixed set-up costs more
/// than reading every descriptor through /proc, so `auto` scans /proc. Both costs grow
/// with descriptors, not processes or open files: the count is the sum of /proc/PID/fd's
/// sizes ([`fdscan::descriptors_at_least`]), not file-nr, which counts a pre-fork server's
/// shared descriptors once. Measured with bench/crossover.sh on a 2-vCPU host
/// (BENCHMARKS.md, "Choosing an owner source"): whole `list --all --json`, bpf 8.1 ms vs
/// procfs 7.2 ms at 1,020 descriptors, 7.4 ms vs 8.9 ms at 1,524.
pub const BPF_MIN_DESCRIPTORS: u64 = 1_300;

/// The iterator's thread, started by `prepare`: it loads the program while the tables are
/// dumped, then waits for `go` (sent by `begin_scan` or `scan`, so after the dump) and
/// walks once. Dropped unsent (no scan follows: a free port), it ends without walking.
struct Pending {
    go: std::sync::mpsc::Sender<()>,
    walk: std::thread::JoinHandle<Result<bpf::Walk, bpf::BpfError>>,
}

impl Pending {
    fn start(
        load: impl FnOnce() -> Result<bpf::Walker, bpf::BpfError> + Send + 'static,
    ) -> Pending {
        let (go, wait) = std::sync::mpsc::channel();
        let walk = std::thread::spawn(move || {
            let mut walker = load()?;
            wait.recv()
                .map_err(|_| bpf::BpfError::Other("no scan followed".into()))?;
            walker.read()
        });
        Pending { go, walk }
    }

    fn go(&self) {
        // A thread that already ended (the load failed) has nobody listening: fine.
        let _ = self.go.send(());
    }

    fn records(self) -> Result<bpf::Walk, bpf::BpfError> {
        self.go();
        self.walk
            .join()
            .map_err(|_| bpf::BpfError::Other("the BPF walker thread failed".into()))?
    }
}

pub struct BpfOwners {
    auto: bool,
    /// What ran last: Bpf, or Procfs after a fallback (or by choice of `auto`).
    ran: OwnerSourceKind,
    procfs: ProcfsOwners,
    /// The load (and then the walk) `prepare` started; never joined if no scan follows.
    pending: Option<Pending>,
    /// `auto`'s choice for this question, once made.
    worth_it: Option<bool>,
}

impl BpfOwners {
    pub fn new(auto: bool) -> BpfOwners {
        BpfOwners {
            auto,
            ran: OwnerSourceKind::Bpf,
            procfs: ProcfsOwners::default(),
            pending: None,
            worth_it: None,
        }
    }

    /// Explicit bpf always runs; `auto` only where the host holds enough descriptors, and
    /// only with a working /proc (process details come from there: a PID without them
    /// would read as "exited"). Counted once per question (`prepare` forgets it).
    fn worth_it(&mut self) -> bool {
        if !self.auto {
            return true;
        }
        if let Some(w) = self.worth_it {
            return w;
        }
        let counted = fdscan::host_descriptors_at_least(BPF_MIN_DESCRIPTORS);
        // Counted past SCAN_THREADS_MIN_DESCRIPTORS too: the /proc scan need not count.
        self.procfs.counted = counted;
        let w = counted.is_some_and(|n| n >= BPF_MIN_DESCRIPTORS);
        self.worth_it = Some(w);
        w
    }

    /// The iterator's answer: the program loaded by `prepare` (or now), then one walk,
    /// after the tables were read, as the procfs scan would: a socket opened meanwhile
    /// cannot look held by nobody. (Walking during the dump too and again for sockets
    /// nobody was found holding measured slower: see BENCHMARKS.md.)
    fn bpf_scan(&mut self, wanted: &InodeSet, first: bool) -> Result<OwnerScan, bpf::BpfError> {
        let walk = match self.pending.take() {
            Some(p) => p.records()?,
            None => bpf::Walker::load()?.read()?,
        };
        let mut scan = bpf::owner_scan(&walk.records, wanted, first);
        scan.descriptors = walk.descriptors;
        scan.walk_program = Some(walk.program);
        Ok(scan)
    }
}

impl OwnerSource for BpfOwners {
    fn kind(&self) -> OwnerSourceKind {
        self.ran
    }

    /// Loads the program (BTF walk, verifier: the iterator's fixed cost) on a thread
    /// while the tables are dumped; only where `scan` would use the iterator. Not gated on
    /// the cores looking free: the instantaneous runnable count read at start-up nearly
    /// always includes the parent that just exec'd us (a shell loop read 2 of 2 cores
    /// busy on an idle host), and where the cores really are busy two threads share them
    /// no worse than one thread doing both in turn.
    fn prepare(&mut self) {
        // A walk the last question started and never collected (nothing was wanted) is
        // of another moment: never an answer for this one.
        self.pending = None;
        self.worth_it = None;
        self.procfs.counted = None;
        if self.ran == OwnerSourceKind::Bpf
            && foreign_proc().is_none()
            && self.worth_it()
            && crate::collect::cores() > 1
        {
            self.pending = Some(Pending::start(bpf::Walker::load));
        }
    }

    /// The walk starts now, on the loader's thread, while the caller prepares what needs
    /// no owners (classification, order, cgroup paths); `scan` collects it.
    fn begin_scan(&mut self) {
        if let Some(p) = &self.pending {
            p.go();
        }
    }

    fn scan(&mut self, wanted: &InodeSet, first: bool) -> std::io::Result<OwnerScan> {
        // The iterator gives PIDs at our PID namespace's level, but names and command
        // lines come from /proc: with another namespace's /proc they would belong to other
        // processes. The /proc scan keeps PIDs and details in one namespace (and warns).
        let foreign = foreign_proc().is_some();
        if foreign && self.ran == OwnerSourceKind::Bpf {
            self.ran = OwnerSourceKind::Procfs;
            let mut scan = self.procfs.scan(wanted, first)?;
            if !self.auto {
                scan.warnings.push(
                    "BPF owner scan not used: /proc belongs to another PID namespace, so its \
                     process details would not match the iterator's PIDs"
                        .to_string(),
                );
            }
            return Ok(scan);
        }
        if self.ran == OwnerSourceKind::Bpf && (self.pending.is_some() || self.worth_it()) {
            match self.bpf_scan(wanted, first) {
                Ok(mut scan) => {
                    scan.sees_every_process = in_initial_pid_namespace();
                    return Ok(scan);
                }
                Err(e) if !self.auto => return Err(std::io::Error::other(e.to_string())),
                Err(bpf::BpfError::Other(e)) => {
                    self.ran = OwnerSourceKind::Procfs;
                    let mut scan = self.procfs.scan(wanted, first)?;
                    scan.warnings
                        .push(format!("BPF owner scan failed ({e}): used the /proc scan"));
                    return Ok(scan);
                }
                Err(_) => {}
            }
        }
        self.ran = OwnerSourceKind::Procfs;
        self.procfs.scan(wanted, first)
    }

    fn details(&mut self, pids: &[u32]) -> ProcessTable {
        self.procfs.details(pids)
    }

    fn user_name(&mut self, uid: u32) -> Option<String> {
        self.procfs.user_name(uid)
    }

    fn cgroup_path(&mut self, id: u64) -> Option<String> {
        self.procfs.cgroup_path(id)
    }
    fn cgroup_placement(&mut self, path: &str) -> crate::model::Placement {
        self.procfs.cgroup_placement(path)
    }
    fn published(
        &mut self,
        argv: &[String],
        proto: Protocol,
        port: u16,
    ) -> Option<crate::model::Published> {
        self.procfs.published(argv, proto, port)
    }
    fn dnat_published(&mut self, port: u16, proto: Protocol) -> Vec<crate::model::Published> {
        self.procfs.dnat_published(port, proto)
    }
    fn socket_unit(&mut self, proto: Protocol, local: std::net::SocketAddr) -> Option<String> {
        self.procfs.socket_unit(proto, local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A walk started for one question and never collected (nothing was wanted) is
    /// dropped by the next question's `prepare`, even when that one starts none: its
    /// records predate the new dump. (Regression: `watch` in auto mode could answer a
    /// tick with a walk from an earlier one.)
    #[test]
    fn a_walk_nobody_collected_is_not_the_next_answer() {
        let mut owners = BpfOwners::new(true);
        owners.pending = Some(Pending::start(|| {
            Err(bpf::BpfError::Other("never loaded in this test".into()))
        }));
        owners.begin_scan();
        // The next question falls to /proc (as `auto` does below BPF_MIN_DESCRIPTORS).
        owners.ran = OwnerSourceKind::Procfs;
        owners.prepare();
        assert!(owners.pending.is_none());
    }

    /// The program loaded by `prepare` walks only when `scan` runs: a socket opened
    /// after `prepare` (as one opened during the table dump) is found.
    #[test]
    fn a_socket_opened_after_prepare_is_found() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 || foreign_proc().is_some() {
            return crate::test_skip::skip("not root: cannot load a BPF program");
        }
        let mut owners = BpfOwners::new(false);
        // What `prepare` starts: loaded, and finished, before the socket exists.
        let walker = std::thread::spawn(bpf::Walker::load).join().unwrap();
        let walker = walker.unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata(format!("/proc/self/fd/{}", l.as_raw_fd()))
            .unwrap()
            .ino();
        owners.pending = Some(Pending::start(move || Ok(walker)));
        // As the pipeline does once the dump is read: the walk starts here, so a socket
        // opened before this (during the dump) is in it.
        owners.begin_scan();
        let mut wanted = InodeSet::default();
        wanted.insert(ino);
        let scan = owners.scan(&wanted, false).unwrap();
        assert_eq!(owners.kind(), OwnerSourceKind::Bpf);
        // Other unit tests fork (why's trial bind) and a child forked while the listener is
        // open holds a copy too: this process must be among the holders, and only once.
        let me = std::process::id();
        let ours: Vec<_> = scan.holders.iter().filter(|h| h.1 == me).collect();
        assert_eq!(ours, vec![&(ino, me)], "{:?}", scan.holders);
        assert!(scan.holders.iter().all(|h| h.0 == ino));
        assert!(owners.pending.is_none());
    }
}
