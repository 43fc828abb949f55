//! Scale: 10,000 sockets across a few processes in a private network namespace are all
//! reported, exactly, in bounded time and memory; the table renderer stays linear.
//! `cargo test --test alone scale:: -- --ignored` adds a 50,000-socket run.

// Live kernel socket tables, network namespaces and Linux-only libc calls.
#![cfg(target_os = "linux")]

use crate::common;
use crate::common::workload;

use common::{doc, quiet_netns, skip};
use portscope::model::*;
use portscope::render::table::{write_table, TableStyle};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use workload::Helper;

/// Peak RSS allowed per 10,000 sockets (generous: a debug build, JSON streamed).
const RSS_PER_10K_KIB: u64 = 64 * 1024;
/// Wall-clock bound for one run: generous, catches a hang or a quadratic blow-up only.
const RUN_BOUND: Duration = Duration::from_secs(30);

/// Runs the binary, returning (exit code, stdout, stderr, peak RSS in KiB, wall time). It
/// runs under a `measure` helper process, whose wait4(2) sees portscope's own peak RSS; from
/// this process the figure would include this test binary's peak (see workload::measure).
fn run_measured(args: &[&str]) -> (i32, Vec<u8>, String, u64, Duration) {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("portscope-scale-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create measure directory");
    let dir_text = dir.to_str().expect("UTF-8 temporary directory");
    assert!(
        !dir_text.contains(':'),
        "helper roles are ':'-separated: {dir_text}"
    );
    let h = Helper::start(&format!("measure:{dir_text}:{}", args.join(" ")));
    let f: Vec<i64> = h
        .ready
        .split(' ')
        .map(|x| x.parse().expect("measure helper: ready CODE RSS MICROS"))
        .collect();
    h.finish();
    let out = std::fs::read(dir.join("stdout")).expect("read portscope's stdout");
    let err = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    std::fs::remove_dir_all(&dir).expect("remove measure directory");
    let [code, rss_kib, micros] = f[..] else {
        panic!("measure helper said {:?}", f);
    };
    (
        code as i32,
        out,
        err,
        rss_kib as u64,
        Duration::from_micros(micros as u64),
    )
}

fn hard_nofile() -> u64 {
    // SAFETY: getrlimit into a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        r.rlim_max as u64
    }
}

fn scale(total: usize, procs: usize) {
    // Not while the renderer's timing runs: each would disturb the other's figures.
    let _serial = common::serial();
    if !quiet_netns() {
        return;
    }
    if !workload::ipv6_loopback() {
        skip("no IPv6 loopback in a new network namespace");
        return;
    }
    let per = total / procs;
    assert_eq!(per * procs, total);
    if hard_nofile() < per as u64 + 64 {
        skip(&format!(
            "RLIMIT_NOFILE hard limit {} is below the {} descriptors a helper needs",
            hard_nofile(),
            per + 64
        ));
        return;
    }
    let start = Instant::now();
    let helpers: Vec<Helper> = (0..procs)
        .map(|_| Helper::start(&format!("hold:{per}")))
        .collect();
    for h in &helpers {
        assert_eq!(h.ready, per.to_string(), "helper {} opened all", h.pid());
    }
    let setup = start.elapsed();

    let (code, out, stderr, rss_kib, took) = run_measured(&["list", "--all", "--json"]);
    assert_eq!(code, 0, "list --all --json: {stderr}");
    let d = doc(&out);
    assert_eq!(d.sockets.len(), total, "every socket, exactly once");
    let mut per_pid: BTreeMap<u32, usize> = BTreeMap::new();
    for s in &d.sockets {
        assert_eq!(s.owner, Owner::Visible, "{s:?}");
        assert_eq!(s.processes.len(), 1, "{s:?}");
        assert!(s.state.is_listening(), "{s:?}");
        *per_pid.entry(s.processes[0].pid).or_default() += 1;
    }
    let want: BTreeMap<u32, usize> = helpers.iter().map(|h| (h.pid(), per)).collect();
    assert_eq!(per_pid, want, "sockets per holder");
    let mut inodes: Vec<u64> = d.sockets.iter().map(|s| s.inode).collect();
    inodes.sort_unstable();
    inodes.dedup();
    assert_eq!(inodes.len(), total, "distinct inodes");

    let per_10k = rss_kib * 10_000 / total as u64;
    eprintln!(
        "{total} sockets in {procs} processes (set up in {setup:?}): list --all --json took \
         {took:?}, peak RSS {rss_kib} KiB = {per_10k} KiB per 10,000 sockets, {} bytes of JSON",
        out.len()
    );
    assert!(
        per_10k < RSS_PER_10K_KIB,
        "peak RSS {per_10k} KiB per 10,000 sockets, bound {RSS_PER_10K_KIB} KiB"
    );
    assert!(took < RUN_BOUND, "list --all --json took {took:?}");

    // The table (stdout is a pipe: the aligned writer), one line per socket.
    let (code, out, stderr, rss_kib, took) = run_measured(&["list", "--all"]);
    assert_eq!(code, 0, "list --all: {stderr}");
    let text = String::from_utf8(out).expect("utf-8 table");
    assert_eq!(
        text.lines().count(),
        total + 1,
        "header and one row per socket"
    );
    assert!(text.starts_with("PROTO"));
    eprintln!("table of {total} rows: {took:?}, peak RSS {rss_kib} KiB");
    assert!(took < RUN_BOUND, "list --all took {took:?}");
    let per_10k = rss_kib * 10_000 / total as u64;
    assert!(
        per_10k < RSS_PER_10K_KIB,
        "table: peak RSS {per_10k} KiB per 10,000 sockets, bound {RSS_PER_10K_KIB} KiB"
    );

    for h in helpers {
        h.finish();
    }
}

#[test]
fn ten_thousand_sockets_reported_exactly_in_bounded_memory() {
    let _alone = common::serial();
    scale(10_000, 4);
}

#[test]
#[ignore = "takes longer: 50,000 sockets"]
fn fifty_thousand_sockets_reported_exactly_in_bounded_memory() {
    scale(50_000, 8);
}

/// `.into()` that stays quiet when the model's field types change (String or Arc<str>,
/// Process or Arc<Process>).
fn conv<A, B: From<A>>(a: A) -> B {
    B::from(a)
}

fn synthetic(n: usize) -> Vec<Socket> {
    (0..n)
        .map(|i| Socket {
            netns: Default::default(),
            cgroup: None,
            protocol: if i % 2 == 0 {
                Protocol::Tcp
            } else {
                Protocol::Udp
            },
            family: Family::Ipv4,
            v6only: None,
            local: Endpoint {
                address: "127.0.0.1".parse().unwrap(),
                port: (i % 60_000) as u16 + 1024,
            },
            remote: Some(Endpoint {
                address: "127.0.0.1".parse().unwrap(),
                port: 40_000,
            }),
            state: SockState::Established,
            port_class: PortClass::Registered,
            ephemeral: false,
            service: None,
            recv_queue: Some(0),
            send_queue: Some(0),
            inode: i as u64 + 1,
            uid: Some(0),
            user: Some("root".into()),
            owner: Owner::Visible,
            owner_reason: None,
            owner_reason_code: None,
            placement: Default::default(),
            processes: vec![conv(Process {
                pid: 1000 + (i % 50) as u32,
                name: conv(format!("worker-{}", i % 50)),
                cmdline: vec!["worker".into(), "--serve".into()],
                user: Some("root".into()),
                uid: Some(0),
                ppid: Some(1),
                tid: None,
                container: None,
                unit: None,
            })],
        })
        .collect()
}

/// Best of three, to keep scheduler noise out of the comparison.
fn render_time(sockets: &[Socket]) -> Duration {
    let style = TableStyle {
        color: false,
        width: None,
        shape: portscope::render::table::Shape {
            remote: true,
            netns: false,
        },
    };
    (0..3)
        .map(|_| {
            let mut out = Vec::with_capacity(sockets.len() * 160);
            let t = Instant::now();
            write_table(&mut out, sockets, style).unwrap();
            let took = t.elapsed();
            assert_eq!(
                out.iter().filter(|&&b| b == b'\n').count(),
                sockets.len() + 1
            );
            took
        })
        .min()
        .unwrap()
}

#[test]
fn table_renderer_scales_linearly() {
    let _serial = common::serial();
    let small = render_time(&synthetic(2_500));
    let large = render_time(&synthetic(10_000));
    let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-6);
    eprintln!("table: 2,500 rows {small:?}, 10,000 rows {large:?} (x{ratio:.1})");
    // Linear is x4, quadratic x16: x10 leaves room for noise and still catches it.
    assert!(
        ratio < 10.0,
        "2,500 rows {small:?} vs 10,000 rows {large:?}"
    );
    assert!(
        large < Duration::from_secs(10),
        "10,000 rows took {large:?}"
    );
}
