//! Collect stage, Linux: a container's name, compose labels and pod, from the state each
//! engine keeps on disk (docker's config.v2.json, podman's containers.json, the kubelet's
//! log directories, systemd-machined's machine files). Never an engine's API.

use super::{Compose, Container, ContainerRef, Pod, Roots};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The container `found` names, with whatever its engine's files say. Missing or unreadable
/// state leaves the name (and pod) None; it is never an error.
pub fn resolve(roots: &Roots, found: &ContainerRef) -> Container {
    let mut c = Container {
        runtime: found.runtime.clone(),
        id: found.id.clone(),
        name: None,
        pod: None,
        compose: None,
    };
    if found.delegated {
        return c;
    }
    match found.runtime.as_str() {
        "docker" => docker(roots, &mut c),
        "podman" => c.name = podman_name(roots, &c.id),
        "containerd" | "cri-o" => {
            kube(roots, &mut c, found.pod_uid.as_deref());
            // The kubelet on docker (cri-dockerd) runs bare-id containers too.
            if c.name.is_none() && found.pod_uid.is_some() && docker_config(roots, &c.id).is_some()
            {
                c.runtime = "docker".into();
                docker(roots, &mut c);
            }
        }
        "lxc" => c.name = Some(c.id.clone()),
        "nspawn" => machine(roots, &mut c),
        _ => {}
    }
    c
}

pub(super) fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

pub(super) fn docker_config(roots: &Roots, id: &str) -> Option<Value> {
    roots
        .docker_roots()
        .iter()
        .find_map(|root| read_json(&root.join("containers").join(id).join("config.v2.json")))
}

/// See [`Roots::docker_roots`]. Only root's dockerd counts: anyone can start a process
/// called dockerd whose arguments point at state of their own making.
pub(super) fn find_docker_roots(roots: &Roots) -> Vec<PathBuf> {
    let mut out = vec![roots.docker.clone()];
    let mut add = |p: PathBuf| {
        if p.is_absolute() && !out.contains(&p) {
            out.push(p);
        }
    };
    let from_json = |path: &Path| {
        let cfg = read_json(path)?;
        cfg["data-root"]
            .as_str()
            .or_else(|| cfg["graph"].as_str())
            .map(PathBuf::from)
    };
    if let Some(p) = from_json(&roots.docker_daemon_json) {
        add(p);
    }
    let Ok(entries) = std::fs::read_dir(&roots.proc) else {
        return out;
    };
    for e in entries.flatten() {
        let dir = e.path();
        let is_pid = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid || std::fs::read(dir.join("comm")).ok().as_deref() != Some(b"dockerd\n") {
            continue;
        }
        // The real and effective uid from status (a non-dumpable process's /proc entry is
        // owned by root whoever runs it).
        let root_owned = std::fs::read_to_string(dir.join("status")).is_ok_and(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .is_some_and(|u| u.split_whitespace().take(2).all(|id| id == "0"))
        });
        if !root_owned {
            continue;
        }
        let Ok(raw) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if let Some(p) = dockerd_flag(&argv, &["data-root", "graph", "g"]) {
            add(PathBuf::from(p));
        } else if let Some(p) =
            dockerd_flag(&argv, &["config-file"]).and_then(|f| from_json(Path::new(f)))
        {
            add(p);
        }
    }
    out
}

/// dockerd's `--flag value` / `--flag=value` (and the one-dash short forms).
fn dockerd_flag<'a>(argv: &'a [String], names: &[&str]) -> Option<&'a str> {
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        let Some(bare) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            continue;
        };
        for n in names {
            if bare == *n {
                return args.next().map(String::as_str);
            }
            if let Some(v) = bare.strip_prefix(n).and_then(|r| r.strip_prefix('=')) {
                return Some(v);
            }
        }
    }
    None
}

/// Fills name and compose labels from a docker config.v2.json.
pub(super) fn docker_from(cfg: &Value, c: &mut Container) {
    c.name = cfg["Name"]
        .as_str()
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| !n.is_empty());
    let labels = &cfg["Config"]["Labels"];
    if let (Some(project), Some(service)) = (
        labels["com.docker.compose.project"].as_str(),
        labels["com.docker.compose.service"].as_str(),
    ) {
        c.compose = Some(Compose {
            project: project.to_string(),
            service: service.to_string(),
        });
    }
}

fn docker(roots: &Roots, c: &mut Container) {
    if let Some(cfg) = docker_config(roots, &c.id) {
        docker_from(&cfg, c);
    }
}

/// The first name in containers/storage's `*-containers/containers.json` (overlay, vfs,
/// btrfs...): podman's containers and cri-o's alike.
pub(super) fn podman_name(roots: &Roots, id: &str) -> Option<String> {
    podman_containers(roots)
        .into_iter()
        .find(|(i, _)| i == id)
        .and_then(|(_, name)| name)
}

/// (id, first name) of every container in containers/storage.
pub(super) fn podman_containers(roots: &Roots) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(&roots.containers_storage) else {
        return out;
    };
    for d in dirs.flatten() {
        if !d.file_name().to_string_lossy().ends_with("-containers") {
            continue;
        }
        let Some(Value::Array(list)) = read_json(&d.path().join("containers.json")) else {
            continue;
        };
        for e in list {
            if let Some(id) = e["id"].as_str() {
                let name = e["names"][0].as_str().map(str::to_string);
                out.push((id.to_string(), name));
            }
        }
    }
    out
}

/// The kubelet's view: `/var/log/containers/POD_NS_CONTAINER-ID.log` names the container,
/// its pod and namespace; `/var/log/pods/NS_POD_UID/` the pod by uid (a pause container
/// has no log: pod only).
fn kube(roots: &Roots, c: &mut Container, pod_uid: Option<&str>) {
    let suffix = format!("-{}.log", c.id);
    if let Ok(entries) = std::fs::read_dir(&roots.log_containers) {
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = file.strip_suffix(&suffix) else {
                continue;
            };
            // Pod names and namespaces have no '_' (DNS labels); container names neither.
            let mut f = stem.splitn(3, '_');
            if let (Some(pod), Some(ns), Some(name)) = (f.next(), f.next(), f.next()) {
                c.name = Some(name.to_string());
                if let Some(uid) = pod_uid {
                    c.pod = Some(Pod {
                        namespace: ns.to_string(),
                        name: pod.to_string(),
                        uid: uid.to_string(),
                    });
                }
            }
            break;
        }
    }
    let Some(uid) = pod_uid else { return };
    if c.pod.is_some() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(&roots.log_pods) else {
        return;
    };
    let tail = format!("_{uid}");
    for e in entries.flatten() {
        let dir = e.file_name().to_string_lossy().into_owned();
        let Some((ns, pod)) = dir.strip_suffix(&tail).and_then(|s| s.split_once('_')) else {
            continue;
        };
        c.pod = Some(Pod {
            namespace: ns.to_string(),
            name: pod.to_string(),
            uid: uid.to_string(),
        });
        break;
    }
}

/// systemd-machined's `/run/systemd/machines/NAME`: the machine exists; SERVICE= says who
/// registered it (systemd-nspawn, libvirt-qemu...).
fn machine(roots: &Roots, c: &mut Container) {
    let Ok(text) = std::fs::read_to_string(roots.machines.join(&c.id)) else {
        return;
    };
    c.name = Some(c.id.clone());
    let service = text
        .lines()
        .find_map(|l| l.strip_prefix("SERVICE="))
        .unwrap_or("");
    if !service.is_empty() && service != "nspawn" && service != "systemd-nspawn" {
        c.runtime = service.to_string();
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the temp dir; the caller removes it.
    pub fn temp_dir(tag: &str) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "portscope-placement-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

#[cfg(test)]
#[path = "engines_tests.rs"]
mod tests;
