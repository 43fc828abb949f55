//! The whole app on a fake host: fixed harvests, owners and hidden reasons handed to the
//! pipeline as a collector value, with no root and no kernel. Output is pinned exactly.

use crate::common::fake::{self, Asked, FakeHost, Step};
use portscope::collect::Collector;
use portscope::model::{Process, Protocol, SockState, SocketHarvest, TableQuery};
use portscope::query::{Output, Query, Selection, View};
use portscope::services::Services;
use portscope::spec::PortSpec;
use std::rc::Rc;

/// This host's sockets: IPv6 ones v6only, listeners with a backlog, alice's unless
/// kernel-held (inode 0).
fn sock(
    proto: Protocol,
    local: &str,
    remote: Option<&str>,
    state: SockState,
    inode: u64,
) -> SocketHarvest {
    let mut s = fake::socket(proto, local)
        .state(state)
        .inode(inode)
        .uid((inode != 0).then_some(1000))
        .v6only(local.starts_with('[').then_some(true));
    if let Some(r) = remote {
        s = s.remote(r);
    }
    if state == SockState::Listen {
        s = s.send_queue(128);
    }
    s.build()
}

fn process(pid: u32, name: &str) -> Process {
    Process {
        pid,
        name: name.into(),
        cmdline: vec![format!("/usr/sbin/{name}"), "-f".into()],
        user: Some("alice".into()),
        uid: Some(1000),
        ppid: Some(1),
        tid: None,
        container: None,
        unit: None,
    }
}

/// nginx (two workers sharing one listener), a hidden listener, a time_wait leftover, a
/// connection, and a UDP socket whose holder exits during the scan. The re-check after
/// the owner scan sees `later` (None: the same table).
fn host(later: Option<Vec<SocketHarvest>>, denied: usize) -> (Collector, Rc<Asked>) {
    host_confirming(later, denied, &[])
}

/// [`host`] whose table confirms `confirms` by exact lookup; the [`Asked`] also holds the
/// inodes the pipeline asked it to confirm.
fn host_confirming(
    later: Option<Vec<SocketHarvest>>,
    denied: usize,
    confirms: &[u64],
) -> (Collector, Rc<Asked>) {
    let first = vec![
        sock(Protocol::Tcp, "0.0.0.0:80", None, SockState::Listen, 11),
        sock(Protocol::Tcp, "[::1]:5432", None, SockState::Listen, 12),
        sock(
            Protocol::Tcp,
            "127.0.0.1:80",
            Some("127.0.0.1:40000"),
            SockState::Established,
            13,
        ),
        sock(
            Protocol::Tcp,
            "127.0.0.1:40001",
            Some("127.0.0.1:80"),
            SockState::TimeWait,
            0,
        ),
        sock(
            Protocol::Udp,
            "127.0.0.1:53",
            None,
            SockState::Unconnected,
            14,
        ),
    ];
    let holders = vec![(11, 200), (11, 201), (13, 201), (14, 999)];
    let mut steps = vec![Step {
        sockets: first,
        holders: holders.clone(),
    }];
    if let Some(sockets) = later {
        steps.push(Step { sockets, holders });
    }
    let processes = vec![
        process(1, "init"),
        process(200, "nginx"),
        process(201, "nginx"),
    ];
    let (asked, c) = FakeHost {
        steps,
        confirms: confirms.iter().copied().collect(),
        scanned: processes.len(),
        processes,
        users: vec![(0, "root"), (1000, "alice")],
        denied,
        ..FakeHost::default()
    }
    .collector();
    (c, asked)
}

/// The listening sockets, or every socket with `all` (`-a`).
fn selection(all: bool) -> Selection {
    Selection::all(TableQuery {
        states: portscope::query::states(&[], all, false),
        ..TableQuery::everything()
    })
}

/// `list -n`, with `-a` when `all`, as a table or JSON.
fn list(all: bool, json: bool) -> Query {
    let view = View {
        numeric: true,
        output: Output {
            json,
            ..Output::default()
        },
        ..View::default()
    };
    Query::list(selection(all), view)
}

fn run_list(c: &mut Collector, q: &Query) -> String {
    let mut out = Vec::new();
    assert_eq!(portscope::cmd::list::run_with(c, q, &mut out).unwrap(), 0);
    String::from_utf8(out).unwrap()
}

#[test]
fn list_table_on_a_fake_host() {
    let (mut c, _) = host(None, 0);
    let text = run_list(&mut c, &list(true, false));
    let want = "\
PROTO  LOCAL ADDRESS   PORT  REMOTE           SERVICE  CLASS           STATE        RECV-Q  SEND-Q  PID      PROCESS  USER
udp    127.0.0.1         53  *                -        well-known      unconnected       0       0  -        -        -
tcp    0.0.0.0           80  *                -        well-known      listen            0     128  200,201  nginx    alice
tcp    127.0.0.1         80  127.0.0.1:40000  -        well-known      established       0       0  201      nginx    alice
tcp6   [::1]           5432  *                -        registered      listen            0     128  -        -        alice
tcp    127.0.0.1      40001  127.0.0.1:80     -        registered,eph  time_wait         0       0  -        -        -
";
    assert_eq!(text, want);
}

#[test]
fn list_json_names_every_reason_and_the_sources() {
    let (mut c, _) = host(None, 1);
    let text = run_list(&mut c, &list(true, true));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["sources"],
        serde_json::json!({"table": "netlink", "owners": "procfs"})
    );
    let by_port = |p: u64| {
        v["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["local"]["port"] == p)
            .unwrap()
            .clone()
    };
    assert_eq!(by_port(53)["owner"], "none");
    assert_eq!(
        by_port(53)["owner_reason"],
        "process exited during the scan"
    );
    assert_eq!(by_port(5432)["owner"], "hidden");
    assert_eq!(
        by_port(5432)["owner_reason"],
        "permission denied: held by a process whose descriptors portscope may not read"
    );
    assert_eq!(by_port(40001)["owner_reason"], "kernel-held (time_wait)");
    assert_eq!(by_port(40001)["uid"], serde_json::Value::Null);
    assert_eq!(by_port(5432)["uid"], 1000);
    assert_eq!(by_port(5432)["user"], "alice");
    // The note never tells root to run as root: run as root, the fake host's denial is
    // worded as the kernel's ptrace rules refusing root.
    let denied = if portscope::cmd::running_as_root() {
        "permission denied: held by a process whose descriptors the kernel refuses even to root here (ptrace rules: no CAP_SYS_PTRACE over it, Yama or another security module)"
    } else {
        "permission denied: held by a process whose descriptors portscope may not read; run as root"
    };
    assert_eq!(
        v["warnings"],
        serde_json::json!([format!(
            "3 sockets shown without an owner ('-'): 1 kernel-held (time_wait); 1 {denied}; 1 process exited during the scan"
        )])
    );
}

/// The re-check after the owner scan asks by identity: a socket that only changed state
/// is still there (hidden), one that is gone was closed during the scan.
#[test]
fn recheck_tells_closed_from_moved_by_identity() {
    let mut later = vec![
        // The hidden listener moved on (as an established socket would to fin_wait_2).
        sock(Protocol::Tcp, "[::1]:5432", None, SockState::Closed, 12),
    ];
    later[0].v6only = None;
    let (mut c, calls) = host(Some(later), 0);
    let q = list(false, true);
    let v: serde_json::Value = serde_json::from_str(&run_list(&mut c, &q)).unwrap();
    let reasons: Vec<(u64, String)> = v["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["local"]["port"].as_u64().unwrap(),
                s["owner_reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            (53, "process exited during the scan".to_string()),
            (80, String::new()),
            (
                5432,
                "no process in this PID namespace holds it (another namespace or a kernel socket)"
                    .to_string()
            ),
        ]
    );
    let calls = calls.tables.borrow();
    assert_eq!(calls.len(), 2, "one harvest and one re-check");
    assert_eq!(calls[1].states, None, "the re-check never filters on state");

    // Gone from the table by the re-check: closed during the scan, owner none.
    let (mut c, _) = host(Some(vec![]), 0);
    let v: serde_json::Value = serde_json::from_str(&run_list(&mut c, &q)).unwrap();
    let hidden = &v["sockets"].as_array().unwrap()[2];
    assert_eq!(hidden["local"]["port"], 5432);
    assert_eq!(hidden["owner"], "none");
    assert_eq!(hidden["owner_reason"], "closed during the scan");
}

/// The re-check asks the exact lookups first and dumps only for what they did not
/// confirm: a confirmed socket needs no dump at all, and one they miss is still decided
/// by the dump (a lookup that finds nothing is not proof the socket closed).
#[test]
fn recheck_dumps_only_what_exact_lookups_did_not_confirm() {
    let reason_of_5432 = |c: &mut Collector| {
        let q = list(false, true);
        let v: serde_json::Value = serde_json::from_str(&run_list(c, &q)).unwrap();
        let s = v["sockets"].as_array().unwrap()[2].clone();
        assert_eq!(s["local"]["port"], 5432);
        s["owner_reason"].as_str().unwrap().to_string()
    };
    // Confirmed: no second harvest, even though a dump now would not list it.
    let (mut c, asked) = host_confirming(Some(vec![]), 0, &[12]);
    assert_eq!(
        reason_of_5432(&mut c),
        "no process in this PID namespace holds it (another namespace or a kernel socket)"
    );
    assert_eq!(asked.tables.borrow().len(), 1, "no re-check dump");
    assert_eq!(*asked.confirms.borrow(), vec![12]);
    // Not confirmed but still in the table: the dump keeps it present.
    let later = vec![sock(
        Protocol::Tcp,
        "[::1]:5432",
        None,
        SockState::Listen,
        12,
    )];
    let (mut c, asked) = host_confirming(Some(later), 0, &[]);
    assert_eq!(
        reason_of_5432(&mut c),
        "no process in this PID namespace holds it (another namespace or a kernel socket)"
    );
    assert_eq!(asked.tables.borrow().len(), 2, "one re-check dump");
    // Neither confirmed nor in the dump: closed.
    let (mut c, _) = host_confirming(Some(vec![]), 0, &[]);
    assert_eq!(reason_of_5432(&mut c), "closed during the scan");
}

fn who(c: &mut Collector, spec: &str, json: bool) -> (i32, String) {
    let ports = vec![PortSpec::parse(spec, &Services::builtin()).unwrap()];
    let view = fake::who_view(json);
    let q = Query::who(
        Selection {
            ports,
            ..selection(true)
        },
        view,
    );
    let mut out = Vec::new();
    let code = portscope::cmd::who::run_with(c, &q, false, &mut out).unwrap();
    (code, String::from_utf8(out).unwrap())
}

#[test]
fn who_blocks_and_exit_statuses_on_a_fake_host() {
    let (mut c, _) = host(None, 0);
    let (code, text) = who(&mut c, "80", false);
    assert_eq!(code, 0);
    let want = "\
80/tcp  nginx (pid 200, user alice)
  command      /usr/sbin/nginx -f
  parent       init (pid 1)
  listening    0.0.0.0:80 (IPv4)
80/tcp  nginx (pid 201, user alice)
  command      /usr/sbin/nginx -f
  parent       init (pid 1)
  listening    0.0.0.0:80 (IPv4)
  connections  1 established
               127.0.0.1:80 -> 127.0.0.1:40000 (established)
";
    assert_eq!(text, want);

    // A held port whose owner cannot be seen: exit 3, never "free".
    let (mut c, _) = host(None, 1);
    let (code, text) = who(&mut c, "5432", false);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.starts_with(
            "5432/tcp  held by a process portscope cannot see (socket uid 1000, alice)\n"
        ),
        "{text}"
    );

    // Nothing there: exit 1 and the word free.
    let (mut c, _) = host(None, 0);
    let (code, text) = who(&mut c, "8080", false);
    assert_eq!(
        (code, text.as_str()),
        (1, "8080: free: no socket uses this port\n")
    );

    // --owner-source none: found, owners not looked up, exit 0 (not "hidden").
    let (mut c, _) = host(None, 0);
    c.owners = Box::new(portscope::collect::NoOwners::default());
    let (code, json) = who(&mut c, "80", true);
    assert_eq!(code, 0, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["sources"]["owners"], "none");
    assert_eq!(
        v["sockets"][0]["owner_reason"],
        "not looked up: --owner-source none"
    );
}
