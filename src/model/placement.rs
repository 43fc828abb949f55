//! Plain data, part of model: where a socket lives (its network namespace) and what a
//! holder belongs to (its container).

use serde::{Deserialize, Serialize};

/// A network namespace, as every socket names it (JSON `netns`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Netns {
    /// The nsfs inode (as in /proc/PID/ns/net); null only where it cannot be read (another
    /// user's namespace, read as an unprivileged user through /proc/PID/net).
    pub inode: Option<u64>,
    /// Its `ip netns` name, if it has one.
    pub name: Option<String>,
    /// portscope's own namespace.
    pub current: bool,
}

impl Default for Netns {
    /// The current namespace, inode not (yet) read.
    fn default() -> Netns {
        Netns::current(None)
    }
}

impl Netns {
    pub fn current(inode: Option<u64>) -> Netns {
        Netns {
            inode,
            name: None,
            current: true,
        }
    }
}

/// The container a process runs in. JSON: `"container": {...} | null` on a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// "docker", "podman", "containerd", "cri-o", "lxc", "nspawn", or the machine's
    /// registering service for other systemd machines (e.g. "libvirt-qemu").
    pub runtime: String,
    /// The full id (64 hex digits), or the name where the runtime has no other id (lxc,
    /// nspawn).
    pub id: String,
    /// The name the engine gives it (docker without the leading '/'), where its state on
    /// disk says.
    pub name: Option<String>,
    pub pod: Option<Pod>,
    /// docker compose's project and service labels (name stays the container's own name,
    /// e.g. "shop-web-1").
    pub compose: Option<Compose>,
}

/// A Kubernetes pod, from the kubelet's log directories (/var/log/pods/NS_NAME_UID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// docker compose's labels (com.docker.compose.project / .service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compose {
    pub project: String,
    pub service: String,
}

/// Where a socket lives beyond its network namespace: its holders' container and systemd
/// unit (for a socket whose owner is hidden, its cgroup's), and the container a host port
/// is published for. Computed once in the pipeline; every output reads it (JSON
/// `placement`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    pub container: Option<Container>,
    /// The systemd unit: the holder's, or for a listener systemd holds for socket
    /// activation, the `.socket` unit that declares it.
    pub unit: Option<String>,
    /// This socket holds a host port a container engine publishes (docker-proxy, conmon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Published>,
}

impl Placement {
    pub fn is_empty(&self) -> bool {
        *self == Placement::default()
    }

    /// The container's name, else its id cut to 12 characters: what a person reads.
    pub fn container_label(&self) -> Option<String> {
        self.container.as_ref().map(Container::label)
    }
}

impl Container {
    /// Its name, else its id cut to 12 characters.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => self.id.chars().take(12).collect(),
        }
    }
}

/// How a host port reaches a container (JSON `published.via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PublishedVia {
    /// A user-space proxy holds the host port and forwards (docker-proxy).
    DockerProxy,
    /// podman's conmon holds the host port so nobody else takes it; DNAT carries traffic.
    Conmon,
    /// DNAT rules only: no host socket at all.
    Dnat,
    /// dockerd itself holds the host port so nobody else takes it (docker 20.10 with
    /// `--userland-proxy=false`); DNAT carries traffic.
    Dockerd,
}

impl PublishedVia {
    /// The JSON (serde) spelling, for labels: `docker-proxy`, `conmon`, `dnat`, `dockerd`.
    pub fn as_str(self) -> &'static str {
        match self {
            PublishedVia::DockerProxy => "docker-proxy",
            PublishedVia::Conmon => "conmon",
            PublishedVia::Dnat => "dnat",
            PublishedVia::Dockerd => "dockerd",
        }
    }

    /// The words `who` uses.
    pub fn describe(self) -> &'static str {
        match self {
            PublishedVia::DockerProxy => "docker-proxy",
            PublishedVia::Conmon => "conmon's reservation socket (traffic goes by DNAT)",
            PublishedVia::Dnat => "DNAT only (no host socket)",
            PublishedVia::Dockerd => "dockerd's reservation socket (traffic goes by DNAT)",
        }
    }
}

/// A host port published by a container: which container, and where traffic is forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    pub via: PublishedVia,
    pub protocol: super::Protocol,
    /// None for every address (docker's empty HostIp).
    pub host_ip: Option<std::net::IpAddr>,
    pub host_port: u16,
    /// None where nothing on disk names the container behind a proxy's address.
    pub container: Option<Container>,
    /// The forward address.
    pub container_ip: Option<std::net::IpAddr>,
    /// None where the engine's state does not say (podman without a readable bolt_state.db).
    pub container_port: Option<u16>,
}

/// A published host port followed to the container behind it (JSON: the document's
/// `published` array): how it is published and the container's own listeners on the
/// forwarded port, with their owners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publication {
    pub published: Published,
    /// The container's listeners on `published.container_port` (in its namespace).
    pub backend: Vec<super::Socket>,
}
