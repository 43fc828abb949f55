//! Real docker (Debian's docker.io 20.10, a dockerd of the test's own: .ci/docker.sh): a
//! published port with docker's userland proxy on (docker-proxy holds the host port) and off
//! (dockerd holds it, traffic goes by DNAT), a compose service, and `kill` on a published
//! port; and both engine scripts (.ci/podman.sh, .ci/docker.sh) leaving the host's firewall,
//! links and ip_forward as they found them. Root only; skips otherwise (failures under CI).
//! Traffic: none beyond loopback.
#![cfg(target_os = "linux")]

use crate::common;
use crate::common::docker;

use docker::{Docker, Running};
use serde_json::Value;
use std::path::PathBuf;

/// `portscope ARGS` as common::run, but ended if it outlives docker::bounded's bound (a
/// namespace entry that blocks on open, say, fails the test instead of hanging it).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = docker::bounded(common::bin_path())
        .env_remove("NO_COLOR")
        .args(args)
        .output()
        .expect("run portscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(args: &[&str]) -> Value {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 0, "portscope {args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The host-side socket on `port` and its first holder, from `list --json --port`.
fn host_holder(port: u16) -> Value {
    let doc = json(&["list", "--json", "--port", &port.to_string()]);
    let s = doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["local"]["port"] == port && s["netns"]["current"] == true)
        .unwrap_or_else(|| panic!("host port {port} not listed: {doc}"))
        .clone();
    s["processes"][0].clone()
}

/// `list --netns all`: the container's own listener on port 80, in its namespace, with the
/// container on its process.
fn assert_listed_in_its_namespace(c: &Running) -> Value {
    let doc = json(&["list", "--netns", "all", "--json"]);
    let s = doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["local"]["port"] == 80
                && s["processes"][0]["pid"] == c.pid
                && s["netns"]["current"] == false
        })
        .unwrap_or_else(|| panic!("{}'s listener not listed: {doc}", c.name))
        .clone();
    let container = &s["processes"][0]["container"];
    assert_eq!(container["runtime"], "docker", "{s}");
    assert_eq!(container["id"], c.id.as_str(), "{s}");
    assert_eq!(container["name"], c.name.as_str(), "{s}");
    // The table's NETNS column names the container too.
    let (code, table, stderr) = run(&["list", "--netns", "all"]);
    assert_eq!(code, 0, "{stderr}");
    let pid = c.pid.to_string();
    assert!(
        table.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first() == Some(&c.name.as_str()) && f.contains(&"80") && f.contains(&pid.as_str())
        }),
        "{table}"
    );
    container.clone()
}

/// `who HOSTPORT`: the host holder, then the container that publishes the port, the address
/// traffic is sent to, and the container's own listener with its owner.
fn assert_who_follows(c: &Running, holder_pid: u32, via: &str, extra: &str) -> String {
    let port = c.host_port.to_string();
    let (code, stdout, stderr) = run(&["who", &port]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    assert!(
        stdout.contains(&format!("(pid {holder_pid}, user root)")),
        "the holder: {stdout}"
    );
    let head = format!(
        "{port}/tcp  published by container {} (docker {}{extra}) via {via}\n",
        c.name,
        &c.id[..12]
    );
    assert!(stdout.contains(&head), "want {head:?} in: {stdout}");
    let forwards = stdout
        .lines()
        .find(|l| l.starts_with("  forwards to "))
        .unwrap_or_else(|| panic!("no forwards line: {stdout}"));
    assert!(forwards.ends_with(":80"), "{forwards}");
    let backend = stdout
        .lines()
        .find(|l| l.starts_with("  backend "))
        .unwrap_or_else(|| panic!("no backend line: {stdout}"));
    assert!(
        backend.ends_with(&format!("-> httpd (pid {})", c.pid)),
        "{backend}"
    );
    stdout
}

#[test]
fn docker_proxy_port_is_followed_to_the_containers_listener() {
    let Some(mut d) = Docker::start(&[]) else {
        return;
    };
    let name = format!("portscope-proxy-{}", std::process::id());
    let c = d.run(&name, Docker::HTTPD);

    // docker-proxy, a child of our dockerd, holds the host port.
    let holder = host_holder(c.host_port);
    assert_eq!(holder["name"], "docker-proxy", "{holder}");
    let proxy_pid = holder["pid"].as_u64().unwrap() as u32;
    let argv = std::fs::read(format!("/proc/{proxy_pid}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&argv).contains(&format!("-host-port\0{}\0", c.host_port)),
        "not our proxy: {}",
        String::from_utf8_lossy(&argv)
    );
    assert_who_follows(&c, proxy_pid, "docker-proxy", "");
    assert_listed_in_its_namespace(&c);
}

/// docker 20.10 with `--userland-proxy=false`: no docker-proxy; dockerd itself binds the host
/// port (so nobody else takes it) and DNAT carries the traffic. `who` names the container
/// from docker's state on disk (our dockerd's --data-root, found from its command line).
#[test]
fn without_the_userland_proxy_who_names_the_container_behind_dockerds_port() {
    let Some(mut d) = Docker::start(&["--userland-proxy=false"]) else {
        return;
    };
    let name = format!("portscope-dnat-{}", std::process::id());
    let c = d.run(&name, Docker::HTTPD);

    let holder = host_holder(c.host_port);
    assert_eq!(holder["name"], "dockerd", "{holder}");
    assert_eq!(holder["pid"], d.dockerd_pid(), "{holder}");
    assert_who_follows(
        &c,
        d.dockerd_pid(),
        "dockerd's reservation socket (traffic goes by DNAT)",
        "",
    );
    assert_listed_in_its_namespace(&c);

    // `kill` must not end dockerd (every container would go) nor call the port freed while
    // DNAT still carries it: refused as the container's (exit 3), with the stop command.
    let port = c.host_port.to_string();
    let (code, stdout, stderr) = run(&["kill", "-y", "--grace", "2s", &port]);
    let all = format!("{stdout}{stderr}");
    assert_eq!(code, 3, "exit {code}: {all}");
    assert!(!all.contains("freed"), "{all}");
    assert!(all.contains(&format!("docker stop {name}")), "{all}");
    assert!(d.is_running(&name), "the container was taken down: {all}");
    assert_eq!(
        host_holder(c.host_port)["pid"],
        d.dockerd_pid(),
        "dockerd must still hold the port: {all}"
    );
}

/// A docker-compose service: its project and service travel with the container, in `list`'s
/// JSON and on `who`'s published line.
#[test]
fn a_compose_service_is_named_with_its_project_and_service() {
    let Some(mut d) = Docker::start(&[]) else {
        return;
    };
    let project = format!("portscope{}", std::process::id());
    let c = d.compose_up(&project, "web", Docker::HTTPD);
    assert_eq!(c.name, format!("{project}_web_1"));

    let container = assert_listed_in_its_namespace(&c);
    assert_eq!(container["compose"]["project"], project.as_str());
    assert_eq!(container["compose"]["service"], "web");
    let holder = host_holder(c.host_port);
    assert_eq!(holder["name"], "docker-proxy", "{holder}");
    assert_who_follows(
        &c,
        holder["pid"].as_u64().unwrap() as u32,
        "docker-proxy",
        &format!(", compose project {project} service web"),
    );
    // `who` on the container's own port, from the host: the holder's block says it too.
    let (code, stdout, stderr) = run(&["who", "--netns", "all", "80"]);
    assert_eq!(code, 0, "{stderr}");
    let block = stdout
        .split("\n80/")
        .find(|b| b.contains(&format!("(pid {}, ", c.pid)))
        .unwrap_or_else(|| panic!("no block for pid {}: {stdout}", c.pid));
    assert!(
        block.contains(&format!(
            "\n  container    {} (docker {})\n",
            c.name,
            &c.id[..12]
        )),
        "{block}"
    );
    assert!(
        block.contains(&format!("\n  compose      project {project} service web\n")),
        "{block}"
    );
}

/// `kill` on a docker-published port must not end docker-proxy (traffic would stop while the
/// container runs on, and docker would not know): it refuses, says how to stop the container,
/// never says `freed`, and the container keeps running.
#[test]
fn kill_refuses_a_docker_published_port_and_names_docker_stop() {
    let Some(mut d) = Docker::start(&[]) else {
        return;
    };
    let name = format!("portscope-kill-{}", std::process::id());
    let c = d.run(&name, Docker::HTTPD);
    let holder = host_holder(c.host_port);
    assert_eq!(holder["name"], "docker-proxy", "{holder}");

    let port = c.host_port.to_string();
    let (code, stdout, stderr) = run(&["kill", "-y", "--grace", "2s", &port]);
    let all = format!("{stdout}{stderr}");
    // 3: refused because it belongs to a container (the engine's job), as for podman's conmon.
    assert_eq!(code, 3, "exit {code}: {all}");
    assert!(!all.contains("freed"), "{all}");
    assert!(all.contains("docker stop"), "{all}");
    assert!(all.contains(&name), "{all}");
    assert!(d.is_running(&name), "the container was taken down: {all}");
    assert_eq!(
        host_holder(c.host_port)["pid"],
        holder["pid"],
        "docker-proxy was ended: {all}"
    );
}

/// Runs `cmd` (bounded in time) and returns its stdout; panics with its stderr on failure.
fn sh(cmd: &[&str], env: &[(&str, &str)]) -> String {
    let out = docker::bounded(cmd[0])
        .args(&cmd[1..])
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What another engine's containers would have on the host before our tests run: a netavark
/// chain jumped to from nat OUTPUT, a DOCKER chain jumped to from FORWARD, a bridge. Removed on
/// drop (with the tables iptables-nft made for them).
struct Foreign {
    tag: String,
    tables_before: String,
}

impl Foreign {
    fn make() -> Foreign {
        let tag = format!("PSF{}", std::process::id());
        let f = Foreign {
            tables_before: sh(&["nft", "list", "tables"], &[]),
            tag,
        };
        let (nat, filter, bridge) = f.names();
        sh(&["iptables", "-w", "-t", "nat", "-N", &nat], &[]);
        sh(
            &["iptables", "-w", "-t", "nat", "-A", "OUTPUT", "-j", &nat],
            &[],
        );
        sh(&["iptables", "-w", "-N", &filter], &[]);
        sh(&["iptables", "-w", "-A", "FORWARD", "-j", &filter], &[]);
        sh(&["ip", "link", "add", &bridge, "type", "bridge"], &[]);
        f
    }

    fn names(&self) -> (String, String, String) {
        (
            format!("NETAVARK-{}", self.tag),
            format!("DOCKER-{}", self.tag),
            self.tag.to_lowercase(),
        )
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let (nat, filter, bridge) = self.names();
        let quiet = |args: &[&str]| {
            let _ = std::process::Command::new(args[0])
                .args(&args[1..])
                .output();
        };
        quiet(&["iptables", "-w", "-t", "nat", "-D", "OUTPUT", "-j", &nat]);
        quiet(&["iptables", "-w", "-t", "nat", "-X", &nat]);
        quiet(&["iptables", "-w", "-D", "FORWARD", "-j", &filter]);
        quiet(&["iptables", "-w", "-X", &filter]);
        quiet(&["ip", "link", "delete", &bridge]);
        let now = sh(&["nft", "list", "tables"], &[]);
        for t in now
            .lines()
            .filter(|t| !self.tables_before.lines().any(|b| b == *t))
        {
            let mut args = vec!["nft", "delete"];
            args.extend(t.split_whitespace());
            quiet(&args);
        }
    }
}

/// The host as far as the engines touch it: the whole nftables ruleset (iptables-nft's
/// tables included), the network links by name, ip_forward.
fn host_state() -> (String, Vec<String>, String) {
    let links = sh(&["ip", "-o", "link", "show"], &[])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap().to_string())
        .collect();
    (
        sh(&["nft", "list", "ruleset"], &[]),
        links,
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
    )
}

/// Regression: podman's cleanup deleted podman0 and every netavark chain on the host,
/// whoever's. Now .ci/podman.sh and .ci/docker.sh leave the host's firewall, links and
/// ip_forward exactly as they found them, another engine's chains and bridge included.
#[test]
fn the_engine_scripts_leave_the_host_as_they_found_it() {
    if !common::is_root() {
        common::skip("not root: cannot run container engines");
        return;
    }
    // Held throughout: no other test's engine changes the host meanwhile.
    let _lock = docker::lock().expect("the engines' lock");
    let foreign = Foreign::make();
    let before = host_state();
    let (nat, filter, bridge) = foreign.names();

    let dir = common::TempDir::new("harness");
    let state = dir.0.join("podman");
    let state = state.to_str().unwrap();
    let podman = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/podman.sh");
    let podman = podman.to_str().unwrap();
    let setup = sh(&["bash", podman, "setup", state], &[]);
    let conf = setup
        .lines()
        .find_map(|l| l.strip_prefix("CONTAINERS_CONF="))
        .expect("setup's CONTAINERS_CONF")
        .to_string();
    let publish = format!("127.0.0.1:{}:80", docker::free_port());
    let run = sh(
        &[
            "podman",
            "run",
            "-d",
            "--label",
            "portscope.test=1",
            "-p",
            &publish,
            "localhost/portscope-busybox:test",
            "httpd",
            "-f",
            "-p",
            "80",
        ],
        &[("CONTAINERS_CONF", &conf)],
    );
    assert_eq!(run.trim().len(), 64, "{run}");
    sh(&["bash", podman, "cleanup", state], &[]);
    assert_eq!(host_state(), before, "after podman");

    let state = dir.0.join("docker");
    let state = state.to_str().unwrap();
    let script = docker::script();
    let script = script.to_str().unwrap();
    let started = sh(&["bash", script, "start", state], &[]);
    let host = started
        .lines()
        .find_map(|l| l.strip_prefix("DOCKER_HOST="))
        .unwrap()
        .to_string();
    let net = started
        .lines()
        .find_map(|l| l.strip_prefix("NETWORK="))
        .unwrap()
        .to_string();
    let publish = format!("127.0.0.1:{}:80", docker::free_port());
    let argv = [
        "/usr/bin/docker",
        "run",
        "-d",
        "--label",
        "portscope.test=1",
        "--network",
        &net,
        "-p",
        &publish,
        "portscope-busybox:test",
        "httpd",
        "-f",
        "-p",
        "80",
    ];
    let run = sh(&argv, &[("DOCKER_HOST", &host)]);
    assert_eq!(run.trim().len(), 64, "{run}");
    sh(&["bash", script, "stop", state], &[]);
    let after = host_state();
    assert_eq!(after, before, "after docker");
    // What the comparison rests on: the foreign pieces were there all along.
    assert!(after.0.contains(&format!("chain {nat} {{")), "{}", after.0);
    assert!(
        after.0.contains(&format!("chain {filter} {{")),
        "{}",
        after.0
    );
    assert!(after.1.contains(&bridge), "{:?}", after.1);
}
