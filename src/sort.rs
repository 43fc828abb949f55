//! Sort stage: orders the joined rows by the query's key, then port, protocol, family,
//! address, remote, state and inode (stable and total, so output is reproducible).

use crate::model::{Endpoint, Family, Protocol, SockState, Socket, SocketHarvest};
use crate::query::SortKey;
use std::cmp::Ordering;
use std::net::IpAddr;

/// The base order's key; a tuple compares field by field and stops at the first that
/// differs, so most rows compare by port alone.
type BaseKey<'a> = (
    u16,
    Protocol,
    Family,
    &'a IpAddr,
    &'a Option<Endpoint>,
    SockState,
    u64,
);

fn socket_key(s: &Socket) -> BaseKey<'_> {
    let l = &s.local;
    (
        l.port, s.protocol, s.family, &l.address, &s.remote, s.state, s.inode,
    )
}

fn harvest_key(s: &SocketHarvest) -> BaseKey<'_> {
    let l = &s.local;
    (
        l.port, s.protocol, s.family, &l.address, &s.remote, s.state, s.inode,
    )
}

fn base(a: &Socket, b: &Socket) -> Ordering {
    socket_key(a).cmp(&socket_key(b))
}

/// The base order (`--sort port`, the default) of harvested sockets: the pipeline puts
/// them in this order before the join, while an owner walk runs, so that sorting the
/// joined rows finds them in place.
pub fn harvest_order(a: &SocketHarvest, b: &SocketHarvest) -> Ordering {
    harvest_key(a).cmp(&harvest_key(b))
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

fn compare(a: &Socket, b: &Socket, key: SortKey, reverse: bool) -> Ordering {
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
}

/// Sorts the rows, stably. The positions are sorted and the rows then moved once each:
/// a row is a few hundred bytes, and a merge sort would move every one of them log n
/// times (for 10k rows, more time than the comparisons).
pub fn sort(sockets: &mut [Socket], key: SortKey, reverse: bool) {
    let mut order: Vec<usize> = (0..sockets.len()).collect();
    order.sort_by(|&a, &b| compare(&sockets[a], &sockets[b], key, reverse));
    apply_order(sockets, order);
}

/// Rearranges `v` so that `v[k]` becomes the old `v[order[k]]` (`order` a permutation),
/// following each cycle of the permutation with swaps.
fn apply_order<T>(v: &mut [T], mut order: Vec<usize>) {
    for start in 0..v.len() {
        let mut cur = start;
        while order[cur] != cur {
            let next = order[cur];
            order[cur] = cur;
            if next == start {
                break;
            }
            v.swap(cur, next);
            cur = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every permutation of up to 6 items ends up where `order` says.
    #[test]
    fn apply_order_moves_each_item_to_its_place() {
        fn perms(n: usize) -> Vec<Vec<usize>> {
            if n == 0 {
                return vec![vec![]];
            }
            let mut out = Vec::new();
            for p in perms(n - 1) {
                for at in 0..=p.len() {
                    let mut q = p.clone();
                    q.insert(at, n - 1);
                    out.push(q);
                }
            }
            out
        }
        let mut checked = 0;
        for n in 0..=6 {
            for order in perms(n) {
                let mut v: Vec<char> = (0..n).map(|i| (b'a' + i as u8) as char).collect();
                let want: Vec<char> = order.iter().map(|&i| v[i]).collect();
                apply_order(&mut v, order.clone());
                assert_eq!(v, want, "{order:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 1 + 1 + 2 + 6 + 24 + 120 + 720);
    }
}
