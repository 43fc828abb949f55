//! `who` on a published port, on a fake host: a docker-proxy holds the host port, the
//! container's nginx listens in the container's namespace, and docker's state on disk is a
//! temporary tree handed to the owner source. Nothing of the real machine is read (no
//! /proc, no /var/lib/docker): the text and the JSON give the same follow.
#![cfg(target_os = "linux")]

use crate::common::fake::{tcp, who_view, FakeHost};
use portscope::collect::linux::placement::Roots;
use portscope::collect::Collector;
use portscope::model::{Container, Netns, Process, TableQuery};
use portscope::query::{Query, Selection};
use portscope::services::Services;
use std::sync::Arc;

const ID: &str = "569dfe1f5ddc6f77cc3ebba877df1f11dae33ca977f5898b7e612d9326fe637a";
const CONTAINER_NS: u64 = 4026532999;
const PROXY: &str = "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 \
                     -container-ip 172.17.0.2 -container-port 80";

fn process(pid: u32, name: &str, cmdline: &str, container: Option<Container>) -> Process {
    Process {
        pid,
        name: name.into(),
        cmdline: cmdline.split_whitespace().map(str::to_owned).collect(),
        user: Some("root".into()),
        uid: Some(0),
        ppid: Some(1),
        tid: None,
        container,
        unit: None,
    }
}

/// A fake host whose docker state lives in `dir`: docker-proxy (pid 500) holds the host
/// port in the host's namespace, nginx (pid 600) the container's in the container's; the
/// engine lookups read docker's state under `dir`.
fn host(dir: &std::path::Path) -> Collector {
    let roots = Roots::under(dir);
    let cfg = roots.docker.join(format!("containers/{ID}/config.v2.json"));
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg,
        r#"{"Name":"/web-1","State":{"Running":true},"Config":{"Labels":{}},
            "NetworkSettings":{"Networks":{"bridge":{"IPAddress":"172.17.0.2"}},
              "Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}}}"#,
    )
    .unwrap();
    let listener = |local: &str, inode: u64, netns: u16| {
        tcp(local)
            .inode(inode)
            .netns(netns)
            .uid(Some(0))
            .send_queue(128)
            .build()
    };
    let web = Container {
        runtime: "docker".into(),
        id: ID.into(),
        name: Some("web-1".into()),
        pod: None,
        compose: None,
    };
    FakeHost {
        namespaces: vec![
            Arc::new(Netns::current(Some(4026531840))),
            Arc::new(Netns {
                inode: Some(CONTAINER_NS),
                name: None,
                current: false,
            }),
        ],
        processes: vec![
            process(500, "docker-proxy", PROXY, None),
            process(600, "nginx", "nginx: master process", Some(web)),
        ],
        any_user: Some("root"),
        roots: Some(roots),
        ..FakeHost::new(
            vec![
                listener("0.0.0.0:8080", 21, 0),
                listener("0.0.0.0:80", 22, 1),
            ],
            vec![(21, 500), (22, 600)],
        )
    }
    .collector()
    .1
}

fn who(c: &mut Collector, json: bool) -> (i32, String) {
    let ports = portscope::query::parse_ports(&["8080".into()], Services::system()).unwrap();
    let view = who_view(json);
    let q = Query::who(Selection::ports(TableQuery::everything(), ports), view);
    let mut out = Vec::new();
    let code = portscope::cmd::who::run_with(c, &q, false, &mut out).unwrap();
    (code, String::from_utf8(out).unwrap())
}

#[test]
fn who_follows_a_published_port_on_a_fake_host_in_text_and_json_alike() {
    let dir = std::env::temp_dir().join(format!("portscope-pubfake-{}", std::process::id()));
    let mut c = host(&dir);
    let (code, text) = who(&mut c, false);
    assert_eq!(code, 0, "{text}");
    let head = "8080/tcp  published by container web-1 (docker 569dfe1f5ddc) via docker-proxy\n  \
                forwards to  172.17.0.2:80\n  \
                backend      0.0.0.0:80 (IPv4) -> nginx (pid 600)\n";
    assert!(text.starts_with(head), "the follow comes first:\n{text}");
    assert!(text.contains("docker-proxy"), "{text}");

    let mut c = host(&dir);
    let (code, text) = who(&mut c, true);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 0, "{text}");
    let doc: portscope::render::json::Document = serde_json::from_str(&text).expect(&text);
    assert_eq!(doc.sockets.len(), 1);
    let host_socket = &doc.sockets[0];
    let published = host_socket.placement.published.as_ref().expect("placed");
    assert_eq!(doc.published.len(), 1, "{text}");
    let p = &doc.published[0];
    assert_eq!(
        &p.published, published,
        "one fact, in the socket and the follow"
    );
    assert_eq!(p.published.host_port, 8080);
    assert_eq!(
        p.published.container_ip,
        Some("172.17.0.2".parse().unwrap())
    );
    assert_eq!(p.published.container_port, Some(80));
    let c = p.published.container.as_ref().unwrap();
    assert_eq!((c.id.as_str(), c.name.as_deref()), (ID, Some("web-1")));
    assert_eq!(p.backend.len(), 1);
    let b = &p.backend[0];
    assert_eq!(b.local.port, 80);
    assert_eq!(b.netns.inode, Some(CONTAINER_NS));
    assert_eq!(b.processes[0].pid, 600);
    assert_eq!(
        b.placement.container.as_ref().map(|c| c.id.as_str()),
        Some(ID)
    );
}
