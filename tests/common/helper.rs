//! Helper processes for the workload tests: this test binary, re-executed, holding or
//! churning sockets. Part of workload.rs (declared there).
#![allow(dead_code)]

use super::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------------------
// Helper processes: this test binary, re-executed to run only its `helper` test with
// PORTSCOPE_TEST_HELPER set. Each test file that uses them declares:
//
//     #[test]
//     #[ignore = "helper process for the other tests, run by them"]
//     fn helper() { workload::helper_main() }
//
// Protocol: the helper writes lines starting with "@@ " (libtest's own lines are
// ignored), ends with "@@ ready ..." once its sockets are open, and exits when stdin closes.

pub const HELPER_ENV: &str = "PORTSCOPE_TEST_HELPER";
const TAG: &str = "@@ ";

/// The text after the tag; libtest may have written "test helper ... " before it.
fn tagged(line: &str) -> Option<&str> {
    line.find(TAG).map(|i| &line[i + TAG.len()..])
}

/// A running helper process.
pub struct Helper {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    /// The "@@ ready ..." line (without the tag and "ready").
    pub ready: String,
}

impl Helper {
    /// Starts `role` (see [`helper_main`]) and waits (at most 30 s) for its ready line.
    pub fn start(role: &str) -> Helper {
        let exe = std::env::current_exe().expect("current test binary");
        let mut child = Command::new(exe)
            .args([
                "helper",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER_ENV, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn helper process");
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().unwrap());
        // Read in a thread, so the helper never blocks on a full pipe and we never block
        // on a silent helper.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in out.lines() {
                let Ok(l) = l else { break };
                if let Some(t) = tagged(&l) {
                    if tx.send(t.to_string()).is_err() {
                        break;
                    }
                }
            }
        });
        let end = Instant::now() + Duration::from_secs(30);
        let ready = loop {
            let left = end.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => {
                    if let Some(r) = l.strip_prefix("ready") {
                        break r.trim().to_string();
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("helper '{role}' not ready: {e}");
                }
            }
        };
        Helper {
            child,
            stdin,
            lines: rx,
            ready,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes stdin, waits (at most 30 s) for the helper to exit, and returns every "@@"
    /// line it wrote after its ready line.
    pub fn finish(mut self) -> Vec<String> {
        drop(self.stdin.take());
        let mut v = Vec::new();
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => v.push(l),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(e) => {
                    let _ = self.child.kill();
                    panic!("helper did not finish: {e}");
                }
            }
        }
        let status = self.child.wait().expect("wait for helper");
        assert!(status.success(), "helper exited with {status}");
        v
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn say(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{TAG}{line}");
    let _ = o.flush();
}

/// Blocks until stdin reaches EOF (the test closed it, or the test died).
fn wait_stdin_eof() {
    let mut buf = [0u8; 64];
    let mut i = std::io::stdin().lock();
    while matches!(i.read(&mut buf), Ok(n) if n > 0) {}
}

/// The helper side. Roles:
/// * `hold:N` — opens N sockets (TCP listeners and bound UDP, on 127.0.0.1 and ::1 in
///   turn), says `ready N`, holds them until stdin closes.
/// * `churn:THREADS:SEED` — says `ready`, then each thread opens and closes listeners,
///   connections and UDP sockets as fast as it can, saying `own PROTO PORT` for each
///   local port it holds, until stdin closes; then says `done ITERATIONS`.
/// * `measure:DIR:ARGS` — runs `portscope ARGS` (split on spaces) with its stdout (a pipe)
///   copied to DIR/stdout and its stderr in DIR/stderr, reaps it with wait4(2) and says
///   `ready EXIT_CODE PEAK_RSS_KIB MICROSECONDS`. See [`measure`] for why from here.
///
/// Never returns when PORTSCOPE_TEST_HELPER is set (exits the process); a no-op otherwise.
pub fn helper_main() {
    let Ok(role) = std::env::var(HELPER_ENV) else {
        return;
    };
    // End with the test if it dies without closing our stdin.
    // SAFETY: prctl with constant arguments.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    let parts: Vec<&str> = role.split(':').collect();
    match parts.as_slice() {
        ["hold", n] => {
            let n: usize = n.parse().expect("hold:N");
            raise_nofile();
            let held = hold(n);
            say(&format!("ready {}", held.len()));
            wait_stdin_eof();
            drop(held);
        }
        ["churn", threads, seed] => {
            let threads: usize = threads.parse().expect("churn:THREADS:SEED");
            let seed: u64 = seed.parse().expect("churn:THREADS:SEED");
            let stop = Arc::new(AtomicBool::new(false));
            let iterations = Arc::new(Mutex::new(0u64));
            say("ready");
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let stop = stop.clone();
                    let iterations = iterations.clone();
                    std::thread::spawn(move || {
                        let n = churn(&stop, seed.wrapping_add(t as u64));
                        *iterations.lock().unwrap() += n;
                    })
                })
                .collect();
            wait_stdin_eof();
            stop.store(true, Ordering::Relaxed);
            for h in handles {
                h.join().expect("churn thread");
            }
            let n = *iterations.lock().unwrap();
            say(&format!("done {n}"));
        }
        ["thread-own-table"] => thread_own_table(),
        ["in-flight"] => in_flight(),
        ["measure", dir, args] => {
            let (code, rss_kib, took) = measure(Path::new(dir), args);
            say(&format!("ready {code} {rss_kib} {}", took.as_micros()));
            wait_stdin_eof();
        }
        _ => panic!("unknown helper role '{role}'"),
    }
    std::process::exit(0);
}

fn gettid() -> u32 {
    // SAFETY: gettid cannot fail.
    unsafe { libc::gettid() as u32 }
}

/// A thread that unshares its descriptor table, then opens a listener only it holds.
fn thread_own_table() {
    let t = std::thread::spawn(|| {
        assert_eq!(
            // SAFETY: unshare affects only this thread's descriptor table.
            unsafe { libc::unshare(libc::CLONE_FILES) },
            0,
            "unshare(CLONE_FILES)"
        );
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        say(&format!(
            "ready {} {}",
            l.local_addr().unwrap().port(),
            gettid()
        ));
        wait_stdin_eof();
        drop(l);
    });
    t.join().expect("thread");
}

/// A listener whose only descriptor is in flight: sent over a unix socket pair with
/// SCM_RIGHTS, never received, the sender's copy closed.
fn in_flight() {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixDatagram;
    let (a, b) = UnixDatagram::pair().expect("socketpair");
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().unwrap().port();
    let fd = l.as_raw_fd();
    // SAFETY: a one-byte message carrying one descriptor, built in local buffers that
    // outlive the sendmsg call.
    unsafe {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let space = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize;
        let mut cbuf = vec![0u8; space];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), fd);
        assert_eq!(libc::sendmsg(a.as_raw_fd(), &msg, 0), 1, "sendmsg");
    }
    drop(l);
    say(&format!("ready {port}"));
    wait_stdin_eof();
    drop((a, b));
}

/// One held socket of a `hold` helper.
pub enum Held {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

fn hold(n: usize) -> Vec<Held> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let h = match i % 4 {
            0 => Held::Tcp(TcpListener::bind("127.0.0.1:0").expect("bind tcp4")),
            1 => Held::Udp(UdpSocket::bind("127.0.0.1:0").expect("bind udp4")),
            2 => Held::Tcp(TcpListener::bind("[::1]:0").expect("bind tcp6")),
            _ => Held::Udp(UdpSocket::bind("[::1]:0").expect("bind udp6")),
        };
        v.push(h);
    }
    v
}

/// Local ports a churn thread held, said once at the end.
type Ports = std::collections::HashSet<(&'static str, u16)>;

fn own(ports: &mut Ports, proto: &'static str, a: std::io::Result<SocketAddr>) {
    if let Ok(a) = a {
        ports.insert((proto, a.port()));
    }
}

/// Normal closes per churn thread; every other close is an RST. Bounds the time_wait and
/// fin_wait sockets (they live 60 s) whatever the churn rate, so the tables, and each
/// `list` run, stay small.
const NORMAL_CLOSES: u32 = 250;

/// Closes with RST most of the time, normally now and then while `normal` lasts.
fn close_stream(s: TcpStream, rng: &mut Rng, normal: &mut u32) {
    if *normal > 0 && rng.one_in(20) {
        *normal -= 1;
    } else {
        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    }
    drop(s);
}

/// What a churn thread keeps open for a while.
enum Live {
    Pair(TcpStream, TcpStream),
    Listener(TcpListener),
    Udp(UdpSocket),
    UdpPair(UdpSocket, UdpSocket),
}

/// One churn thread: returns its iteration count. Hard cap of 120 s in case stdin never
/// closes.
fn churn(stop: &AtomicBool, seed: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let cap = Instant::now() + Duration::from_secs(120);
    let mut live: std::collections::VecDeque<Live> = Default::default();
    let mut n = 0u64;
    let mut ports = Ports::default();
    let mut normal = NORMAL_CLOSES;
    while !stop.load(Ordering::Relaxed) && Instant::now() < cap {
        n += 1;
        let v6 = rng.one_in(2);
        let host = if v6 { "[::1]:0" } else { "127.0.0.1:0" };
        match rng.range(0, 3) {
            0 | 1 => {
                let Ok(l) = TcpListener::bind(host) else {
                    continue;
                };
                own(&mut ports, "tcp", l.local_addr());
                let Ok(addr) = l.local_addr() else { continue };
                let Ok(c) = TcpStream::connect(addr) else {
                    continue;
                };
                own(&mut ports, "tcp", c.local_addr());
                let Ok((a, _)) = l.accept() else { continue };
                if rng.one_in(3) {
                    live.push_back(Live::Pair(c, a));
                } else if rng.one_in(2) {
                    close_stream(c, &mut rng, &mut normal);
                    close_stream(a, &mut rng, &mut normal);
                } else {
                    close_stream(a, &mut rng, &mut normal);
                    close_stream(c, &mut rng, &mut normal);
                }
                if rng.one_in(4) {
                    live.push_back(Live::Listener(l));
                }
            }
            2 => {
                let (Ok(a), Ok(b)) = (UdpSocket::bind(host), UdpSocket::bind(host)) else {
                    continue;
                };
                own(&mut ports, "udp", a.local_addr());
                own(&mut ports, "udp", b.local_addr());
                if let (Ok(aa), Ok(ba)) = (a.local_addr(), b.local_addr()) {
                    let _ = a.connect(ba);
                    if rng.one_in(2) {
                        let _ = b.connect(aa);
                    }
                }
                live.push_back(Live::UdpPair(a, b));
            }
            _ => {
                let Ok(u) = UdpSocket::bind(host) else {
                    continue;
                };
                own(&mut ports, "udp", u.local_addr());
                if rng.one_in(2) {
                    live.push_back(Live::Udp(u));
                }
            }
        }
        while live.len() > 24 {
            match live.pop_front() {
                Some(Live::Pair(c, a)) => {
                    close_stream(c, &mut rng, &mut normal);
                    close_stream(a, &mut rng, &mut normal);
                }
                other => drop(other),
            }
        }
    }
    drop(live);
    let mut o = std::io::stdout().lock();
    for (proto, port) in ports {
        let _ = writeln!(o, "{TAG}own {proto} {port}");
    }
    let _ = o.flush();
    n
}

/// Runs portscope and returns (exit code or -1, its peak RSS in KiB, wall time).
///
/// Measured in this small, freshly exec'd helper and not in the test: a child's ru_maxrss
/// starts from its parent's peak RSS at the time of the spawn (exec folds the high-water mark
/// of the address space it replaces, the parent's under vfork or fork, into the child's), so
/// a test process that once held a large table (another test in the same binary) would
/// count its own peak as portscope's.
#[allow(clippy::zombie_processes)] // reaped by wait4, which std's Child does not know
fn measure(dir: &Path, args: &str) -> (i32, u64, Duration) {
    let stderr = std::fs::File::create(dir.join("stderr")).expect("create stderr file");
    let mut stdout = std::fs::File::create(dir.join("stdout")).expect("create stdout file");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portscope"))
        .args(args.split(' '))
        .env_remove(HELPER_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn portscope");
    std::io::copy(&mut child.stdout.take().unwrap(), &mut stdout).expect("copy stdout");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 reaps our own child by PID into structs we own.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let took = start.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, ru.ru_maxrss as u64, took)
}
