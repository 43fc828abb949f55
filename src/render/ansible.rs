//! Render stage: Ansible facts in exactly the structure of
//! `community.general.listen_ports_facts` (`{"ansible_facts": {"tcp_listen": [...],
//! "udp_listen": [...]}}`), plus portscope's own fields, through serde.
//!
//! Like the module (which reads `ss -lptun`), a socket held by several processes gives one
//! item per process, so a playbook that selects by pid or name finds each of them. A socket
//! whose owner cannot be seen gives one item with pid 0 and name "" (the module's values
//! without root); its `owner` and `owner_reason` say why.

use crate::model::{Owner, Protocol, Socket};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{self, Write};

/// What the renderer needs beyond the rows.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Process start times in `ps -o lstart` format, by PID (see collect::starttime).
    pub start_times: &'a HashMap<u32, String>,
}

/// One item of `tcp_listen` / `udp_listen`. The first seven fields are the module's, with
/// its types; the rest are portscope's (null when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenItem {
    /// The bound address, without brackets or port: "0.0.0.0", "::", "::1".
    pub address: String,
    /// Process name; "" when the owner cannot be seen.
    pub name: String,
    /// 0 when the owner cannot be seen.
    pub pid: u32,
    pub port: u16,
    /// "tcp" or "udp" (IPv6 included, as the module reports tcp6 sockets).
    pub protocol: String,
    /// Process start time as `ps -o lstart` prints it; "" when unknown.
    pub stime: String,
    /// The process's user; for an unseen owner, the socket's user; "" when neither is known.
    pub user: String,
    pub v6only: Option<bool>,
    pub unit: Option<String>,
    /// The container's name, else its id cut to 12 characters.
    pub container: Option<String>,
    pub owner: Owner,
    pub owner_reason: Option<String>,
    /// The network namespace's inode, as a string (the Prometheus `netns` label); null in
    /// portscope's own namespace.
    pub netns: Option<String>,
    /// The container's full id and engine.
    #[serde(default)]
    pub container_id: Option<String>,
    #[serde(default)]
    pub container_runtime: Option<String>,
    /// A Kubernetes pod, as "NAMESPACE/NAME".
    #[serde(default)]
    pub pod: Option<String>,
    /// docker compose, as "PROJECT/SERVICE".
    #[serde(default)]
    pub compose: Option<String>,
    /// The namespace's `ip netns` name, where it has one.
    #[serde(default)]
    pub netns_name: Option<String>,
    #[serde(default)]
    pub owner_reason_code: Option<String>,
    /// For a host port a container engine publishes (held by docker-proxy, conmon or
    /// dockerd): the container it reaches, as `container` names one.
    #[serde(default)]
    pub published_container: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    pub tcp_listen: Vec<ListenItem>,
    pub udp_listen: Vec<ListenItem>,
}

/// The whole document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub ansible_facts: Facts,
}

/// One item per (listening socket, holding process); sorted by port, address, pid.
pub fn facts(sockets: &[Socket], ctx: &Context<'_>) -> Document {
    let mut doc = Document::default();
    for s in sockets.iter().filter(|s| s.state.is_listening()) {
        let list = match s.protocol {
            Protocol::Tcp => &mut doc.ansible_facts.tcp_listen,
            Protocol::Udp => &mut doc.ansible_facts.udp_listen,
        };
        let place = &s.placement;
        let container = place.container.as_ref();
        let base = ListenItem {
            address: s.local.address.to_string(),
            name: String::new(),
            pid: 0,
            port: s.local.port,
            protocol: s.protocol.as_str().to_owned(),
            stime: String::new(),
            user: s.user.as_deref().unwrap_or_default().to_owned(),
            v6only: s.v6only,
            unit: place.unit.clone(),
            container: place.container_label(),
            owner: s.owner,
            owner_reason: s.owner_reason.map(|r| r.as_str().to_owned()),
            netns: super::netns_id(s),
            container_id: container.map(|c| c.id.clone()),
            container_runtime: container.map(|c| c.runtime.clone()),
            pod: container
                .and_then(|c| c.pod.as_ref())
                .map(|p| format!("{}/{}", p.namespace, p.name)),
            compose: container
                .and_then(|c| c.compose.as_ref())
                .map(|p| format!("{}/{}", p.project, p.service)),
            netns_name: (!s.netns.current).then(|| s.netns.name.clone()).flatten(),
            owner_reason_code: s.owner_reason_code.map(|c| c.as_str().to_owned()),
            published_container: place
                .published
                .as_ref()
                .and_then(|p| p.container.as_ref())
                .map(|c| c.label()),
        };
        if s.processes.is_empty() {
            list.push(base);
            continue;
        }
        for p in &s.processes {
            list.push(ListenItem {
                name: p.name.clone(),
                pid: p.pid,
                stime: ctx.start_times.get(&p.pid).cloned().unwrap_or_default(),
                user: p.user.clone().unwrap_or_else(|| base.user.clone()),
                ..base.clone()
            });
        }
    }
    for list in [
        &mut doc.ansible_facts.tcp_listen,
        &mut doc.ansible_facts.udp_listen,
    ] {
        list.sort_by(|a, b| {
            (a.port, &a.address, a.pid, &a.name).cmp(&(b.port, &b.address, b.pid, &b.name))
        });
    }
    doc
}

pub fn write_facts(
    out: &mut dyn Write,
    sockets: &[Socket],
    ctx: &Context<'_>,
    pretty: bool,
) -> io::Result<()> {
    let doc = facts(sockets, ctx);
    if pretty {
        serde_json::to_writer_pretty(&mut *out, &doc)?;
    } else {
        serde_json::to_writer(&mut *out, &doc)?;
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SockState::*;
    use crate::render::fixture::{process, socket};
    use serde_json::{json, Value};

    fn render(sockets: &[Socket]) -> Value {
        let times = HashMap::from([(812, "Thu Feb  2 13:29:45 2017".to_owned())]);
        let mut out = Vec::new();
        write_facts(
            &mut out,
            sockets,
            &Context {
                start_times: &times,
            },
            false,
        )
        .unwrap();
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn items_have_the_module_keys_and_types_then_portscope_fields() {
        let doc = render(&[socket(
            Protocol::Tcp,
            "0.0.0.0",
            22,
            Listen,
            vec![process(812, "sshd", "root")],
        )]);
        assert_eq!(
            doc,
            json!({"ansible_facts": {"tcp_listen": [{
                "address": "0.0.0.0", "name": "sshd", "pid": 812, "port": 22,
                "protocol": "tcp", "stime": "Thu Feb  2 13:29:45 2017", "user": "root",
                "v6only": null, "unit": null, "container": null, "owner": "visible",
                "owner_reason": null, "netns": null, "container_id": null,
                "container_runtime": null, "pod": null, "compose": null, "netns_name": null,
                "owner_reason_code": null, "published_container": null
            }], "udp_listen": []}})
        );
    }

    /// Issue 23: the facts carry the socket's placement (container, pod, compose, unit,
    /// netns), the same values every output reads.
    #[test]
    fn items_carry_the_sockets_placement() {
        use crate::model::{Compose, Container, Netns, Placement, Pod};
        let mut s = socket(Protocol::Tcp, "0.0.0.0", 80, Listen, vec![]);
        s.netns = std::sync::Arc::new(Netns {
            inode: Some(4026532001),
            name: Some("netns-1".into()),
            current: false,
        });
        s.placement = std::sync::Arc::new(Placement {
            container: Some(Container {
                runtime: "docker".into(),
                id: "f".repeat(64),
                name: Some("shop-web-1".into()),
                pod: Some(Pod {
                    namespace: "default".into(),
                    name: "web".into(),
                    uid: "u".into(),
                }),
                compose: Some(Compose {
                    project: "shop".into(),
                    service: "web".into(),
                }),
            }),
            unit: Some("docker-f.scope".into()),
            published: None,
        });
        let doc = render(&[s]);
        let item = &doc["ansible_facts"]["tcp_listen"][0];
        assert_eq!(item["container"], "shop-web-1");
        assert_eq!(item["container_id"], "f".repeat(64));
        assert_eq!(item["container_runtime"], "docker");
        assert_eq!(item["pod"], "default/web");
        assert_eq!(item["compose"], "shop/web");
        assert_eq!(item["unit"], "docker-f.scope");
        assert_eq!(item["netns"], "4026532001");
        assert_eq!(item["netns_name"], "netns-1");
        assert_eq!(item["owner_reason_code"], "permission_denied");
    }

    #[test]
    fn shared_socket_gives_one_item_per_pid_and_hidden_gives_pid_zero() {
        let doc = render(&[
            socket(
                Protocol::Udp,
                "::1",
                5353,
                Unconnected,
                vec![
                    process(901, "avahi", "avahi"),
                    process(900, "avahi", "avahi"),
                ],
            ),
            socket(Protocol::Tcp, "::", 5432, Listen, vec![]),
            socket(Protocol::Tcp, "10.0.0.1", 5432, Established, vec![]),
        ]);
        let udp = doc["ansible_facts"]["udp_listen"].as_array().unwrap();
        let pids: Vec<&Value> = udp.iter().map(|i| &i["pid"]).collect();
        assert_eq!(pids, [&json!(900), &json!(901)]);
        assert_eq!(udp[0]["address"], "::1", "no brackets, no port");
        assert_eq!(udp[0]["v6only"], true);
        assert_eq!(udp[0]["stime"], "", "unknown start time");
        let tcp = doc["ansible_facts"]["tcp_listen"].as_array().unwrap();
        assert_eq!(tcp.len(), 1, "established sockets are not listed");
        assert_eq!(
            (&tcp[0]["pid"], &tcp[0]["name"], &tcp[0]["user"]),
            (&json!(0), &json!(""), &json!("postgres"))
        );
        assert_eq!(
            (&tcp[0]["owner"], &tcp[0]["owner_reason"], &tcp[0]["v6only"]),
            (
                &json!("hidden"),
                &json!(crate::model::OwnerReason::Denied.as_str()),
                &json!(false)
            )
        );
    }
}
