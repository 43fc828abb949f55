//! Acting on a port, safety: whom portscope never signals, and the re-check that a
//! process still holds the socket it was chosen for, read through /proc after its pidfd
//! is open (see `kill::signal_one` for the order that makes it sound).

use std::collections::HashSet;

/// PF_KTHREAD in /proc/PID/stat's flags (include/linux/sched.h).
const PF_KTHREAD: u64 = 0x0020_0000;

/// Why a PID must not be signalled, or None.
pub struct Guard {
    me: u32,
    ancestors: HashSet<u32>,
}

impl Guard {
    /// portscope itself and its ancestors, read once from /proc.
    pub fn new() -> Guard {
        let me = std::process::id();
        let mut ancestors = HashSet::new();
        let mut pid = me;
        // Bounded: a PID chain is finite, and a loop in a broken /proc must not hang us.
        for _ in 0..4096 {
            match parent_of(pid) {
                Some(pp) if pp != 0 && ancestors.insert(pp) => pid = pp,
                _ => break,
            }
        }
        Guard { me, ancestors }
    }

    pub fn refusal(&self, pid: u32) -> Option<String> {
        if pid == 1 {
            return Some("PID 1 (init): ending it takes the system or container down".into());
        }
        if pid == self.me {
            return Some("portscope itself".into());
        }
        if self.ancestors.contains(&pid) {
            return Some("an ancestor of portscope (ending it would end this command)".into());
        }
        if is_kernel_thread(pid) {
            return Some("a kernel thread".into());
        }
        None
    }
}

impl Default for Guard {
    fn default() -> Self {
        Guard::new()
    }
}

/// The fields of /proc/PID/stat after the command name (which may contain anything).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

fn is_kernel_thread(pid: u32) -> bool {
    // Field 9 of stat is the flags; index 6 after "(comm)" (state is index 0).
    stat_fields(pid)
        .and_then(|f| f.get(6).and_then(|x| x.parse::<u64>().ok()))
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// Whether `pid`'s descriptor table (or a thread's own) holds a socket with one of these
/// inodes now. Errors (the process is gone, or we may not look) count as "no".
pub fn holds_any(pid: u32, inodes: &[u64]) -> bool {
    let in_dir = |dir: String| -> bool {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return false;
        };
        rd.flatten().any(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| {
                let t = t.to_string_lossy();
                t.strip_prefix("socket:[")
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|i| inodes.contains(&i))
            })
        })
    };
    if in_dir(format!("/proc/{pid}/fd")) {
        return true;
    }
    // A thread that unshared its descriptor table holds its own copies.
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|rd| {
            rd.flatten()
                .any(|t| in_dir(format!("{}/fd", t.path().display())))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_init_itself_and_ancestors_but_not_a_child() {
        let g = Guard::new();
        assert!(g.refusal(1).unwrap().starts_with("PID 1"));
        assert_eq!(g.refusal(std::process::id()).unwrap(), "portscope itself");
        let parent = parent_of(std::process::id()).unwrap();
        if parent > 1 {
            assert!(g.refusal(parent).unwrap().contains("ancestor"));
        }
        // PID 2 is kthreadd in the initial PID namespace (not inside a container).
        if std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c == "kthreadd\n") {
            assert_eq!(g.refusal(2).as_deref(), Some("a kernel thread"));
        }
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert_eq!(g.refusal(child.id()), None);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn finds_a_socket_we_hold_by_inode() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = socket2::SockRef::from(&l);
        use std::os::fd::AsRawFd;
        // SAFETY: libc::stat is plain data; all zeroes is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat on a descriptor we own into a zeroed struct.
        assert_eq!(unsafe { libc::fstat(s.as_raw_fd(), &mut st) }, 0);
        let me = std::process::id();
        assert!(holds_any(me, &[st.st_ino]));
        assert!(!holds_any(me, &[u64::MAX]));
    }
}
