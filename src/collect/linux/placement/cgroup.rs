//! Collect stage, Linux: cgroup paths — reading a process's (/proc/PID/cgroup), naming the
//! container and systemd unit a path belongs to (pure), and turning a socket's cgroup id
//! (INET_DIAG_CGROUP_ID: the cgroup2 directory's inode number) back into its path.

use super::Roots;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a cgroup path says: the container (before its name is looked up) and the unit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    pub container: Option<ContainerRef>,
    /// The systemd unit on the host's side of any container boundary.
    pub unit: Option<String>,
}

/// A container as its cgroup path names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    pub runtime: String,
    pub id: String,
    /// A Kubernetes pod's uid (with dashes), where the path has a pod level.
    pub pod_uid: Option<String>,
    /// Found below a user's delegated subtree (`user@UID.service`): the user may have made
    /// that cgroup and named it after any container, so it is not looked up by id.
    pub delegated: bool,
}

/// The container and unit a cgroup v2 path names. The outermost container wins (docker
/// inside an LXC container is, from the host, that LXC container), conmon's cgroups
/// (`libpod-conmon-ID.scope`, `/libpod_parent/conmon`, `crio-conmon-ID.scope`) and LXC's
/// monitor are not containers, and the unit is the deepest `.service` or `.scope` not
/// inside the container (a systemd manager's own `init.scope` names its service).
pub fn classify(cgroup_path: &str) -> Placement {
    let path = cgroup_path.trim_end_matches(" (deleted)");
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut pod_uid = None;
    let mut container = None;
    let mut end = parts.len(); // the parts on the host's side of the container
    for (i, part) in parts.iter().enumerate() {
        if let Some(uid) = kube_pod_uid(part) {
            pod_uid.get_or_insert(uid);
        }
        let parent = i.checked_sub(1).map(|j| parts[j]);
        if let Some((runtime, id)) = container_in(part, parent, pod_uid.is_some()) {
            container = Some(ContainerRef {
                runtime: runtime.to_string(),
                id,
                pod_uid: pod_uid.clone(),
                delegated: parts[..i].iter().any(|p| p.starts_with("user@")),
            });
            end = i + 1;
            break;
        }
    }
    Placement {
        container,
        unit: unit_in(&parts[..end]),
    }
}

pub(super) fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `prefix-ID.scope` (systemd driver) or `prefix-ID` (cgroupfs driver) with a 64-hex ID.
fn prefixed_id(part: &str, prefix: &str) -> Option<String> {
    let rest = part.strip_prefix(prefix)?;
    let id = rest.strip_suffix(".scope").unwrap_or(rest);
    is_id(id).then(|| id.to_string())
}

fn container_in(part: &str, parent: Option<&str>, in_pod: bool) -> Option<(&'static str, String)> {
    if part.starts_with("libpod-conmon-") || part.starts_with("crio-conmon-") {
        return None;
    }
    let prefixed = [
        ("docker-", "docker"),
        ("libpod-", "podman"),
        ("cri-containerd-", "containerd"),
        ("nerdctl-", "containerd"),
        ("crio-", "cri-o"),
    ];
    for (prefix, runtime) in prefixed {
        if let Some(id) = prefixed_id(part, prefix) {
            return Some((runtime, id));
        }
    }
    if is_id(part) {
        // cgroupfs layouts: /docker/ID; a kubelet pod's /kubepods/.../pod<UID>/ID.
        if parent == Some("docker") {
            return Some(("docker", part.to_string()));
        }
        if in_pod && parent.is_some_and(|p| p.starts_with("pod")) {
            return Some(("containerd", part.to_string()));
        }
    }
    if let Some(name) = part.strip_prefix("lxc.payload.") {
        return (!name.is_empty()).then(|| ("lxc", name.to_string()));
    }
    if parent == Some("lxc.payload") || parent == Some("lxc") {
        return Some(("lxc", part.to_string()));
    }
    if let Some(name) = part
        .strip_prefix("machine-")
        .and_then(|r| r.strip_suffix(".scope"))
    {
        return (!name.is_empty()).then(|| ("nspawn", unescape_unit(name)));
    }
    None
}

/// `pod<UID>` (cgroupfs) or `kubepods[-QOS]-pod<UID_with_underscores>.slice` (systemd).
fn kube_pod_uid(part: &str) -> Option<String> {
    let raw = if let Some(s) = part.strip_suffix(".slice") {
        if !s.starts_with("kubepods") {
            return None;
        }
        &s[s.rfind("-pod")? + 4..]
    } else {
        part.strip_prefix("pod")?
    };
    let uid = raw.replace('_', "-");
    let shape = uid.len() == 36
        && uid.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    shape.then_some(uid)
}

fn unit_in(parts: &[&str]) -> Option<String> {
    let i = parts
        .iter()
        .rposition(|p| p.ends_with(".service") || p.ends_with(".scope"))?;
    if parts[i] == "init.scope" && i > 0 && parts[i - 1].ends_with(".service") {
        return Some(parts[i - 1].to_string());
    }
    Some(parts[i].to_string())
}

/// systemd's unit-name escaping: `\x2d` is '-', and so on.
fn unescape_unit(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 4 <= b.len() {
            // Bytes, not str slices: a multi-byte character after "\x" is not a char
            // boundary (a user can name a cgroup so).
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup v2 path of `pid`: the `0::` line of `<proc>/PID/cgroup` (hybrid hosts have it
/// too). None where the process is gone or has no such line (a v1-only host).
pub fn cgroup_of(roots: &Roots, pid: u32) -> Option<String> {
    let text =
        crate::collect::read_record_text(roots.proc.join(pid.to_string()).join("cgroup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_end_matches(" (deleted)").to_string())
}

/// What `pid`'s cgroups name: the v2 path first; where that names nothing (a v1-only
/// host, or a runtime that placed the process only in v1 hierarchies), the
/// `name=systemd` hierarchy, then the first v1 controller with a path.
pub fn placement_of(roots: &Roots, pid: u32) -> Option<Placement> {
    let text =
        crate::collect::read_record_text(roots.proc.join(pid.to_string()).join("cgroup")).ok()?;
    let mut paths: Vec<(u8, &str)> = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(ctl), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let rank = match (id, ctl) {
            ("0", "") => 0,
            (_, "name=systemd") => 1,
            _ => 2,
        };
        paths.push((rank, path));
    }
    paths.sort_by_key(|&(rank, _)| rank);
    let mut best: Option<Placement> = None;
    for (_, path) in paths {
        let p = classify(path);
        if p.container.is_some() {
            return Some(p);
        }
        if best.as_ref().is_none_or(|b| b.unit.is_none()) {
            best = Some(p);
        }
    }
    Some(best.unwrap_or_default())
}

/// The cgroup2 mount point, from `<proc>/self/mountinfo` (field 5; fstype after " - ").
pub fn cgroup2_mount(proc: &Path) -> Option<PathBuf> {
    let text = crate::collect::read_text(proc.join("self/mountinfo")).ok()?;
    text.lines().find_map(|line| {
        let (pre, post) = line.split_once(" - ")?;
        if post.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        pre.split_whitespace()
            .nth(4)
            .map(|m| PathBuf::from(unescape_octal(m)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path (relative to the cgroup2 mount, starting with '/') of the cgroup whose id is
/// `id`; one walk of the tree. The kernel's cgroup id is the cgroup2 directory's inode
/// number (kernfs node id), which is what sock_diag's INET_DIAG_CGROUP_ID carries.
pub fn cgroup_path_by_id(roots: &Roots, id: u64) -> Option<String> {
    walk(roots.cgroup2.as_deref()?).remove(&id)
}

fn walk(mount: &Path) -> HashMap<u64, String> {
    let mut map = HashMap::new();
    let Ok(meta) = std::fs::metadata(mount) else {
        return map;
    };
    map.insert(meta.ino(), "/".to_string());
    let mut stack = vec![(mount.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue; // removed meanwhile, or not ours to read
        };
        for e in entries.flatten() {
            // cgroup directories only; the interface files are regular files.
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let Ok(ino) = e.metadata().map(|m| m.ino()) else {
                continue;
            };
            let child = format!("{rel}/{}", e.file_name().to_string_lossy());
            map.insert(ino, child.clone());
            stack.push((e.path(), child));
        }
    }
    map
}

/// The cgroup id → path map of one run: walked on first use, walked again once on a miss
/// (a cgroup created after the walk).
#[derive(Default)]
pub struct CgroupIds {
    map: Option<HashMap<u64, String>>,
    rewalked: bool,
}

impl CgroupIds {
    pub fn path(&mut self, roots: &Roots, id: u64) -> Option<String> {
        let mount = roots.cgroup2.as_deref()?;
        let map = self.map.get_or_insert_with(|| walk(mount));
        if let Some(p) = map.get(&id) {
            return Some(p.clone());
        }
        if self.rewalked {
            return None;
        }
        self.rewalked = true;
        let map = self.map.insert(walk(mount));
        map.get(&id).cloned()
    }
}

#[cfg(test)]
#[path = "cgroup_tests.rs"]
mod tests;
