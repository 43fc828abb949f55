//! Render stage, table helper: fitting a terminal's width without breaking a cell. An
//! address, a port or a name split over two lines reads as two values, so nothing is ever
//! wrapped inside a cell; instead, in this order:
//! 1. long holder lists are summarised (`nginx ×41`, `1234,1235,… (+39)`),
//! 2. the columns people miss least are dropped ([`DROP_ORDER`]),
//! 3. PROCESS is cut with a visible `…` (not below [`CLIP_MIN`]; JSON and `who` keep it whole),
//! 4. when even that does not fit, each socket is printed one field per line.

use crate::render::cells::{Column, Tone};
use std::io::{self, Write};
use unicode_width::UnicodeWidthStr;

/// Columns given up, first to last, when the table is too wide. CLASS and SERVICE are
/// derived from the port, which stays; queues are almost always 0 outside of trouble; USER
/// goes last of these, since who runs it matters more than what the port is called.
pub const DROP_ORDER: [&str; 5] = ["CLASS", "SEND-Q", "RECV-Q", "SERVICE", "USER"];

/// Gap between columns.
pub const GAP: usize = 2;

/// Holder lists longer than this are summarised on a terminal.
const PIDS_SHOWN: usize = 3;
/// Distinct names (or users) shown before `… (+N)`.
const NAMES_SHOWN: usize = 2;

/// Terminal columns a text takes (CJK is two, combining marks none).
pub fn width_of(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `1234,1235,1236` or, beyond three, `1234,1235,… (+39)`.
pub fn pid_list(pids: &[u32], summary: bool) -> String {
    let all = |p: &[u32]| p.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    if !summary || pids.len() <= PIDS_SHOWN {
        return all(pids);
    }
    let shown = PIDS_SHOWN - 1;
    format!("{},… (+{})", all(&pids[..shown]), pids.len() - shown)
}

/// Names in order of first appearance, each once. In a summary a repeated name carries its
/// count (`nginx ×41`) and more than two distinct names end in `… (+N)`.
pub fn name_list<'a>(names: impl Iterator<Item = &'a str>, summary: bool) -> String {
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for n in names {
        match seen.iter_mut().find(|(s, _)| *s == n) {
            Some((_, c)) => *c += 1,
            None => seen.push((n, 1)),
        }
    }
    let total: usize = seen.iter().map(|(_, c)| c).sum();
    if !summary || total <= PIDS_SHOWN {
        return seen.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(",");
    }
    let shown: Vec<String> = seen
        .iter()
        .take(NAMES_SHOWN)
        .map(|&(n, c)| {
            if c > 1 {
                format!("{n} ×{c}")
            } else {
                n.into()
            }
        })
        .collect();
    let mut text = shown.join(",");
    if seen.len() > NAMES_SHOWN {
        let rest: usize = seen[NAMES_SHOWN..].iter().map(|(_, c)| c).sum();
        text.push_str(&format!(",… (+{rest})"));
    }
    text
}

/// Distinct values in order of first appearance; in a summary, beyond two, `… (+N)` with N
/// the distinct values left out (users: `root,www-data,… (+1)`).
pub fn distinct_list<'a>(items: impl Iterator<Item = &'a str>, summary: bool) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for i in items {
        if !seen.contains(&i) {
            seen.push(i);
        }
    }
    if !summary || seen.len() <= PIDS_SHOWN {
        return seen.join(",");
    }
    format!(
        "{},… (+{})",
        seen[..NAMES_SHOWN].join(","),
        seen.len() - NAMES_SHOWN
    )
}

/// How the rows will be laid out at a width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// A table: `hidden` marks dropped columns; `clip` is the width PROCESS is cut to,
    /// with a visible `…`, when that alone makes the table fit.
    Columns {
        hidden: Vec<bool>,
        clip: Option<usize>,
    },
    /// One field per line.
    Records,
}

/// The narrowest PROCESS is cut to (`systemd-…`): below that a name no longer says much.
pub const CLIP_MIN: usize = 8;

/// Drops columns in [`DROP_ORDER`] until the natural widths (header included) fit `width`,
/// then cuts PROCESS down to [`CLIP_MIN`]; if that is still too wide, one field per line.
pub fn choose(cols: &[Column], widths: &[usize], width: usize) -> Layout {
    let total = |hidden: &[bool]| {
        let shown: Vec<usize> = widths
            .iter()
            .zip(hidden)
            .filter(|(_, h)| !**h)
            .map(|(w, _)| *w)
            .collect();
        shown.iter().sum::<usize>() + GAP * shown.len().saturating_sub(1)
    };
    let mut hidden = vec![false; cols.len()];
    for name in DROP_ORDER {
        if total(&hidden) <= width {
            break;
        }
        if let Some(i) = cols.iter().position(|c| c.name == name) {
            hidden[i] = true;
        }
    }
    let over = total(&hidden).saturating_sub(width);
    if over == 0 {
        return Layout::Columns { hidden, clip: None };
    }
    match cols.iter().position(|c| c.name == "PROCESS") {
        Some(i) if widths[i].saturating_sub(over) >= CLIP_MIN => Layout::Columns {
            hidden,
            clip: Some(widths[i] - over),
        },
        _ => Layout::Records,
    }
}

/// `text` cut to `max` display columns, the cut shown by a final `…`.
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if width_of(text) <= max {
        return text.into();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out.into()
}

/// One field per line, a blank line between sockets: every field, none broken.
pub fn write_record(
    out: &mut dyn Write,
    cols: &[Column],
    cells: &[(String, Tone)],
    first: bool,
    color: bool,
) -> io::Result<()> {
    let label = cols.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut text = String::new();
    if !first {
        text.push('\n');
    }
    for (c, (value, tone)) in cols.iter().zip(cells) {
        let (start, end) = match (color, tone.ansi()) {
            (true, Some(a)) => (a, "\x1b[0m"),
            _ => ("", ""),
        };
        let pad = label + GAP - c.name.len();
        text.push_str(c.name);
        text.extend(std::iter::repeat_n(' ', pad));
        text.push_str(start);
        text.push_str(value);
        text.push_str(end);
        text.push('\n');
    }
    out.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::render::table::{write_table, TableStyle};

    #[test]
    fn long_holder_lists_are_summarised_only_when_asked() {
        let pids: Vec<u32> = (1234..1275).collect();
        assert_eq!(pid_list(&pids, true), "1234,1235,… (+39)");
        assert_eq!(pid_list(&pids[..3], true), "1234,1235,1236");
        assert_eq!(pid_list(&pids[..4], false), "1234,1235,1236,1237");
        let names = vec!["nginx"; 41];
        assert_eq!(name_list(names.iter().copied(), true), "nginx ×41");
        assert_eq!(name_list(names.iter().copied(), false), "nginx");
        let mixed = ["nginx", "sh", "nginx", "perl", "nginx", "awk"];
        assert_eq!(name_list(mixed.into_iter(), true), "nginx ×3,sh,… (+2)");
        assert_eq!(name_list(mixed[..3].iter().copied(), true), "nginx,sh");
        let users = ["root", "www", "root", "a", "b"];
        assert_eq!(distinct_list(users.into_iter(), true), "root,www,… (+2)");
        assert_eq!(distinct_list(users.into_iter(), false), "root,www,a,b");
        assert_eq!(
            distinct_list(users[..4].iter().copied(), true),
            "root,www,a"
        );
    }

    #[test]
    fn columns_drop_in_order_then_records() {
        let c = |name| Column { name, right: false };
        let cols = [c("PROTO"), c("CLASS"), c("SERVICE"), c("USER")];
        let widths = [5, 10, 8, 6];
        // 5+10+8+6 + 3 gaps of 2 = 35.
        let fits = |hidden: Vec<bool>| Layout::Columns { hidden, clip: None };
        assert_eq!(choose(&cols, &widths, 35), fits(vec![false; 4]));
        assert_eq!(
            choose(&cols, &widths, 34),
            fits(vec![false, true, false, false])
        );
        assert_eq!(
            choose(&cols, &widths, 15),
            fits(vec![false, true, true, false])
        );
        assert_eq!(choose(&cols, &widths, 4), Layout::Records);
        // PROCESS is cut, never below CLIP_MIN, once nothing else can go.
        let cols = [c("PROTO"), c("PROCESS"), c("SERVICE")];
        let widths = [5, 15, 7];
        assert_eq!(
            choose(&cols, &widths, 18),
            Layout::Columns {
                hidden: vec![false, false, true],
                clip: Some(11)
            }
        );
        assert_eq!(choose(&cols, &widths, 14), Layout::Records);
        assert_eq!(clip("systemd-resolve", 8), "systemd…");
        assert_eq!(clip("日本語の名前", 8), "日本語…");
        assert_eq!(clip("python3", 8), "python3");
        assert_eq!(width_of("日本"), 4);
        assert_eq!(width_of("e\u{301}"), 1);
    }

    fn holder(pid: u32, name: &str, user: &str, uid: u32) -> std::sync::Arc<Process> {
        std::sync::Arc::new(Process {
            pid,
            name: name.into(),
            cmdline: vec![],
            user: Some(user.into()),
            uid: Some(uid),
            ppid: None,
            tid: None,
            container: None,
            unit: None,
        })
    }

    /// root's TCP listener on 0.0.0.0:80, held by nobody yet.
    fn http_listener() -> Socket {
        Socket {
            netns: Default::default(),
            cgroup: None,
            protocol: Protocol::Tcp,
            family: Family::Ipv4,
            v6only: None,
            local: Endpoint {
                address: "0.0.0.0".parse().unwrap(),
                port: 80,
            },
            remote: None,
            state: SockState::Listen,
            port_class: PortClass::WellKnown,
            ephemeral: false,
            service: Some("http".into()),
            recv_queue: Some(0),
            send_queue: Some(128),
            inode: 1,
            uid: Some(0),
            user: Some("root".into()),
            owner: Owner::Visible,
            owner_reason: None,
            owner_reason_code: None,
            placement: Default::default(),
            processes: vec![],
        }
    }

    /// A host as the issue found it: a listener shared by 41 nginx processes, an IPv6
    /// connection, a resolver.
    fn busy_host() -> Vec<Socket> {
        let base = http_listener();
        let v = [base];
        let mut web = v[0].clone();
        web.local = Endpoint {
            address: "0.0.0.0".parse().unwrap(),
            port: 80,
        };
        web.service = Some("http".into());
        web.port_class = PortClass::WellKnown;
        web.processes = (1234..1275)
            .map(|pid| {
                let (user, uid) = if pid == 1234 {
                    ("root", 0)
                } else {
                    ("www-data", 33)
                };
                holder(pid, "nginx", user, uid)
            })
            .collect();
        let mut conn = v[0].clone();
        conn.family = Family::Ipv6;
        conn.local = Endpoint {
            address: "2001:db8::17".parse().unwrap(),
            port: 443,
        };
        conn.remote = Some(Endpoint {
            address: "2001:db8:ffff::42".parse().unwrap(),
            port: 51234,
        });
        conn.state = SockState::Established;
        conn.service = Some("https".into());
        conn.port_class = PortClass::WellKnown;
        conn.processes = vec![holder(4242, "python3", "alice", 1000)];
        let mut dns = v[0].clone();
        dns.protocol = Protocol::Udp;
        dns.local = Endpoint {
            address: "127.0.0.53".parse().unwrap(),
            port: 53,
        };
        dns.state = SockState::Unconnected;
        dns.service = Some("domain".into());
        dns.port_class = PortClass::WellKnown;
        dns.send_queue = Some(0);
        dns.processes = vec![holder(611, "systemd-resolve", "systemd-resolve", 991)];
        vec![web, conn, dns]
    }

    fn at(width: Option<u16>, remote: bool, sockets: &[Socket]) -> String {
        let style = TableStyle {
            color: false,
            width,
            shape: crate::render::table::Shape {
                remote,
                netns: false,
            },
        };
        let mut out = Vec::new();
        write_table(&mut out, sockets, style).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn narrow_terminal_never_breaks_a_cell() {
        let host = busy_host();
        // 160 columns, every state: every column, the 41 holders summarised.
        assert_eq!(
            at(Some(160), true, &host),
            "\
PROTO  LOCAL ADDRESS   PORT  REMOTE                     SERVICE  CLASS       STATE        RECV-Q  SEND-Q  PID                PROCESS          USER
tcp    0.0.0.0           80  *                          http     well-known  listen            0     128  1234,1235,… (+39)  nginx ×41        root,www-data
tcp6   [2001:db8::17]   443  [2001:db8:ffff::42]:51234  https    well-known  established       0     128  4242               python3          alice
udp    127.0.0.53        53  *                          domain   well-known  unconnected       0       0  611                systemd-resolve  systemd-resolve
"
        );
        // 100: the low-value columns go, then PROCESS is cut, visibly.
        assert_eq!(
            at(Some(100), true, &host),
            "\
PROTO  LOCAL ADDRESS   PORT  REMOTE                     STATE        PID                PROCESS
tcp    0.0.0.0           80  *                          listen       1234,1235,… (+39)  nginx ×41
tcp6   [2001:db8::17]   443  [2001:db8:ffff::42]:51234  established  4242               python3
udp    127.0.0.53        53  *                          unconnected  611                systemd-res…
"
        );
        // 80, the listening view: a table without the derived and queue columns.
        assert_eq!(
            at(Some(80), false, &host),
            "\
PROTO  LOCAL ADDRESS   PORT  STATE        PID                PROCESS
tcp    0.0.0.0           80  listen       1234,1235,… (+39)  nginx ×41
tcp6   [2001:db8::17]   443  established  4242               python3
udp    127.0.0.53        53  unconnected  611                systemd-resolve
"
        );
        // 80 with an IPv6 remote, and 40: nothing fits, so one field per line, all fields.
        let record = "\
PROTO          tcp6
LOCAL ADDRESS  [2001:db8::17]
PORT           443
REMOTE         [2001:db8:ffff::42]:51234
SERVICE        https
CLASS          well-known
STATE          established
RECV-Q         0
SEND-Q         128
PID            4242
PROCESS        python3
USER           alice
";
        for (w, remote) in [(80, true), (40, true), (40, false)] {
            let text = at(Some(w), remote, &host);
            let records: Vec<&str> = text.split("\n\n").collect();
            assert_eq!(records.len(), 3, "{w}: {text}");
            assert!(records[0].contains("\nPID            1234,1235,… (+39)\n"));
            if remote {
                assert_eq!(format!("{}\n", records[1]), record, "{w}");
            }
        }
        // In every table, no line is wider than the terminal.
        for (w, remote) in [(160, true), (100, true), (80, false)] {
            for line in at(Some(w), remote, &host).lines() {
                assert!(width_of(line) <= usize::from(w), "{w}: {line}");
            }
        }
        // Pipes keep every holder: scripts grep for PIDs.
        let piped = at(None, true, &host);
        assert!(piped.contains("1234,1235,1236,1237,"), "{piped}");
        assert!(piped.contains(",1273,1274  nginx  "), "{piped}");
    }

    #[test]
    fn large_output_on_a_terminal_is_fitted_too() {
        // Beyond COMFY_MAX_ROWS the aligned writer draws: same columns, same summaries.
        let host = busy_host();
        let many: Vec<Socket> = host.iter().cycle().take(2001).cloned().collect();
        let text = at(Some(80), false, &many);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2002);
        assert_eq!(
            lines[0],
            "PROTO  LOCAL ADDRESS   PORT  STATE        PID                PROCESS"
        );
        assert_eq!(
            lines[1],
            "tcp    0.0.0.0           80  listen       1234,1235,… (+39)  nginx ×41"
        );
        for l in &lines {
            assert!(width_of(l) <= 80, "{l}");
        }
    }
}
