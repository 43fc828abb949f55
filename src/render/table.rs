//! Render stage: the table for people. On a terminal the layout is fitted to its width
//! (`render::fit`: summaries, dropped columns, one field per line) and drawn by comfy-table;
//! an aligned writer serves pipes, files and large outputs (at 10,000 rows comfy-table
//! alone costs a quarter of the run and 26 MiB), with one line per socket so grep and awk
//! work.

use crate::model::{Owner, SockState, Socket};
pub use crate::render::cells::{Column, Tone};
use crate::render::fit::{self, width_of, Layout};
use crate::render::sanitize::sanitize;
use comfy_table::{
    presets, Attribute, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table,
};
use std::io::{self, Write};

/// Above this many rows the aligned writer is used even on a terminal.
pub const COMFY_MAX_ROWS: usize = 2000;

/// Rendering choices made once by the command.
#[derive(Debug, Clone, Copy)]
pub struct TableStyle {
    pub color: bool,
    /// Some(width) on a terminal: fit it (summarised holder lists, columns dropped, or one
    /// field per line). None: aligned lines, every holder, no limit.
    pub width: Option<u16>,
    pub shape: Shape,
}

/// Which optional columns the table has: REMOTE (any state other than listening shown) and
/// NETNS (sockets of more than one network namespace shown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    pub remote: bool,
    pub netns: bool,
}

impl Shape {
    /// NETNS appears when the rows span namespaces, or live in one other than ours.
    pub fn of(sockets: &[Socket], remote: bool) -> Shape {
        let first = sockets.first().map(|s| &s.netns);
        Shape {
            remote,
            netns: sockets
                .iter()
                .any(|s| Some(&s.netns) != first || !s.netns.current),
        }
    }
}

/// What the NETNS column says: the holder's container, else the `ip netns` name, else the
/// namespace inode. (The container comes first: engines name their namespaces with
/// generated ids, `netns-7ed39143-…`, which tell a person nothing.)
pub fn netns_label(s: &Socket) -> String {
    if !s.netns.current {
        if let Some(c) = s.placement.container_label() {
            return sanitize(&c).into_owned();
        }
    }
    if let Some(n) = &s.netns.name {
        return sanitize(n).into_owned();
    }
    match s.netns.inode {
        _ if s.netns.current => "current".to_string(),
        Some(i) => i.to_string(),
        None => "?".to_string(),
    }
}

pub fn columns(shape: Shape) -> Vec<Column> {
    let c = |name, right| Column { name, right };
    let mut v = Vec::new();
    if shape.netns {
        v.push(c("NETNS", false));
    }
    v.extend([
        c("PROTO", false),
        c("LOCAL ADDRESS", false),
        c("PORT", true),
    ]);
    if shape.remote {
        v.push(c("REMOTE", false));
    }
    v.extend([
        c("SERVICE", false),
        c("CLASS", false),
        c("STATE", false),
        c("RECV-Q", true),
        c("SEND-Q", true),
        c("PID", false),
        c("PROCESS", false),
        c("USER", false),
    ]);
    v
}

/// `tcp`/`udp` for IPv4, `tcp6` for IPv6, `tcp46` for a dual-stack IPv6 wildcard socket
/// (which also accepts IPv4), as BSD netstat writes it.
pub fn proto_label(s: &Socket) -> String {
    s.proto_label()
}

fn addr_text(a: &std::net::IpAddr) -> String {
    match a {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// A number the source may not know: "-" then.
fn opt_num(v: Option<u32>) -> String {
    v.map_or_else(|| "-".into(), |n| n.to_string())
}

/// The cells of one socket's row, already sanitized; `summary` shortens long holder lists.
pub fn row(s: &Socket, shape: Shape, summary: bool) -> Vec<(String, Tone)> {
    let mut r = Vec::with_capacity(14);
    if shape.netns {
        r.push((netns_label(s), Tone::Dim));
    }
    r.extend([
        (proto_label(s), Tone::Plain),
        (addr_text(&s.local.address), Tone::Plain),
        (s.local.port.to_string(), Tone::Plain),
    ]);
    if shape.remote {
        r.push((
            s.remote.map_or_else(|| "*".to_string(), |e| e.to_string()),
            Tone::Plain,
        ));
    }
    let class = if s.ephemeral {
        format!("{},eph", s.port_class.as_str())
    } else {
        s.port_class.as_str().to_string()
    };
    let state_tone = match s.state {
        SockState::Listen | SockState::Unconnected => Tone::Good,
        SockState::Established | SockState::Connected => Tone::Info,
        _ => Tone::Dim,
    };
    r.extend([
        (s.service.as_deref().unwrap_or("-").to_string(), Tone::Plain),
        (class, Tone::Plain),
        (s.state.as_str().to_string(), state_tone),
        (opt_num(s.recv_queue), Tone::Plain),
        (opt_num(s.send_queue), Tone::Plain),
    ]);
    if s.processes.is_empty() {
        let tone = if s.owner == Owner::Hidden {
            Tone::Warn
        } else {
            Tone::Dim
        };
        let user = match (s.owner, &s.user) {
            (Owner::Hidden, Some(u)) => sanitize(u).into_owned(),
            (Owner::Hidden, None) => opt_num(s.uid),
            _ => "-".into(),
        };
        r.extend([("-".into(), tone), ("-".into(), tone), (user, Tone::Plain)]);
    } else {
        let pids: Vec<u32> = s.processes.iter().map(|p| p.pid).collect();
        let names = fit::name_list(s.processes.iter().map(|p| p.name.as_str()), summary);
        let users: Vec<String> = s
            .processes
            .iter()
            .map(|p| match (&p.user, p.uid) {
                (Some(u), _) => u.clone(),
                (None, Some(uid)) => uid.to_string(),
                (None, None) => "-".into(),
            })
            .collect();
        let users = fit::distinct_list(users.iter().map(String::as_str), summary);
        // A host port a container engine holds for a container: say which container.
        let names = match s
            .placement
            .published
            .as_ref()
            .and_then(|p| p.container.as_ref())
        {
            Some(c) => format!("{names} (for container {})", c.label()),
            None => names,
        };
        r.extend([
            (fit::pid_list(&pids, summary), Tone::Plain),
            (sanitize(&names).into_owned(), Tone::Plain),
            (sanitize(&users).into_owned(), Tone::Plain),
        ]);
    }
    r
}

/// Writes the table: fitted to a terminal's width, or aligned lines for pipes and files.
pub fn write_table(out: &mut dyn Write, sockets: &[Socket], style: TableStyle) -> io::Result<()> {
    let cols = columns(style.shape);
    let Some(width) = style.width else {
        let widths = natural_widths(&cols, sockets, style.shape, false);
        let shown = vec![true; cols.len()];
        let fitted = Fitted {
            widths: &widths,
            shown: &shown,
            clip: None,
        };
        return write_aligned(out, &cols, sockets, style, false, &fitted);
    };
    let widths = natural_widths(&cols, sockets, style.shape, true);
    match fit::choose(&cols, &widths, usize::from(width)) {
        Layout::Records => {
            for (i, s) in sockets.iter().enumerate() {
                let r = row(s, style.shape, true);
                fit::write_record(out, &cols, &r, i == 0, style.color)?;
            }
            Ok(())
        }
        Layout::Columns { hidden, clip } if sockets.len() <= COMFY_MAX_ROWS => {
            let rows: Vec<Vec<(String, Tone)>> = sockets
                .iter()
                .map(|s| clipped(&cols, row(s, style.shape, true), clip))
                .collect();
            out.write_all(comfy(&cols, &rows, &hidden, style.color).as_bytes())?;
            out.write_all(b"\n")
        }
        Layout::Columns { hidden, clip } => {
            let shown: Vec<bool> = hidden.iter().map(|h| !h).collect();
            let mut widths = widths;
            if let (Some(max), Some(i)) = (clip, cols.iter().position(|c| c.name == "PROCESS")) {
                widths[i] = max;
            }
            let fitted = Fitted {
                widths: &widths,
                shown: &shown,
                clip,
            };
            write_aligned(out, &cols, sockets, style, true, &fitted)
        }
    }
}

/// The row with its PROCESS cell cut to `clip` columns, when the layout cuts it.
fn clipped(
    cols: &[Column],
    mut r: Vec<(String, Tone)>,
    clip: Option<usize>,
) -> Vec<(String, Tone)> {
    if let Some(max) = clip {
        for (cell, c) in r.iter_mut().zip(cols) {
            if c.name == "PROCESS" {
                cell.0 = fit::clip(&cell.0, max).into_owned();
            }
        }
    }
    r
}

/// Display width of each column: its header and its widest cell.
fn natural_widths(cols: &[Column], sockets: &[Socket], shape: Shape, summary: bool) -> Vec<usize> {
    let mut widths: Vec<usize> = cols.iter().map(|c| c.name.len()).collect();
    for s in sockets {
        for (w, (text, _)) in widths.iter_mut().zip(row(s, shape, summary)) {
            *w = (*w).max(width_of(&text));
        }
    }
    widths
}

/// comfy-table draws what `fit` decided: hidden columns hidden, every other one as wide as
/// its content, so no cell is ever wrapped.
fn comfy(cols: &[Column], rows: &[Vec<(String, Tone)>], hidden: &[bool], color: bool) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(cols.iter().map(|c| {
        let cell = Cell::new(c.name);
        if color {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    }));
    for r in rows {
        t.add_row(r.iter().zip(cols).map(|((text, tone), col)| {
            let mut cell = Cell::new(text);
            if col.right {
                cell = cell.set_alignment(CellAlignment::Right);
            }
            match tone.color() {
                Some(c) if color => cell.fg(c),
                _ => cell,
            }
        }));
    }
    // Styled cells carry their padding inside the colour codes, where trimming the line
    // cannot reach it: the last column gets none, so a coloured line is no wider either.
    let last = hidden.iter().rposition(|h| !h).unwrap_or(0);
    for (i, c) in cols.iter().enumerate() {
        let Some(col) = t.column_mut(i) else { continue };
        col.set_padding((0, if i == last { 0 } else { fit::GAP as u16 }));
        if c.right {
            col.set_cell_alignment(CellAlignment::Right);
        }
        col.set_constraint(if hidden[i] {
            ColumnConstraint::Hidden
        } else {
            ColumnConstraint::ContentWidth
        });
    }
    // The NOTHING preset pads each cell by one space on both sides; trim line ends.
    t.lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line per socket in columns of the given widths (the first pass over the sockets),
/// so memory stays that of one row however many sockets there are.
fn write_aligned(
    out: &mut dyn Write,
    cols: &[Column],
    sockets: &[Socket],
    style: TableStyle,
    summary: bool,
    w: &Fitted,
) -> io::Result<()> {
    let mut line = String::with_capacity(256);
    let header: Vec<(String, Tone)> = cols
        .iter()
        .map(|c| (c.name.to_string(), Tone::Plain))
        .collect();
    write_line(out, &mut line, cols, w, &header, style.color, true)?;
    for s in sockets {
        let r = clipped(cols, row(s, style.shape, summary), w.clip);
        write_line(out, &mut line, cols, w, &r, style.color, false)?;
    }
    Ok(())
}

/// What the aligned writer needs of the layout: widths, shown columns, PROCESS's cut.
struct Fitted<'a> {
    widths: &'a [usize],
    shown: &'a [bool],
    clip: Option<usize>,
}

fn write_line(
    out: &mut dyn Write,
    line: &mut String,
    cols: &[Column],
    w: &Fitted,
    cells: &[(String, Tone)],
    color: bool,
    header: bool,
) -> io::Result<()> {
    line.clear();
    let mut first = true;
    for (i, ((text, tone), col)) in cells.iter().zip(cols).enumerate() {
        if !w.shown[i] {
            continue;
        }
        if !first {
            line.push_str("  ");
        }
        first = false;
        let pad = w.widths[i].saturating_sub(width_of(text));
        let (start, end) = match (color, header, tone.ansi()) {
            (true, true, _) => ("\x1b[1m", "\x1b[0m"),
            (true, false, Some(a)) => (a, "\x1b[0m"),
            _ => ("", ""),
        };
        if col.right {
            line.extend(std::iter::repeat_n(' ', pad));
        }
        line.push_str(start);
        line.push_str(text);
        line.push_str(end);
        if !col.right {
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    out.write_all(line.trim_end().as_bytes())?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    pub(crate) fn sample() -> Vec<Socket> {
        let mk = |addr: &str, port: u16, v6only, name: &str, pid| Socket {
            netns: Default::default(),
            cgroup: None,
            protocol: Protocol::Tcp,
            family: if addr.contains(':') {
                Family::Ipv6
            } else {
                Family::Ipv4
            },
            v6only,
            local: Endpoint {
                address: addr.parse().unwrap(),
                port,
            },
            remote: None,
            state: SockState::Listen,
            port_class: PortClass::Registered,
            ephemeral: false,
            service: Some("http-alt".into()),
            recv_queue: Some(0),
            send_queue: Some(128),
            inode: 1,
            uid: Some(1000),
            user: Some("alice".into()),
            owner: Owner::Visible,
            owner_reason: None,
            owner_reason_code: None,
            placement: Default::default(),
            processes: vec![std::sync::Arc::new(Process {
                pid,
                name: name.into(),
                cmdline: vec![],
                user: Some("alice".into()),
                uid: Some(1000),
                ppid: None,
                tid: None,
                container: None,
                unit: None,
            })],
        };
        let mut hidden = mk("::", 8080, Some(false), "x", 1);
        hidden.processes.clear();
        hidden.owner = Owner::Hidden;
        hidden.owner_reason = Some(crate::model::OwnerReason::Denied);
        vec![
            mk("127.0.0.1", 8080, None, "python3", 4242),
            mk("::1", 8081, Some(true), "evil\x1b[2Jname", 7),
            hidden,
        ]
    }

    #[test]
    fn aligned_output_is_pinned() {
        let mut out = Vec::new();
        let style = TableStyle {
            color: false,
            width: None,
            shape: Shape {
                remote: false,
                netns: false,
            },
        };
        write_table(&mut out, &sample(), style).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = "\
PROTO  LOCAL ADDRESS  PORT  SERVICE   CLASS       STATE   RECV-Q  SEND-Q  PID   PROCESS          USER
tcp    127.0.0.1      8080  http-alt  registered  listen       0     128  4242  python3          alice
tcp6   [::1]          8081  http-alt  registered  listen       0     128  7     evil\\x1b[2Jname  alice
tcp46  [::]           8080  http-alt  registered  listen       0     128  -     -                alice
";
        assert_eq!(text, expected);
    }

    #[test]
    fn comfy_output_fits_the_pinned_width_without_escapes() {
        let style = TableStyle {
            color: false,
            width: Some(80),
            shape: Shape {
                remote: true,
                netns: false,
            },
        };
        let mut out = Vec::new();
        write_table(&mut out, &sample(), style).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "too wide: {line:?}");
        }
        assert!(!text.contains('\x1b'), "raw escape leaked: {text:?}");
        let header = text.lines().next().unwrap();
        // Too narrow for everything: the queue columns go first, nothing key is broken.
        assert!(
            header.starts_with("PROTO  LOCAL ADDRESS  PORT  REMOTE"),
            "{header}"
        );
        assert!(
            !header.contains("SEND-Q") && !header.contains("RECV-Q"),
            "{header}"
        );
        assert!(
            header.contains("STATE") && header.contains("PID"),
            "{header}"
        );
        assert!(text.contains("tcp46  [::]"), "{text}");
        assert!(
            text.contains("127.0.0.1") && text.contains("4242"),
            "{text}"
        );
        // Wide enough: every column, one line per socket.
        let mut out = Vec::new();
        let wide = TableStyle {
            width: Some(200),
            ..style
        };
        write_table(&mut out, &sample(), wide).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.lines().next().unwrap().contains("SEND-Q"));
    }

    #[test]
    fn zero_width_name_does_not_pass_for_another_in_the_table() {
        let mut s = sample();
        let p = std::sync::Arc::make_mut(&mut s[0].processes[0]);
        p.name = "sshd\u{200b}\u{202e}\u{feff}".into();
        for width in [None, Some(160)] {
            let mut out = Vec::new();
            let style = TableStyle {
                color: false,
                width,
                shape: Shape {
                    remote: false,
                    netns: false,
                },
            };
            write_table(&mut out, &s[..1], style).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.contains("sshd\\u{200b}\\u{202e}\\u{feff}"),
                "{width:?}: {text}"
            );
        }
    }

    #[test]
    fn colour_only_when_asked() {
        let mut out = Vec::new();
        let style = TableStyle {
            color: true,
            width: None,
            shape: Shape {
                remote: false,
                netns: false,
            },
        };
        write_table(&mut out, &sample()[..1], style).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("\x1b[1mPROTO\x1b[0m"));
        assert!(text.contains("\x1b[32mlisten\x1b[0m"));
    }
}
