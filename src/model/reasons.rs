//! Plain data, part of model: why an owner is not shown (the JSON `owner_reason` strings)
//! and which backends answered (the JSON `sources` object).

use super::SockState;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why no process is shown for a socket. The strings are the JSON contract (scripts match
/// on them) and `who`'s exit status is decided on the variant, never on the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnerReason {
    Denied,
    Namespace,
    Closed,
    Exited,
    NotSearched,
    NotLookedUp,
    ProcUnreadable,
    KernelTimeWait,
    KernelHandshake,
    KernelAcceptQueue,
    KernelOrphaned,
    KernelNoFd,
    FdLimit,
    NoDescriptor,
}

impl OwnerReason {
    pub const ALL: [OwnerReason; 14] = [
        OwnerReason::Denied,
        OwnerReason::Namespace,
        OwnerReason::Closed,
        OwnerReason::Exited,
        OwnerReason::NotSearched,
        OwnerReason::NotLookedUp,
        OwnerReason::ProcUnreadable,
        OwnerReason::KernelTimeWait,
        OwnerReason::KernelHandshake,
        OwnerReason::KernelAcceptQueue,
        OwnerReason::KernelOrphaned,
        OwnerReason::KernelNoFd,
        OwnerReason::FdLimit,
        OwnerReason::NoDescriptor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OwnerReason::Denied => {
                "permission denied: held by a process portscope cannot inspect; run as root"
            }
            OwnerReason::Namespace => {
                "no process in this PID namespace holds it (another namespace or a kernel socket)"
            }
            OwnerReason::Closed => "closed during the scan",
            OwnerReason::Exited => "process exited during the scan",
            OwnerReason::NotSearched => "not searched: --first stopped at the first owner",
            OwnerReason::NotLookedUp => "not looked up: --owner-source none",
            OwnerReason::ProcUnreadable => "/proc could not be read: owner unknown",
            OwnerReason::KernelTimeWait => "kernel-held (time_wait)",
            OwnerReason::KernelHandshake => "kernel-held (handshake in progress)",
            OwnerReason::KernelAcceptQueue => {
                "kernel-held (in a listener's accept queue, not yet accepted)"
            }
            OwnerReason::KernelOrphaned => {
                "kernel-held (orphaned: closed by its process, the kernel finishes the close)"
            }
            OwnerReason::KernelNoFd => "kernel-held (no file descriptor)",
            OwnerReason::FdLimit => {
                "not searched: portscope ran out of file descriptors (raise ulimit -n)"
            }
            OwnerReason::NoDescriptor => {
                "no process holds a descriptor to it (in flight in an SCM_RIGHTS message, or held by the kernel)"
            }
        }
    }

    /// Why a socket with no inode has no process: the kernel holds it alone.
    pub fn kernel_held(state: SockState) -> OwnerReason {
        match state {
            SockState::TimeWait => OwnerReason::KernelTimeWait,
            SockState::SynReceived => OwnerReason::KernelHandshake,
            SockState::Established | SockState::CloseWait => OwnerReason::KernelAcceptQueue,
            SockState::FinWait1 | SockState::FinWait2 | SockState::Closing | SockState::LastAck => {
                OwnerReason::KernelOrphaned
            }
            _ => OwnerReason::KernelNoFd,
        }
    }

    /// A process holds the socket but could not be shown: the answer is partial. (--first
    /// and --owner-source none chose not to look; that is not "cannot tell".)
    pub fn is_partial(self) -> bool {
        matches!(
            self,
            OwnerReason::Denied
                | OwnerReason::Namespace
                | OwnerReason::ProcUnreadable
                | OwnerReason::FdLimit
        )
    }
}

impl fmt::Display for OwnerReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OwnerReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OwnerReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        OwnerReason::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown owner_reason '{text}'")))
    }
}

/// Which socket-table backend produced the rows (JSON `sources.table`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableSourceKind {
    /// Linux netlink sock_diag (what ss uses).
    Netlink,
    /// Linux /proc/net/{tcp,tcp6,udp,udp6}.
    Procnet,
    /// The netstat2 crate (every platform).
    Netstat2,
}

/// Which owner backend joined processes to sockets (JSON `sources.owners`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerSourceKind {
    /// A scan of /proc/*/fd.
    Procfs,
    /// A BPF iterator over every task's open files (Linux, root).
    Bpf,
    /// The PIDs netstat2 reports with each socket (macOS, Windows).
    Netstat2,
    /// No owner join at all (--owner-source none).
    None,
}

/// The JSON document's `sources` object: which backends actually ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// The table backend; with several namespaces, `procnet` if any was read that way.
    pub table: TableSourceKind,
    pub owners: OwnerSourceKind,
    /// With --netns other than current: how each namespace was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub netns: Vec<NetnsSource>,
    /// The scale of the owner search, where the owner source can say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_walk: Option<OwnerWalk>,
}

/// How much the owner search went through (JSON `sources.owner_walk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerWalk {
    /// Descriptors read (/proc scan) or walked (BPF iterator).
    pub descriptors: u64,
}

/// How one namespace's table was read (JSON `sources.netns[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetnsSource {
    pub inode: Option<u64>,
    pub name: Option<String>,
    pub table: TableSourceKind,
}
