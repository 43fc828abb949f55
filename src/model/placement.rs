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
