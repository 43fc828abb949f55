//! Real containers for the integration tests: podman from Debian's packages, set up by
//! .ci/podman.sh (runc, cgroupfs manager without systemd, bounded ulimits, a busybox image
//! imported from a local tarball). What the test brought is removed on drop, also when the
//! test fails: our containers and image, and what netavark added for them (chains, tables,
//! bridge) and ip_forward once no other container is left that may need them.
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Instant;

/// Held across processes as well as threads: one podman user at a time (the cleanup
/// removes the network state every container shares).
const LOCK: &str = "/run/portscope-podman.lock";

/// A podman set up for one test; the containers it started go on drop.
pub struct Podman {
    state: PathBuf,
    conf: String,
    pub image: String,
    label: String,
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
    /// Its conmon (which holds the published ports on the host).
    pub conmon_pid: u32,
    pub host_port: u16,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/podman.sh")
}

fn lock() -> std::io::Result<std::fs::File> {
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

impl Podman {
    /// Sets podman up, or skips (None, with the reason printed; a failure under CI) where
    /// that cannot be done: not root, no apt, a refused runtime.
    pub fn start() -> Option<Podman> {
        if !crate::common::is_root() {
            crate::common::skip("not root: cannot run podman containers");
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
        let state = std::env::temp_dir().join(format!("portscope-podman-{}", std::process::id()));
        let out = Command::new("bash")
            .arg(script())
            .args(["setup", state.to_str().unwrap()])
            .output()
            .expect("run .ci/podman.sh");
        // Whatever setup did half-way is undone by the same cleanup as a normal end.
        let mut p = Podman {
            state,
            conf: String::new(),
            image: String::new(),
            label: String::new(),
            started: Vec::new(),
            _lock: lock,
            since,
        };
        let set = crate::common::harness_settings(&out, ".ci/podman.sh setup")?;
        let get = |k: &str| set.get(k).cloned().unwrap_or_default();
        (p.conf, p.image, p.label) = (get("CONTAINERS_CONF"), get("IMAGE"), get("LABEL"));
        assert!(
            !p.conf.is_empty() && !p.image.is_empty(),
            "setup printed no configuration"
        );
        Some(p)
    }

    /// `podman ARGS` with our configuration.
    pub fn podman(&self, args: &[&str]) -> Output {
        Command::new("podman")
            .env("CONTAINERS_CONF", &self.conf)
            .args(args)
            .output()
            .expect("run podman")
    }

    fn podman_ok(&self, args: &[&str]) -> String {
        let out = self.podman(args);
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Starts `name` from our image with 127.0.0.1:HOST_PORT published to its port 80,
    /// running `cmd` (e.g. busybox httpd on 80). Returns once podman has started it: the
    /// reservation socket and the main process exist then.
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
            "-p",
            &publish,
            &self.image,
        ];
        args.extend_from_slice(cmd);
        self.started.push(name.to_string());
        let id = self.podman_ok(&args);
        let fmt = self.podman_ok(&[
            "inspect",
            "--format",
            "{{.State.Pid}} {{.State.ConmonPid}}",
            name,
        ]);
        let mut f = fmt.split_whitespace().map(|n| n.parse::<u32>().unwrap());
        Running {
            id,
            name: name.to_string(),
            pid: f.next().unwrap(),
            conmon_pid: f.next().unwrap(),
            host_port,
        }
    }

    /// busybox httpd in the foreground on the container's port 80.
    pub const HTTPD: &'static [&'static str] = &["httpd", "-f", "-p", "80", "-h", "/www"];
}

impl Drop for Podman {
    fn drop(&mut self) {
        if !self.started.is_empty() {
            let mut args = vec!["rm", "-f", "-t", "0"];
            args.extend(self.started.iter().map(String::as_str));
            let _ = self.podman(&args);
        }
        let out = Command::new("bash")
            .arg(script())
            .args(["cleanup", self.state.to_str().unwrap()])
            .output();
        let _ = std::fs::remove_dir_all(&self.state);
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "podman cleanup failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("podman cleanup did not run: {e}"),
        }
        eprintln!(
            "podman cycle (set-up, containers, clean-up): {:.2} s",
            self.since.elapsed().as_secs_f64()
        );
    }
}
