//! Collect stage, Linux: where a process or socket lives — its container (docker, podman,
//! containerd/CRI, cri-o, LXC/Incus, systemd-nspawn), pod and systemd unit — read from the
//! cgroup v2 path and the engines' own state files on disk, never from an engine's API.
//!
//! Every path read is in [`Roots`], so tests point the lookups at a temporary tree.
//! [`Placer`] is the cached front the harvest uses: one per run.

mod activation;
mod cgroup;
mod engines;
mod published;

pub use activation::{socket_unit, SocketUnits};
pub use cgroup::{
    cgroup2_mount, cgroup_of, cgroup_path_by_id, classify, placement_of, CgroupIds, ContainerRef,
    Placement,
};
pub use engines::resolve;
pub use published::{
    dnat_published, parse_conmon_argv, parse_proxy_argv, published_backend, ProxyArgs, Published,
    PublishedVia,
};

use crate::model::Protocol;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use crate::model::{Compose, Container, Pod};

/// Every filesystem root the lookups read; [`Roots::system`] for the host.
#[derive(Debug, Clone)]
pub struct Roots {
    /// procfs (/proc).
    pub proc: PathBuf,
    /// The cgroup2 mount, found from `<proc>/self/mountinfo` (hybrid hosts mount it at
    /// /sys/fs/cgroup/unified); None where there is none.
    pub cgroup2: Option<PathBuf>,
    /// /var/lib/docker: docker's default data root. Where a dockerd runs with another
    /// (`--data-root`, daemon.json's `data-root`), that one is read too: see
    /// [`Roots::docker_roots`].
    pub docker: PathBuf,
    /// /etc/docker/daemon.json (its `data-root`).
    pub docker_daemon_json: PathBuf,
    /// The data roots found, once per run (the lookups that need docker's state only).
    docker_found: std::sync::OnceLock<Vec<PathBuf>>,
    /// podman's (and cri-o's) storage: /var/lib/containers/storage.
    pub containers_storage: PathBuf,
    /// podman's run root: /run/containers/storage (per-container hosts files).
    pub containers_run: PathBuf,
    /// /var/log/pods (the kubelet: NS_POD_UID/CONTAINER/).
    pub log_pods: PathBuf,
    /// /var/log/containers (the kubelet: POD_NS_CONTAINER-ID.log).
    pub log_containers: PathBuf,
    /// /run/systemd/machines (systemd-machined: one file per machine).
    pub machines: PathBuf,
    /// /run/systemd (units/invocation:NAME marks a unit started this boot).
    pub run_systemd: PathBuf,
    /// Where .socket unit files are searched, in systemd's order of precedence.
    pub unit_dirs: Vec<PathBuf>,
}

impl Roots {
    /// The host's paths, with the cgroup2 mount read from /proc/self/mountinfo.
    pub fn system() -> Roots {
        let mut r = Roots::under(Path::new("/"));
        r.cgroup2 = cgroup2_mount(&r.proc);
        r
    }

    /// The same layout under `base` (tests); cgroup2 is left None for the caller to set.
    pub fn under(base: &Path) -> Roots {
        let p = |s: &str| base.join(s);
        Roots {
            proc: p("proc"),
            cgroup2: None,
            docker: p("var/lib/docker"),
            docker_daemon_json: p("etc/docker/daemon.json"),
            docker_found: std::sync::OnceLock::new(),
            containers_storage: p("var/lib/containers/storage"),
            containers_run: p("run/containers/storage"),
            log_pods: p("var/log/pods"),
            log_containers: p("var/log/containers"),
            machines: p("run/systemd/machines"),
            run_systemd: p("run/systemd"),
            unit_dirs: [
                "etc/systemd/system.control",
                "run/systemd/system.control",
                "run/systemd/transient",
                "run/systemd/generator.early",
                "etc/systemd/system",
                "run/systemd/system",
                "run/systemd/generator",
                "usr/local/lib/systemd/system",
                "usr/lib/systemd/system",
                "lib/systemd/system",
                "run/systemd/generator.late",
            ]
            .iter()
            .map(|d| p(d))
            .collect(),
        }
    }
}

impl Roots {
    /// Every docker data root on this host: the default, daemon.json's `data-root`, and the
    /// `--data-root` of each dockerd running as root (a production daemon often keeps its
    /// state on another disk). Found on first use, then kept for the run.
    pub fn docker_roots(&self) -> &[PathBuf] {
        self.docker_found
            .get_or_init(|| engines::find_docker_roots(self))
    }
}

/// A process's container and unit, as the harvest attaches them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessPlacement {
    pub container: Option<Container>,
    pub unit: Option<String>,
}

/// The cached lookups of one run: containers by id, the cgroup id → path map, the socket
/// units. Build one per run with [`Placer::new`].
pub struct Placer {
    roots: Roots,
    containers: HashMap<(String, String), Container>,
    ids: CgroupIds,
    units: Option<SocketUnits>,
}

impl Placer {
    pub fn new(roots: Roots) -> Placer {
        Placer {
            ids: CgroupIds::default(),
            roots,
            containers: HashMap::new(),
            units: None,
        }
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// The container and unit of `pid`; both None where its cgroup cannot be read (the
    /// process ended) or names neither.
    pub fn process(&mut self, pid: u32) -> ProcessPlacement {
        let Some(p) = placement_of(&self.roots, pid) else {
            return ProcessPlacement::default();
        };
        ProcessPlacement {
            container: p.container.as_ref().map(|c| self.resolve(c)),
            unit: p.unit,
        }
    }

    /// The placement a cgroup path names, with the container resolved (for a socket whose
    /// owner is hidden: its cgroup id gives the path).
    pub fn path(&mut self, cgroup_path: &str) -> ProcessPlacement {
        let p = classify(cgroup_path);
        ProcessPlacement {
            container: p.container.as_ref().map(|c| self.resolve(c)),
            unit: p.unit,
        }
    }

    /// [`Placer::path`] as the model carries it.
    pub fn placement(&mut self, cgroup_path: &str) -> crate::model::Placement {
        let p = self.path(cgroup_path);
        crate::model::Placement {
            container: p.container,
            unit: p.unit,
            published: None,
        }
    }

    /// [`resolve`], once per (runtime, id).
    pub fn resolve(&mut self, found: &ContainerRef) -> Container {
        let key = (found.runtime.clone(), found.id.clone());
        if let Some(c) = self.containers.get(&key) {
            return c.clone();
        }
        let c = resolve(&self.roots, found);
        self.containers.insert(key, c.clone());
        c
    }

    /// [`cgroup_path_by_id`] over one walk of the cgroup2 tree per run (one more walk on a
    /// miss, for a cgroup created since).
    pub fn cgroup_path_by_id(&mut self, id: u64) -> Option<String> {
        self.ids.path(&self.roots, id)
    }

    /// The .socket unit that configures `local` (for a listener held by PID 1).
    pub fn socket_unit(&mut self, proto: Protocol, local: SocketAddr) -> Option<String> {
        let roots = &self.roots;
        self.units
            .get_or_insert_with(|| SocketUnits::load(roots))
            .find(proto, local)
    }

    /// The container behind a proxy process's host port (docker-proxy, conmon).
    pub fn published_backend(
        &mut self,
        argv: &[String],
        proto: Protocol,
        host_port: u16,
    ) -> Option<Published> {
        published_backend(&self.roots, argv, proto, host_port)
    }

    /// Containers publishing `port` by DNAT alone, per the engines' state on disk.
    pub fn dnat_published(&mut self, port: u16, proto: Protocol) -> Vec<Published> {
        dnat_published(&self.roots, port, proto)
    }
}
