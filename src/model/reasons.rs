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
    /// The owner source the user chose failed (`--owner-source bpf` without the
    /// privilege): no owner was looked up.
    SourceFailed,
}

impl OwnerReason {
    pub const ALL: [OwnerReason; 15] = [
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
        OwnerReason::SourceFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OwnerReason::Denied => {
                "permission denied: held by a process whose descriptors portscope may not read"
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
            OwnerReason::SourceFailed => "not looked up: the owner source failed (see warnings)",
        }
    }

    /// The stable slug (JSON `owner_reason_code`, Prometheus `reason`): scripts match on
    /// it; the sentence may be reworded.
    pub fn code(self) -> ReasonCode {
        match self {
            OwnerReason::Denied => ReasonCode::PermissionDenied,
            OwnerReason::Namespace => ReasonCode::OtherNamespace,
            OwnerReason::Closed => ReasonCode::Closed,
            OwnerReason::Exited => ReasonCode::Exited,
            OwnerReason::NotSearched => ReasonCode::NotSearched,
            OwnerReason::NotLookedUp => ReasonCode::NotLookedUp,
            OwnerReason::ProcUnreadable => ReasonCode::ProcUnreadable,
            OwnerReason::KernelTimeWait
            | OwnerReason::KernelHandshake
            | OwnerReason::KernelAcceptQueue
            | OwnerReason::KernelOrphaned
            | OwnerReason::KernelNoFd => ReasonCode::KernelHeld,
            OwnerReason::FdLimit => ReasonCode::FdLimit,
            OwnerReason::NoDescriptor => ReasonCode::NoDescriptor,
            OwnerReason::SourceFailed => ReasonCode::OwnerSourceFailed,
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
                | OwnerReason::SourceFailed
        )
    }
}

/// The stable code of an [`OwnerReason`] (JSON `owner_reason_code`; the Prometheus
/// `reason` label of hidden owners). Several kernel-held reasons share `kernel_held`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    PermissionDenied,
    OtherNamespace,
    Closed,
    Exited,
    NotSearched,
    NotLookedUp,
    ProcUnreadable,
    KernelHeld,
    FdLimit,
    NoDescriptor,
    OwnerSourceFailed,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 11] = [
        ReasonCode::PermissionDenied,
        ReasonCode::OtherNamespace,
        ReasonCode::Closed,
        ReasonCode::Exited,
        ReasonCode::NotSearched,
        ReasonCode::NotLookedUp,
        ReasonCode::ProcUnreadable,
        ReasonCode::KernelHeld,
        ReasonCode::FdLimit,
        ReasonCode::NoDescriptor,
        ReasonCode::OwnerSourceFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::PermissionDenied => "permission_denied",
            ReasonCode::OtherNamespace => "other_namespace",
            ReasonCode::Closed => "closed",
            ReasonCode::Exited => "exited",
            ReasonCode::NotSearched => "not_searched",
            ReasonCode::NotLookedUp => "not_looked_up",
            ReasonCode::ProcUnreadable => "proc_unreadable",
            ReasonCode::KernelHeld => "kernel_held",
            ReasonCode::FdLimit => "fd_limit",
            ReasonCode::NoDescriptor => "no_descriptor",
            ReasonCode::OwnerSourceFailed => "owner_source_failed",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
        // The sentence documents before 0.3 wrote for Denied.
        if text == "permission denied: held by a process portscope cannot inspect; run as root" {
            return Ok(OwnerReason::Denied);
        }
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
    /// Which BPF program walked the tables; absent for the /proc scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<OwnerWalkProgram>,
}

/// The BPF program that walked the descriptor tables (JSON `sources.owner_walk.program`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerWalkProgram {
    /// `iter/task`, reading each task's table itself and only the sockets' files.
    TaskFdtable,
    /// `iter/task_file`, the kernel's walk of every descriptor: where the `iter/task`
    /// program does not load (before Linux 6.2) or could not finish. (A table it cut
    /// short is walked again alone by task_file, and the walk still says TaskFdtable.)
    TaskFile,
}

/// How one namespace's table was read, or why it was not (JSON `sources.netns[]`): every
/// namespace portscope was asked about appears, readable or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetnsSource {
    pub inode: Option<u64>,
    pub name: Option<String>,
    /// How its table was read; null when it was not.
    pub table: Option<TableSourceKind>,
    /// False: its sockets are not in the answer (see `reason`).
    #[serde(default = "yes")]
    pub readable: bool,
    /// The file named or found (/run/netns/NAME, --netns PATH, /proc/PID/ns/net).
    #[serde(default)]
    pub path: Option<String>,
    /// The process through whose /proc/PID/net it was read, or the PID asked about.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Why it was not read.
    #[serde(default)]
    pub reason: Option<NetnsReason>,
    /// The system's own words for it (errors of each way tried).
    #[serde(default)]
    pub detail: Option<String>,
    /// What would allow reading it, when a privilege would.
    #[serde(default)]
    pub requires: Option<String>,
}

fn yes() -> bool {
    true
}

/// What reading another namespace needs: entering it (setns: CAP_SYS_ADMIN) or reading
/// the namespace link of a process inside it (ptrace read access: CAP_SYS_PTRACE for
/// another user's process).
pub const NETNS_PRIVILEGE: &str = "root, or CAP_SYS_ADMIN and CAP_SYS_PTRACE";

/// Why a namespace was not read (JSON `sources.netns[].reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetnsReason {
    /// It cannot be entered and no process inside it is one this user may inspect.
    PermissionDenied,
    /// The file is not a network namespace: a FIFO, socket, device, directory, regular
    /// file (a bind mount that is gone) or another kind of namespace. Never opened for
    /// reading, never waited on.
    NotANamespace,
    /// It vanished while being read (its last process exited, its file was removed).
    Gone,
    /// Entered or opened, but its table could not be read.
    Unreadable,
}

impl NetnsReason {
    pub fn as_str(self) -> &'static str {
        match self {
            NetnsReason::PermissionDenied => "permission_denied",
            NetnsReason::NotANamespace => "not_a_namespace",
            NetnsReason::Gone => "gone",
            NetnsReason::Unreadable => "unreadable",
        }
    }

    /// A namespace that exists and may hold sockets the answer lacks: the answer is
    /// partial. (A FIFO holds no sockets; a namespace gone holds none any more.)
    pub fn hides_sockets(self) -> bool {
        matches!(
            self,
            NetnsReason::PermissionDenied | NetnsReason::Unreadable
        )
    }
}

impl NetnsSource {
    /// A namespace read through `table`.
    pub fn read(inode: Option<u64>, name: Option<String>, table: TableSourceKind) -> Self {
        NetnsSource {
            inode,
            name,
            table: Some(table),
            readable: true,
            path: None,
            pid: None,
            reason: None,
            detail: None,
            requires: None,
        }
    }

    /// A namespace not read, and why.
    pub fn unread(
        inode: Option<u64>,
        name: Option<String>,
        reason: NetnsReason,
        detail: String,
    ) -> Self {
        NetnsSource {
            inode,
            name,
            table: None,
            readable: false,
            path: None,
            pid: None,
            reason: Some(reason),
            detail: Some(detail),
            requires: (reason == NetnsReason::PermissionDenied)
                .then(|| NETNS_PRIVILEGE.to_string()),
        }
    }

    /// How a message names it: 'NAME', the path, net:[INODE], or the PID's.
    pub fn describe(&self) -> String {
        match (&self.name, &self.path, self.inode, self.pid) {
            (Some(n), _, _, _) => format!("'{n}'"),
            (None, Some(p), _, _) => format!("'{p}'"),
            (None, None, Some(i), _) => format!("net:[{i}]"),
            (None, None, None, Some(p)) => format!("of pid {p}"),
            (None, None, None, None) => "of another user".into(),
        }
    }

    /// One line: which namespace, why not, what would allow it.
    pub fn unread_line(&self) -> String {
        let mut line = format!("cannot read network namespace {}", self.describe());
        if let Some(r) = self.reason {
            line.push_str(&format!(": {}", r.as_str()));
        }
        if let Some(d) = &self.detail {
            line.push_str(&format!(" ({d})"));
        }
        if let Some(q) = &self.requires {
            line.push_str(&format!("; reading it needs {q}"));
        }
        line
    }
}
