//! Render stage, `who`: one block per owning process and port, for people.

use crate::model::{Netns, Owner, Process, ProcessTable, SockState, Socket};
use crate::render::sanitize::{sanitize, sanitize_cmdline};
use crate::spec::PortSpec;
use std::fmt::Write as _;
use std::sync::Arc;

/// Who a block is about: one process, or the reason nobody can be shown.
#[derive(PartialEq, Eq, Clone)]
enum Holder {
    Pid(u32),
    Nobody(Owner, String, Option<u32>),
}

struct Block<'a> {
    port: u16,
    proto: &'static str,
    netns: &'a Arc<Netns>,
    holder: Holder,
    process: Option<&'a Process>,
    sockets: Vec<&'a Socket>,
}

fn family_note(s: &Socket) -> &'static str {
    s.family_note()
}

/// A port whose only sockets are connections in TIME_WAIT: not free for a plain bind (the
/// same answer `why` and `wait --until free` give).
fn time_wait_only(text: &mut String, sockets: &[Socket]) {
    let mut seen: Vec<(u16, &str)> = Vec::new();
    for s in sockets {
        let key = (s.local.port, s.protocol.as_str());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let on: Vec<&Socket> = sockets
            .iter()
            .filter(|x| (x.local.port, x.protocol.as_str()) == key)
            .collect();
        if on.iter().all(|x| x.state == SockState::TimeWait) {
            let _ = writeln!(
                text,
                "{}/{}: only TIME_WAIT ({} connection{}): no process holds it, but a bind without SO_REUSEADDR fails (EADDRINUSE) until it expires (up to 60 s)",
                key.0,
                key.1,
                on.len(),
                if on.len() == 1 { "" } else { "s" }
            );
        }
    }
}

/// Who reads the blocks: worded for root or not; command lines cut to `width` columns
/// (a terminal's, unless --wide) with a final `…`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockStyle {
    pub as_root: bool,
    pub width: Option<usize>,
}

/// The sockets grouped into blocks: one per port, protocol, holder and namespace, in the
/// order the sockets come.
fn group(sockets: &[Socket], remote: bool, as_root: bool) -> Vec<Block<'_>> {
    let mut blocks: Vec<Block> = Vec::new();
    for s in sockets {
        let port = if remote {
            s.remote.map_or(0, |r| r.port)
        } else {
            s.local.port
        };
        let holders: Vec<(Holder, Option<&Process>)> = if s.processes.is_empty() {
            // Worded for whoever runs it: root is never told to run as root.
            let reason = s
                .owner_reason
                .map(|r| crate::join::note_text(r, as_root))
                .unwrap_or_default();
            vec![(Holder::Nobody(s.owner, reason.to_string(), s.uid), None)]
        } else {
            s.processes
                .iter()
                .map(|p| (Holder::Pid(p.pid), Some(&**p)))
                .collect()
        };
        for (holder, process) in holders {
            let proto = s.protocol.as_str();
            match blocks.iter_mut().find(|b| {
                b.port == port && b.proto == proto && b.holder == holder && *b.netns == s.netns
            }) {
                Some(b) => b.sockets.push(s),
                None => blocks.push(Block {
                    port,
                    proto,
                    netns: &s.netns,
                    holder,
                    process,
                    sockets: vec![s],
                }),
            }
        }
    }
    blocks
}

/// The text for people: one block per owning process and port.
/// `narrowed`: protocol, family or state filters were given, so a port with no match may
/// still be in use. `unread`: the namespaces that could hold a port but were not read (one
/// line each): a port not found is then "not known to be free", never "free".
pub fn blocks(
    sockets: &[Socket],
    specs: &[PortSpec],
    remote: bool,
    narrowed: bool,
    parents: &ProcessTable,
    unread: &[String],
    style: BlockStyle,
) -> String {
    let blocks = group(sockets, remote, style.as_root);
    let mut text = String::new();
    for b in &blocks {
        write_block(&mut text, b, parents, style.width);
    }
    if !remote {
        time_wait_only(&mut text, sockets);
    }
    for spec in specs {
        let used = sockets.iter().any(|s| {
            let (end, v6only) = if remote {
                (s.remote.as_ref(), None)
            } else {
                (Some(&s.local), s.v6only)
            };
            end.is_some_and(|e| spec.matches(s.protocol, e, v6only))
        });
        if !used {
            let what = if remote { "connects to" } else { "uses" };
            let spec_text = sanitize(&spec.text);
            if !unread.is_empty() {
                // A namespace that could hold it was not read: never "free".
                let _ = writeln!(
                    text,
                    "{spec_text}: not known to be free: no socket {what} this port in the namespaces read; {}",
                    sanitize(&unread.join("; "))
                );
            } else if narrowed {
                // Only what the filters let through was looked at: not a claim of "free".
                let _ = writeln!(text, "{spec_text}: no matching socket {what} this port");
            } else {
                let _ = writeln!(text, "{spec_text}: free: no socket {what} this port");
            }
        }
    }
    text
}

/// Where the holder runs: its container (and pod), its systemd unit, the network
/// namespace when it is not ours, and for a hidden owner the socket's cgroup.
fn where_lines(text: &mut String, b: &Block) {
    if let Some(p) = b.process {
        if let Some(c) = &p.container {
            let name = c.name.as_deref().map(sanitize).unwrap_or_default();
            let short = &c.id.chars().take(12).collect::<String>();
            let _ = writeln!(
                text,
                "  {:<12} {name} ({} {})",
                "container",
                sanitize(&c.runtime),
                sanitize(short)
            );
            if let Some(pod) = &c.pod {
                let _ = writeln!(
                    text,
                    "  {:<12} {}/{} (uid {})",
                    "pod",
                    sanitize(&pod.namespace),
                    sanitize(&pod.name),
                    sanitize(&pod.uid)
                );
            }
            if let Some(k) = &c.compose {
                let _ = writeln!(
                    text,
                    "  {:<12} project {} service {}",
                    "compose",
                    sanitize(&k.project),
                    sanitize(&k.service)
                );
            }
        }
        if let Some(u) = &p.unit {
            let _ = writeln!(text, "  {:<12} {}", "unit", sanitize(u));
        }
    } else if let Some(cg) = b.sockets.first().and_then(|s| s.cgroup.as_deref()) {
        if cg != "/" {
            let _ = writeln!(text, "  {:<12} {}", "cgroup", sanitize(cg));
        }
    }
    let ns = b.netns;
    if !ns.current {
        let what = match (&ns.name, ns.inode) {
            (Some(n), Some(i)) => format!("{} (net:[{i}])", sanitize(n)),
            (Some(n), None) => sanitize(n).into_owned(),
            (None, Some(i)) => format!("net:[{i}]"),
            (None, None) => "another user's (inode unknown)".to_string(),
        };
        let _ = writeln!(text, "  {:<12} {what}", "netns");
    }
}

fn write_block(text: &mut String, b: &Block, parents: &ProcessTable, width: Option<usize>) {
    write_holder(text, b, parents, width);
    where_lines(text, b);
    write_sockets(text, b);
}

/// A socket that holds its port without a peer: bound UDP, and TCP bound but neither
/// listening nor connected (state closed, no remote). Not a connection.
fn holds_port_only(s: &Socket) -> bool {
    match s.state {
        SockState::Unconnected => true,
        SockState::Closed => s.remote.is_none(),
        _ => false,
    }
}

/// The block's first lines: who holds the port (name, user, command, parent), or why
/// nobody is shown.
fn write_holder(text: &mut String, b: &Block, parents: &ProcessTable, width: Option<usize>) {
    let head = format!("{}/{}", b.port, b.proto);
    match (&b.holder, b.process) {
        (Holder::Pid(pid), Some(p)) => {
            let user = p
                .user
                .clone()
                .or_else(|| p.uid.map(|u| u.to_string()))
                .unwrap_or_else(|| "?".into());
            let _ = writeln!(
                text,
                "{head}  {} (pid {pid}, user {})",
                sanitize(&p.name),
                sanitize(&user)
            );
            let command = sanitize_cmdline(&p.cmdline);
            // "  command      " takes 15 columns; a line never wraps on a terminal.
            let command = match width {
                Some(w) if w > 15 + 8 => crate::render::fit::clip(&command, w - 15).into_owned(),
                _ => command,
            };
            let _ = writeln!(text, "  {:<12} {command}", "command");
            if let Some(pp) = p.ppid.filter(|&pp| pp != 0) {
                let name = parents
                    .get(&pp)
                    .map_or("?".into(), |q| sanitize(&q.name).into_owned());
                let _ = writeln!(text, "  {:<12} {name} (pid {pp})", "parent");
            }
        }
        (Holder::Nobody(Owner::Hidden, reason, uid), _) => {
            let uid = uid.map_or_else(|| "unknown".to_string(), |u| u.to_string());
            let user = b.sockets[0]
                .user
                .as_deref()
                .map(|u| format!(", {}", sanitize(u)))
                .unwrap_or_default();
            let _ = writeln!(
                text,
                "{head}  held by a process portscope cannot see (socket uid {uid}{user})"
            );
            let _ = writeln!(text, "  {:<12} {reason}", "why");
        }
        (Holder::Nobody(_, reason, _), _) => {
            let _ = writeln!(text, "{head}  no process holds it");
            let _ = writeln!(text, "  {:<12} {reason}", "why");
        }
        (Holder::Pid(_), None) => {}
    }
}

/// The block's sockets: listening and bound addresses, then the connections (counted by
/// state, the first few shown).
fn write_sockets(text: &mut String, b: &Block) {
    for s in &b.sockets {
        let label = match s.state {
            SockState::Listen => "listening",
            _ if holds_port_only(s) => "bound",
            _ => continue,
        };
        let _ = writeln!(text, "  {label:<12} {} ({})", s.local, family_note(s));
    }
    let conns: Vec<&&Socket> = b
        .sockets
        .iter()
        .filter(|s| s.state != SockState::Listen && !holds_port_only(s))
        .collect();
    if conns.is_empty() {
        return;
    }
    let mut counts: Vec<(SockState, usize)> = Vec::new();
    for s in &conns {
        match counts.iter_mut().find(|(st, _)| *st == s.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((s.state, 1)),
        }
    }
    counts.sort();
    let summary: Vec<String> = counts.iter().map(|(st, n)| format!("{n} {st}")).collect();
    let _ = writeln!(text, "  {:<12} {}", "connections", summary.join(", "));
    const SHOWN: usize = 10;
    for s in conns.iter().take(SHOWN) {
        let peer = s.remote.map_or_else(|| "*".into(), |r| r.to_string());
        let _ = writeln!(text, "  {:<12} {} -> {peer} ({})", "", s.local, s.state);
    }
    if conns.len() > SHOWN {
        let _ = writeln!(text, "  {:<12} ... and {} more", "", conns.len() - SHOWN);
    }
}

/// A published container port, as `who` shows it after the host's blocks.
pub struct Publication<'a> {
    pub protocol: crate::model::Protocol,
    pub host_port: u16,
    /// "docker-proxy", "conmon's reservation socket" or "DNAT only (no host socket)".
    pub via: &'static str,
    pub container: Option<&'a crate::model::Container>,
    pub container_ip: Option<std::net::IpAddr>,
    pub container_port: Option<u16>,
    /// The container's own listeners on its port, with owners.
    pub backend: &'a [Socket],
}

/// `8080/tcp  published by container web-1 (docker 3f2a…) via docker-proxy` and where the
/// traffic goes: the container's address and its listener's owner.
pub fn publications(items: &[Publication]) -> String {
    let mut text = String::new();
    for p in items {
        let who = match p.container {
            Some(c) => format!(
                "container {} ({} {}{})",
                c.name.as_deref().map(sanitize).unwrap_or_default(),
                sanitize(&c.runtime),
                sanitize(&c.id.chars().take(12).collect::<String>()),
                c.compose.as_ref().map_or(String::new(), |k| format!(
                    ", compose project {} service {}",
                    sanitize(&k.project),
                    sanitize(&k.service)
                ))
            ),
            None => "a container".to_string(),
        };
        let _ = writeln!(
            text,
            "{}/{}  published by {who} via {}",
            p.host_port, p.protocol, p.via
        );
        let target = match (p.container_ip, p.container_port) {
            (Some(ip), Some(port)) => crate::model::Endpoint { address: ip, port }.to_string(),
            (None, Some(port)) => format!("port {port}"),
            _ => "unknown (the engine's state does not say)".to_string(),
        };
        let _ = writeln!(text, "  {:<12} {target}", "forwards to");
        if p.backend.is_empty() && p.container_port.is_some() {
            let _ = writeln!(text, "  {:<12} nothing listening there", "backend");
        }
        for s in p.backend {
            let owners: Vec<String> = s
                .processes
                .iter()
                .map(|q| format!("{} (pid {})", sanitize(&q.name), q.pid))
                .collect();
            let owners = if owners.is_empty() {
                s.owner_reason
                    .map_or("owner unknown".to_string(), |r| r.as_str().to_string())
            } else {
                owners.join(", ")
            };
            let _ = writeln!(
                text,
                "  {:<12} {} ({}) -> {owners}",
                "backend",
                s.local,
                s.family_note()
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, SockState};
    use crate::render::fixture::{process, socket};

    /// Issue 23: a long command line (conmon's is 1.8 KB) is cut to the terminal's width
    /// with `…`, and printed whole without a width (a pipe, or --wide).
    #[test]
    fn long_command_lines_are_cut_to_the_width_only_when_asked() {
        let mut p = (*process(7, "conmon", "root")).clone();
        p.cmdline = (0..200).map(|i| format!("--arg{i}")).collect();
        let s = socket(
            Protocol::Tcp,
            "0.0.0.0",
            8080,
            SockState::Listen,
            vec![std::sync::Arc::new(p)],
        );
        let text = |width| {
            let style = BlockStyle {
                as_root: true,
                width,
            };
            blocks(
                std::slice::from_ref(&s),
                &[],
                false,
                false,
                &ProcessTable::new(),
                &[],
                style,
            )
        };
        let cut = text(Some(40));
        let command = cut.lines().find(|l| l.contains("command")).unwrap();
        assert_eq!(command, "  command      --arg0 --arg1 --arg2 --a…");
        assert!(
            cut.lines().all(|l| crate::render::fit::width_of(l) <= 40),
            "{cut}"
        );
        let whole = text(None);
        assert!(whole.contains("--arg199\n"), "{whole}");
    }
}
