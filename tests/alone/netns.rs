//! `--netns`: every network namespace on the machine, made by the test itself (a named one
//! through `ip netns add`, an unnamed one through `unshare -n`), each holding a listener on
//! the same port number; removed again even when an assertion fails.
#![cfg(target_os = "linux")]

use crate::common;
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
    let _alone = common::serial();
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
    let _alone = common::serial();
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
    let _alone = common::serial();
    for (arg, msg) in [
        (
            "no-such-ns-here",
            "portscope: invalid network namespace 'no-such-ns-here': No such file or directory (os error 2)",
        ),
        (
            "/etc/hostname",
            "portscope: invalid network namespace file '/etc/hostname': a regular file, not a network namespace",
        ),
        (
            "/dev/null",
            "portscope: invalid network namespace file '/dev/null': a character device, not a network namespace",
        ),
        (
            "/tmp/",
            "portscope: invalid network namespace file '/tmp/': a directory, not a network namespace",
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
    let _alone = common::serial();
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
    let out = common::as_nobody(&["list", "--json", "-p", &port, "--netns", "all"]);
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
            "cannot read network namespace '{}': permission_denied (entering it: Operation not permitted",
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
    let _alone = common::serial();
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
    let _alone = common::serial();
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
    let out = common::as_nobody(&["list", "--json", "-p", &port]);
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
    let _alone = common::serial();
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

/// `portscope ARGS` as nobody (setpriv): (status, stdout, stderr). None: no setpriv.
fn as_nobody(args: &[&str]) -> Option<(Option<i32>, String, String)> {
    let out = common::as_nobody(args).ok()?;
    Some((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The `sources.netns` entries of a document whose `name` is NAME.
fn netns_entries<'a>(v: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    v["sources"]["netns"]
        .as_array()
        .unwrap_or_else(|| panic!("no sources.netns: {v}"))
        .iter()
        .filter(|n| n["name"] == name)
        .collect()
}

const PRIVILEGE: &str = "root, or CAP_SYS_ADMIN and CAP_SYS_PTRACE";

/// Regression (issue 27): as nobody, `who PORT --netns NAME` said "free" (exit 1) and
/// `list --netns NAME` printed an empty table (exit 0) for a namespace holding root's
/// listener that nobody may not enter. Now: exit 3 with the namespace, the reason and the
/// privilege that would allow it, in the text, the one error line and `sources.netns`;
/// as root the same questions answer exactly.
#[test]
fn unreadable_named_namespace_is_never_free_or_an_empty_table() {
    let _alone = common::serial();
    if !is_root() {
        skip("not root: cannot create network namespaces or drop to nobody");
        return;
    }
    let Some(ns) = Named::new("unread") else {
        skip("ip netns add failed");
        return;
    };
    let inside = Held::start(&["ip", "netns", "exec", &ns.0], "127.0.0.1:0");
    // As root: found, exit 0, read through netlink.
    let (code, v, err) = json(&["list", "--json", "--netns", &ns.0]);
    assert_eq!(code, Some(0), "{err}");
    let port = v["sockets"][0]["local"]["port"]
        .as_u64()
        .unwrap()
        .to_string();
    let entry = netns_entries(&v, &ns.0);
    assert_eq!(entry.len(), 1, "{v}");
    assert_eq!(entry[0]["readable"], true);
    assert_eq!(entry[0]["table"], "netlink");
    assert_eq!(entry[0]["inode"], ns.inode());
    let (code, v, err) = json(&["who", "--json", &port, "--netns", &ns.0]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["sockets"][0]["processes"][0]["pid"], inside.pid);

    let Some((code, out, err)) = as_nobody(&["who", &port, "--netns", &ns.0]) else {
        skip("setpriv (util-linux) is not installed");
        return;
    };
    let why = format!(
        "cannot read network namespace '{}': permission_denied (entering it: Operation not \
         permitted (os error 1); no process inside it that this user may inspect); reading it \
         needs {PRIVILEGE}",
        ns.0
    );
    assert_eq!(code, Some(3), "{out}{err}");
    assert_eq!(
        out,
        format!(
            "{port}: not known to be free: no socket uses this port in the namespaces read; {why}\n"
        )
    );
    let (code, out, err) = as_nobody(&["who", "--json", &port, "--netns", &ns.0]).unwrap();
    assert_eq!(code, Some(3), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sockets"], serde_json::json!([]));
    assert_eq!(
        v["sources"]["netns"],
        serde_json::json!([{
            "inode": ns.inode(),
            "name": ns.0,
            "table": null,
            "readable": false,
            "path": format!("/run/netns/{}", ns.0),
            "pid": null,
            "reason": "permission_denied",
            "detail": "entering it: Operation not permitted (os error 1); no process inside it that this user may inspect",
            "requires": PRIVILEGE,
        }])
    );
    // The strict reader of the tests' own schema takes it too.
    let _ = doc(out.as_bytes());

    // list (and every command that reads one named namespace): exit 3, one line.
    for args in [
        vec!["list", "--netns", &ns.0],
        vec!["export", "prometheus", "--netns", &ns.0],
        vec!["kill", "--dry-run", &port, "--netns", &ns.0],
        vec![
            "wait",
            "--until",
            "free",
            "--timeout",
            "0",
            &port,
            "--netns",
            &ns.0,
        ],
    ] {
        let (code, out, err) = as_nobody(&args).unwrap();
        assert_eq!((code, out.as_str()), (Some(3), ""), "{args:?}: {err}");
        assert_eq!(err, format!("portscope: {why}\n"), "{args:?}");
    }

    // With `all`: named once in warnings and in sources.netns, the table still read.
    let (code, out, err) = as_nobody(&["list", "--json", "-p", &port, "--netns", "all"]).unwrap();
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let entry = netns_entries(&v, &ns.0);
    assert_eq!(entry.len(), 1, "{v}");
    assert_eq!(
        (
            &entry[0]["readable"],
            &entry[0]["reason"],
            &entry[0]["requires"]
        ),
        (
            &serde_json::json!(false),
            &serde_json::json!("permission_denied"),
            &serde_json::json!(PRIVILEGE)
        )
    );
    let named: Vec<_> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w.as_str().unwrap().contains(&format!("'{}'", ns.0)))
        .collect();
    assert_eq!(named, [&serde_json::json!(why)]);
    // why --netns: never "bindable" in a namespace it could not enter.
    let (code, out, err) = as_nobody(&["why", "--netns", &ns.0, "40000"]).unwrap();
    assert_eq!((code, out.as_str()), (Some(3), ""), "{err}");
    assert!(
        err.starts_with(&format!(
            "portscope: cannot read network namespace '{}': permission_denied",
            ns.0
        )),
        "{err}"
    );
    drop(inside);
    // The port is free now: root says so; nobody, who cannot read the namespace, does not.
    let (code, out, _) = json(&["who", "--json", &port, "--netns", "all"]);
    assert_eq!(code, Some(1), "{out}");
    let (code, out, err) = as_nobody(&["who", &port, "--netns", "all"]).unwrap();
    assert_eq!(code, Some(3), "{err}");
    assert!(
        out.starts_with(&format!("{port}: not known to be free: ")) && out.contains(&why),
        "{out}"
    );
}

/// An `unshare -n` namespace has no name: as nobody, its PID's namespace link is denied,
/// but /proc/PID/net may be read: `--netns PID` reads it that way (sources.netns says so,
/// the owner is hidden: exit 3 from who), and `--netns /proc/PID/ns/net`, which can only
/// be entered, is exit 3 with the reason. As root both answer exactly.
#[test]
fn unshare_namespace_as_nobody_is_read_through_proc_or_refused_with_the_reason() {
    let _alone = common::serial();
    if !is_root() {
        skip("not root: cannot create network namespaces or drop to nobody");
        return;
    }
    let inside = Held::start(
        &[
            "unshare",
            "-n",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ],
        "127.0.0.1:0",
    );
    let pid = inside.pid.to_string();
    let (code, v, err) = json(&["list", "--json", "--netns", &pid]);
    assert_eq!(code, Some(0), "{err}");
    let port = v["sockets"][0]["local"]["port"]
        .as_u64()
        .unwrap()
        .to_string();
    let (code, v, err) = json(&["who", "--json", &port, "--netns", &pid]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["sockets"][0]["processes"][0]["pid"], inside.pid);
    assert_eq!(v["sources"]["netns"][0]["inode"], inside.netns_inode());
    assert_eq!(v["sources"]["netns"][0]["readable"], true);

    let Some((code, out, err)) = as_nobody(&["who", "--json", &port, "--netns", &pid]) else {
        skip("setpriv (util-linux) is not installed");
        return;
    };
    assert_eq!(code, Some(3), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sockets"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["sockets"][0]["owner"], "hidden");
    assert_eq!(v["sockets"][0]["uid"], 0);
    let n = &v["sources"]["netns"][0];
    assert_eq!(
        (&n["readable"], &n["table"], &n["pid"], &n["inode"]),
        (
            &serde_json::json!(true),
            &serde_json::json!("procnet"),
            &serde_json::json!(inside.pid),
            &serde_json::Value::Null
        ),
        "{v}"
    );

    let link = format!("/proc/{pid}/ns/net");
    let why = format!(
        "cannot read network namespace '{link}': permission_denied (entering it: Permission \
         denied (os error 13); no process inside it that this user may inspect); reading it \
         needs {PRIVILEGE}"
    );
    let (code, out, err) = as_nobody(&["who", &port, "--netns", &link]).unwrap();
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(
        out,
        format!(
            "{port}: not known to be free: no socket uses this port in the namespaces read; {why}\n"
        )
    );
    let (code, out, err) = as_nobody(&["list", "-p", &port, "--netns", &link]).unwrap();
    assert_eq!((code, out.as_str()), (Some(3), ""));
    assert_eq!(err, format!("portscope: {why}\n"));
    drop(inside);
}

/// Runs `portscope ARGS`, killed if it has not ended within `limit` (a guard against a
/// hang, not a timing assertion): (status, stdout, stderr), or None when it hung.
fn run_guarded(args: &[&str], limit: std::time::Duration) -> Option<(Option<i32>, String, String)> {
    let child = Command::new(bin_path())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => {
            let out = out.unwrap();
            Some((
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ))
        }
        Err(_) => {
            // SAFETY: signals only the child this test started (not reaped yet: the
            // waiting thread still holds it).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            None
        }
    }
}

/// A file this test placed in /run/netns, removed on drop.
struct Planted(std::path::PathBuf);

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Regression (issue 22): a FIFO in /run/netns hung every `--netns all` command for good
/// (a blocking open). Entries are now checked before use: a FIFO and a regular file are
/// skipped, named in warnings and in sources.netns (not_a_namespace), and the command
/// ends; named explicitly they are bad input (exit 2).
#[test]
fn fifo_and_regular_file_in_run_netns_are_skipped_and_named() {
    let _alone = common::serial();
    if !is_root() {
        skip("not root: cannot write /run/netns");
        return;
    }
    // Makes sure /run/netns exists (ip netns add creates it) while the test runs.
    let Some(_ns) = Named::new("plant") else {
        skip("ip netns add failed");
        return;
    };
    let fifo = Planted(format!("/run/netns/ps-fifo-{}", std::process::id()).into());
    let file = Planted(format!("/run/netns/ps-file-{}", std::process::id()).into());
    let c = std::ffi::CString::new(fifo.0.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    std::fs::write(&file.0, "not a namespace\n").unwrap();
    let limit = std::time::Duration::from_secs(120);
    let (code, out, err) = run_guarded(&["list", "--json", "-p", "1", "--netns", "all"], limit)
        .expect("list --netns all hung on a FIFO in /run/netns");
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    for (planted, what) in [(&fifo, "a FIFO"), (&file, "a regular file")] {
        let path = planted.0.to_str().unwrap();
        let line = format!("skipped {path}: {what}, not a network namespace");
        assert_eq!(
            warnings.iter().filter(|w| **w == line).count(),
            1,
            "{warnings:?}"
        );
        let name = planted.0.file_name().unwrap().to_str().unwrap();
        let entry = netns_entries(&v, name);
        assert_eq!(entry.len(), 1, "{v}");
        assert_eq!(
            (
                &entry[0]["readable"],
                &entry[0]["reason"],
                &entry[0]["path"]
            ),
            (
                &serde_json::json!(false),
                &serde_json::json!("not_a_namespace"),
                &serde_json::json!(path)
            )
        );
        for value in [path, name] {
            let (code, out, err) =
                run_guarded(&["list", "--netns", value], limit).expect("list --netns FIFO hung");
            assert_eq!((code, out.as_str()), (Some(2), ""));
            let what_arg = if value == path {
                "network namespace file"
            } else {
                "network namespace"
            };
            assert_eq!(
                err,
                format!(
                    "portscope: invalid {what_arg} '{value}': {what}, not a network namespace\n"
                )
            );
        }
    }
}

/// Issue 27: a socket found as nobody was labelled `?`. Where the kernel has numbered the
/// namespace (an nsid: a veth joins it, or `ip netns set NAME auto`), nobody learns which
/// processes are inside it without reading their namespace links: the namespace is read
/// through one of them and its sockets carry its name and inode.
#[test]
fn as_nobody_a_namespace_with_an_nsid_is_read_and_its_sockets_named() {
    let _alone = common::serial();
    if !is_root() {
        skip("not root: cannot create network namespaces or drop to nobody");
        return;
    }
    let Some(ns) = Named::new("nsid") else {
        skip("ip netns add failed");
        return;
    };
    let set = Command::new("ip")
        .args(["netns", "set", &ns.0, "auto"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(set, "ip netns set NAME auto");
    let inside = Held::start(&["ip", "netns", "exec", &ns.0], "127.0.0.1:0");
    let (_, v, _) = json(&["list", "--json", "--netns", &ns.0]);
    let port = v["sockets"][0]["local"]["port"]
        .as_u64()
        .unwrap()
        .to_string();
    for netns in [ns.0.as_str(), "all"] {
        let Some((code, out, err)) = as_nobody(&["list", "--json", "-p", &port, "--netns", netns])
        else {
            skip("setpriv (util-linux) is not installed");
            return;
        };
        assert_eq!(code, Some(0), "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let found: Vec<_> = v["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["netns"]["current"] == false)
            .collect();
        assert_eq!(found.len(), 1, "{netns}: {v}");
        assert_eq!(
            found[0]["netns"],
            serde_json::json!({"inode": ns.inode(), "name": ns.0, "current": false}),
            "{netns}"
        );
        assert_eq!(found[0]["owner"], "hidden");
        let entry = netns_entries(&v, &ns.0);
        assert_eq!(entry.len(), 1, "{netns}: {v}");
        assert_eq!(
            (&entry[0]["readable"], &entry[0]["table"], &entry[0]["pid"]),
            (
                &serde_json::json!(true),
                &serde_json::json!("procnet"),
                &serde_json::json!(inside.pid)
            ),
            "{netns}"
        );
    }
    drop(inside);
}
