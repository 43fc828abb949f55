//! Sort stage: orders the joined rows by the query's key, then port, protocol, family,
//! address, remote, state and inode (stable and total, so output is reproducible).

use crate::model::Socket;
use crate::query::SortKey;
use std::cmp::Ordering;

fn base(a: &Socket, b: &Socket) -> Ordering {
    a.local
        .port
        .cmp(&b.local.port)
        .then(a.protocol.cmp(&b.protocol))
        .then(a.family.cmp(&b.family))
        .then(a.local.address.cmp(&b.local.address))
        .then(a.remote.cmp(&b.remote))
        .then(a.state.cmp(&b.state))
        .then(a.inode.cmp(&b.inode))
}

fn first_pid(s: &Socket) -> u32 {
    s.processes.first().map_or(u32::MAX, |p| p.pid)
}

fn first_name(s: &Socket) -> Option<String> {
    s.processes.first().map(|p| p.name.to_lowercase())
}

fn user(s: &Socket) -> Option<String> {
    s.processes
        .first()
        .and_then(|p| p.user.clone())
        .or_else(|| s.user.as_deref().map(str::to_string))
}

/// The current namespace first, then named ones by name, then the rest by inode.
fn netns_key(s: &Socket) -> (bool, bool, Option<&str>, Option<u64>) {
    let n = &s.netns;
    (!n.current, n.name.is_none(), n.name.as_deref(), n.inode)
}

pub fn sort(sockets: &mut [Socket], key: SortKey, reverse: bool) {
    sockets.sort_by(|a, b| {
        let primary = match key {
            SortKey::Port => Ordering::Equal,
            SortKey::Proto => a.protocol.cmp(&b.protocol).then(a.family.cmp(&b.family)),
            SortKey::Pid => first_pid(a).cmp(&first_pid(b)),
            // Rows without an owner sort last.
            SortKey::Process => match (first_name(a), first_name(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (x, y) => y.is_none().cmp(&x.is_none()).reverse(),
            },
            SortKey::State => a.state.cmp(&b.state),
            SortKey::User => user(a).cmp(&user(b)),
            SortKey::Netns => netns_key(a).cmp(&netns_key(b)),
        };
        let o = primary.then_with(|| base(a, b));
        if reverse {
            o.reverse()
        } else {
            o
        }
    });
}
