//! Real docker for the integration tests: Debian's docker.io, a dockerd of the test's own
//! started by .ci/docker.sh (its state, socket and bridge network under a temporary
//! directory; a busybox image imported from a local tarball). On drop, also when the test
//! fails: our containers, network and image go, dockerd stops, and what starting it added to
//! the host's firewall and sysctls is undone.
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Instant;

/// The lock the podman harness (common/containers.rs) takes too: one container engine of
/// the tests at a time, across processes, since both change the host's firewall.
const LOCK: &str = "/run/portscope-podman.lock";

/// Every docker command ends within this (a dockerd that hangs fails the test, it does not
/// hold it forever).
const TIMEOUT: &str = "120";

/// Debian's client, named explicitly: another `docker` may come first in PATH.
const DOCKER: &str = "/usr/bin/docker";

/// A dockerd of our own; the containers it ran and dockerd itself go on drop.
pub struct Docker {
    state: PathBuf,
    /// unix://STATE/docker.sock
    pub host: String,
    pub image: String,
    label: String,
    pub network: String,
    started: Vec<String>,
    _lock: std::fs::File,
    /// When set-up began (for the cycle time the tests print).
    pub since: Instant,
}

/// A running container.
pub struct Running {
    pub id: String,
    pub name: String,
    /// The container's main process, as the host sees it.
    pub pid: u32,
    pub host_port: u16,
}

pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/docker.sh")
}

/// Takes the engines' lock (blocks until no other test runs podman or docker).
pub fn lock() -> std::io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)?;
    // SAFETY: flock on a descriptor we own; blocks until the other holder is done.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(f)
}

/// A free loopback TCP port (bound and released: a small race, loopback only).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `timeout TIMEOUT PROGRAM`: the command is killed if it outlives the bound.
pub fn bounded(program: &str) -> Command {
    let mut c = Command::new("timeout");
    c.args(["-k", "5", TIMEOUT, program]);
    c
}

impl Docker {
    /// Starts dockerd with `flags` beside ours (e.g. `--userland-proxy=false`), or skips
    /// (None, with the reason printed; a failure under CI) where that cannot be done: not
    /// root, no apt, another dockerd already running.
    pub fn start(flags: &[&str]) -> Option<Docker> {
        if !crate::common::is_root() {
            crate::common::skip("not root: cannot run dockerd");
            return None;
        }
        let since = Instant::now();
        let lock = match lock() {
            Ok(l) => l,
            Err(e) => {
                crate::common::skip(&format!("cannot take {LOCK}: {e}"));
                return None;
            }
        };
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let state =
            std::env::temp_dir().join(format!("portscope-docker-{}-{n}", std::process::id()));
        // Installing may take a while on a machine that lacks the packages (CI installs them
        // before the tests); its own bound is generous, since a killed dpkg is worse.
        let installed = Command::new("timeout")
            .args(["-k", "5", "1800", "bash"])
            .arg(script())
            .arg("install")
            .output()
            .expect("run .ci/docker.sh install");
        if !installed.status.success() {
            crate::common::skip(&format!(
                ".ci/docker.sh install failed: {}",
                String::from_utf8_lossy(&installed.stderr).trim()
            ));
            return None;
        }
        let out = bounded("bash")
            .arg(script())
            .args(["start", state.to_str().unwrap()])
            .args(flags)
            .output()
            .expect("run .ci/docker.sh");
        // Whatever start did half-way is undone by the same stop as a normal end.
        let mut d = Docker {
            state,
            host: String::new(),
            image: String::new(),
            label: String::new(),
            network: String::new(),
            started: Vec::new(),
            _lock: lock,
            since,
        };
        let set = crate::common::harness_settings(&out, ".ci/docker.sh start")?;
        let get = |k: &str| set.get(k).cloned().unwrap_or_default();
        (d.host, d.image, d.label, d.network) = (
            get("DOCKER_HOST"),
            get("IMAGE"),
            get("LABEL"),
            get("NETWORK"),
        );
        assert!(
            !d.host.is_empty() && !d.image.is_empty() && !d.network.is_empty(),
            "start printed no configuration"
        );
        Some(d)
    }

    /// `docker ARGS` against our dockerd.
    pub fn docker(&self, args: &[&str]) -> Output {
        bounded(DOCKER)
            .env("DOCKER_HOST", &self.host)
            .args(args)
            .output()
            .expect("run docker")
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// dockerd's pid (its own --pidfile).
    pub fn dockerd_pid(&self) -> u32 {
        std::fs::read_to_string(self.state.join("docker.pid"))
            .expect("dockerd's pidfile")
            .trim()
            .parse()
            .unwrap()
    }

    /// Starts `name` from our image on our network with 127.0.0.1:HOST_PORT published to
    /// its port 80, running `cmd`. Returns once docker has started it (its port mapping and
    /// main process exist then).
    pub fn run(&mut self, name: &str, cmd: &[&str]) -> Running {
        let host_port = free_port();
        let publish = format!("127.0.0.1:{host_port}:80");
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--label",
            &self.label,
            "--network",
            &self.network,
            "-p",
            &publish,
            &self.image,
        ];
        args.extend_from_slice(cmd);
        self.started.push(name.to_string());
        let id = self.docker_ok(&args);
        self.running(name, &id, host_port)
    }

    fn running(&self, name: &str, id: &str, host_port: u16) -> Running {
        let pid = self.docker_ok(&["inspect", "-f", "{{.State.Pid}}", name]);
        Running {
            id: id.to_string(),
            name: name.to_string(),
            pid: pid.parse().unwrap(),
            host_port,
        }
    }

    /// `docker-compose -p PROJECT up -d` of one service, SERVICE, on our network and image,
    /// with 127.0.0.1:HOST_PORT published to its port 80, running `cmd`.
    pub fn compose_up(&mut self, project: &str, service: &str, cmd: &[&str]) -> Running {
        let host_port = free_port();
        let command: Vec<String> = cmd.iter().map(|a| format!("{a:?}")).collect();
        let (key, value) = self.label.split_once('=').unwrap();
        let file = self.state.join(format!("{project}.yml"));
        std::fs::write(
            &file,
            format!(
                "version: \"3.5\"\nservices:\n  {service}:\n    image: {image}\n    \
                 command: [{command}]\n    ports: [\"127.0.0.1:{host_port}:80\"]\n    \
                 labels:\n      {key}: \"{value}\"\nnetworks:\n  default:\n    \
                 external: true\n    name: {network}\n",
                image = self.image,
                command = command.join(", "),
                network = self.network,
            ),
        )
        .unwrap();
        let name = format!("{project}_{service}_1");
        self.started.push(name.clone());
        let out = bounded("docker-compose")
            .env("DOCKER_HOST", &self.host)
            .args(["-p", project, "-f", file.to_str().unwrap(), "up", "-d"])
            .output()
            .expect("run docker-compose");
        assert!(
            out.status.success(),
            "docker-compose up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = self.docker_ok(&["inspect", "-f", "{{.Id}}", &name]);
        self.running(&name, &id, host_port)
    }

    /// Whether docker says the container runs.
    pub fn is_running(&self, name: &str) -> bool {
        self.docker_ok(&["inspect", "-f", "{{.State.Running}}", name]) == "true"
    }

    /// busybox httpd in the foreground on the container's port 80.
    pub const HTTPD: &'static [&'static str] = &["httpd", "-f", "-p", "80", "-h", "/www"];
}

impl Drop for Docker {
    fn drop(&mut self) {
        if !self.started.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(self.started.iter().map(String::as_str));
            let _ = self.docker(&args);
        }
        let out = bounded("bash")
            .arg(script())
            .args(["stop", self.state.to_str().unwrap()])
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("docker stop failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => eprintln!("docker stop did not run: {e}"),
        }
        eprintln!(
            "docker cycle (dockerd start, containers, stop): {:.2} s",
            self.since.elapsed().as_secs_f64()
        );
    }
}
