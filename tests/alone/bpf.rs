//! The BPF owner source (collect::bpf) against a readlink scan of /proc on a live workload
//! this test starts: a forked child sharing a listener, a thread with its own descriptor
//! table, a process in a PID namespace, one in another network namespace, a reader inside
//! a PID namespace, and the permission error an unprivileged caller gets.
#![cfg(target_os = "linux")]

use crate::common;

use common::{bin_path, is_root, serial, skip};
use portscope::collect::linux::bpf::{self, BpfError, Program, Record};
use portscope::probe::Opened;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, Command, Stdio};

const ROLE_ENV: &str = "PORTSCOPE_TEST_HELPER";
const PIDNS_READER: &str = "bpf-pidns-reader";

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The inode of the file `fd` refers to.
fn fd_inode(fd: i32) -> u64 {
    // SAFETY: libc::stat is plain data; all zeroes is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into a stat we own; the result is checked.
    assert_eq!(unsafe { libc::fstat(fd, &mut st) }, 0);
    st.st_ino
}

fn path_inode(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// (pid, socket inode) for every socket descriptor of `pid`, in every thread's table
/// (a thread that unshared its table is only visible under task/TID/fd).
fn readlink_pairs(pid: u32, out: &mut BTreeSet<(u32, u64)>) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        let Ok(fds) = std::fs::read_dir(task.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let link = std::fs::read_link(fd.path()).unwrap_or_default();
            if let Some(ino) = link.to_str().and_then(socket_inode) {
                out.insert((pid, ino));
            }
        }
    }
}

/// Every PID in /proc.
fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// `root` and every process below it, by the PPid field of /proc/PID/stat.
fn family(root: u32) -> BTreeSet<u32> {
    let parents: Vec<(u32, u32)> = all_pids()
        .into_iter()
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            // The name may hold spaces and parentheses: fields start after the last ')'.
            let rest = &stat[stat.rfind(')')? + 2..];
            Some((p, rest.split(' ').nth(1)?.parse().ok()?))
        })
        .collect();
    let mut out = BTreeSet::from([root]);
    loop {
        let before = out.len();
        for &(p, pp) in &parents {
            if out.contains(&pp) {
                out.insert(p);
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

fn bpf_pairs(records: &[Record], pids: &BTreeSet<u32>) -> BTreeSet<(u32, u64)> {
    records
        .iter()
        .filter(|r| pids.contains(&r.pid))
        .map(|r| (r.pid, r.inode))
        .collect()
}

/// A command that opens sockets and reports them as `listen --json` lines; closed on drop.
struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    opened: Opened,
}

impl Holder {
    fn start(cmd: &mut Command) -> Holder {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn holder");
        let stdin = child.stdin.take();
        let mut line = String::new();
        // Readiness: the JSON line is written once the socket is open.
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let opened = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        Holder {
            child,
            stdin,
            opened,
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.stdin.take()); // listen exits when stdin closes
        let _ = self.child.wait();
    }
}

/// The socket inodes `pid` holds, from its /proc entries.
fn held_inodes(pid: u32) -> BTreeSet<u64> {
    let mut pairs = BTreeSet::new();
    readlink_pairs(pid, &mut pairs);
    pairs.into_iter().map(|p| p.1).collect()
}

fn listen(args: &[&str]) -> Command {
    let mut c = Command::new(bin_path());
    c.arg("listen").arg("--json").args(args);
    c
}

/// A thread with its own descriptor table (unshare(CLONE_FILES)) and a socket only it
/// holds; ends on drop.
struct OwnTable {
    tid: u32,
    fd: u32,
    inode: u64,
    done: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OwnTable {
    fn start() -> OwnTable {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // SAFETY: unshare(CLONE_FILES) gives this thread a private copy of the table.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_FILES) }, 0);
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            // SAFETY: gettid cannot fail.
            let tid = unsafe { libc::gettid() } as u32;
            let fd = l.as_raw_fd();
            ready_tx.send((tid, fd as u32, fd_inode(fd))).unwrap();
            let _ = done_rx.recv();
        });
        let (tid, fd, inode) = ready_rx.recv().unwrap();
        OwnTable {
            tid,
            fd,
            inode,
            done: Some(done_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for OwnTable {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A unix socket bound to a path, and that path opened O_PATH: S_IFSOCK on a filesystem
/// inode, which is no socket (readlink shows the path). Removed on drop.
struct SocketPath {
    dir: std::path::PathBuf,
    inode: u64,
    _held: (std::os::unix::net::UnixListener, std::fs::File),
}

impl SocketPath {
    fn open() -> SocketPath {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::env::temp_dir().join(format!("portscope-bpf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let opath = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(&path)
            .unwrap();
        SocketPath {
            inode: path_inode(path.to_str().unwrap()),
            dir,
            _held: (unix, opath),
        }
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The one process among `pids` that is pid 1 of its own PID namespace.
fn namespace_init(pids: &BTreeSet<u32>) -> Vec<u32> {
    pids.iter()
        .copied()
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/status")).is_ok_and(|s| {
                s.lines()
                    .any(|l| l.starts_with("NSpid:") && l.ends_with("\t1"))
            })
        })
        .collect()
}

/// A listener at descriptor 5,000 (the soft descriptor limit raised to reach it, within
/// the hard one): above the first fdtable a process gets, and in a bitmap word of its
/// own. Closed on drop.
struct HighFd {
    fd: i32,
    inode: u64,
}

const HIGH_FD: i32 = 5000;

impl HighFd {
    fn open() -> Option<HighFd> {
        // SAFETY: getrlimit/setrlimit on a local struct, checked.
        unsafe {
            let mut r: libc::rlimit = std::mem::zeroed();
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
            if r.rlim_max <= HIGH_FD as u64 {
                return None;
            }
            r.rlim_cur = r.rlim_cur.max(HIGH_FD as u64 + 1);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
        }
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // SAFETY: F_DUPFD_CLOEXEC takes the lowest free descriptor from HIGH_FD on, so it
        // closes nothing another owner holds; the test owns the new one (closed in Drop),
        // and checks it got exactly HIGH_FD.
        let fd = unsafe { libc::fcntl(l.as_raw_fd(), libc::F_DUPFD_CLOEXEC, HIGH_FD) };
        assert_eq!(fd, HIGH_FD, "descriptor {HIGH_FD} is taken in this process");
        Some(HighFd {
            fd: HIGH_FD,
            inode: fd_inode(HIGH_FD),
        })
    }
}

impl Drop for HighFd {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor dup2 made in open, once.
        unsafe { libc::close(self.fd) };
    }
}

/// Whether this kernel should run the fdtable program: its BTF has the kfunc the
/// program needs (bpf_rdonly_cast, Linux 6.2+, which also has bpf_loop). Where it does,
/// a refusal is a bug, not a reason to skip.
pub fn fdtable_expected() -> bool {
    std::fs::read("/sys/kernel/btf/vmlinux")
        .is_ok_and(|b| b.windows(16).any(|w| w == b"\0bpf_rdonly_cast"))
}

/// Every walk there is: the default (the fdtable program where this kernel runs it),
/// and each program alone where it loads. Each walker is dropped before the next walk
/// (the fdtable program holds a socket of its own while loaded).
/// Each walk is checked to be the program it names: a walk that fell back would
/// otherwise be compared with itself.
fn walks() -> Vec<bpf::Walk> {
    let default = bpf::scan().unwrap();
    if fdtable_expected() {
        assert_eq!(default.program, Program::TaskFdtable);
    }
    let mut out = vec![default];
    for program in [Program::TaskFdtable, Program::TaskFile] {
        match bpf::Walker::load_only(program) {
            Ok(mut w) => {
                let walk = w.read().unwrap();
                assert_eq!(walk.program, program, "the walk fell back");
                out.push(walk);
            }
            Err(e) if program == Program::TaskFdtable && !fdtable_expected() => {
                skip(&format!("the fdtable program does not load here: {e}"));
            }
            Err(e) => panic!("{program:?}: {e}"),
        }
    }
    out
}

#[test]
fn records_equal_a_readlink_scan_of_a_live_workload() {
    let _g = serial();
    if !is_root() {
        skip("not root: cannot load a BPF program");
        return;
    }
    if !have("unshare") {
        skip("unshare(1) is not installed");
        return;
    }
    // A listener shared by a forked child.
    let forked = Holder::start(&mut listen(&["--fork", "0"]));
    assert_eq!(forked.opened.pids.len(), 2, "{:?}", forked.opened.pids);
    // A process inside its own PID namespace (pid 1 there).
    let mut cmd = Command::new("unshare");
    cmd.args(["-p", "-f", "--mount-proc", bin_path()]);
    let pidns = Holder::start(cmd.args(["listen", "--json", "0"]));
    assert_eq!(pidns.opened.pid, 1);
    // A process in another network namespace (its lo is down: bind the wildcard).
    let mut cmd = Command::new("unshare");
    let netns = Holder::start(cmd.args(["-n", bin_path(), "listen", "--json", "*:0"]));
    let own = OwnTable::start();
    let opath = SocketPath::open();
    let high = HighFd::open();

    let walks = walks();
    let workload = Workload {
        forked: &forked,
        netns: &netns,
        own: &own,
        opath: &opath,
        high: high.as_ref(),
    };
    for walk in &walks {
        workload.check(&walk.records);
    }
    // Both programs see the same records for this test's processes, fd and tid and
    // network namespace included; the default is the fdtable program.
    if let [auto, fdtable, task_file] = &walks[..] {
        let pids = family(std::process::id());
        let ours = |w: &bpf::Walk| -> Vec<Record> {
            w.records
                .iter()
                .filter(|r| pids.contains(&r.pid))
                .copied()
                .collect()
        };
        assert_eq!(ours(fdtable), ours(task_file));
        // Else the comparison above would be task_file's with itself.
        assert_eq!(fdtable.program, Program::TaskFdtable);
        assert_eq!(auto.program, Program::TaskFdtable);
        assert_eq!(task_file.program, Program::TaskFile);
        assert!(
            auto.descriptors.is_some_and(|n| n > 0),
            "{:?}",
            auto.descriptors
        );
    }
    drop((own, pidns, high));
}

/// The live workload of `records_equal_a_readlink_scan_of_a_live_workload`.
struct Workload<'a> {
    forked: &'a Holder,
    netns: &'a Holder,
    own: &'a OwnTable,
    opath: &'a SocketPath,
    high: Option<&'a HighFd>,
}

impl Workload<'_> {
    /// One walk's records against a readlink scan, and each part of the workload.
    fn check(&self, records: &[Record]) {
        let me = std::process::id();
        let pids = family(me);
        let mut expected = BTreeSet::new();
        for &p in &pids {
            readlink_pairs(p, &mut expected);
        }
        assert_eq!(
            bpf_pairs(records, &pids),
            expected,
            "BPF vs readlink over {pids:?}"
        );
        let by_inode =
            |ino: u64| -> Vec<&Record> { records.iter().filter(|r| r.inode == ino).collect() };
        // The forked listener: one record per holder.
        let ino = held_inodes(self.forked.opened.pid);
        let holders: BTreeSet<u32> = records
            .iter()
            .filter(|r| ino.contains(&r.inode))
            .map(|r| r.pid)
            .collect();
        assert_eq!(holders, self.forked.opened.pids.iter().copied().collect());
        // The thread's own socket: our pid, its tid, its fd.
        let r = by_inode(self.own.inode);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(
            (r[0].pid, r[0].tid, r[0].fd),
            (me, self.own.tid, self.own.fd)
        );
        // The socket at descriptor 5,000.
        if let Some(high) = self.high {
            let r = by_inode(high.inode);
            assert_eq!(r.len(), 1, "{r:?}");
            assert_eq!((r[0].pid, r[0].fd), (me, high.fd as u32));
        }
        // The PID-namespaced listener appears under the pid we see, not its pid 1.
        let inner = namespace_init(&pids);
        assert_eq!(inner.len(), 1, "{inner:?}");
        let ino = held_inodes(inner[0]);
        assert_eq!(ino.len(), 1);
        let r = by_inode(*ino.first().unwrap());
        assert_eq!(r.iter().map(|r| r.pid).collect::<Vec<_>>(), inner);
        // The socket in the other network namespace carries that namespace's inode.
        let ns = path_inode(&format!("/proc/{}/ns/net", self.netns.opened.pid));
        let ours = path_inode("/proc/self/ns/net");
        assert_ne!(ns, ours);
        let ino = held_inodes(self.netns.opened.pid);
        assert_eq!(ino.len(), 1);
        let r = by_inode(*ino.first().unwrap());
        assert_eq!(
            r.iter().map(|r| (r.pid, r.netns)).collect::<Vec<_>>(),
            vec![(self.netns.opened.pid, ns)]
        );
        // Our own sockets carry our namespace; the O_PATH descriptor is no socket.
        assert!(records
            .iter()
            .filter(|r| r.pid == me)
            .all(|r| r.netns == ours));
        assert!(by_inode(self.opath.inode).iter().all(|r| r.pid != me));
    }
}

/// The helper process's body (started through the crate root's `helper`); false when
/// this helper was not asked for.
pub fn helper_process() -> bool {
    let asked = std::env::var(ROLE_ENV).as_deref() == Ok(PIDNS_READER);
    if asked {
        pidns_reader();
    }
    asked
}

/// Runs inside `unshare -p -f --mount-proc`: the reader is pid 1 at PID namespace level 1.
/// Every program names everyone in the namespace, with the numbers seen there.
fn pidns_reader() {
    assert_eq!(
        std::process::id(),
        1,
        "not the first process of a new PID namespace"
    );
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ino = fd_inode(l.as_raw_fd());
    let tids: Vec<u32> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    let walks = walks();
    for walk in &walks {
        let records = &walk.records;
        // The iterator walks the reader's namespace only, and names everyone in it.
        assert!(records.iter().all(|r| r.pid != 0), "{records:?}");
        let mut expected = BTreeSet::new();
        for p in all_pids() {
            readlink_pairs(p, &mut expected);
        }
        let all: BTreeSet<u32> = records.iter().map(|r| r.pid).collect();
        assert_eq!(bpf_pairs(records, &all), expected, "{:?}", walk.program);
        let mine: Vec<&Record> = records.iter().filter(|r| r.inode == ino).collect();
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert_eq!(mine[0].pid, 1);
        assert!(
            tids.contains(&mine[0].tid),
            "{} not in {tids:?}",
            mine[0].tid
        );
    }
    println!("@@ ok pid=1 walks={}", walks.len());
}

#[test]
fn a_reader_inside_a_pid_namespace_sees_its_own_pids() {
    let _g = serial();
    if !is_root() {
        skip("not root: cannot create a PID namespace and load a BPF program");
        return;
    }
    if !have("unshare") {
        skip("unshare(1) is not installed");
        return;
    }
    // The default walk and task_file's, and the fdtable program's where it loads.
    let walks = 2 + usize::from(fdtable_expected());
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["-p", "-f", "--mount-proc"])
        .arg(exe)
        .args([
            "helper",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE_ENV, PIDNS_READER)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("@@ ok pid=1 walks={walks}\n")),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unprivileged_caller_gets_the_permission_kind() {
    let _g = serial();
    if !is_root() {
        skip("not root: cannot switch a thread to nobody");
        return;
    }
    // Credentials are per thread in the kernel: the raw syscalls (not libc's wrappers,
    // which change every thread) drop root for this thread only.
    let r = std::thread::spawn(|| {
        // SAFETY: plain credential syscalls with valid arguments, checked.
        unsafe {
            assert_eq!(
                libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<u32>()),
                0
            );
            assert_eq!(libc::syscall(libc::SYS_setresgid, 65534, 65534, 65534), 0);
            assert_eq!(libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534), 0);
        }
        bpf::scan()
    })
    .join()
    .unwrap();
    assert_eq!(
        r,
        Err(BpfError::Permission(
            "load the program: Operation not permitted (os error 1)".into()
        ))
    );
}
