//! `--netns`: every network namespace on the machine, made by the test itself (a named one
//! through `ip netns add`, an unnamed one through `unshare -n`), each holding a listener on
//! the same port number; removed again even when an assertion fails.
#![cfg(target_os = "linux")]

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};

/// A named namespace (`ip netns add`), deleted on drop.
struct Named(String);

impl Named {
    fn new(tag: &str) -> Option<Named> {
        let name = format!("ps-{tag}-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        let n = Named(name);
        let up = Command::new("ip")
            .args(["-n", &n.0, "link", "set", "lo", "up"])
            .status()
            .is_ok_and(|s| s.success());
        up.then_some(n)
    }

    fn inode(&self) -> u64 {
        std::fs::metadata(format!("/run/netns/{}", self.0))
            .unwrap()
            .ino()
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A `portscope listen` started through `prefix` (e.g. `ip netns exec NAME`), held until
/// dropped (stdin closes); reports its PID and port once listening.
struct Held {
    child: Child,
    pid: u32,
}

impl Held {
    fn start(prefix: &[&str], spec: &str) -> Held {
        let mut c = Command::new(prefix[0]);
        c.args(&prefix[1..])
            .arg(bin_path())
            .args(["listen", spec, "--json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = c.spawn().expect("start listen");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("listen via {prefix:?} did not start ({e}): {line:?}"));
        let pid = v["pid"].as_u64().unwrap() as u32;
        Held { child, pid }
    }

    fn netns_inode(&self) -> u64 {
        std::fs::metadata(format!("/proc/{}/ns/net", self.pid))
            .unwrap()
            .ino()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn json(args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = portscope().args(args).output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code(),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (netns inode, netns name, current, first pid) of a socket.
type Row = (Option<u64>, Option<String>, bool, Option<u64>);

/// Every socket of a document as a [`Row`], sorted.
fn rows(v: &serde_json::Value) -> Vec<Row> {
    let mut r: Vec<_> = v["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["netns"]["inode"].as_u64(),
                s["netns"]["name"].as_str().map(str::to_string),
                s["netns"]["current"].as_bool().unwrap(),
                s["processes"][0]["pid"].as_u64(),
            )
        })
        .collect();
    r.sort();
    r
}

#[test]
fn every_namespace_is_listed_with_its_owner_and_name() {
    if !is_root() {
        skip("not root: cannot create network namespaces");
        return;
    }
    let Some(blue) = Named::new("blue") else {
        skip("ip netns add failed (iproute2 missing or namespaces refused)");
        return;
    };
    // The same port number in three namespaces: ours, the named one, an unnamed one.
    let here = Held::start(&["env"], "127.0.0.1:0");
    let port = {
        let (_, v, _) = json(&["list", "--json", "--pid", &here.pid.to_string()]);
        v["sockets"][0]["local"]["port"]
            .as_u64()
            .unwrap()
            .to_string()
    };
    let spec = format!("127.0.0.1:{port}");
    let named = Held::start(&["ip", "netns", "exec", &blue.0], &spec);
    let unnamed = Held::start(
        &[
            "unshare",
            "-n",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ],
        &spec,
    );
    let current = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    let unnamed_ino = unnamed.netns_inode();
    assert_ne!(unnamed_ino, current);

    // The default reads only our own namespace.
    let (code, v, _) = json(&["list", "--json", "-p", &port]);
    assert_eq!(code, Some(0));
    assert_eq!(
        rows(&v),
        vec![(Some(current), None, true, Some(u64::from(here.pid)))]
    );

    let mut want = vec![
        (Some(current), None, true, Some(u64::from(here.pid))),
        (
            Some(blue.inode()),
            Some(blue.0.clone()),
            false,
            Some(u64::from(named.pid)),
        ),
        (Some(unnamed_ino), None, false, Some(u64::from(unnamed.pid))),
    ];
    want.sort();
    let (code, v, err) = json(&["list", "--json", "-p", &port, "--netns", "all"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        rows(&v),
        want,
        "--netns all: every namespace, its owner and name"
    );
    let read: Vec<&str> = v["sources"]["netns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["inode"] == blue.inode() || n["inode"] == unnamed_ino)
        .map(|n| n["table"].as_str().unwrap())
        .collect();
    assert_eq!(
        read,
        ["netlink", "netlink"],
        "entered as root: {}",
        v["sources"]
    );

    // One namespace by name, by PID and by path.
    let only = |sel: &str| rows(&json(&["list", "--json", "-p", &port, "--netns", sel]).1);
    assert_eq!(
        only(&blue.0),
        vec![want.iter().find(|r| r.1.is_some()).cloned().unwrap()]
    );
    assert_eq!(
        only(&unnamed.pid.to_string()),
        vec![(Some(unnamed_ino), None, false, Some(u64::from(unnamed.pid)))]
    );
    assert_eq!(only(&format!("/run/netns/{}", blue.0)).len(), 1);

    // The table grows a NETNS column naming each.
    let out = portscope()
        .args(["list", "-p", &port, "--netns", "all"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.starts_with("NETNS "), "{text}");
    assert!(text.lines().any(|l| l.starts_with(&blue.0)), "{text}");
    assert!(text.lines().any(|l| l.starts_with("current ")), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with(&unnamed_ino.to_string())),
        "{text}"
    );
    drop((here, named, unnamed));
}

#[test]
fn who_finds_a_port_held_only_inside_a_namespace() {
    if !is_root() {
        skip("not root: cannot create network namespaces");
        return;
    }
    let Some(red) = Named::new("red") else {
        skip("ip netns add failed");
        return;
    };
    let inside = Held::start(&["ip", "netns", "exec", &red.0], "127.0.0.1:0");
    let (_, v, _) = json(&[
        "list",
        "--json",
        "--netns",
        &red.0,
        "--pid",
        &inside.pid.to_string(),
    ]);
    let port = v["sockets"][0]["local"]["port"]
        .as_u64()
        .unwrap()
        .to_string();
    // Only our namespace: nobody holds it here (unless the host happens to use the port).
    let (code, v, _) = json(&["who", &port, "--json"]);
    let held_here = v["sockets"].as_array().is_some_and(|a| !a.is_empty());
    assert_eq!(code, Some(if held_here { 0 } else { 1 }));
    let (code, v, _) = json(&["who", &port, "--json", "--netns", "all"]);
    assert_eq!(code, Some(0));
    let ours: Vec<&serde_json::Value> = v["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["netns"]["name"] == red.0.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{v}");
    assert_eq!(ours[0]["processes"][0]["pid"], inside.pid);
    // The blocks for people say where it lives.
    let out = portscope()
        .args(["who", &port, "--netns", &red.0])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!(
            "  netns        {} (net:[{}])\n",
            red.0,
            red.inode()
        )),
        "{text}"
    );
    drop(inside);
}

#[test]
fn bad_netns_values_are_one_line_and_exit_2() {
    for (arg, msg) in [
        (
            "no-such-ns-here",
            "portscope: invalid network namespace 'no-such-ns-here': No such file or directory (os error 2)",
        ),
        (
            "/etc/hostname",
            "portscope: invalid network namespace file '/etc/hostname': not a network namespace (nsfs) file",
        ),
    ] {
        let out = portscope().args(["list", "--netns", arg]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end(), msg);
    }
    let out = portscope()
        .args(["list", "--netns", "all", "--table-source", "netstat2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--table-source netstat2"));
}

#[test]
fn as_nobody_other_namespaces_are_read_through_proc_or_named_in_warnings() {
    if !is_root() {
        skip("not root: cannot create network namespaces or drop to nobody");
        return;
    }
    let Some(green) = Named::new("green") else {
        skip("ip netns add failed");
        return;
    };
    let empty = Named::new("empty").expect("a second namespace");
    let inside = Held::start(&["ip", "netns", "exec", &green.0], "127.0.0.1:0");
    let port = {
        let (_, v, _) = json(&["list", "--json", "--netns", &green.0]);
        v["sockets"][0]["local"]["port"]
            .as_u64()
            .unwrap()
            .to_string()
    };
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(bin_path())
        .args(["list", "--json", "-p", &port, "--netns", "all"])
        .output();
    let Ok(out) = out else {
        skip("setpriv (util-linux) is not installed");
        return;
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    // The listener inside (root's) is found through /proc/PID/net: its namespace inode is
    // unknown to nobody, its owner hidden, its socket uid known.
    let found: Vec<&serde_json::Value> = v["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["netns"]["current"] == false)
        .collect();
    assert_eq!(found.len(), 1, "{v}");
    assert_eq!(found[0]["netns"]["inode"], serde_json::Value::Null);
    assert_eq!(found[0]["owner"], "hidden");
    assert_eq!(found[0]["uid"], 0);
    assert_eq!(v["sources"]["table"], "procnet");
    // And the socket's own cgroup, from the kernel, without its owner: here the listener's
    // (read independently from /proc/PID/cgroup's cgroup v2 line).
    let cg = std::fs::read_to_string(format!("/proc/{}/cgroup", inside.pid)).unwrap();
    let want = cg
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap()
        .to_string();
    let (_, root_view, _) = json(&["list", "--json", "--netns", &green.0]);
    assert_eq!(root_view["sockets"][0]["cgroup"], want.as_str(), "as root");
    // The namespace with no process in it cannot be read at all: said, not dropped.
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.iter().any(|w| w.starts_with(&format!(
            "cannot read network namespace '{}': entering it: Operation not permitted",
            empty.0
        ))),
        "{warnings:?}"
    );
    drop(inside);
}

/// `why --netns NAME` tries the bind inside that namespace: a port held only there is not
/// bindable there, and bindable here.
#[test]
fn why_tries_the_bind_in_the_named_namespace() {
    if !is_root() {
        skip("not root: cannot create network namespaces");
        return;
    }
    let Some(ns) = Named::new("why") else {
        skip("ip netns add failed");
        return;
    };
    let inside = Held::start(&["ip", "netns", "exec", &ns.0], "127.0.0.1:0");
    let (_, v, _) = json(&["list", "--json", "--netns", &ns.0]);
    let port = v["sockets"][0]["local"]["port"].as_u64().unwrap();
    let spec = format!("127.0.0.1:{port}");
    let (code, v, err) = json(&["why", &spec, "--json", "--netns", &ns.0]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(v["results"][0]["bindable"], false);
    assert_eq!(v["results"][0]["reasons"][0]["rule"], "same_address");
    let (code, _, err) = json(&["why", &spec, "--json", "--netns", "all"]);
    assert_eq!(code, Some(2), "{err}");
    drop(inside);
}

/// Without root the owner of root's listener is hidden, but the socket's cgroup (from the
/// kernel, through netlink) still says where it belongs.
#[test]
fn as_nobody_the_cgroup_of_a_hidden_owner_is_known() {
    if !quiet_netns() {
        return;
    }
    let l = Listener::start(&["0"]);
    let port = l.port(0).to_string();
    let cg = std::fs::read_to_string(format!("/proc/{}/cgroup", l.opened[0].pid)).unwrap();
    let want = cg
        .lines()
        .find_map(|x| x.strip_prefix("0::"))
        .unwrap()
        .to_string();
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(bin_path())
        .args(["list", "--json", "-p", &port])
        .output();
    let Ok(out) = out else {
        skip("setpriv (util-linux) is not installed");
        return;
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["sockets"][0];
    assert_eq!(s["owner"], "hidden", "{v}");
    assert_eq!(s["cgroup"], want.as_str(), "{v}");
    drop(l);
}

/// `watch --netns all` looks for namespaces again on every tick: one created after it
/// started shows up (it did not: the namespaces were found once).
#[test]
fn watch_sees_a_namespace_created_after_it_started() {
    if !is_root() {
        skip("not root: cannot create network namespaces");
        return;
    }
    // A sentinel on the port here: watch prints its snapshot once it has read the table,
    // the readiness signal before the namespace is made.
    let sentinel = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = sentinel.local_addr().unwrap().port().to_string();
    let mut watch = Command::new(bin_path())
        .args(["watch", "--netns", "all", "-p", &port, "--jsonl"])
        .args(["--interval", "100ms", "--count", "1", "--for", "20s"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("\"event\":\"snapshot\""), "{first}");
    let Some(late) = Named::new("late") else {
        let _ = watch.kill();
        let _ = watch.wait();
        skip("ip netns add failed");
        return;
    };
    let inside = Held::start(
        &["ip", "netns", "exec", &late.0],
        &format!("127.0.0.1:{port}"),
    );
    let line = lines.next().unwrap().unwrap();
    let status = watch.wait().unwrap();
    drop(sentinel);
    let v: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("{e}: {line:?} (watch exited {status})"));
    assert_eq!(v["event"], "added", "{v}");
    assert_eq!(v["socket"]["netns"]["name"], late.0.as_str());
    assert_eq!(v["socket"]["processes"][0]["pid"], inside.pid);
    assert!(status.success());
    drop(inside);
}
