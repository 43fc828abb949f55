//! Render stage: the table for people. comfy-table fits a terminal's width; an aligned
//! writer serves pipes, files and large outputs (at 10,000 rows comfy-table alone costs a
//! quarter of the run and 26 MiB), with one line per socket so grep and awk work.

use crate::model::{Family, Owner, SockState, Socket};
use crate::render::sanitize::sanitize;
use comfy_table::{
    presets, Attribute, Cell, CellAlignment, Color, ColumnConstraint, ContentArrangement, Table,
};
use std::io::{self, Write};

/// How one cell is coloured when colour is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Info,
    Dim,
    Warn,
}

impl Tone {
    fn ansi(self) -> Option<&'static str> {
        match self {
            Tone::Plain => None,
            Tone::Good => Some("\x1b[32m"),
            Tone::Info => Some("\x1b[36m"),
            Tone::Dim => Some("\x1b[2m"),
            Tone::Warn => Some("\x1b[33m"),
        }
    }

    fn color(self) -> Option<Color> {
        match self {
            Tone::Plain => None,
            Tone::Good => Some(Color::Green),
            Tone::Info => Some(Color::Cyan),
            Tone::Dim => Some(Color::DarkGrey),
            Tone::Warn => Some(Color::Yellow),
        }
    }
}

/// Rendering choices made once by the command.
#[derive(Debug, Clone, Copy)]
pub struct TableStyle {
    pub color: bool,
    /// Some(width) on a terminal: fit it with comfy-table. None: aligned lines, no limit.
    pub width: Option<u16>,
    pub show_remote: bool,
}

/// Above this many rows the aligned writer is used even on a terminal.
pub const COMFY_MAX_ROWS: usize = 2000;

pub struct Column {
    pub name: &'static str,
    pub right: bool,
}

pub fn columns(show_remote: bool) -> Vec<Column> {
    let c = |name, right| Column { name, right };
    let mut v = vec![
        c("PROTO", false),
        c("LOCAL ADDRESS", false),
        c("PORT", true),
    ];
    if show_remote {
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
    let p = s.protocol.as_str();
    match s.family {
        Family::Ipv4 => p.to_string(),
        Family::Ipv6 if s.is_dual_stack() => format!("{p}46"),
        Family::Ipv6 => format!("{p}6"),
    }
}

fn addr_text(a: &std::net::IpAddr) -> String {
    match a {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn dedup_join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for i in items {
        if !seen.contains(&i) {
            seen.push(i);
        }
    }
    seen.join(",")
}

/// The cells of one socket's row, already sanitized.
pub fn row(s: &Socket, show_remote: bool) -> Vec<(String, Tone)> {
    let mut r = vec![
        (proto_label(s), Tone::Plain),
        (addr_text(&s.local.address), Tone::Plain),
        (s.local.port.to_string(), Tone::Plain),
    ];
    if show_remote {
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
        (s.recv_queue.to_string(), Tone::Plain),
        (s.send_queue.to_string(), Tone::Plain),
    ]);
    if s.processes.is_empty() {
        let tone = if s.owner == Owner::Hidden {
            Tone::Warn
        } else {
            Tone::Dim
        };
        let user = match (s.owner, &s.user) {
            (Owner::Hidden, Some(u)) => sanitize(u).into_owned(),
            (Owner::Hidden, None) => s.uid.to_string(),
            _ => "-".into(),
        };
        r.extend([("-".into(), tone), ("-".into(), tone), (user, Tone::Plain)]);
    } else {
        let pids: Vec<String> = s.processes.iter().map(|p| p.pid.to_string()).collect();
        let names = dedup_join(s.processes.iter().map(|p| p.name.as_str()));
        let users: Vec<String> = s
            .processes
            .iter()
            .map(|p| match (&p.user, p.uid) {
                (Some(u), _) => u.clone(),
                (None, Some(uid)) => uid.to_string(),
                (None, None) => "-".into(),
            })
            .collect();
        let users = dedup_join(users.iter().map(String::as_str));
        r.extend([
            (pids.join(","), Tone::Plain),
            (sanitize(&names).into_owned(), Tone::Plain),
            (sanitize(&users).into_owned(), Tone::Plain),
        ]);
    }
    r
}

/// Writes the table: comfy-table when fitting a terminal, aligned lines otherwise.
pub fn write_table(out: &mut dyn Write, sockets: &[Socket], style: TableStyle) -> io::Result<()> {
    let cols = columns(style.show_remote);
    match style.width {
        Some(w) if sockets.len() <= COMFY_MAX_ROWS => {
            let rows: Vec<Vec<(String, Tone)>> =
                sockets.iter().map(|s| row(s, style.show_remote)).collect();
            out.write_all(comfy(&cols, &rows, w, style.color).as_bytes())?;
            out.write_all(b"\n")
        }
        _ => write_aligned(out, &cols, sockets, style),
    }
}

fn comfy(cols: &[Column], rows: &[Vec<(String, Tone)>], width: u16, color: bool) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width);
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
    // Fit the terminal: first drop the columns people miss least, then let only the
    // free-text columns wrap; addresses, ports and states are never broken.
    let natural: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].0.chars().count())
                .max()
                .unwrap_or(0)
                .max(c.name.len())
                + 2
        })
        .collect();
    let mut total: usize = natural.iter().sum();
    let mut hidden = Vec::new();
    for name in ["SEND-Q", "RECV-Q", "CLASS", "SERVICE"] {
        if total <= usize::from(width) {
            break;
        }
        if let Some(i) = cols.iter().position(|c| c.name == name) {
            total -= natural[i];
            hidden.push(i);
        }
    }
    for (i, c) in cols.iter().enumerate() {
        let Some(col) = t.column_mut(i) else { continue };
        col.set_padding((0, 2));
        if c.right {
            col.set_cell_alignment(CellAlignment::Right);
        }
        if hidden.contains(&i) {
            col.set_constraint(ColumnConstraint::Hidden);
        } else if !matches!(c.name, "REMOTE" | "PROCESS" | "USER") {
            col.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    // The NOTHING preset pads each cell by one space on both sides; trim line ends.
    t.lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Two passes over the sockets, one for the column widths and one to write, so memory
/// stays that of one row however many sockets there are.
fn write_aligned(
    out: &mut dyn Write,
    cols: &[Column],
    sockets: &[Socket],
    style: TableStyle,
) -> io::Result<()> {
    let mut widths: Vec<usize> = cols.iter().map(|c| c.name.len()).collect();
    for s in sockets {
        for (w, (text, _)) in widths.iter_mut().zip(row(s, style.show_remote)) {
            *w = (*w).max(text.chars().count());
        }
    }
    let mut line = String::with_capacity(256);
    let header: Vec<(String, Tone)> = cols
        .iter()
        .map(|c| (c.name.to_string(), Tone::Plain))
        .collect();
    write_line(out, &mut line, cols, &widths, &header, style.color, true)?;
    for s in sockets {
        let r = row(s, style.show_remote);
        write_line(out, &mut line, cols, &widths, &r, style.color, false)?;
    }
    Ok(())
}

fn write_line(
    out: &mut dyn Write,
    line: &mut String,
    cols: &[Column],
    widths: &[usize],
    cells: &[(String, Tone)],
    color: bool,
    header: bool,
) -> io::Result<()> {
    let last = cols.len() - 1;
    line.clear();
    for (i, ((text, tone), col)) in cells.iter().zip(cols).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        let pad = widths[i].saturating_sub(text.chars().count());
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
        if !col.right && i != last {
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
            recv_queue: 0,
            send_queue: 128,
            inode: 1,
            uid: 1000,
            user: Some("alice".into()),
            owner: Owner::Visible,
            owner_reason: None,
            processes: vec![std::sync::Arc::new(Process {
                pid,
                name: name.into(),
                cmdline: vec![],
                user: Some("alice".into()),
                uid: Some(1000),
                ppid: None,
            })],
        };
        let mut hidden = mk("::", 8080, Some(false), "x", 1);
        hidden.processes.clear();
        hidden.owner = Owner::Hidden;
        hidden.owner_reason = Some("permission denied".into());
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
            show_remote: false,
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
            show_remote: true,
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
                show_remote: false,
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
            show_remote: false,
        };
        write_table(&mut out, &sample()[..1], style).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("\x1b[1mPROTO\x1b[0m"));
        assert!(text.contains("\x1b[32mlisten\x1b[0m"));
    }
}
