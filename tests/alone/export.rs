//! `portscope export`: Prometheus metrics on known sockets in a private network namespace,
//! read back by a real exposition-format parser (prometheus_client); the textfile replaced
//! atomically while a reader polls; ansible-facts key by key against the structure
//! community.general.listen_ports_facts documents.
#![cfg(target_os = "linux")]

use crate::common;

use common::*;
use portscope::render::ansible;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Executable name, so process name: a double quote, a backslash and a newline.
const HOSTILE: &[u8] = b"ev\"il\\na\nme";

/// `portscope listen --json SPEC` run through a symlink named HOSTILE; closed on drop.
struct HostileListener {
    child: Child,
    stdin: Option<ChildStdin>,
    _dir: TempDir,
}

impl HostileListener {
    fn start(spec: &str) -> HostileListener {
        let dir = TempDir::new("export-hostile");
        let link = dir.0.join(OsStr::from_bytes(HOSTILE));
        std::os::unix::fs::symlink(bin_path(), &link).expect("symlink");
        let mut child = Command::new(&link)
            .args(["listen", "--json", spec])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the hostile listener");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("readiness line");
        assert!(line.contains("\"port\""), "not ready: {line:?}");
        HostileListener {
            child,
            stdin,
            _dir: dir,
        }
    }
}

impl Drop for HostileListener {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// A Python interpreter that has prometheus_client (Debian: python3-prometheus-client).
fn prometheus_python() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import prometheus_client.parser"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Families and samples as prometheus_client's text parser reads them.
#[derive(Debug)]
struct Parsed {
    /// name -> (type, help)
    families: BTreeMap<String, (String, String)>,
    /// (name, labels, value)
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
fams, samples = {}, []
for f in text_string_to_metric_families(sys.stdin.read()):
    fams[f.name] = [f.type, f.documentation]
    for s in f.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps({"families": fams, "samples": samples}))
"#;

fn parse_exposition(python: &str, text: &str) -> Parsed {
    let mut child = Command::new(python)
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the parser");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client rejected the output: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let families = v["families"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, f)| {
            let s = |i: usize| f[i].as_str().unwrap().to_owned();
            (k.clone(), (s(0), s(1)))
        })
        .collect();
    let samples = v["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = serde_json::from_value(s[1].clone()).unwrap();
            (
                s[0].as_str().unwrap().to_owned(),
                labels,
                s[2].as_f64().unwrap(),
            )
        })
        .collect();
    Parsed { families, samples }
}

fn ephemeral_range() -> (u16, u16) {
    let t = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let v: Vec<u16> = t.split_whitespace().map(|w| w.parse().unwrap()).collect();
    (v[0], v[1])
}

fn own_comm() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim_end_matches('\n')
        .to_owned()
}

/// Each listener's (unit, container label) by local port, as `list --json` places it: the
/// export must carry the model's values, whatever this host's cgroups say.
fn places() -> BTreeMap<u16, (String, String)> {
    let (code, text, stderr) = run(&["list", "--json", "-l"]);
    assert_eq!(code, 0, "{stderr}");
    let d = doc(text.as_bytes());
    d.sockets
        .iter()
        .map(|s| {
            let p = &s.placement;
            let container = p.container.as_ref().map(|c| c.label());
            (
                s.local.port,
                (
                    p.unit.clone().unwrap_or_default(),
                    container.unwrap_or_default(),
                ),
            )
        })
        .collect()
}

fn info(
    protocol: &str,
    family: &str,
    address: &str,
    port: &str,
    v6only: &str,
    process: &str,
    place: &(String, String),
) -> BTreeMap<String, String> {
    [
        ("protocol", protocol),
        ("family", family),
        ("address", address),
        ("port", port),
        ("v6only", v6only),
        ("process", process),
        ("user", "root"),
        ("unit", place.0.as_str()),
        ("container", place.1.as_str()),
        // Every socket is in portscope's own namespace: no netns label.
        ("netns", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn values<'a>(p: &'a Parsed, name: &str) -> Vec<(&'a BTreeMap<String, String>, f64)> {
    p.samples
        .iter()
        .filter(|(n, _, _)| n == name)
        .map(|(_, l, v)| (l, *v))
        .collect()
}

fn value(p: &Parsed, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let hits: Vec<f64> = values(p, name)
        .into_iter()
        .filter(|(l, _)| **l == want)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(hits.len(), 1, "{name}{want:?} in {:#?}", p.samples);
    hits[0]
}

#[test]
fn prometheus_metrics_of_known_sockets_parse_exactly() {
    let _serial = serial();
    let Some(python) = prometheus_python() else {
        skip("prometheus_client is not installed (Debian: python3-prometheus-client)");
        return;
    };
    if !quiet_netns() {
        return;
    }
    let (lo, hi) = ephemeral_range();
    if [7000u16, 8080, 8081, 8082, 5353, 9090]
        .iter()
        .any(|p| (lo..=hi).contains(p))
    {
        skip(&format!(
            "ephemeral range {lo}-{hi} covers the test's fixed ports"
        ));
        return;
    }
    let l = Listener::start(&["8080", "[::1]:8081", "[::]:8082", "5353/udp", "0", "--fork"]);
    assert!(
        (lo..=hi).contains(&l.port(4)),
        "an OS-picked port is ephemeral"
    );
    let _evil = HostileListener::start("9090");
    // One more listener and an established pair, held by this test process.
    let srv = TcpListener::bind("127.0.0.1:7000").unwrap();
    let _cli = TcpStream::connect("127.0.0.1:7000").unwrap();
    let _acc = srv.accept().unwrap();

    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let (code, text, stderr) = run(&["export", "prometheus"]);
    let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    assert_eq!((code, stderr.as_str()), (0, ""), "{text}");
    let p = parse_exposition(python, &text);

    let names = [
        "portscope_listener_info",
        "portscope_published_info",
        "portscope_listeners",
        "portscope_sockets",
        "portscope_owner_hidden_sockets",
        "portscope_collect_duration_seconds",
        "portscope_last_success_timestamp_seconds",
    ];
    assert_eq!(
        p.families
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        names.into_iter().collect::<BTreeSet<_>>()
    );
    for (name, (kind, help)) in &p.families {
        assert_eq!(kind, "gauge", "{name}");
        assert!(help.len() > 10, "{name} has HELP text");
    }

    let hostile = String::from_utf8(HOSTILE.to_vec()).unwrap();
    let comm = own_comm();
    let got: BTreeSet<BTreeMap<String, String>> = values(&p, "portscope_listener_info")
        .into_iter()
        .map(|(l, v)| {
            assert_eq!(v, 1.0);
            l.clone()
        })
        .collect();
    let places = places();
    let at = |port: u16| &places[&port];
    let want: BTreeSet<_> = [
        info(
            "tcp",
            "ipv4",
            "127.0.0.1",
            "8080",
            "",
            "portscope",
            at(8080),
        ),
        info("tcp", "ipv6", "::1", "8081", "true", "portscope", at(8081)),
        info("tcp", "ipv6", "::", "8082", "false", "portscope", at(8082)),
        info(
            "udp",
            "ipv4",
            "127.0.0.1",
            "5353",
            "",
            "portscope",
            at(5353),
        ),
        info(
            "tcp",
            "ipv4",
            "127.0.0.1",
            "ephemeral",
            "",
            "portscope",
            at(l.port(4)),
        ),
        info("tcp", "ipv4", "127.0.0.1", "9090", "", &hostile, at(9090)),
        info("tcp", "ipv4", "127.0.0.1", "7000", "", &comm, at(7000)),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "{text}");
    assert_eq!(values(&p, "portscope_listener_info").len(), 7);

    let tcp = |exp| {
        value(
            &p,
            "portscope_listeners",
            &[("protocol", "tcp"), ("exposure", exp)],
        )
    };
    let udp = |exp| {
        value(
            &p,
            "portscope_listeners",
            &[("protocol", "udp"), ("exposure", exp)],
        )
    };
    assert_eq!(
        (tcp("loopback"), tcp("any"), tcp("specific")),
        (5.0, 1.0, 0.0)
    );
    assert_eq!(
        (udp("loopback"), udp("any"), udp("specific")),
        (1.0, 0.0, 0.0)
    );

    let sockets = values(&p, "portscope_sockets");
    assert_eq!(sockets.len(), 13, "every state of both protocols");
    for (labels, v) in sockets {
        let want = match (labels["protocol"].as_str(), labels["state"].as_str()) {
            ("tcp", "listen") => 6.0,
            ("tcp", "established") => 2.0,
            ("udp", "unconnected") => 1.0,
            _ => 0.0,
        };
        assert_eq!(v, want, "{labels:?}");
    }
    let hidden = values(&p, "portscope_owner_hidden_sockets");
    let reasons: Vec<&str> = hidden.iter().map(|(l, _)| l["reason"].as_str()).collect();
    assert_eq!(
        reasons,
        [
            "fd_limit",
            "not_looked_up",
            "not_searched",
            "other_namespace",
            "owner_source_failed",
            "permission_denied",
            "proc_unreadable",
        ],
        "one series per code a hidden owner can have (README lists exactly these)"
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let row = readme
        .lines()
        .find(|l| l.starts_with("| `portscope_owner_hidden_sockets` |"))
        .unwrap();
    let documented: Vec<&str> = row
        .split('`')
        .skip(3)
        .step_by(2)
        .filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .filter(|w| *w != "owner_reason_code")
        .collect();
    assert_eq!(documented, reasons, "README's reason labels: {row}");
    assert!(
        hidden.iter().all(|(_, v)| *v == 0.0),
        "root sees every owner"
    );

    let took = value(&p, "portscope_collect_duration_seconds", &[]);
    assert!(took > 0.0 && took < 30.0, "{took}");
    let ts = value(&p, "portscope_last_success_timestamp_seconds", &[]);
    assert!(
        before.as_secs_f64() <= ts && ts <= after.as_secs_f64(),
        "{before:?} <= {ts} <= {after:?}"
    );
    for banned in [l.pid().to_string(), "inode".to_owned(), "--json".to_owned()] {
        assert!(!text.contains(&banned), "{banned} leaked");
    }
}

/// Every observation of a file being replaced must be one whole version.
fn poll_while<F: FnOnce()>(path: &Path, check: impl Fn(&[u8]) + Sync, write: F) -> usize {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut seen = 0;
            while !done.load(Ordering::Acquire) {
                match std::fs::read(path) {
                    Ok(bytes) => {
                        check(&bytes);
                        seen += 1;
                    }
                    Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}"),
                }
            }
            seen
        });
        write();
        done.store(true, Ordering::Release);
        reader.join().unwrap()
    })
}

#[test]
fn textfile_writer_never_shows_a_partial_file() {
    let _alone = common::serial();
    let dir = TempDir::new("export-atomic");
    let target = dir.0.join("big.prom");
    // 256 KiB versions, each written in 4 KiB pieces, so a non-atomic writer would be
    // caught half-way: every line of one version carries its number, and the last says END.
    let version = |n: usize| -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..4096 {
            v.extend_from_slice(format!("v{n:04} line {i:05} {}\n", "x".repeat(40)).as_bytes());
        }
        v.extend_from_slice(format!("v{n:04} END\n").as_bytes());
        v
    };
    let size = version(0).len();
    let seen = poll_while(
        &target,
        |bytes| {
            assert_eq!(bytes.len(), size, "a partial file was visible");
            let n = &bytes[..5];
            assert!(bytes.ends_with(b" END\n") && bytes[bytes.len() - 10..].starts_with(n));
            assert!(bytes
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .all(|l| l.starts_with(n)));
        },
        || {
            for n in 0..60 {
                let v = version(n);
                portscope::textfile::replace(&target, |w| {
                    for piece in v.chunks(4096) {
                        w.write_all(piece)?;
                        w.flush()?;
                    }
                    Ok(())
                })
                .unwrap();
            }
        },
    );
    assert!(seen > 0, "the reader saw no version at all");
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["big.prom"], "no temporary file left behind");
}

#[test]
fn export_textfile_dir_is_always_complete_while_rewritten() {
    let _serial = serial();
    let dir = TempDir::new("export-textfile");
    let target = dir.0.join("portscope.prom");
    let d = dir.0.to_str().unwrap().to_owned();
    let seen = poll_while(
        &target,
        |bytes| {
            let text = std::str::from_utf8(bytes).expect("utf-8");
            assert!(
                text.starts_with("# HELP portscope_listener_info "),
                "{text}"
            );
            let last = text.lines().last().unwrap_or_default();
            assert!(
                text.ends_with('\n')
                    && last.starts_with("portscope_last_success_timestamp_seconds "),
                "incomplete file: ends with {last:?}"
            );
        },
        || {
            for _ in 0..25 {
                let (code, out, err) = run(&["export", "prometheus", "-t", "--textfile-dir", &d]);
                assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
            }
        },
    );
    assert!(seen > 0);
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["portscope.prom"]);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&target).unwrap().permissions());
    assert_eq!(mode & 0o644, 0o644, "readable by node_exporter's user");
}

/// The module's documented item keys and JSON types (RETURN of listen_ports_facts).
const MODULE_KEYS: [(&str, &str); 7] = [
    ("address", "string"),
    ("name", "string"),
    ("pid", "int"),
    ("port", "int"),
    ("protocol", "string"),
    ("stime", "string"),
    ("user", "string"),
];
const PORTSCOPE_KEYS: [&str; 13] = [
    "v6only",
    "unit",
    "container",
    "owner",
    "owner_reason",
    "netns",
    "container_id",
    "container_runtime",
    "pod",
    "compose",
    "netns_name",
    "owner_reason_code",
    "published_container",
];

fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(n) if n.is_u64() => "int",
        Value::Null => "null",
        Value::Bool(_) => "bool",
        _ => "other",
    }
}

fn ps_lstart(pid: u32) -> Option<String> {
    let out = Command::new("ps")
        .args(["-o", "lstart=", "-p", &pid.to_string()])
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn ansible_facts_have_the_module_structure_key_by_key() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["8080", "[::1]:8081", "5353/udp", "--fork"]);
    let mut pids = l.opened[0].pids.clone();
    pids.sort_unstable();
    assert_eq!(pids.len(), 2);

    let places = places();
    let (code, text, stderr) = run(&["export", "ansible-facts"]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{text}");
    // Strict: the documented structure and nothing else.
    let strict: ansible::Document = serde_json::from_str(&text).expect("strict document");
    let v: Value = serde_json::from_str(&text).unwrap();
    let top: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(top, ["ansible_facts"]);
    let facts = v["ansible_facts"].as_object().unwrap();
    assert_eq!(
        facts.keys().collect::<Vec<_>>(),
        ["tcp_listen", "udp_listen"]
    );
    let tcp = facts["tcp_listen"].as_array().unwrap();
    let udp = facts["udp_listen"].as_array().unwrap();
    assert_eq!(
        (tcp.len(), udp.len()),
        (4, 2),
        "one item per socket and pid"
    );

    for item in tcp.iter().chain(udp) {
        let obj = item.as_object().unwrap();
        let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = MODULE_KEYS
            .iter()
            .map(|(k, _)| *k)
            .chain(PORTSCOPE_KEYS)
            .collect();
        assert_eq!(keys, want);
        for (k, t) in MODULE_KEYS {
            assert_eq!(kind(&obj[k]), t, "{k} in {item}");
        }
        assert_eq!(
            (&item["name"], &item["user"]),
            (&json!("portscope"), &json!("root"))
        );
        assert_eq!(
            (&item["owner"], &item["owner_reason"]),
            (&json!("visible"), &Value::Null)
        );
        // The model's placement, as `list --json` gives it; our own namespace: null.
        let port = u16::try_from(item["port"].as_u64().unwrap()).unwrap();
        let (unit, container) = &places[&port];
        let or_null = |v: &String| if v.is_empty() { Value::Null } else { json!(v) };
        assert_eq!(item["unit"], or_null(unit), "{item}");
        assert_eq!(item["container"], or_null(container), "{item}");
        assert_eq!(
            (&item["netns"], &item["netns_name"]),
            (&Value::Null, &Value::Null)
        );
        let pid = u32::try_from(item["pid"].as_u64().unwrap()).unwrap();
        assert!(pids.contains(&pid));
        // The format is pinned by a unit test; ps, where installed, confirms the value.
        match ps_lstart(pid) {
            Some(ps) => assert_eq!(
                item["stime"],
                ps.as_str(),
                "stime as ps -o lstart prints it"
            ),
            None => eprintln!("note: ps (procps) is not installed: stime not cross-checked"),
        }
    }
    let row = |list: &[Value], i: usize| {
        let it = &list[i];
        (
            it["address"].as_str().unwrap().to_owned(),
            it["port"].as_u64().unwrap(),
            it["protocol"].as_str().unwrap().to_owned(),
            it["pid"].as_u64().unwrap(),
            it["v6only"].clone(),
        )
    };
    let (p0, p1) = (u64::from(pids[0]), u64::from(pids[1]));
    assert_eq!(
        row(tcp, 0),
        ("127.0.0.1".into(), 8080, "tcp".into(), p0, Value::Null)
    );
    assert_eq!(
        row(tcp, 1),
        ("127.0.0.1".into(), 8080, "tcp".into(), p1, Value::Null)
    );
    assert_eq!(
        row(tcp, 2),
        ("::1".into(), 8081, "tcp".into(), p0, json!(true))
    );
    assert_eq!(
        row(tcp, 3),
        ("::1".into(), 8081, "tcp".into(), p1, json!(true))
    );
    assert_eq!(
        row(udp, 0),
        ("127.0.0.1".into(), 5353, "udp".into(), p0, Value::Null)
    );
    assert_eq!(
        row(udp, 1),
        ("127.0.0.1".into(), 5353, "udp".into(), p1, Value::Null)
    );
    assert_eq!(strict.ansible_facts.tcp_listen.len(), 4);
}

#[test]
fn bad_export_destinations_are_one_line_and_exit_2() {
    let _serial = serial();
    let (code, out, err) = run(&["export", "ansible-facts", "--textfile-dir", "/tmp"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err,
        "portscope: invalid option '--textfile-dir': only the prometheus format is written into \
         a textfile directory (use -o FILE)\n"
    );
    let (code, out, err) = run(&[
        "export",
        "prometheus",
        "--textfile-dir",
        "/nonexistent-portscope",
    ]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err,
        "portscope: cannot write '/nonexistent-portscope/portscope.prom': No such file or \
         directory (os error 2)\n"
    );
    let (code, _, err) = run(&["export", "prometheus", "--textfile-dir", "/tmp", "-o", "x"]);
    assert_eq!(code, 2, "{err}");
}

/// `export prometheus -o PATH` with stdout piped: (status, stdout, stderr).
fn export_to(path: &str) -> (i32, String, String) {
    run(&["export", "prometheus", "-t", "-o", path])
}

/// Regression: `-o LINK` replaced the symlink with a regular file. The link stays a link
/// and its target gets the metrics.
#[test]
fn export_to_a_symlink_replaces_its_target_and_keeps_the_link() {
    let _alone = common::serial();
    let d = TempDir::new("export-symlink");
    let target = d.file("real.prom", "old\n");
    let link = d.0.join("link.prom");
    std::os::unix::fs::symlink("real.prom", &link).unwrap();
    let (code, out, err) = export_to(link.to_str().unwrap());
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("real.prom"));
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.starts_with("# HELP portscope_"), "{text}");
    let names: BTreeSet<_> = std::fs::read_dir(&d.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["link.prom".into(), "real.prom".into()])
    );
    // A link to nothing is refused: nothing is created behind it.
    let dangling = d.0.join("dangling.prom");
    std::os::unix::fs::symlink("missing.prom", &dangling).unwrap();
    let (code, out, err) = export_to(dangling.to_str().unwrap());
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err,
        format!(
            "portscope: invalid output file '{}': a symlink to a file that does not exist\n",
            dangling.display()
        )
    );
    assert!(!d.0.join("missing.prom").exists());
}

/// Regression: `-o FIFO` replaced the FIFO with a regular file. Now the reader on the
/// FIFO gets the metrics and the FIFO stays.
#[test]
fn export_to_a_fifo_writes_into_it() {
    let _alone = common::serial();
    use std::os::unix::fs::FileTypeExt;
    let d = TempDir::new("export-fifo");
    let fifo = d.0.join("metrics.fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Holds the FIFO itself (even if its name is replaced) without blocking: the way to
    // release the reader below whatever portscope did.
    let keeper = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let (code, out, err) = export_to(fifo.to_str().unwrap());
    // If portscope never wrote into the FIFO, the reader is still waiting for a writer:
    // one that opens and closes at once lets it end (reading nothing).
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(format!("/proc/self/fd/{}", keeper.as_raw_fd()));
    let text = reader.join().unwrap();
    drop(keeper);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    assert!(text.starts_with("# HELP portscope_"), "{text}");
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
}

/// Regression: as root, `-o /dev/null` replaced the device with a regular file and
/// `-o /dev/stdout` the system's symlink. Both are written to, as a shell redirection does.
#[test]
fn export_to_dev_null_and_dev_stdout_writes_through_them() {
    let _alone = common::serial();
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let (code, out, err) = export_to("/dev/null");
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    let null = std::fs::symlink_metadata("/dev/null").unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!((libc::major(null.rdev()), libc::minor(null.rdev())), (1, 3));
    let before = std::fs::read_link("/dev/stdout").ok();
    let (code, out, err) = export_to("/dev/stdout");
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.starts_with("# HELP portscope_"), "{out}");
    assert_eq!(std::fs::read_link("/dev/stdout").ok(), before);
}

/// A directory, a socket or a block device is no place for metrics: exit 2, one line.
#[test]
fn export_refuses_a_directory_and_a_socket() {
    let _alone = common::serial();
    let d = TempDir::new("export-refused");
    let dir = d.0.join("dir.prom");
    std::fs::create_dir(&dir).unwrap();
    let sock = d.0.join("sock.prom");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    for (path, why) in [
        (&dir, "a directory, not a file"),
        (&sock, "a socket, not a file"),
    ] {
        let (code, out, err) = export_to(path.to_str().unwrap());
        assert_eq!((code, out.as_str()), (2, ""));
        assert_eq!(
            err,
            format!(
                "portscope: invalid output file '{}': {why}\n",
                path.display()
            )
        );
    }
    assert!(std::fs::symlink_metadata(&dir).unwrap().is_dir());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

/// Regression: as root, `--textfile-dir DIR` followed a symlink another user planted in
/// DIR (a textfile directory that user owns): `portscope.prom -> /some/root/file` had that
/// file replaced with metrics (and made 0644). A link owned by neither this user nor root
/// is now refused, exit 2, and its target is left alone.
#[test]
fn a_symlink_planted_by_another_user_is_not_followed() {
    if !is_root() {
        skip("not root: cannot make a symlink owned by another user");
        return;
    }
    let d = TempDir::new("export-planted");
    let victim = d.file("victim", "precious\n");
    let dir = d.0.join("textfile");
    std::fs::create_dir(&dir).unwrap();
    let link = dir.join("portscope.prom");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
    let (code, out, err) = run(&[
        "export",
        "prometheus",
        "-t",
        "--textfile-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert_eq!(
        err,
        format!(
            "portscope: invalid output file '{}': a symlink owned by uid 65534 (neither this user nor root): not followed\n",
            link.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    // One this user made is still followed (the documented behaviour).
    std::os::unix::fs::lchown(&link, Some(0), Some(0)).unwrap();
    let (code, _, err) = run(&[
        "export",
        "prometheus",
        "-t",
        "--textfile-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&victim)
        .unwrap()
        .starts_with("# HELP portscope_"));
}

/// Regression: `-o FIFO` with nothing reading it blocked in open() for ever (a FIFO put in
/// place of the textfile hung the root cron job). Now: exit 2 at once, the FIFO named.
#[test]
fn a_fifo_nobody_reads_fails_instead_of_hanging() {
    let d = TempDir::new("export-fifo-noreader");
    let fifo = d.0.join("portscope.prom");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut child = Command::new(bin_path())
        .args(["export", "prometheus", "-t", "--textfile-dir"])
        .arg(&d.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The bound only turns a hang into a failure; a working portscope ends at once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("portscope still waits for a reader on {}", fifo.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "portscope: cannot write '{}': a FIFO that nothing reads (no reader: nothing was written)\n",
            fifo.display()
        )
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
}
