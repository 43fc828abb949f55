//! Collect stage: where OS data comes in. One facade; OS-specific code sits behind `cfg`.
//!
//! Nothing here prints: problems come back as values (`Harvest::warnings`, `ScanStats`).

use crate::model::{Family, Process, Protocol, SockState, SocketHarvest};
use std::collections::HashMap;
use std::sync::Arc;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
pub use other::*;

pub mod fast_hash;
mod procinfo;
pub mod starttime;

pub use procinfo::{effective_uid, lookup_user, process_details, UserNames};

/// Which tables to read; pushed down to the kernel where it can filter.
#[derive(Debug, Clone)]
pub struct TableQuery {
    pub protocols: Vec<Protocol>,
    pub families: Vec<Family>,
    /// None: every state.
    pub states: Option<Vec<SockState>>,
    /// Port ranges to let the kernel filter on (a superset of what the caller keeps);
    /// None: every port.
    pub ports: Option<PortFilter>,
}

/// Port ranges pushed down to the kernel (sock_diag bytecode), so that `who` on a free port
/// costs a filtered dump, not a full one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFilter {
    /// Inclusive ranges, each for one protocol or (None) both.
    pub ranges: Vec<(u16, u16, Option<Protocol>)>,
    /// Match the remote port instead of the local one.
    pub remote: bool,
}

impl PortFilter {
    /// The ranges that apply to `proto`.
    pub fn for_protocol(&self, proto: Protocol) -> Vec<(u16, u16)> {
        self.ranges
            .iter()
            .filter(|r| r.2.is_none_or(|p| p == proto))
            .map(|r| (r.0, r.1))
            .collect()
    }
}

impl TableQuery {
    pub fn wants_state(&self, st: SockState) -> bool {
        self.states.as_ref().is_none_or(|v| v.contains(&st))
    }
}

/// The socket tables as read.
#[derive(Debug, Default)]
pub struct Harvest {
    pub sockets: Vec<SocketHarvest>,
    /// One line each, for stderr and the JSON `warnings` array.
    pub warnings: Vec<String>,
    /// Some table came from /proc/net (no v6-only flags there).
    pub procfs: bool,
}

/// Where each wanted socket inode was found, and what the scan could not see.
#[derive(Debug, Default)]
pub struct OwnerScan {
    /// (inode, pid) pairs, in no order; a socket shared by several processes appears once
    /// per process (and once per descriptor within a process: callers deduplicate).
    pub holders: Vec<(u64, u32)>,
    /// Processes whose descriptor table could not be read for lack of permission.
    pub denied: usize,
    /// Processes that exited between listing /proc and reading their descriptors.
    pub vanished: usize,
    /// Processes scanned.
    pub scanned: usize,
    /// True when the scan stopped at the first holder (`who --first`).
    pub stopped_early: bool,
    /// /proc could not be read at all: no owner is known.
    pub unavailable: bool,
}

/// Process details for the holders, keyed by PID. Processes that exited before their details
/// could be read are absent.
pub type ProcessTable = HashMap<u32, Arc<Process>>;
