//! `portscope diff OLD.json NEW.json`: lines and exit statuses on saved documents, default
//! (inodes and PIDs ignored) against --strict, and files that are not documents.

use crate::common;

use common::*;

/// One socket of a `list --json` document; `holders` are (pid, name).
fn socket(port: u16, state: &str, inode: u64, holders: &[(u32, &str)]) -> String {
    let procs: Vec<String> = holders
        .iter()
        .map(|(pid, name)| {
            format!(
                r#"{{"pid":{pid},"name":"{name}","cmdline":["{name}"],"user":"www","uid":33,"tid":null}}"#
            )
        })
        .collect();
    let proto = if state == "unconnected" { "udp" } else { "tcp" };
    format!(
        r#"{{"protocol":"{proto}","family":"ipv4","v6only":null,"local":{{"address":"0.0.0.0","port":{port}}},"remote":null,"state":"{state}","port_class":"well-known","ephemeral":false,"service":null,"recv_queue":0,"send_queue":128,"inode":{inode},"uid":33,"user":"www","owner":"visible","owner_reason":null,"processes":[{}]}}"#,
        procs.join(",")
    )
}

fn document(sockets: &[String]) -> String {
    format!(
        r#"{{"schema_version":1,"sources":{{"table":"netlink","owners":"procfs"}},"sockets":[{}],"warnings":[]}}"#,
        sockets.join(",")
    )
}

#[test]
fn two_hosts_with_the_same_services_diff_clean_unless_strict() {
    let d = TempDir::new("diff-same");
    let a = d.file(
        "a.json",
        &document(&[
            socket(80, "listen", 100, &[(10, "nginx"), (11, "nginx")]),
            socket(53, "unconnected", 101, &[(20, "named")]),
        ]),
    );
    let b = d.file(
        "b.json",
        &document(&[
            socket(53, "unconnected", 201, &[(40, "named")]),
            socket(
                80,
                "listen",
                200,
                &[(30, "nginx"), (31, "nginx"), (32, "nginx")],
            ),
        ]),
    );
    assert_eq!(run(&["diff", &a, &b]), (0, String::new(), String::new()));
    let (code, out, err) = run(&["diff", "--strict", &a, &b]);
    assert_eq!((code, err.as_str()), (1, ""));
    assert_eq!(
        out,
        "- udp 0.0.0.0:53 * unconnected named[20] www\n\
         + udp 0.0.0.0:53 * unconnected named[40] www\n\
         - tcp 0.0.0.0:80 * listen nginx[10],nginx[11] www\n\
         + tcp 0.0.0.0:80 * listen nginx[30],nginx[31],nginx[32] www\n"
    );
}

#[test]
fn added_removed_and_owner_changed_lines_and_exit_1() {
    let d = TempDir::new("diff-changes");
    let old = d.file(
        "old.json",
        &document(&[
            socket(22, "listen", 1, &[(5, "sshd")]),
            socket(80, "listen", 2, &[(10, "nginx")]),
        ]),
    );
    let new = d.file(
        "new.json",
        &document(&[
            socket(80, "listen", 3, &[(12, "apache2")]),
            socket(8080, "listen", 4, &[(13, "python3")]),
        ]),
    );
    let (code, out, err) = run(&["diff", &old, &new]);
    assert_eq!((code, err.as_str()), (1, ""));
    assert_eq!(
        out,
        "- tcp 0.0.0.0:22 * listen sshd[5] www\n\
         ~ tcp 0.0.0.0:80 * listen apache2[12] www (was nginx[10] www)\n\
         + tcp 0.0.0.0:8080 * listen python3[13] www\n"
    );
    // The same as JSON Lines: every field, the socket as list's object, the new one for ~.
    let (code, out, _) = run(&["diff", "--jsonl", &old, &new]);
    assert_eq!(code, 1);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let got: Vec<(&str, u64, u64)> = lines
        .iter()
        .map(|v| {
            let s = &v["socket"];
            (
                v["event"].as_str().unwrap(),
                s["local"]["port"].as_u64().unwrap(),
                s["inode"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("removed", 22, 1),
            ("owner_changed", 80, 3),
            ("added", 8080, 4)
        ]
    );
    for v in &lines {
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["event", "host", "schema_version", "socket", "ts"]);
        assert_eq!(v["schema_version"], 1);
        let _: portscope::model::Socket = serde_json::from_value(v["socket"].clone()).unwrap();
    }
    // A document against itself: nothing, exit 0.
    assert_eq!(
        run(&["diff", "--strict", &new, &new]),
        (0, String::new(), String::new())
    );
}

#[test]
fn a_file_that_is_not_a_document_is_named_with_the_reason_exit_2() {
    let d = TempDir::new("diff-bad");
    let good = d.file("good.json", &document(&[]));
    let other = d.file("other.json", r#"{"schema_version":1,"hosts":[]}"#);
    let (code, out, err) = run(&["diff", &good, &other]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.starts_with(&format!(
            "portscope: invalid document '{other}': not a portscope list --json document: unknown field `hosts`"
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let text = d.file("text.json", "PROTO LOCAL ADDRESS\n");
    let (code, _, err) = run(&["diff", &text, &good]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with(&format!(
            "portscope: invalid document '{text}': not a portscope list --json document: expected value at line 1 column 1"
        )),
        "{err}"
    );
    let future = d.file(
        "v2.json",
        &document(&[]).replace("\"schema_version\":1", "\"schema_version\":2"),
    );
    let (code, _, err) = run(&["diff", &good, &future]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "portscope: invalid document '{future}': schema_version 2 is not supported (this portscope reads 1)\n"
        )
    );
    let missing = format!("{}/missing.json", d.0.display());
    let (code, _, err) = run(&["diff", &missing, &good]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with(&format!(
            "portscope: invalid document '{missing}': No such file"
        )),
        "{err}"
    );
}

/// Regression: `diff OLD /dev/zero` read without bound (4 GB in 6 s). Now it stops one byte
/// past 64 MiB and names the file; the address-space limit (1 GiB) makes an unbounded read
/// fail as well, and the deadline only guards against a hang.
#[test]
fn diff_on_dev_zero_is_refused_after_a_bounded_read() {
    let d = TempDir::new("diff-zero");
    let good = d.file("good.json", &document(&[]));
    let mut child = std::process::Command::new("prlimit")
        .args([
            "--as=1073741824",
            "--",
            bin_path(),
            "diff",
            &good,
            "/dev/zero",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run prlimit");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("diff on /dev/zero did not end");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "portscope: invalid document '/dev/zero': larger than 64 MiB: not a document diff reads\n"
    );
}
