//! Render stage: the Prometheus text exposition format (version 0.0.4), for node_exporter's
//! textfile collector. Plain rows in, any writer out.
//!
//! Low cardinality by design: no PID, inode, command line or remote address label, and
//! listeners on ports in this host's ephemeral range are folded into one series per owner
//! (port="ephemeral"), so a service that binds a random port at each start does not leave a
//! trail of dead series behind.

use crate::model::{Owner, Protocol, ReasonCode, SockState, Socket};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the renderer needs to know beyond the rows.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// How long reading the tables and owners took.
    pub collect_duration: Duration,
    /// When the rows were read.
    pub timestamp: SystemTime,
}

/// The port label of listeners folded by the ephemeral rule.
pub const EPHEMERAL_PORT_LABEL: &str = "ephemeral";

/// Exposure values of `portscope_listeners`, in output order.
pub const EXPOSURES: [&str; 3] = ["loopback", "any", "specific"];

/// The `reason` label values of hidden owners, always written (zero included): the
/// owner reason codes a hidden socket can have (JSON `owner_reason_code`).
pub const HIDDEN_REASONS: [ReasonCode; 7] = [
    ReasonCode::PermissionDenied,
    ReasonCode::OtherNamespace,
    ReasonCode::NotSearched,
    ReasonCode::ProcUnreadable,
    ReasonCode::FdLimit,
    ReasonCode::NotLookedUp,
    ReasonCode::OwnerSourceFailed,
];

/// Escapes a label value as the format requires: backslash, double quote and line feed.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The listener's exposure: loopback only, every address (wildcard), or one address.
pub fn exposure(address: &IpAddr) -> &'static str {
    let a = address.to_canonical();
    if a.is_loopback() {
        "loopback"
    } else if a.is_unspecified() {
        "any"
    } else {
        "specific"
    }
}

/// One `portscope_listener_info` series. Field order is the sort order of the output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct InfoKey {
    protocol: Protocol,
    /// The port; 65536 for the folded ephemeral series, so they sort last.
    port: u32,
    address: IpAddr,
    v6only: Option<bool>,
    process: String,
    user: String,
    unit: String,
    container: String,
    netns: String,
}

impl InfoKey {
    fn of(s: &Socket) -> InfoKey {
        let mut names: Vec<&str> = s.processes.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let place = &s.placement;
        InfoKey {
            protocol: s.protocol,
            port: if s.ephemeral {
                65536
            } else {
                u32::from(s.local.port)
            },
            address: s.local.address,
            v6only: s.v6only,
            // Several holders with different names (rare: passed descriptors) give one
            // series naming them all, so the series stays one per socket.
            process: names.join(","),
            user: s
                .user
                .as_deref()
                .map(str::to_owned)
                .or_else(|| s.uid.map(|u| u.to_string()))
                .unwrap_or_default(),
            unit: place.unit.clone().unwrap_or_default(),
            container: place.container_label().unwrap_or_default(),
            netns: super::netns_id(s).unwrap_or_default(),
        }
    }

    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let port = if self.port > 65535 {
            EPHEMERAL_PORT_LABEL.to_owned()
        } else {
            self.port.to_string()
        };
        let family = crate::model::Family::of(&self.address);
        let v6only = self.v6only.map_or("", |b| if b { "true" } else { "false" });
        writeln!(
            out,
            "portscope_listener_info{{protocol=\"{}\",family=\"{}\",address=\"{}\",port=\"{}\",\
             v6only=\"{}\",process=\"{}\",user=\"{}\",unit=\"{}\",container=\"{}\",netns=\"{}\"}} 1",
            self.protocol,
            family,
            self.address,
            port,
            v6only,
            escape_label(&self.process),
            escape_label(&self.user),
            escape_label(&self.unit),
            escape_label(&self.container),
            escape_label(&self.netns),
        )
    }
}

fn header(out: &mut dyn Write, name: &str, kind: &str, help: &str) -> io::Result<()> {
    writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}")
}

/// Listening sockets by exposure and all sockets by state, every combination (zero
/// included).
fn write_counts(out: &mut dyn Write, sockets: &[Socket]) -> io::Result<()> {
    let listening = || sockets.iter().filter(|s| s.state.is_listening());
    header(
        out,
        "portscope_listeners",
        "gauge",
        "Listening sockets by exposure: loopback only, any address (wildcard), or a specific address.",
    )?;
    for protocol in Protocol::ALL {
        for exp in EXPOSURES {
            let n = listening()
                .filter(|s| s.protocol == protocol && exposure(&s.local.address) == exp)
                .count();
            writeln!(
                out,
                "portscope_listeners{{protocol=\"{protocol}\",exposure=\"{exp}\"}} {n}"
            )?;
        }
    }

    header(
        out,
        "portscope_sockets",
        "gauge",
        "Sockets by protocol and state.",
    )?;
    for protocol in Protocol::ALL {
        for state in SockState::ALL
            .into_iter()
            .filter(|s| s.protocol() == protocol)
        {
            let n = sockets
                .iter()
                .filter(|s| s.protocol == protocol && s.state == state)
                .count();
            writeln!(
                out,
                "portscope_sockets{{protocol=\"{protocol}\",state=\"{state}\"}} {n}"
            )?;
        }
    }
    Ok(())
}

/// Writes every metric, HELP and TYPE lines first, series in a stable order.
pub fn write_metrics(out: &mut dyn Write, sockets: &[Socket], ctx: &Context) -> io::Result<()> {
    let listening = || sockets.iter().filter(|s| s.state.is_listening());

    header(
        out,
        "portscope_listener_info",
        "gauge",
        "A listening socket (TCP listen, bound UDP); ports in the ephemeral range folded into \
         port=\"ephemeral\", one series per owner.",
    )?;
    let infos: BTreeSet<InfoKey> = listening().map(InfoKey::of).collect();
    for info in &infos {
        info.write(out)?;
    }

    write_published(out, sockets)?;
    write_counts(out, sockets)?;
    write_hidden(out, sockets)?;

    header(
        out,
        "portscope_collect_duration_seconds",
        "gauge",
        "Time taken to read the socket tables and their owners.",
    )?;
    writeln!(
        out,
        "portscope_collect_duration_seconds {}",
        ctx.collect_duration.as_secs_f64()
    )?;
    header(
        out,
        "portscope_last_success_timestamp_seconds",
        "gauge",
        "When portscope last read the socket tables successfully (Unix time).",
    )?;
    let ts = ctx
        .timestamp
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    writeln!(out, "portscope_last_success_timestamp_seconds {ts}")
}

/// The host ports a container engine publishes, held here by its proxy or reservation
/// socket (docker-proxy, conmon, dockerd): which container each one reaches, as `list`
/// shows it ("conmon (for container web)") and JSON's `placement.published` says.
fn write_published(out: &mut dyn Write, sockets: &[Socket]) -> io::Result<()> {
    header(
        out,
        "portscope_published_info",
        "gauge",
        "A host port a container engine publishes (held by its proxy or reservation socket): \
         the container it reaches.",
    )?;
    let mut series = BTreeSet::new();
    for s in sockets.iter().filter(|s| s.state.is_listening()) {
        let Some(p) = &s.placement.published else {
            continue;
        };
        series.insert((
            s.protocol,
            s.local.port,
            s.local.address,
            p.via.as_str(),
            p.container.as_ref().map(|c| c.label()).unwrap_or_default(),
            p.container_port.map(|c| c.to_string()).unwrap_or_default(),
        ));
    }
    for (protocol, port, address, via, container, container_port) in series {
        writeln!(
            out,
            "portscope_published_info{{protocol=\"{protocol}\",address=\"{address}\",port=\"{port}\",\
             via=\"{via}\",container=\"{}\",container_port=\"{container_port}\"}} 1",
            escape_label(&container),
        )?;
    }
    Ok(())
}

/// Hidden owners by reason code: every code in [`HIDDEN_REASONS`] (zero included).
fn write_hidden(out: &mut dyn Write, sockets: &[Socket]) -> io::Result<()> {
    header(
        out,
        "portscope_owner_hidden_sockets",
        "gauge",
        "Sockets held by a process portscope could not see, by reason.",
    )?;
    let mut counts: BTreeMap<&str, usize> =
        HIDDEN_REASONS.iter().map(|c| (c.as_str(), 0)).collect();
    for s in sockets.iter().filter(|s| s.owner == Owner::Hidden) {
        if let Some(code) = s.owner_reason_code {
            *counts.entry(code.as_str()).or_default() += 1;
        }
    }
    for (reason, n) in counts {
        writeln!(
            out,
            "portscope_owner_hidden_sockets{{reason=\"{reason}\"}} {n}"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SockState::*;
    use crate::render::fixture::{process, socket};

    fn render(sockets: &[Socket]) -> String {
        let ctx = Context {
            collect_duration: Duration::from_millis(1250),
            timestamp: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        };
        let mut out = Vec::new();
        write_metrics(&mut out, sockets, &ctx).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .collect()
    }

    #[test]
    fn escapes_backslash_quote_and_newline_only() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny\tz"), "x\\ny\tz");
        assert_eq!(escape_label("plain"), "plain");
    }

    #[test]
    fn listener_info_has_exact_labels_and_no_pid_or_remote() {
        let sshd = process(812, "sshd", "root");
        let rows = vec![
            socket(Protocol::Tcp, "0.0.0.0", 22, Listen, vec![sshd.clone()]),
            socket(Protocol::Tcp, "::", 22, Listen, vec![sshd.clone()]),
            socket(Protocol::Udp, "127.0.0.1", 53, Unconnected, vec![]),
            // Not listening: only in portscope_sockets.
            socket(Protocol::Tcp, "10.0.0.5", 22, Established, vec![sshd]),
        ];
        let text = render(&rows);
        assert_eq!(
            series(&text, "portscope_listener_info"),
            [
                r#"portscope_listener_info{protocol="tcp",family="ipv4",address="0.0.0.0",port="22",v6only="",process="sshd",user="root",unit="",container="",netns=""} 1"#,
                r#"portscope_listener_info{protocol="tcp",family="ipv6",address="::",port="22",v6only="false",process="sshd",user="root",unit="",container="",netns=""} 1"#,
                r#"portscope_listener_info{protocol="udp",family="ipv4",address="127.0.0.1",port="53",v6only="",process="",user="postgres",unit="",container="",netns=""} 1"#,
            ]
        );
        for banned in ["812", "pid", "inode", "--secret-flag", "192.0.2.7", "40000"] {
            assert!(!text.contains(banned), "{banned} leaked into:\n{text}");
        }
    }

    /// Issue 23: two containers' port-80 listeners are two series, told apart by their
    /// container and netns labels, read from the socket's placement.
    #[test]
    fn listeners_of_two_containers_never_merge() {
        use crate::model::{Container, Netns, Placement};
        let in_container = |name: &str, inode: u64| {
            let mut s = socket(Protocol::Tcp, "0.0.0.0", 80, Listen, vec![]);
            s.netns = std::sync::Arc::new(Netns {
                inode: Some(inode),
                name: Some(format!("netns-{inode}")),
                current: false,
            });
            s.placement = std::sync::Arc::new(Placement {
                container: Some(Container {
                    runtime: "podman".into(),
                    id: format!("{name:0>64}"),
                    name: Some(name.into()),
                    pod: None,
                    compose: None,
                }),
                unit: Some(format!("libpod-{name}.scope")),
                published: None,
            });
            s
        };
        let text = render(&[
            in_container("blue", 4026532001),
            in_container("red", 4026532002),
        ]);
        assert_eq!(
            series(&text, "portscope_listener_info"),
            [
                r#"portscope_listener_info{protocol="tcp",family="ipv4",address="0.0.0.0",port="80",v6only="",process="",user="postgres",unit="libpod-blue.scope",container="blue",netns="4026532001"} 1"#,
                r#"portscope_listener_info{protocol="tcp",family="ipv4",address="0.0.0.0",port="80",v6only="",process="",user="postgres",unit="libpod-red.scope",container="red",netns="4026532002"} 1"#,
            ]
        );
    }

    /// A host port conmon holds for a container names that container in its own series
    /// (the listener's own labels stay the holder's: conmon runs outside the container).
    #[test]
    fn a_published_host_port_names_the_container_it_reaches() {
        use crate::model::{Container, Placement, Published, PublishedVia};
        let conmon = process(900, "conmon", "root");
        let mut s = socket(Protocol::Tcp, "127.0.0.1", 18080, Listen, vec![conmon]);
        s.placement = std::sync::Arc::new(Placement {
            container: None,
            unit: None,
            published: Some(Published {
                via: PublishedVia::Conmon,
                protocol: Protocol::Tcp,
                host_ip: Some("127.0.0.1".parse().unwrap()),
                host_port: 18080,
                container: Some(Container {
                    runtime: "podman".into(),
                    id: "b".repeat(64),
                    name: Some("web\"1".into()),
                    pod: None,
                    compose: None,
                }),
                container_ip: Some("10.88.0.2".parse().unwrap()),
                container_port: Some(80),
            }),
        });
        let text = render(&[s]);
        assert_eq!(
            series(&text, "portscope_published_info"),
            [
                r#"portscope_published_info{protocol="tcp",address="127.0.0.1",port="18080",via="conmon",container="web\"1",container_port="80"} 1"#
            ]
        );
    }

    #[test]
    fn ephemeral_ports_fold_into_one_series_per_owner() {
        let java = process(4000, "java", "app");
        let rows = vec![
            socket(Protocol::Tcp, "0.0.0.0", 40001, Listen, vec![java.clone()]),
            socket(Protocol::Tcp, "0.0.0.0", 40002, Listen, vec![java.clone()]),
            socket(Protocol::Tcp, "0.0.0.0", 8080, Listen, vec![java]),
            socket(
                Protocol::Tcp,
                "0.0.0.0",
                40003,
                Listen,
                vec![process(5, "rpc.statd", "root")],
            ),
        ];
        let text = render(&rows);
        let info = series(&text, "portscope_listener_info");
        assert_eq!(info.len(), 3, "{text}");
        assert!(info[0].contains(r#"port="8080",v6only="",process="java""#));
        assert!(info[1].contains(r#"port="ephemeral",v6only="",process="java""#));
        assert!(info[2].contains(r#"port="ephemeral",v6only="",process="rpc.statd""#));
        // The counts are not folded.
        assert!(text.contains("portscope_listeners{protocol=\"tcp\",exposure=\"any\"} 4\n"));
    }

    #[test]
    fn hostile_process_name_is_escaped_in_one_line() {
        let evil = process(66, "ev\"il\\na\nme", "root");
        let text = render(&[socket(Protocol::Tcp, "::1", 9, Listen, vec![evil])]);
        let info = series(&text, "portscope_listener_info");
        assert_eq!(info.len(), 1, "{text}");
        assert!(
            info[0].contains(r#"process="ev\"il\\na\nme","#),
            "{}",
            info[0]
        );
    }

    #[test]
    fn counts_by_exposure_state_and_hidden_reason() {
        let p = process(1, "d", "root");
        let mut ns = socket(Protocol::Tcp, "::ffff:127.0.0.1", 7, Listen, vec![]);
        ns.owner_reason = Some(crate::model::OwnerReason::Namespace);
        ns.owner_reason_code = Some(ReasonCode::OtherNamespace);
        let mut odd = socket(Protocol::Udp, "192.0.2.1", 9, Unconnected, vec![]);
        odd.owner_reason = None;
        odd.owner_reason_code = None;
        let mut gone = socket(Protocol::Tcp, "127.0.0.1", 5, TimeWait, vec![]);
        gone.owner = Owner::None;
        let rows = vec![
            socket(Protocol::Tcp, "127.0.0.1", 80, Listen, vec![p.clone()]),
            socket(Protocol::Tcp, "10.1.2.3", 81, Listen, vec![p.clone()]),
            socket(Protocol::Udp, "::", 82, Unconnected, vec![p.clone()]),
            socket(Protocol::Udp, "10.1.2.3", 83, Connected, vec![p]),
            socket(Protocol::Tcp, "0.0.0.0", 5432, Listen, vec![]),
            ns,
            odd,
            gone,
        ];
        let text = render(&rows);
        assert_eq!(
            series(&text, "portscope_listeners"),
            [
                r#"portscope_listeners{protocol="tcp",exposure="loopback"} 2"#,
                r#"portscope_listeners{protocol="tcp",exposure="any"} 1"#,
                r#"portscope_listeners{protocol="tcp",exposure="specific"} 1"#,
                r#"portscope_listeners{protocol="udp",exposure="loopback"} 0"#,
                r#"portscope_listeners{protocol="udp",exposure="any"} 1"#,
                r#"portscope_listeners{protocol="udp",exposure="specific"} 1"#,
            ]
        );
        let states = series(&text, "portscope_sockets");
        assert_eq!(states.len(), 13);
        assert!(states.contains(&r#"portscope_sockets{protocol="tcp",state="listen"} 4"#));
        assert!(states.contains(&r#"portscope_sockets{protocol="tcp",state="time_wait"} 1"#));
        assert!(states.contains(&r#"portscope_sockets{protocol="tcp",state="established"} 0"#));
        assert!(states.contains(&r#"portscope_sockets{protocol="udp",state="unconnected"} 2"#));
        assert!(states.contains(&r#"portscope_sockets{protocol="udp",state="connected"} 1"#));
        assert_eq!(
            series(&text, "portscope_owner_hidden_sockets"),
            [
                r#"portscope_owner_hidden_sockets{reason="fd_limit"} 0"#,
                r#"portscope_owner_hidden_sockets{reason="not_looked_up"} 0"#,
                r#"portscope_owner_hidden_sockets{reason="not_searched"} 0"#,
                r#"portscope_owner_hidden_sockets{reason="other_namespace"} 1"#,
                r#"portscope_owner_hidden_sockets{reason="owner_source_failed"} 0"#,
                r#"portscope_owner_hidden_sockets{reason="permission_denied"} 1"#,
                r#"portscope_owner_hidden_sockets{reason="proc_unreadable"} 0"#,
            ]
        );
        assert_eq!(
            series(&text, "portscope_collect_duration_seconds"),
            ["portscope_collect_duration_seconds 1.25"]
        );
        assert_eq!(
            series(&text, "portscope_last_success_timestamp_seconds"),
            ["portscope_last_success_timestamp_seconds 1700000000"]
        );
    }

    #[test]
    fn every_metric_has_help_and_type_before_its_samples() {
        let text = render(&[]);
        let names = [
            "portscope_listener_info",
            "portscope_published_info",
            "portscope_listeners",
            "portscope_sockets",
            "portscope_owner_hidden_sockets",
            "portscope_collect_duration_seconds",
            "portscope_last_success_timestamp_seconds",
        ];
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        assert_eq!(types.len(), names.len());
        for (name, line) in names.iter().zip(&types) {
            assert_eq!(*line, format!("# TYPE {name} gauge"));
            assert!(text.contains(&format!("# HELP {name} ")));
        }
        assert!(text.ends_with('\n'));
        assert!(series(&text, "portscope_listener_info").is_empty());
    }
}
