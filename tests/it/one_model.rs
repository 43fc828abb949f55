//! One model, every output (issue 23): for the same socket, a real podman container's
//! listener on its port 80, `list --json`, `who --json`, `watch --jsonl` (its first
//! snapshot), `diff --jsonl`, `export prometheus` and `export ansible-facts` carry the same
//! container, pod/compose, unit, network namespace inode and owners.
#![cfg(target_os = "linux")]

use crate::common;
use crate::common::containers;

use common::*;
use containers::Podman;
use portscope::model::{Placement, Socket};
use serde_json::Value;

/// What every output must agree on.
#[derive(Debug, PartialEq, Eq)]
struct Facts {
    container_id: Option<String>,
    container_name: Option<String>,
    pod: Option<String>,
    compose: Option<String>,
    unit: Option<String>,
    netns: Option<u64>,
    pids: Vec<u32>,
}

fn facts_of(s: &Socket) -> Facts {
    let p: &Placement = &s.placement;
    let c = p.container.as_ref();
    Facts {
        container_id: c.map(|c| c.id.clone()),
        container_name: c.and_then(|c| c.name.clone()),
        pod: c
            .and_then(|c| c.pod.as_ref())
            .map(|p| format!("{}/{}", p.namespace, p.name)),
        compose: c
            .and_then(|c| c.compose.as_ref())
            .map(|p| format!("{}/{}", p.project, p.service)),
        unit: p.unit.clone(),
        netns: s.netns.inode,
        pids: s.processes.iter().map(|p| p.pid).collect(),
    }
}

/// The container's listener among `sockets` (held by its main process, port 80).
fn ours<'a>(sockets: impl IntoIterator<Item = &'a Socket>, pid: u32) -> &'a Socket {
    let hits: Vec<&Socket> = sockets
        .into_iter()
        .filter(|s| s.local.port == 80 && s.processes.iter().any(|p| p.pid == pid))
        .collect();
    assert_eq!(hits.len(), 1, "one listener held by {pid}: {hits:?}");
    hits[0]
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?}: {err}\n{out}");
    out
}

fn jsonl_sockets(text: &str) -> Vec<Socket> {
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            serde_json::from_value(v["socket"].clone()).unwrap()
        })
        .collect()
}

#[test]
fn every_output_carries_the_same_placement_and_owners() {
    let Some(mut podman) = Podman::start() else {
        return;
    };
    let dir = TempDir::new("one-model");
    let before = dir.file("before.json", &ok(&["list", "--netns", "all", "--json"]));
    let name = format!("portscope-one-{}", std::process::id());
    let c = podman.run(&name, Podman::HTTPD);

    let list = ok(&["list", "--netns", "all", "--json"]);
    let after = dir.file("after.json", &list);
    let list = doc(list.as_bytes());
    let want = facts_of(ours(&list.sockets, c.pid));
    assert_eq!(want.container_id.as_deref(), Some(c.id.as_str()));
    assert_eq!(want.container_name.as_deref(), Some(name.as_str()));
    assert_eq!((want.pod.as_deref(), want.compose.as_deref()), (None, None));
    assert_eq!(want.pids, [c.pid]);
    let inode = want.netns.expect("the container's namespace inode");

    // --container alone reads every namespace (no --netns needed) and finds it.
    let by_name = doc(ok(&["list", "--container", &name, "--json"]).as_bytes());
    assert_eq!(
        facts_of(ours(&by_name.sockets, c.pid)),
        want,
        "list --container"
    );

    let who = doc(ok(&["who", "--netns", "all", "--json", "80"]).as_bytes());
    assert_eq!(facts_of(ours(&who.sockets, c.pid)), want, "who --json");

    let watch = ok(&[
        "watch", "--netns", "all", "--jsonl", "-p", "80", "--for", "1s",
    ]);
    let snap = jsonl_sockets(&watch);
    assert_eq!(facts_of(ours(&snap, c.pid)), want, "watch --jsonl");

    let (code, diff, err) = run(&["diff", "--jsonl", &before, &after]);
    assert_eq!(code, 1, "the documents differ: {err}");
    let added = jsonl_sockets(&diff);
    assert_eq!(facts_of(ours(&added, c.pid)), want, "diff --jsonl");
    // The text line names the container as the table does, not the engine's netns name.
    let (_, diff_text, _) = run(&["diff", &before, &after]);
    let line = diff_text
        .lines()
        .find(|l| l.contains(&format!("httpd[{}]", c.pid)) && l.contains(":80 "))
        .unwrap_or_else(|| panic!("{diff_text}"));
    assert!(line.contains(&format!("netns={name} ")), "{line}");

    let prom = ok(&["export", "prometheus", "--netns", "all"]);
    let series: Vec<&str> = prom
        .lines()
        .filter(|l| l.starts_with("portscope_listener_info{"))
        .filter(|l| l.contains(&format!("container=\"{name}\"")))
        .collect();
    assert_eq!(series.len(), 1, "{prom}");
    let unit = want.unit.clone().unwrap_or_default();
    for label in [
        "port=\"80\"".to_string(),
        "process=\"httpd\"".to_string(),
        format!("unit=\"{unit}\""),
        format!("netns=\"{inode}\""),
    ] {
        assert!(series[0].contains(&label), "{label} in {}", series[0]);
    }

    let facts: Value =
        serde_json::from_str(&ok(&["export", "ansible-facts", "--netns", "all"])).unwrap();
    let items: Vec<&Value> = facts["ansible_facts"]["tcp_listen"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["port"] == 80 && i["pid"] == c.pid)
        .collect();
    assert_eq!(items.len(), 1, "{facts}");
    let i = items[0];
    let got = Facts {
        container_id: i["container_id"].as_str().map(str::to_owned),
        container_name: i["container"].as_str().map(str::to_owned),
        pod: i["pod"].as_str().map(str::to_owned),
        compose: i["compose"].as_str().map(str::to_owned),
        unit: i["unit"].as_str().map(str::to_owned),
        netns: i["netns"].as_str().map(|n| n.parse().unwrap()),
        pids: vec![u32::try_from(i["pid"].as_u64().unwrap()).unwrap()],
    };
    assert_eq!(got, want, "ansible-facts");
    assert_eq!(i["container_runtime"], "podman");

    // The published host port (conmon's reservation socket, outside the container) names
    // the container it reaches in every output too.
    let port = c.host_port;
    let held: Vec<&Socket> = list
        .sockets
        .iter()
        .filter(|s| s.local.port == port && s.processes.iter().any(|p| p.pid == c.conmon_pid))
        .collect();
    assert_eq!(held.len(), 1, "conmon's socket on {port}");
    let published = held[0]
        .placement
        .published
        .as_ref()
        .expect("placement.published");
    let reached = published.container.as_ref().and_then(|c| c.name.clone());
    assert_eq!(reached.as_deref(), Some(name.as_str()), "list --json");
    let who = serde_json::from_str::<Value>(&ok(&["who", "--json", &port.to_string()])).unwrap();
    assert_eq!(
        who["published"][0]["published"]["container"]["name"],
        name.as_str(),
        "{who}"
    );
    let series: Vec<&str> = prom
        .lines()
        .filter(|l| l.starts_with("portscope_published_info{"))
        .filter(|l| l.contains(&format!("port=\"{port}\"")))
        .collect();
    assert_eq!(series.len(), 1, "{prom}");
    for label in [
        "via=\"conmon\"".to_string(),
        format!("container=\"{name}\""),
        "container_port=\"80\"".to_string(),
    ] {
        assert!(series[0].contains(&label), "{label} in {}", series[0]);
    }
    let host_items: Vec<&Value> = facts["ansible_facts"]["tcp_listen"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["port"] == port && i["pid"] == c.conmon_pid)
        .collect();
    assert_eq!(host_items.len(), 1, "{facts}");
    assert_eq!(host_items[0]["published_container"], name.as_str());
}
