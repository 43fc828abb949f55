//! Acting on a port: who restarts a holder. Reads /proc/PID/cgroup and names the systemd
//! unit or the container it runs in, with the command that would stop it for good
//! (portscope only says it; it never calls a service manager or an engine).
//!
//! This is one small function on purpose: the lead is adding `container`/`unit` to the
//! process model (issue 12); once those fields exist this reads them instead.

/// The systemd unit, the container (engine and ID), and the stop command, as far as the
/// cgroup path tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Supervisor {
    pub unit: Option<String>,
    pub container: Option<String>,
    pub hint: Option<String>,
}

pub fn of_pid(pid: u32) -> Supervisor {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// The cgroup v2 line (`0::/path`), or failing that the first v1 line with a path.
fn cgroup_path(text: &str) -> Option<&str> {
    let mut v1 = None;
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (id, _ctrl, path) = (it.next()?, it.next()?, it.next()?);
        if id == "0" {
            return Some(path);
        }
        if v1.is_none() && path.len() > 1 {
            v1 = Some(path);
        }
    }
    v1
}

/// A container ID inside a path component: `docker-<id>.scope`, `libpod-<id>.scope`,
/// `cri-containerd-<id>.scope`, or a bare 64-hex component under `/docker/`.
fn container_in(component: &str, parent: &str) -> Option<(&'static str, String)> {
    let hex = |s: &str| s.len() >= 12 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let stem = component.strip_suffix(".scope").unwrap_or(component);
    for (prefix, engine) in [
        ("docker-", "docker"),
        ("libpod-", "podman"),
        ("cri-containerd-", "crictl"),
        ("crio-", "crictl"),
    ] {
        if let Some(id) = stem.strip_prefix(prefix).filter(|id| hex(id)) {
            return Some((engine, id.to_string()));
        }
    }
    match parent {
        "docker" if hex(stem) => Some(("docker", stem.to_string())),
        "libpod_parent" | "machine.slice" if hex(stem) => Some(("podman", stem.to_string())),
        _ => None,
    }
}

pub fn parse(text: &str) -> Supervisor {
    let Some(path) = cgroup_path(text) else {
        return Supervisor::default();
    };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut out = Supervisor::default();
    for (i, c) in parts.iter().enumerate().rev() {
        let parent = if i > 0 { parts[i - 1] } else { "" };
        if let Some((engine, id)) = container_in(c, parent) {
            let short: String = id.chars().take(12).collect();
            out.container = Some(format!("{engine}:{short}"));
            out.hint = Some(format!("{engine} stop {short}"));
            return out;
        }
    }
    // The innermost service unit; a user manager's units are stopped with --user.
    let user = parts.iter().any(|p| p.starts_with("user@"));
    if let Some(unit) = parts
        .iter()
        .rev()
        .find(|p| p.ends_with(".service") && !p.starts_with("user@"))
    {
        out.unit = Some(unit.to_string());
        let flag = if user { "--user " } else { "" };
        out.hint = Some(format!("systemctl {flag}stop {unit}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_units_and_containers_with_their_stop_command() {
        let s = parse("0::/system.slice/nginx.service\n");
        assert_eq!(s.unit.as_deref(), Some("nginx.service"));
        assert_eq!(s.hint.as_deref(), Some("systemctl stop nginx.service"));
        let s = parse("0::/user.slice/user-1000.slice/user@1000.service/app.slice/web.service\n");
        assert_eq!(s.hint.as_deref(), Some("systemctl --user stop web.service"));
        let id = "4f1c2d3e4a5b6c7d8e9f00112233445566778899aabbccddeeff001122334455";
        let s = parse(&format!("0::/system.slice/docker-{id}.scope\n"));
        assert_eq!(s.container.as_deref(), Some("docker:4f1c2d3e4a5b"));
        assert_eq!(s.hint.as_deref(), Some("docker stop 4f1c2d3e4a5b"));
        assert_eq!(s.unit, None);
        let s = parse(&format!("12:pids:/docker/{id}\n0::/\n"));
        assert_eq!(s, Supervisor::default(), "v2 line wins: the root cgroup");
        let s = parse(&format!("12:pids:/docker/{id}\n"));
        assert_eq!(s.hint.as_deref(), Some("docker stop 4f1c2d3e4a5b"));
        let s = parse(&format!("0::/machine.slice/libpod-{id}.scope/container\n"));
        assert_eq!(s.hint.as_deref(), Some("podman stop 4f1c2d3e4a5b"));
        // A login session is not a unit anyone should stop.
        assert_eq!(
            parse("0::/user.slice/user-1000.slice/session-3.scope\n"),
            Supervisor::default()
        );
    }
}
