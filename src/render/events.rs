//! Render stage: change events (`watch`, `diff`) as text lines for people or JSON Lines for
//! log pipelines, one line per event; the caller flushes.

use crate::model::{Process, Socket};
use crate::render::json::{self, SCHEMA_VERSION};
use crate::render::sanitize::sanitize;
use crate::watch::{Actor, Event, EventKind};
use serde::Serialize;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// One JSON Lines record. Fields may be added (schema_version 1); none renamed.
#[derive(Serialize)]
struct Line<'a> {
    schema_version: u32,
    ts: &'a str,
    host: &'a str,
    event: &'static str,
    socket: &'a Socket,
    /// Who made the change (event mode); absent when polling, so polling's lines keep
    /// their shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'a Actor>,
}

/// `{"schema_version":1,"ts":..,"host":..,"event":"lost","lost":N}`: N kernel events the
/// ring buffer had no room for.
#[derive(Serialize)]
struct LostLine<'a> {
    schema_version: u32,
    ts: &'a str,
    host: &'a str,
    event: &'static str,
    lost: u64,
}

/// `{"schema_version":1,"ts":..,"host":..,"event":..,"socket":{..}}` and a newline.
pub fn write_jsonl(out: &mut dyn Write, e: &Event, ts: &str, host: &str) -> io::Result<()> {
    let line = Line {
        schema_version: SCHEMA_VERSION,
        ts,
        host,
        event: e.kind.as_str(),
        socket: &e.socket,
        by: e.by.as_ref(),
    };
    json::to_writer(&mut *out, &line, false)?;
    out.write_all(b"\n")
}

/// A `lost` event: as JSON Lines, or `! TS lost N events ...` as text.
pub fn write_lost(
    out: &mut dyn Write,
    lost: u64,
    ts: &str,
    host: &str,
    jsonl: bool,
) -> io::Result<()> {
    if jsonl {
        let line = LostLine {
            schema_version: SCHEMA_VERSION,
            ts,
            host,
            event: "lost",
            lost,
        };
        json::to_writer(&mut *out, &line, false)?;
        out.write_all(b"\n")
    } else {
        writeln!(
            out,
            "! {ts} lost {lost} events: the kernel's ring buffer was full"
        )
    }
}

/// ` by comm[pid] user (container NAME, unit UNIT)`, sanitized.
fn actor_text(a: &Actor) -> String {
    let user = a.user.clone().unwrap_or_else(|| a.uid.to_string());
    let mut text = format!(" by {}[{}] {user}", a.comm, a.pid);
    let mut place = Vec::new();
    if let Some(c) = &a.container {
        place.push(format!("container {}", c.name.as_deref().unwrap_or(&c.id)));
    }
    if let Some(u) = &a.unit {
        place.push(format!("unit {u}"));
    }
    if !place.is_empty() {
        text.push_str(&format!(" ({})", place.join(", ")));
    }
    sanitize(&text).into_owned()
}

/// `name[pid],name[pid] user` or `- (why no owner)`, sanitized.
fn owners_text(s: &Socket, processes: &[Arc<Process>]) -> String {
    if processes.is_empty() {
        return match s.owner_reason {
            Some(r) => format!("- ({r})"),
            None => "-".to_string(),
        };
    }
    let holders: Vec<String> = processes
        .iter()
        .map(|p| format!("{}[{}]", p.name, p.pid))
        .collect();
    let mut users: Vec<String> = Vec::new();
    for p in processes {
        let u = match (&p.user, p.uid) {
            (Some(u), _) => u.clone(),
            (None, Some(uid)) => uid.to_string(),
            (None, None) => "-".into(),
        };
        if !users.contains(&u) {
            users.push(u);
        }
    }
    sanitize(&format!("{} {}", holders.join(","), users.join(","))).into_owned()
}

/// `+ TS PROTO LOCAL REMOTE STATE OWNERS USERS`, `~ ... (was OWNERS USERS)`; without TS when
/// `ts` is None (`diff`). Fixed fields up to the owners, so awk can split them.
pub fn write_text(out: &mut dyn Write, e: &Event, ts: Option<&str>, color: bool) -> io::Result<()> {
    let s = &e.socket;
    let (start, end) = match (color, e.kind) {
        (false, _) | (true, EventKind::Snapshot) => ("", ""),
        (true, EventKind::Added) => ("\x1b[32m", "\x1b[0m"),
        (true, EventKind::Removed) => ("\x1b[31m", "\x1b[0m"),
        (true, EventKind::OwnerChanged) => ("\x1b[33m", "\x1b[0m"),
    };
    let mut line = format!("{start}{}{end} ", e.kind.sign());
    if let Some(ts) = ts {
        if color {
            line.push_str(&format!("\x1b[2m{ts}\x1b[0m "));
        } else {
            line.push_str(ts);
            line.push(' ');
        }
    }
    // Another namespace than ours: say which, or the same address in two reads alike.
    // Named as the table's NETNS column names it: the container first.
    if !s.netns.current {
        let ns = match (
            s.placement.container.is_some(),
            &s.netns.name,
            s.netns.inode,
        ) {
            (true, _, _) | (false, Some(_), _) => crate::render::table::netns_label(s),
            (false, None, Some(i)) => format!("net:[{i}]"),
            (false, None, None) => "net:[?]".to_string(),
        };
        line.push_str(&format!("netns={ns} "));
    }
    let remote = s.remote.map_or_else(|| "*".to_string(), |r| r.to_string());
    line.push_str(&format!(
        "{} {} {} {} {}",
        s.proto_label(),
        s.local,
        remote,
        s.state,
        owners_text(s, &s.processes)
    ));
    if let Some(before) = &e.previous {
        line.push_str(&format!(" (was {})", owners_text(s, before)));
    }
    if let Some(by) = &e.by {
        line.push_str(&actor_text(by));
    }
    line.push('\n');
    out.write_all(line.as_bytes())
}

/// RFC 3339 in UTC with milliseconds: `2026-11-22T04:31:18.123Z`. UTC always, never the
/// local zone, so a log line means the same everywhere.
pub fn rfc3339_ms(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use std::time::Duration;

    fn event(kind: EventKind, previous: Option<Vec<Arc<Process>>>) -> Event {
        let p = |pid, name: &str| {
            Arc::new(Process {
                pid,
                name: name.into(),
                cmdline: vec!["x".into()],
                user: Some("alice".into()),
                uid: Some(1000),
                ppid: None,
                tid: None,
                container: None,
                unit: None,
            })
        };
        Event {
            kind,
            socket: Socket {
                netns: Default::default(),
                cgroup: None,
                protocol: Protocol::Tcp,
                family: Family::Ipv6,
                v6only: Some(false),
                local: Endpoint {
                    address: "::".parse().unwrap(),
                    port: 8080,
                },
                remote: None,
                state: SockState::Listen,
                port_class: PortClass::Registered,
                ephemeral: false,
                service: Some("http-alt".into()),
                recv_queue: Some(0),
                send_queue: Some(128),
                inode: 4711,
                uid: Some(1000),
                user: Some("alice".into()),
                owner: Owner::Visible,
                owner_reason: None,
                owner_reason_code: None,
                placement: Default::default(),
                processes: vec![p(10, "nginx"), p(11, "evil\x1b[2J")],
            },
            previous,
            by: None,
        }
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let at = |s: u64, ms: u64| {
            rfc3339_ms(UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.007Z");
        assert_eq!(at(1_795_321_878, 123), "2026-11-22T04:31:18.123Z");
        assert_eq!(at(4_102_444_799, 999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn text_lines_are_pinned_and_sanitized() {
        let mut out = Vec::new();
        let ts = "2026-11-22T04:31:18.123Z";
        write_text(&mut out, &event(EventKind::Added, None), Some(ts), false).unwrap();
        let before = event(EventKind::Added, None).socket.processes[..1].to_vec();
        let changed = event(EventKind::OwnerChanged, Some(before));
        write_text(&mut out, &changed, None, false).unwrap();
        let mut hidden = event(EventKind::Removed, None);
        hidden.socket.processes.clear();
        hidden.socket.owner = Owner::Hidden;
        hidden.socket.owner_reason = Some(OwnerReason::Denied);
        write_text(&mut out, &hidden, Some(ts), false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "+ 2026-11-22T04:31:18.123Z tcp46 [::]:8080 * listen nginx[10],evil\\x1b[2J[11] alice\n\
             ~ tcp46 [::]:8080 * listen nginx[10],evil\\x1b[2J[11] alice (was nginx[10] alice)\n\
             - 2026-11-22T04:31:18.123Z tcp46 [::]:8080 * listen - (permission denied: held by a process whose descriptors portscope may not read)\n"
        );
        let mut out = Vec::new();
        write_text(&mut out, &event(EventKind::Removed, None), Some(ts), true).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("\x1b[31m-\x1b[0m \x1b[2m2026"), "{text:?}");
        assert!(!text.contains("\x1b[2J"), "{text:?}");
    }

    #[test]
    fn jsonl_carries_every_field_and_the_list_socket_object() {
        let mut out = Vec::new();
        let e = event(EventKind::OwnerChanged, Some(vec![]));
        write_jsonl(&mut out, &e, "2026-11-22T04:31:18.123Z", "web1").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.ends_with("}\n"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["event", "host", "schema_version", "socket", "ts"]);
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["event"], "owner_changed");
        assert_eq!(v["host"], "web1");
        assert_eq!(v["ts"], "2026-11-22T04:31:18.123Z");
        let s: Socket = serde_json::from_value(v["socket"].clone()).unwrap();
        assert_eq!(s, e.socket);
    }

    #[test]
    fn by_and_lost_lines_are_pinned() {
        let mut e = event(EventKind::Added, None);
        e.by = Some(Actor {
            pid: 10,
            comm: "ngi\x1bnx".into(),
            uid: 1000,
            user: Some("alice".into()),
            container: None,
            unit: Some("nginx.service".into()),
        });
        let ts = "2026-11-22T04:31:18.123Z";
        let mut out = Vec::new();
        write_text(&mut out, &e, Some(ts), false).unwrap();
        write_lost(&mut out, 7, ts, "web1", false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "+ 2026-11-22T04:31:18.123Z tcp46 [::]:8080 * listen nginx[10],evil\\x1b[2J[11] alice by ngi\\x1bnx[10] alice (unit nginx.service)\n\
             ! 2026-11-22T04:31:18.123Z lost 7 events: the kernel's ring buffer was full\n"
        );
        let mut out = Vec::new();
        write_jsonl(&mut out, &e, ts, "web1").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["by"]["pid"], 10);
        assert_eq!(v["by"]["unit"], "nginx.service");
        let a: Actor = serde_json::from_value(v["by"].clone()).unwrap();
        assert_eq!(Some(a), e.by);
        let mut out = Vec::new();
        write_lost(&mut out, 7, ts, "web1", true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"schema_version\":1,\"ts\":\"2026-11-22T04:31:18.123Z\",\"host\":\"web1\",\"event\":\"lost\",\"lost\":7}\n"
        );
    }
}
