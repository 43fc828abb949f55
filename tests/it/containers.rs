//! Containers, pods and units: the placement library against real cgroup v2 directories
//! this test creates under the host's cgroup2 mount (found, not assumed), and against real
//! podman containers (.ci/podman.sh). Root only; skips otherwise (failures under CI).
#![cfg(target_os = "linux")]

use crate::common;
use crate::common::containers;

use containers::Podman;
use portscope::collect::linux::placement::{
    cgroup_of, cgroup_path_by_id, classify, placement_of, published_backend, ContainerRef,
    Placement, Placer, PublishedVia, Roots,
};
use portscope::collect::linux::NetlinkTables;
use portscope::collect::TableSource;
use portscope::model::{Protocol, TableQuery};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const UID: &str = "0c5a3c1e-6a3e-4c2b-9d0f-2b1e8a7c4d21";

/// A cgroup subtree made by the test under the real cgroup2 mount; processes moved in are
/// moved back and the directories removed on drop (deepest first), also on failure.
struct CgroupTree {
    mount: PathBuf,
    top: PathBuf,
    /// Where moved processes go back to (the test process's own cgroup).
    home: PathBuf,
    moved: Vec<u32>,
}

impl CgroupTree {
    fn new(tag: &str) -> Option<CgroupTree> {
        if !common::is_root() {
            common::skip("not root: cannot create cgroups");
            return None;
        }
        let roots = Roots::system();
        let Some(mount) = roots.cgroup2.clone() else {
            common::skip("no cgroup2 mount in /proc/self/mountinfo");
            return None;
        };
        let own = cgroup_of(&roots, std::process::id()).expect("own cgroup v2 path");
        let top = mount.join(format!("portscope-{tag}-{}", std::process::id()));
        if let Err(e) = std::fs::create_dir(&top) {
            common::skip(&format!("cannot create {}: {e}", top.display()));
            return None;
        }
        Some(CgroupTree {
            home: mount.join(own.trim_start_matches('/')),
            mount,
            top,
            moved: Vec::new(),
        })
    }

    /// Creates `layout` (a cgroup path) below the test's top directory; returns the path
    /// as /proc/PID/cgroup will show it.
    fn make(&self, layout: &str) -> String {
        let dir = self.top.join(layout.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).unwrap();
        format!("/{}", dir.strip_prefix(&self.mount).unwrap().display())
    }

    fn move_in(&mut self, path: &str, pid: u32) {
        let procs = self
            .mount
            .join(path.trim_start_matches('/'))
            .join("cgroup.procs");
        std::fs::write(&procs, pid.to_string()).unwrap();
        self.moved.push(pid);
    }

    fn move_out(&mut self, pid: u32) {
        let _ = std::fs::write(self.home.join("cgroup.procs"), pid.to_string());
        self.moved.retain(|&p| p != pid);
    }
}

impl Drop for CgroupTree {
    fn drop(&mut self) {
        for pid in std::mem::take(&mut self.moved) {
            let _ = std::fs::write(self.home.join("cgroup.procs"), pid.to_string());
        }
        // rmdir, deepest first: a cgroup directory holds only kernel files.
        fn rm(dir: &Path) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        rm(&e.path());
                    }
                }
            }
            if let Err(e) = std::fs::remove_dir(dir) {
                eprintln!("cannot remove {}: {e}", dir.display());
            }
        }
        rm(&self.top);
    }
}

/// A child that waits on its stdin; killed and reaped on drop.
struct Sleeper(Child);

impl Sleeper {
    fn start() -> Sleeper {
        Sleeper(
            Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn cat"),
        )
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn found(runtime: &str, id: &str, pod: Option<&str>) -> Option<ContainerRef> {
    Some(ContainerRef {
        runtime: runtime.into(),
        id: id.into(),
        pod_uid: pod.map(Into::into),
        delegated: false,
    })
}

#[test]
fn every_runtime_layout_labels_a_process_moved_into_it() {
    let Some(mut tree) = CgroupTree::new("layouts") else {
        return;
    };
    let pod = format!("kubepods-burstable-pod{}.slice", UID.replace('-', "_"));
    let cases: Vec<(String, Option<ContainerRef>, Option<String>)> = vec![
        (
            format!("system.slice/docker-{ID}.scope"),
            found("docker", ID, None),
            Some(format!("docker-{ID}.scope")),
        ),
        (format!("docker/{ID}"), found("docker", ID, None), None),
        (
            format!("libpod_parent/libpod-{ID}"),
            found("podman", ID, None),
            None,
        ),
        ("libpod_parent/conmon".into(), None, None),
        (
            format!("machine.slice/libpod-{ID}.scope/container"),
            found("podman", ID, None),
            Some(format!("libpod-{ID}.scope")),
        ),
        (
            format!("machine.slice/libpod-conmon-{ID}.scope"),
            None,
            Some(format!("libpod-conmon-{ID}.scope")),
        ),
        (
            format!("kubepods.slice/kubepods-burstable.slice/{pod}/cri-containerd-{ID}.scope"),
            found("containerd", ID, Some(UID)),
            Some(format!("cri-containerd-{ID}.scope")),
        ),
        (
            format!("kubepods.slice/{pod}/crio-{ID}.scope"),
            found("cri-o", ID, Some(UID)),
            Some(format!("crio-{ID}.scope")),
        ),
        (
            "lxc.payload.web1/system.slice/nginx.service".into(),
            found("lxc", "web1", None),
            None,
        ),
        (
            "machine.slice/machine-box.scope/payload".into(),
            found("nspawn", "box", None),
            Some("machine-box.scope".into()),
        ),
        (
            "system.slice/nginx.service".into(),
            None,
            Some("nginx.service".into()),
        ),
        (
            "user.slice/user-1000.slice/user@1000.service/init.scope".into(),
            None,
            Some("user@1000.service".into()),
        ),
    ];
    let roots = Roots::system();
    let child = Sleeper::start();
    let pid = child.0.id();
    for (layout, container, unit) in cases {
        let path = tree.make(&layout);
        tree.move_in(&path, pid);
        let seen = cgroup_of(&roots, pid).unwrap();
        assert_eq!(seen, path, "{layout}");
        let want = Placement { container, unit };
        assert_eq!(classify(&seen), want, "{layout}");
        assert_eq!(placement_of(&roots, pid), Some(want), "{layout}");
        tree.move_out(pid);
        assert_ne!(cgroup_of(&roots, pid).unwrap(), path);
    }
}

/// The socket's own cgroup (INET_DIAG_CGROUP_ID) resolves to the directory its creator sat
/// in, even after the creator moved on: the cgroup is the socket's, not the holder's.
#[test]
fn a_sockets_cgroup_id_resolves_to_the_cgroup_it_was_created_in() {
    let Some(mut tree) = CgroupTree::new("sockid") else {
        return;
    };
    let path = tree.make(&format!("system.slice/docker-{ID}.scope"));
    let procs = tree
        .mount
        .join(path.trim_start_matches('/'))
        .join("cgroup.procs");
    // The shell joins the cgroup, then becomes the listener: the socket is born inside.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > '{}' && exec '{}' listen --json 127.0.0.1:0",
            procs.display(),
            common::bin_path()
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    tree.moved.push(pid);
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let opened: portscope::probe::Opened = serde_json::from_str(&line).expect("listen line");
    tree.move_out(pid);

    let h = NetlinkTables::new()
        .harvest(&TableQuery::everything())
        .unwrap();
    let sock = h
        .sockets
        .iter()
        .find(|s| s.local.port == opened.port && s.protocol == Protocol::Tcp)
        .expect("our listener in the table");
    let id = sock.cgroup_id.expect("INET_DIAG_CGROUP_ID (Linux 5.9+)");
    let roots = Roots::system();
    assert_eq!(
        cgroup_path_by_id(&roots, id).as_deref(),
        Some(path.as_str())
    );
    let mut placer = Placer::new(roots);
    assert_eq!(placer.cgroup_path_by_id(id).as_deref(), Some(path.as_str()));
    let placed = placer.path(&path);
    assert_eq!(placed.container.map(|c| c.id), Some(ID.to_string()));
    assert_eq!(cgroup_path_by_id(&Roots::system(), u64::MAX), None);
    drop(child.stdin.take());
    let _ = child.wait();
}

#[test]
fn podman_container_process_and_its_conmon_reservation_are_labelled() {
    let Some(mut podman) = Podman::start() else {
        return;
    };
    let name = format!("portscope-web-{}", std::process::id());
    let c = podman.run(&name, Podman::HTTPD);
    let started = podman.since.elapsed();

    // (a) The container's main process: runtime, full id, name, from cgroup and disk only.
    let mut placer = Placer::new(Roots::system());
    let placed = placer.process(c.pid);
    let got = placed.container.expect("a container");
    assert_eq!(got.runtime, "podman");
    assert_eq!(got.id, c.id);
    assert_eq!(got.id.len(), 64);
    assert_eq!(got.name.as_deref(), Some(name.as_str()));
    assert_eq!(got.pod, None);
    // conmon itself is not the container.
    assert_eq!(placer.process(c.conmon_pid).container, None);

    // (b) The host port's socket is conmon's reservation; it leads to the container.
    let (code, stdout, stderr) =
        common::run(&["list", "--json", "--port", &c.host_port.to_string()]);
    assert_eq!(code, 0, "{stderr}");
    let doc = common::doc(stdout.as_bytes());
    let sock = doc
        .sockets
        .iter()
        .find(|s| s.local.port == c.host_port)
        .unwrap_or_else(|| panic!("port {} not listed: {stdout}", c.host_port));
    let holder = &sock.processes[0];
    assert_eq!(holder.pid, c.conmon_pid);
    let p = published_backend(placer.roots(), &holder.cmdline, Protocol::Tcp, c.host_port)
        .expect("conmon's reservation names its container");
    assert_eq!(p.via, PublishedVia::Conmon);
    assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(p.container_port, Some(80));
    let ip = p
        .container_ip
        .expect("the container's address from its hosts file");
    assert!(!ip.is_loopback(), "{ip}");
    let pc = p.container.unwrap();
    assert_eq!(
        (pc.id.as_str(), pc.name.as_deref()),
        (c.id.as_str(), Some(name.as_str()))
    );
    eprintln!(
        "podman set-up and one container: {:.2} s",
        started.as_secs_f64()
    );
}

/// Needs the lead's `--netns all` (issue 12): the container's own listener on port 80, in
/// its namespace, with the container on its process.
#[test]
fn list_netns_all_shows_the_containers_listener_with_its_container_name() {
    let Some(mut podman) = Podman::start() else {
        return;
    };
    let names: Vec<String> = (1..=2)
        .map(|i| format!("portscope-ns{i}-{}", std::process::id()))
        .collect();
    let running: Vec<_> = names.iter().map(|n| podman.run(n, Podman::HTTPD)).collect();
    let (code, stdout, stderr) = common::run(&["list", "--netns", "all", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for c in &running {
        let hit = doc["sockets"].as_array().unwrap().iter().find(|s| {
            s["local"]["port"] == 80
                && s["processes"][0]["pid"] == c.pid
                && s["netns"]["current"] == false
        });
        let s = hit.unwrap_or_else(|| panic!("{}'s listener not listed: {stdout}", c.name));
        assert_eq!(s["processes"][0]["container"]["name"], c.name.as_str());
        assert_eq!(s["processes"][0]["container"]["runtime"], "podman");
        assert_eq!(s["processes"][0]["container"]["id"], c.id.as_str());
    }
}

/// `who HOSTPORT` on a podman-published port follows conmon's reservation socket to the
/// container's own listener and names its owner as the host sees it.
#[test]
fn who_follows_a_published_port_to_the_containers_listener() {
    let Some(mut podman) = Podman::start() else {
        return;
    };
    let name = format!("portscope-pub-{}", std::process::id());
    let c = podman.run(&name, Podman::HTTPD);
    let port = c.host_port.to_string();
    let (code, stdout, stderr) = common::run(&["who", &port]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    assert!(
        stdout.contains(&format!("(pid {}", c.conmon_pid)),
        "conmon holds the host port: {stdout}"
    );
    let head = format!(
        "{port}/tcp  published by container {name} (podman {}) via conmon's reservation socket (traffic goes by DNAT)\n",
        &c.id[..12]
    );
    assert!(stdout.contains(&head), "{stdout}");
    let backend = stdout
        .lines()
        .find(|l| l.starts_with("  backend "))
        .unwrap_or_else(|| panic!("no backend line: {stdout}"));
    assert!(
        backend.ends_with(&format!("-> httpd (pid {})", c.pid)),
        "{backend}"
    );
    assert!(backend.contains(":80 ("), "{backend}");
}
