//! Acting on a port (`kill`, `close`, `wait`): after the pipeline has said who holds it,
//! the selection becomes a plan (what would be signalled or closed, what is refused or
//! hidden), the plan is confirmed, then carried out and checked. Plain data in and out;
//! the system calls sit behind `collect::linux::{pidfd, destroy}`.

pub mod close;
pub mod confirm;
pub mod guard;
pub mod kill;
pub mod supervisor;
pub mod wait;

use crate::model::{Endpoint, Owner, OwnerReason, Process, Protocol, SockState, Socket};
use serde::{Deserialize, Serialize};

/// Exit statuses of `kill` and `close` (the public contract).
pub const EXIT_FREED: i32 = 0;
pub const EXIT_NOTHING: i32 = 1;
pub const EXIT_ERROR: i32 = 2;
pub const EXIT_HIDDEN: i32 = 3;
pub const EXIT_STILL_HELD: i32 = 4;
pub const EXIT_CHANGED: i32 = 5;

/// A socket as the plan names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketRef {
    pub protocol: Protocol,
    pub local: Endpoint,
    pub remote: Option<Endpoint>,
    pub state: SockState,
    pub inode: u64,
    /// PIDs holding it (empty: hidden or kernel-held).
    pub pids: Vec<u32>,
}

impl SocketRef {
    pub fn of(s: &Socket) -> SocketRef {
        let mut pids: Vec<u32> = s.processes.iter().map(|p| p.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        SocketRef {
            protocol: s.protocol,
            local: s.local,
            remote: s.remote,
            state: s.state,
            inode: s.inode,
            pids,
        }
    }
}

/// A process the plan would signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub pid: u32,
    pub name: String,
    pub user: Option<String>,
    pub uid: Option<u32>,
    pub cmdline: Vec<String>,
    /// Inodes of the selected sockets it holds: what the safety re-check looks for.
    pub inodes: Vec<u64>,
    /// Start time, uids and executable when the plan was made (read through its pidfd);
    /// compared again right before the signal. None: it could not be read (it is then
    /// not signalled).
    #[serde(default)]
    pub identity: Option<guard::Identity>,
}

/// A holder portscope will not signal, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refused {
    pub pid: u32,
    pub name: String,
    pub reason: String,
    /// The container it runs or publishes for (`podman:web`): the refusal is then the
    /// engine's (exit 3), not a keystone of the host (exit 2).
    #[serde(default)]
    pub container: Option<String>,
    /// The command that stops that container (portscope never runs it).
    #[serde(default)]
    pub hint: Option<String>,
    /// It belongs to a container (an engine's process, or a container's init): the plan
    /// is then refused with exit 3; a keystone of the host (PID 1, portscope, an ancestor,
    /// a kernel thread) with exit 2.
    #[serde(default)]
    pub engine: bool,
}

/// A socket held by a process portscope cannot see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hidden {
    pub socket: SocketRef,
    pub reason: OwnerReason,
}

/// What `kill` or `close` would do, before doing it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub specs: Vec<String>,
    /// Every selected socket (`close` destroys these).
    pub sockets: Vec<SocketRef>,
    /// Processes to signal (`kill`), each once.
    pub targets: Vec<Target>,
    pub refused: Vec<Refused>,
    pub hidden: Vec<Hidden>,
    /// Sockets that hold the port with no process to signal: a listener whose only
    /// descriptor is in flight (SCM_RIGHTS), or one the kernel holds without a descriptor.
    #[serde(default)]
    pub unowned: Vec<Hidden>,
    /// Ports a container engine publishes by DNAT alone (no host socket to act on): no
    /// signal and no close can free them.
    #[serde(default)]
    pub published: Vec<PublishedPort>,
    /// `close`: connections waiting in a planned listener's accept queue (established,
    /// not yet accepted, held by no process): closing the listener resets them.
    #[serde(default)]
    pub resets: Vec<SocketRef>,
}

/// A port a container publishes without a host process holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedPort {
    pub protocol: Protocol,
    pub port: u16,
    /// `podman:web`, `docker:shop-web-1`.
    pub container: Option<String>,
    /// The command that stops it (portscope never runs it).
    pub hint: Option<String>,
}

impl Plan {
    /// `close`: the connections in `all` (every socket on the SPECs) waiting in the accept
    /// queue of a planned listener: established or close_wait, no process holds them, on
    /// the listener's port and an address it receives.
    pub fn waiting_connections(&self, all: &[Socket]) -> Vec<SocketRef> {
        let listeners: Vec<&SocketRef> = self
            .sockets
            .iter()
            .filter(|s| s.protocol == Protocol::Tcp && s.state == SockState::Listen)
            .collect();
        all.iter()
            .filter(|c| matches!(c.state, SockState::Established | SockState::CloseWait))
            .filter(|c| c.inode == 0 || c.owner_reason == Some(OwnerReason::KernelAcceptQueue))
            .filter(|c| {
                listeners.iter().any(|l| {
                    l.local.port == c.local.port
                        && (l.local.address.is_unspecified() || l.local.address == c.local.address)
                })
            })
            .map(SocketRef::of)
            .collect()
    }

    /// Builds the plan from the pipeline's sockets; `refuse` says why a holder must not be
    /// signalled (PID 1 of any PID namespace, a kernel thread, portscope or its ancestors,
    /// a container engine's process).
    pub fn build(
        specs: &[String],
        sockets: &[Socket],
        refuse: &mut dyn FnMut(&Process, &Socket) -> Option<guard::Refusal>,
    ) -> Plan {
        let mut plan = Plan {
            specs: specs.to_vec(),
            ..Plan::default()
        };
        for s in sockets {
            let r = SocketRef::of(s);
            if s.owner == Owner::Hidden && s.owner_reason.is_some_and(|x| x.is_partial()) {
                plan.hidden.push(Hidden {
                    socket: r.clone(),
                    reason: s.owner_reason.unwrap_or(OwnerReason::Denied),
                });
            }
            let no_one = matches!(
                s.owner_reason,
                Some(OwnerReason::NoDescriptor | OwnerReason::KernelNoFd)
            );
            if s.processes.is_empty() && no_one {
                plan.unowned.push(Hidden {
                    socket: r.clone(),
                    reason: s.owner_reason.unwrap_or(OwnerReason::NoDescriptor),
                });
            }
            plan.sockets.push(r);
            for p in &s.processes {
                if let Some(t) = plan.targets.iter_mut().find(|t| t.pid == p.pid) {
                    if !t.inodes.contains(&s.inode) {
                        t.inodes.push(s.inode);
                    }
                    continue;
                }
                if plan.refused.iter().any(|x| x.pid == p.pid) {
                    continue;
                }
                match refuse(p, s) {
                    Some(r) => plan.refused.push(Refused {
                        pid: p.pid,
                        name: p.name.clone(),
                        reason: r.reason,
                        container: r.container,
                        hint: r.hint,
                        engine: r.engine,
                    }),
                    None => plan.targets.push(Target {
                        pid: p.pid,
                        name: p.name.clone(),
                        user: p.user.clone(),
                        uid: p.uid,
                        cmdline: p.cmdline.clone(),
                        inodes: vec![s.inode],
                        identity: None,
                    }),
                }
            }
        }
        plan.targets.sort_by_key(|t| t.pid);
        plan
    }

    /// PIDs of every process holding a selected socket.
    pub fn holder_pids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.sockets.iter().flat_map(|s| s.pids.clone()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// A holder still there at the end, and how to stop what restarts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remaining {
    pub pid: Option<u32>,
    pub name: Option<String>,
    pub socket: SocketRef,
    /// The PID was not in the plan: the holder was restarted (or a new one took over).
    pub new: bool,
    pub unit: Option<String>,
    pub container: Option<String>,
    /// What would stop it for good (portscope never runs it).
    pub hint: Option<String>,
}

/// One step that was carried out, or skipped with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The process (kill) or the socket's first holder (close), if any.
    pub pid: Option<u32>,
    /// The process signalled, as it was checked right before the signal: name, user,
    /// uid and executable (kill only).
    #[serde(default)]
    pub process: Option<String>,
    /// The socket closed (close only).
    pub socket: Option<SocketRef>,
    /// `SIGTERM`, `SIGKILL`, `destroyed`, or `skipped`.
    pub action: String,
    /// Why it was skipped or failed; None when it worked.
    pub error: Option<String>,
}

/// Outcome words, one per exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Freed,
    Nothing,
    Error,
    Hidden,
    StillHeld,
    Changed,
}

impl Status {
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Freed => EXIT_FREED,
            Status::Nothing => EXIT_NOTHING,
            Status::Error => EXIT_ERROR,
            Status::Hidden => EXIT_HIDDEN,
            Status::StillHeld => EXIT_STILL_HELD,
            Status::Changed => EXIT_CHANGED,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub status: Status,
    pub steps: Vec<Step>,
    /// Holders still there at the end (status still_held).
    pub remaining: Vec<Remaining>,
    /// Sockets left in non-listening states (time_wait and the like): reported, not a
    /// failure.
    pub leftovers: Vec<SocketRef>,
    /// Notes for people: warnings, what was escalated.
    pub notes: Vec<String>,
    /// `close`: destroyed listeners whose port stays bound (state closed) by the dead
    /// descriptor until their process closes it; the status is then not "freed" in words.
    #[serde(default)]
    pub still_bound: Vec<SocketRef>,
    /// `close`: the waiting connections that were reset with their listener.
    #[serde(default)]
    pub reset: Vec<SocketRef>,
}

impl Report {
    pub fn new(status: Status) -> Report {
        Report {
            status,
            steps: Vec::new(),
            remaining: Vec::new(),
            leftovers: Vec::new(),
            notes: Vec::new(),
            still_bound: Vec::new(),
            reset: Vec::new(),
        }
    }
}

/// The JSON document of `kill` and `close` (`--json`): the plan, and the result unless
/// `--dry-run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActDocument {
    pub schema_version: u32,
    pub command: String,
    pub dry_run: bool,
    pub plan: Plan,
    pub result: Option<Report>,
}
