//! `watch` on a fake host: a scripted socket table that changes from one tick to the next,
//! run through `cmd::watch::run_with` with no root and no kernel. Output is pinned exactly
//! (timestamps aside, which are checked for shape).

use crate::common::fake::{self, Advance, Asked, FakeHost};
use portscope::cmd::watch::{run_with, Settings, Wake};
use portscope::collect::Collector;
use portscope::model::{Family, Process, Protocol, TableQuery};
use portscope::query::{self, Output, Query, Selection};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// One tick of the script: sockets (proto, port, inode) and holders (inode, pid).
struct Step {
    sockets: Vec<(Protocol, u16, u64)>,
    holders: Vec<(u64, u32)>,
}

/// The script as a fake host whose table moves to the next step at each tick's read of
/// the listening states (a re-check, asking for every state, stays on its tick's step).
fn host(steps: Vec<Step>) -> (Rc<Asked>, Collector) {
    let steps = steps
        .into_iter()
        .map(|s| fake::Step {
            sockets: (s.sockets.iter())
                .map(|&(protocol, port, inode)| {
                    fake::socket(protocol, &format!("127.0.0.1:{port}"))
                        .inode(inode)
                        .uid(Some(1000))
                        .build()
                })
                .collect(),
            holders: s.holders,
        })
        .collect();
    FakeHost {
        steps,
        advance: Advance::ListeningReads,
        process_of: Some(|pid| Process {
            pid,
            name: format!("srv{pid}"),
            cmdline: vec![],
            user: Some("alice".into()),
            uid: Some(1000),
            ppid: None,
            tid: None,
            container: None,
            unit: None,
        }),
        any_user: Some("alice"),
        sees_every_process: true,
        ..FakeHost::default()
    }
    .collector()
}

/// Open 8080/tcp; add 5353/udp; fork a worker onto 8080; close 5353.
fn story() -> Vec<Step> {
    let tcp = (Protocol::Tcp, 8080, 1);
    let udp = (Protocol::Udp, 5353, 2);
    vec![
        Step {
            sockets: vec![tcp],
            holders: vec![(1, 10)],
        },
        Step {
            sockets: vec![tcp, udp],
            holders: vec![(1, 10), (2, 11)],
        },
        Step {
            sockets: vec![tcp, udp],
            holders: vec![(1, 10), (1, 12), (2, 11)],
        },
        Step {
            sockets: vec![tcp],
            holders: vec![(1, 10), (1, 12)],
        },
    ]
}

fn query() -> Query {
    let table = TableQuery {
        protocols: Protocol::ALL.to_vec(),
        families: Family::ALL.to_vec(),
        states: query::states(&[], false, false),
        ports: None,
    };
    Query::watch(Selection::all(table), true, Output::default())
}

fn settings(jsonl: bool, count: Option<u64>) -> Settings {
    Settings {
        interval: Duration::from_millis(50),
        snapshot_every: None,
        count,
        duration: None,
        jsonl,
        host: "fakehost".into(),
    }
}

/// Sleeps as asked (the real wait does), and says Stop once `stop_after` ticks are read.
fn waiter(script: Rc<Asked>, stop_after: usize) -> impl FnMut(Instant) -> io::Result<Wake> {
    move |until| {
        if script.listening_reads() >= stop_after {
            return Ok(Wake::Stop);
        }
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        Ok(Wake::Timeout)
    }
}

/// The lines with each timestamp (after the mark) checked and cut out.
fn without_ts(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| match l.split_at_checked(2) {
            Some((mark @ ("+ " | "- " | "~ "), rest)) => {
                let (ts, tail) = rest.split_at(24);
                assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{l}");
                format!("{mark}{tail}")
            }
            _ => l.to_string(),
        })
        .collect()
}

#[test]
fn text_prints_the_table_then_one_line_per_change_and_stops_on_a_signal() {
    let (script, mut c) = host(story());
    let mut out = Vec::new();
    let code = run_with(
        &mut c,
        &query(),
        &settings(false, None),
        &mut waiter(script.clone(), 4),
        &mut out,
    )
    .unwrap();
    assert_eq!(code, 0);
    assert_eq!(script.listening_reads(), 4);
    assert_eq!(
        without_ts(&String::from_utf8(out).unwrap()),
        [
            "PROTO  LOCAL ADDRESS  PORT  SERVICE  CLASS       STATE   RECV-Q  SEND-Q  PID  PROCESS  USER",
            "tcp    127.0.0.1      8080  -        registered  listen       0       0  10   srv10    alice",
            "+  udp 127.0.0.1:5353 * unconnected srv11[11] alice",
            "~  tcp 127.0.0.1:8080 * listen srv10[10],srv12[12] alice (was srv10[10] alice)",
            "-  udp 127.0.0.1:5353 * unconnected srv11[11] alice",
        ]
    );
}

#[test]
fn jsonl_snapshots_then_events_and_count_stops_it() {
    let (script, mut c) = host(story());
    let mut out = Vec::new();
    let code = run_with(
        &mut c,
        &query(),
        &settings(true, Some(2)),
        &mut waiter(script.clone(), 100),
        &mut out,
    )
    .unwrap();
    assert_eq!(code, 0);
    // Two changes (tick 1 and 2), then it stopped: the fourth step was never read.
    assert_eq!(script.listening_reads(), 3);
    let got: Vec<(String, String, u16, Vec<u64>)> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(
                (v["schema_version"].as_u64(), v["host"].as_str()),
                (Some(1), Some("fakehost"))
            );
            let s = &v["socket"];
            let pids = s["processes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["pid"].as_u64().unwrap())
                .collect();
            (
                v["event"].as_str().unwrap().to_string(),
                s["protocol"].as_str().unwrap().to_string(),
                s["local"]["port"].as_u64().unwrap() as u16,
                pids,
            )
        })
        .collect();
    let e = |ev: &str, p: &str, port, pids: &[u64]| {
        (ev.to_string(), p.to_string(), port, pids.to_vec())
    };
    assert_eq!(
        got,
        [
            e("snapshot", "tcp", 8080, &[10]),
            e("added", "udp", 5353, &[11]),
            e("owner_changed", "tcp", 8080, &[10, 12]),
        ]
    );
}

#[test]
fn snapshot_every_repeats_every_socket_in_step_with_the_ticks() {
    let (script, mut c) = host(story());
    let mut out = Vec::new();
    let mut s = settings(true, None);
    s.snapshot_every = Some(Duration::from_millis(50));
    run_with(
        &mut c,
        &query(),
        &s,
        &mut waiter(script.clone(), 2),
        &mut out,
    )
    .unwrap();
    let events: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {}",
                v["event"].as_str().unwrap(),
                v["socket"]["local"]["port"]
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            "snapshot 8080",
            "added 5353",
            "snapshot 5353",
            "snapshot 8080",
        ]
    );
}
