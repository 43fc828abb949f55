//! Collect stage, Linux: published ports — from a host port to the container behind it.
//! A proxy process's argv (docker-proxy, rootlesskit-docker-proxy) names the backend; podman's
//! conmon holds a reservation socket and names the container (`-c ID`, `-n NAME`); where
//! docker publishes without its proxy (dockerd holding the port, or DNAT alone), its
//! config.v2.json names the binding.

use super::engines::{docker_from, podman_name, read_json, resolve};
use super::{Container, ContainerRef, Roots};
use crate::model::Protocol;
use serde_json::Value;
use std::net::IpAddr;

pub use crate::model::{Published, PublishedVia};

/// A docker-proxy's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyArgs {
    pub protocol: Protocol,
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
}

fn basename(arg0: &str) -> &str {
    arg0.rsplit('/').next().unwrap_or(arg0)
}

/// `-flag value`, `--flag value`, `-flag=value` (Go's flag package), first occurrence.
fn flag<'a>(argv: &'a [String], names: &[&str]) -> Option<&'a str> {
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        let bare = a.trim_start_matches('-');
        if a.starts_with('-') {
            for n in names {
                if bare == *n {
                    return argv.get(i + 1).map(String::as_str);
                }
                if let Some(v) = bare.strip_prefix(n).and_then(|r| r.strip_prefix('=')) {
                    return Some(v);
                }
            }
        }
        i += 1;
    }
    None
}

/// docker-proxy's (and rootless docker's rootlesskit-docker-proxy's) arguments: `-proto tcp
/// -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80`.
pub fn parse_proxy_argv(argv: &[String]) -> Option<ProxyArgs> {
    let name = basename(argv.first()?);
    if name != "docker-proxy" && name != "rootlesskit-docker-proxy" {
        return None;
    }
    let protocol = match flag(argv, &["proto"]).unwrap_or("tcp") {
        "tcp" | "tcp4" | "tcp6" => Protocol::Tcp,
        "udp" | "udp4" | "udp6" => Protocol::Udp,
        _ => return None,
    };
    Some(ProxyArgs {
        protocol,
        host_ip: flag(argv, &["host-ip"]).and_then(|s| s.parse().ok()),
        host_port: flag(argv, &["host-port"])?.parse().ok()?,
        container_ip: flag(argv, &["container-ip"])?.parse().ok()?,
        container_port: flag(argv, &["container-port"])?.parse().ok()?,
    })
}

/// conmon's container id (`-c`/`--cid`) and name (`-n`/`--name`).
pub fn parse_conmon_argv(argv: &[String]) -> Option<(String, Option<String>)> {
    if basename(argv.first()?) != "conmon" {
        return None;
    }
    // Only a real container id: it becomes a path below podman's state directory, and
    // argv is anyone's to write.
    let id = flag(argv, &["c", "cid"])
        .filter(|id| super::cgroup::is_id(id))?
        .to_string();
    let name = flag(argv, &["n", "name"]).map(str::to_string);
    Some((id, name))
}

/// The container behind `host_port` when the process with `argv` holds it: a docker-proxy
/// (the backend from its arguments, the container by that address in docker's state) or
/// podman's conmon (the container from its arguments, the port from podman's database).
pub fn published_backend(
    roots: &Roots,
    argv: &[String],
    proto: Protocol,
    host_port: u16,
) -> Option<Published> {
    if let Some(p) = parse_proxy_argv(argv) {
        if p.protocol != proto || p.host_port != host_port {
            return None;
        }
        return Some(Published {
            via: PublishedVia::DockerProxy,
            protocol: p.protocol,
            host_ip: p.host_ip.filter(|ip| !ip.is_unspecified()),
            host_port,
            container: docker_by_ip(roots, p.container_ip),
            container_ip: Some(p.container_ip),
            container_port: Some(p.container_port),
        });
    }
    // Without its proxy, dockerd binds the host port itself (docker 20.10's reservation);
    // the container is the running one whose state publishes that port.
    if argv.first().is_some_and(|a| basename(a) == "dockerd") {
        let mut p = dnat_published(roots, host_port, proto).into_iter().next()?;
        p.via = PublishedVia::Dockerd;
        return Some(p);
    }
    let (id, argv_name) = parse_conmon_argv(argv)?;
    let found = ContainerRef {
        runtime: "podman".into(),
        id: id.clone(),
        pod_uid: None,
        delegated: false,
    };
    let mut container = resolve(roots, &found);
    // The name comes from podman's state, never from argv (which anyone can write); a
    // conmon whose container podman does not know is not followed at all.
    let _ = argv_name;
    if container.name.is_none() {
        container.name = podman_name(roots, &id);
    }
    let mappings = podman_mappings(roots, &id);
    if container.name.is_none() && mappings.is_empty() {
        return None;
    }
    let mapping = mappings
        .into_iter()
        .find(|m| m.protocol == proto && m.covers(host_port));
    Some(Published {
        via: PublishedVia::Conmon,
        protocol: proto,
        host_ip: mapping.as_ref().and_then(|m| m.host_ip),
        host_port,
        container_ip: podman_ip(roots, &id, container.name.as_deref()),
        container_port: mapping.and_then(|m| m.container_port.checked_add(host_port - m.host_port)),
        container: Some(container),
    })
}

/// Running docker containers whose state names `port`/`proto` as published (DNAT: with
/// docker's userland proxy off, no host socket exists).
pub fn dnat_published(roots: &Roots, port: u16, proto: Protocol) -> Vec<Published> {
    let mut out = Vec::new();
    for (id, cfg) in docker_running(roots) {
        let key = format!("/{}", proto.as_str());
        let Some(ports) = cfg["NetworkSettings"]["Ports"].as_object() else {
            continue;
        };
        for (spec, bindings) in ports {
            let Some(cport) = spec.strip_suffix(&key).and_then(|p| p.parse::<u16>().ok()) else {
                continue;
            };
            for b in bindings.as_array().into_iter().flatten() {
                if b["HostPort"].as_str().and_then(|p| p.parse().ok()) != Some(port) {
                    continue;
                }
                let mut c = resolve(
                    roots,
                    &ContainerRef {
                        runtime: "docker".into(),
                        id: id.clone(),
                        pod_uid: None,
                        delegated: false,
                    },
                );
                docker_from(&cfg, &mut c);
                out.push(Published {
                    via: PublishedVia::Dnat,
                    protocol: proto,
                    host_ip: b["HostIp"]
                        .as_str()
                        .and_then(|s| s.parse::<IpAddr>().ok())
                        .filter(|ip| !ip.is_unspecified()),
                    host_port: port,
                    container: Some(c),
                    container_ip: docker_ips(&cfg).into_iter().next(),
                    container_port: Some(cport),
                });
            }
        }
    }
    out
}

/// (id, config.v2.json) of every running docker container.
fn docker_running(roots: &Roots) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = roots
        .docker_roots()
        .iter()
        .filter_map(|root| std::fs::read_dir(root.join("containers")).ok())
        .flat_map(|entries| entries.flatten())
        .filter_map(|e| {
            let cfg = read_json(&e.path().join("config.v2.json"))?;
            (cfg["State"]["Running"] == Value::Bool(true))
                .then(|| (e.file_name().to_string_lossy().into_owned(), cfg))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn docker_ips(cfg: &Value) -> Vec<IpAddr> {
    let mut ips = Vec::new();
    for net in cfg["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        for key in ["IPAddress", "GlobalIPv6Address"] {
            if let Some(ip) = net[key].as_str().and_then(|s| s.parse().ok()) {
                ips.push(ip);
            }
        }
    }
    ips
}

fn docker_by_ip(roots: &Roots, ip: IpAddr) -> Option<Container> {
    let (id, cfg) = docker_running(roots)
        .into_iter()
        .find(|(_, cfg)| docker_ips(cfg).contains(&ip))?;
    let mut c = Container {
        runtime: "docker".into(),
        id,
        name: None,
        pod: None,
        compose: None,
    };
    docker_from(&cfg, &mut c);
    Some(c)
}

#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    protocol: Protocol,
    host_ip: Option<IpAddr>,
    host_port: u16,
    container_port: u16,
    /// Consecutive ports from host_port and container_port (`-p 8000-8010:80-90`).
    range: u32,
}

impl Mapping {
    fn covers(&self, port: u16) -> bool {
        let (p, lo) = (u32::from(port), u32::from(self.host_port));
        p >= lo && p < lo + self.range
    }
}

/// podman 4 keeps each container's configuration as JSON (`{"spec":...,"id":...,
/// "newPortMappings":[...]}`) inside its bolt database; bolt stores a value contiguously,
/// so the JSON can be read where it lies without a bolt reader. Old copies in freed pages
/// hold the same (immutable) configuration.
fn podman_mappings(roots: &Roots, id: &str) -> Vec<Mapping> {
    let Ok(db) = std::fs::read(roots.containers_storage.join("libpod/bolt_state.db")) else {
        return Vec::new();
    };
    let needle = br#"{"spec":"#;
    let mut at = 0;
    while let Some(off) = find(&db[at..], needle) {
        let start = at + off;
        at = start + needle.len();
        let mut stream = serde_json::Deserializer::from_slice(&db[start..]).into_iter::<Value>();
        let Some(Ok(cfg)) = stream.next() else {
            continue;
        };
        if cfg["id"].as_str() == Some(id) {
            return mappings_of(&cfg);
        }
    }
    Vec::new()
}

fn mappings_of(cfg: &Value) -> Vec<Mapping> {
    let list = cfg["newPortMappings"]
        .as_array()
        .or_else(|| cfg["portMappings"].as_array());
    let mut out = Vec::new();
    for m in list.into_iter().flatten() {
        let num = |a: &str, b: &str| m[a].as_u64().or_else(|| m[b].as_u64());
        let (Some(hp), Some(cp)) = (
            num("host_port", "hostPort").and_then(|p| u16::try_from(p).ok()),
            num("container_port", "containerPort").and_then(|p| u16::try_from(p).ok()),
        ) else {
            continue;
        };
        let range = m["range"].as_u64().unwrap_or(1).clamp(1, 65536) as u32;
        let host_ip = m["host_ip"]
            .as_str()
            .or_else(|| m["hostIP"].as_str())
            .and_then(|s| s.parse().ok());
        let protos = m["protocol"].as_str().unwrap_or("tcp");
        for p in protos.split(',') {
            let protocol = match p.trim() {
                "udp" => Protocol::Udp,
                "tcp" | "" => Protocol::Tcp,
                _ => continue,
            };
            out.push(Mapping {
                protocol,
                host_ip,
                host_port: hp,
                container_port: cp,
                range,
            });
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The container's address from the hosts file podman writes for it: the line naming the
/// container (by name or short id) that is not loopback.
fn podman_ip(roots: &Roots, id: &str, name: Option<&str>) -> Option<IpAddr> {
    let path = roots
        .containers_run
        .join("overlay-containers")
        .join(id)
        .join("userdata/hosts");
    let text = std::fs::read_to_string(path).ok()?;
    let short: String = id.chars().take(12).collect();
    let short = short.as_str();
    text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let ip: IpAddr = f.next()?.parse().ok()?;
        let names: Vec<&str> = f.collect();
        let ours = names.contains(&short) || name.is_some_and(|n| names.contains(&n));
        (ours && !ip.is_loopback()).then_some(ip)
    })
}

#[cfg(test)]
#[path = "published_tests.rs"]
mod tests;
