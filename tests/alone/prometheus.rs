//! Prometheus end to end (issue 23): `portscope export prometheus --netns all` into a
//! textfile directory, Debian's prometheus-node-exporter reading it, Prometheus scraping
//! that every second, all on loopback with their own ports and data directories. PromQL
//! through Prometheus's HTTP API finds a real podman container's listener with its
//! container label, then finds it gone once the container stops. Every process this test
//! starts is stopped on drop.
#![cfg(target_os = "linux")]

use crate::common;
use crate::common::containers;

use common::*;
use containers::{free_port, Podman};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed and reaped on drop.
struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn daemon(what: &'static str, cmd: &mut Command) -> Daemon {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    Daemon { child }
}

/// GET `path` from 127.0.0.1:`port`: (status, body); None while nothing answers.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Percent-encodes a PromQL expression for a query string.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The instant query's result vector.
fn query(port: u16, promql: &str) -> Vec<serde_json::Value> {
    let (status, body) = http_get(port, &format!("/api/v1/query?query={}", encode(promql)))
        .expect("prometheus answers");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success", "{body}");
    v["data"]["result"].as_array().unwrap().clone()
}

/// Polls `check` until it holds, up to `limit`; a scrape every second makes this seconds.
fn until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn export(dir: &std::path::Path) {
    let (code, out, err) = run(&[
        "export",
        "prometheus",
        "--netns",
        "all",
        "--textfile-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
}

#[test]
fn a_containers_listener_appears_in_prometheus_with_its_labels_and_disappears() {
    let _alone = common::serial();
    if !is_root() {
        skip("not root: cannot run podman containers");
        return;
    }
    for tool in ["prometheus", "prometheus-node-exporter"] {
        if Command::new(tool).arg("--version").output().is_err() {
            skip(&format!("{tool} is not installed (Debian package {tool})"));
            return;
        }
    }
    let Some(mut podman) = Podman::start() else {
        return;
    };
    let dir = TempDir::new("prometheus-e2e");
    let textfiles = dir.0.join("textfile");
    let data = dir.0.join("data");
    std::fs::create_dir_all(&textfiles).unwrap();
    std::fs::create_dir_all(&data).unwrap();

    let exporter_port = free_port();
    let _exporter = daemon(
        "prometheus-node-exporter",
        Command::new("prometheus-node-exporter").args([
            &format!("--web.listen-address=127.0.0.1:{exporter_port}"),
            "--collector.disable-defaults",
            "--collector.textfile",
            &format!("--collector.textfile.directory={}", textfiles.display()),
        ]),
    );
    let prom_port = free_port();
    let config = dir.file(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: node\n    static_configs:\n      \
             - targets: ['127.0.0.1:{exporter_port}']\n"
        ),
    );
    let prometheus = daemon(
        "prometheus",
        Command::new("prometheus").args([
            &format!("--config.file={config}"),
            &format!("--storage.tsdb.path={}", data.display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ]),
    );
    until(Duration::from_secs(60), "prometheus ready", || {
        http_get(prom_port, "/-/ready").is_some_and(|(s, _)| s == 200)
    });

    let name = format!("portscope-prom-{}", std::process::id());
    let c = podman.run(&name, Podman::HTTPD);
    // The container's netns inode, as list --json gives it: the netns label.
    let (code, out, err) = run(&["list", "--netns", "all", "--json", "-p", "80"]);
    assert_eq!(code, 0, "{err}");
    let d = doc(out.as_bytes());
    let inode = d
        .sockets
        .iter()
        .find(|s| s.processes.iter().any(|p| p.pid == c.pid))
        .and_then(|s| s.netns.inode)
        .unwrap_or_else(|| panic!("the container's listener: {out}"));

    export(&textfiles);
    let promql = format!("portscope_listener_info{{container=\"{name}\",port=\"80\"}}");
    let mut found = Vec::new();
    until(
        Duration::from_secs(60),
        "the listener in prometheus",
        || {
            found = query(prom_port, &promql);
            !found.is_empty()
        },
    );
    assert_eq!(found.len(), 1, "{found:?}");
    let m = &found[0]["metric"];
    assert_eq!(m["container"], name.as_str());
    assert_eq!(m["netns"], inode.to_string().as_str());
    assert_eq!(m["process"], "httpd");
    assert_eq!(m["protocol"], "tcp");
    assert_eq!(m["job"], "node");
    assert_eq!(found[0]["value"][1], "1");
    let stop = podman.podman(&["stop", "-t", "0", &name]);
    assert!(stop.status.success(), "{stop:?}");
    export(&textfiles);
    until(
        Duration::from_secs(60),
        "the listener gone from prometheus",
        || query(prom_port, &promql).is_empty(),
    );
    drop(prometheus);
}

/// `promtool check rules` accepts the rules the package ships.
#[test]
fn the_shipped_rules_pass_promtool() {
    let _alone = common::serial();
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/debian/portscope.rules.yml");
    let out = match Command::new("promtool")
        .args(["check", "rules", rules])
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            skip("promtool is not installed (Debian package prometheus)");
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("SUCCESS: 6 rules found"), "{text}");
}
