//! Acting on a port: who restarts a holder. Its systemd unit or container as the model
//! carries them (the pipeline's placement, from collect/linux/placement), with the
//! command that would stop it for good (portscope only says it; it never calls a service
//! manager or an engine).

use crate::model::Process;

/// The systemd unit, the container (engine and short id), and the stop command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Supervisor {
    pub unit: Option<String>,
    pub container: Option<String>,
    pub hint: Option<String>,
}

/// What supervises `p`, from its placement. A login session or a user's manager is not
/// a unit anyone should stop: only services are named.
pub fn of(p: &Process) -> Supervisor {
    if let Some(c) = &p.container {
        let short: String = c.id.chars().take(12).collect();
        let stop = match c.runtime.as_str() {
            "docker" => Some(format!("docker stop {short}")),
            "podman" => Some(format!("podman stop {short}")),
            "containerd" | "cri-o" => Some(format!("crictl stop {short}")),
            "lxc" => Some(format!("lxc stop {}", c.id)),
            "nspawn" => Some(format!("machinectl stop {}", c.id)),
            _ => None,
        };
        return Supervisor {
            unit: None,
            container: Some(format!("{}:{short}", c.runtime)),
            hint: stop,
        };
    }
    let Some(unit) = p
        .unit
        .as_deref()
        .filter(|u| u.ends_with(".service") && !u.starts_with("user@"))
    else {
        return Supervisor::default();
    };
    // A user manager's units are stopped with --user: its cgroup says whose it is.
    let user = crate::collect::linux::placement::cgroup_of(
        &crate::collect::linux::placement::Roots::system(),
        p.pid,
    )
    .is_some_and(|path| path.contains("/user@"));
    let flag = if user { "--user " } else { "" };
    Supervisor {
        unit: Some(unit.to_string()),
        container: None,
        hint: Some(format!("systemctl {flag}stop {unit}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Container;

    fn holder(container: Option<Container>, unit: Option<&str>) -> Process {
        Process {
            pid: u32::MAX,
            name: "x".into(),
            cmdline: vec![],
            user: None,
            uid: None,
            ppid: None,
            tid: None,
            container,
            unit: unit.map(str::to_owned),
        }
    }

    #[test]
    fn names_units_and_containers_with_their_stop_command() {
        let s = of(&holder(None, Some("nginx.service")));
        assert_eq!(s.unit.as_deref(), Some("nginx.service"));
        assert_eq!(s.hint.as_deref(), Some("systemctl stop nginx.service"));
        let id = "4f1c2d3e4a5b6c7d8e9f00112233445566778899aabbccddeeff001122334455";
        let c = |runtime: &str| Container {
            runtime: runtime.into(),
            id: id.into(),
            name: Some("web".into()),
            pod: None,
            compose: None,
        };
        let s = of(&holder(Some(c("docker")), Some("docker-x.scope")));
        assert_eq!(s.container.as_deref(), Some("docker:4f1c2d3e4a5b"));
        assert_eq!(s.hint.as_deref(), Some("docker stop 4f1c2d3e4a5b"));
        assert_eq!(s.unit, None);
        let s = of(&holder(Some(c("podman")), None));
        assert_eq!(s.hint.as_deref(), Some("podman stop 4f1c2d3e4a5b"));
        // A login session or a user's manager is not a unit anyone should stop.
        assert_eq!(
            of(&holder(None, Some("session-3.scope"))),
            Supervisor::default()
        );
        assert_eq!(
            of(&holder(None, Some("user@1000.service"))),
            Supervisor::default()
        );
    }
}
