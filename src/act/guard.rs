//! Acting on a port, safety: whom portscope never signals, and the re-check that a
//! process still holds the socket it was chosen for, read through /proc after its pidfd
//! is open (see `kill::signal_one` for the order that makes it sound).

use crate::collect::linux::placement::{parse_conmon_argv, parse_proxy_argv};
use crate::model::{Container, Process, Socket};
use serde::{Deserialize, Serialize};
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

    /// The refusals that need only the PID: PID 1 (here or in any PID namespace),
    /// portscope and its ancestors, kernel threads.
    pub fn refusal(&self, pid: u32) -> Option<String> {
        if pid == 1 {
            return Some("PID 1 (init): ending it takes the system or container down".into());
        }
        if innermost_nspid(pid) == Some(1) {
            return Some(
                "PID 1 of its own PID namespace (a container's or sandbox's init): ending it takes that container or namespace down"
                    .into(),
            );
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

/// Why a holder is not signalled, with what would stop it properly where portscope knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    /// The container it runs or publishes (`podman:NAME`, `docker:NAME`).
    pub container: Option<String>,
    /// The command that stops that container (portscope never runs it).
    pub hint: Option<String>,
    /// It belongs to a container (an engine's process, or a container's init): stopping
    /// it is the engine's job (exit 3), not a keystone of this host (exit 2).
    pub engine: bool,
}

impl Guard {
    /// Every refusal for `p` holding `s`: [`Guard::refusal`], then a container engine's
    /// own processes (they hold a port for a container, or run its network): named with
    /// the container and the command that stops it.
    pub fn refuse(&self, p: &Process, s: &Socket) -> Option<Refusal> {
        if let Some(reason) = self.refusal(p.pid) {
            let reason_is_init = reason.starts_with("PID 1 of its own");
            let container = p.container.as_ref().filter(|_| reason_is_init);
            return Some(Refusal {
                reason,
                container: container.map(label),
                hint: container.and_then(stop_hint),
                engine: container.is_some(),
            });
        }
        let role = engine_role(p.pid, &p.cmdline)?;
        // What it publishes, as the pipeline placed it (the same follow `who` shows:
        // docker-proxy's arguments, conmon's container in podman's state, root's only).
        let published = s.placement.published.as_ref();
        let container = published
            .and_then(|b| b.container.clone())
            .or_else(|| p.container.clone());
        let what = match &published {
            Some(_) => format!(
                "{role}: it holds {}/{} for a container engine, which publishes it (traffic still reaches the container by DNAT without it; ending it leaves the container unmonitored or unreachable)",
                s.local.port, s.protocol
            ),
            None => format!("{role}: a container engine's own process; ending it breaks the container's networking or monitoring"),
        };
        Some(Refusal {
            reason: what,
            container: container.as_ref().map(label),
            hint: container.as_ref().and_then(stop_hint),
            engine: true,
        })
    }
}

/// `podman:web`, `docker:shop-web-1`: the engine and the name (or short id).
pub fn label(c: &Container) -> String {
    let short: String = c.id.chars().take(12).collect();
    format!("{}:{}", c.runtime, c.name.as_deref().unwrap_or(&short))
}

/// The command that stops the container, where its engine has one.
pub fn stop_hint(c: &Container) -> Option<String> {
    let short: String = c.id.chars().take(12).collect();
    // Names and compose labels are anyone's to choose: quoted for a shell, so a copied
    // hint runs the stop command and nothing else.
    let name = sh_quote(c.name.as_deref().unwrap_or(&short));
    Some(match c.runtime.as_str() {
        "docker" => match &c.compose {
            Some(k) => format!(
                "docker compose -p {} stop {}",
                sh_quote(&k.project),
                sh_quote(&k.service)
            ),
            None => format!("docker stop {name}"),
        },
        "podman" => format!("podman stop {name}"),
        "containerd" | "cri-o" => format!("crictl stop {}", sh_quote(&c.id)),
        "lxc" => format!("lxc stop {name}"),
        "nspawn" => format!("machinectl stop {name}"),
        _ => return None,
    })
}

/// `s` as one shell word: as it is when it holds only characters no shell treats
/// specially, else in single quotes (a `'` inside written as `'\''`).
fn sh_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-.:/@%+=,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The last field of `NSpid:` in /proc/PID/status: the PID in its innermost namespace.
pub fn innermost_nspid(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_nspid(&text)
}

fn parse_nspid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

fn exe_name(pid: u32) -> Option<String> {
    let t = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let t = t.to_string_lossy();
    let t = t.strip_suffix(" (deleted)").unwrap_or(&t);
    Some(t.rsplit('/').next().unwrap_or(t).to_string())
}

/// Whether `pid`'s executable file is one only root or this user could have put there
/// (owned by root or by our effective uid). A name is anyone's to choose: another user's
/// copy of python called `dockerd` must not get itself refused (and so escape `kill`).
fn trusted_exe(pid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    std::fs::metadata(format!("/proc/{pid}/exe")).is_ok_and(|m| m.uid() == 0 || m.uid() == me)
}

/// Which engine process `pid` is, by what it runs (its executable, which the process
/// cannot rename) and how it was started (the arguments the engine gives it).
fn engine_role(pid: u32, argv: &[String]) -> Option<&'static str> {
    if !trusted_exe(pid) {
        return None;
    }
    let exe = exe_name(pid)?;
    let arg0 = argv.first().map(|a| a.rsplit('/').next().unwrap_or(a));
    role_of(&exe, arg0, argv)
}

fn role_of(exe: &str, arg0: Option<&str>, argv: &[String]) -> Option<&'static str> {
    let exe = exe.split('.').next().unwrap_or(exe); // passt.avx2
    match exe {
        "docker-proxy" | "rootlesskit-docker-proxy" if parse_proxy_argv(argv).is_some() => {
            Some("docker-proxy (docker's userland proxy)")
        }
        "conmon" if parse_conmon_argv(argv).is_some() => {
            Some("conmon (podman's container monitor)")
        }
        "podman" if arg0.is_some_and(|a| a.starts_with("rootlessport")) => {
            Some("rootlessport (rootless podman's port forwarder)")
        }
        // The engines themselves: dockerd holds a published port's reservation socket when
        // its userland proxy is off, and ending it stops every container it runs.
        "dockerd" => Some("dockerd (docker's engine)"),
        "containerd" => Some("containerd (a container runtime's daemon)"),
        "pasta" | "passt" => Some("pasta (a rootless container's network)"),
        "slirp4netns" => Some("slirp4netns (a rootless container's network)"),
        e if e.starts_with("containerd-shim") => Some("containerd-shim (a container's monitor)"),
        _ => None,
    }
}

/// What a target was when the plan was made; compared again right before the signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Field 22 of /proc/PID/stat: clock ticks after boot.
    pub start_time: u64,
    /// Real, effective, saved and filesystem uid (/proc/PID/status `Uid:`).
    pub uids: Vec<u32>,
    /// /proc/PID/exe's target (None: unreadable, e.g. a zombie).
    pub exe: Option<String>,
    /// Device and inode of that executable: a program replaced at the same path differs.
    pub exe_dev: Option<u64>,
    pub exe_inode: Option<u64>,
    /// Where the argument block starts (field 48 of /proc/PID/stat): placed anew by every
    /// exec (address space randomisation), so an exec of the same program (an interpreter
    /// running another script) differs too. 0 where the memory layout may not be read.
    #[serde(skip)]
    pub arg_start: Option<u64>,
}

/// `pid`'s identity now, from /proc (call it with a pidfd open, and check the pidfd
/// afterwards: see `kill::signal_one`).
pub fn identity(pid: u32) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    let stat = stat_fields(pid)?;
    let start_time = stat.get(19)?.parse().ok()?;
    let arg_start = stat.get(45).and_then(|x| x.parse().ok());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uids = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let meta = std::fs::metadata(format!("/proc/{pid}/exe")).ok();
    Some(Identity {
        start_time,
        uids,
        exe,
        exe_dev: meta.as_ref().map(|m| m.dev()),
        exe_inode: meta.as_ref().map(|m| m.ino()),
        arg_start,
    })
}

/// What differs between two identities of one PID, for the report; None when nothing.
pub fn difference(then: &Identity, now: &Identity) -> Option<String> {
    let mut d = Vec::new();
    if then.start_time != now.start_time {
        d.push("another process (start time differs: the PID was reused)".to_string());
    }
    if then.uids != now.uids {
        d.push(format!("uid {:?} is now {:?}", then.uids, now.uids));
    }
    if (&then.exe, then.exe_dev, then.exe_inode) != (&now.exe, now.exe_dev, now.exe_inode) {
        d.push(format!(
            "executable {} is now {}",
            then.exe.as_deref().unwrap_or("unknown"),
            now.exe.as_deref().unwrap_or("unknown")
        ));
    }
    if d.is_empty() {
        if let (Some(a), Some(b)) = (then.arg_start, now.arg_start) {
            if a != b && a != 0 && b != 0 {
                d.push(format!(
                    "it exec'd {} again (a new program image: its arguments moved)",
                    now.exe.as_deref().unwrap_or("its executable")
                ));
            }
        }
    }
    (!d.is_empty()).then(|| d.join(", "))
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
    fn nspid_is_the_last_field() {
        assert_eq!(parse_nspid("Name:\tx\nNSpid:\t4242\t17\t1\n"), Some(1));
        assert_eq!(parse_nspid("NSpid:\t4242\n"), Some(4242));
        assert_eq!(parse_nspid("Name:\tx\n"), None);
    }

    #[test]
    fn engine_roles_need_the_executable_and_the_arguments() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let proxy = argv(&[
            "/usr/bin/docker-proxy",
            "-proto",
            "tcp",
            "-host-ip",
            "0.0.0.0",
            "-host-port",
            "8080",
            "-container-ip",
            "172.17.0.2",
            "-container-port",
            "80",
        ]);
        assert!(role_of("docker-proxy", Some("docker-proxy"), &proxy).is_some());
        // A program merely called docker-proxy, or started without a proxy's arguments.
        assert_eq!(role_of("python3", Some("docker-proxy"), &proxy), None);
        assert_eq!(
            role_of("docker-proxy", None, &argv(&["docker-proxy"])),
            None
        );
        let id = "4f1c2d3e4a5b6c7d8e9f00112233445566778899aabbccddeeff001122334455";
        let conmon = argv(&[
            "/usr/bin/conmon",
            "--api-version",
            "1",
            "-c",
            id,
            "-n",
            "web",
        ]);
        assert!(role_of("conmon", Some("conmon"), &conmon).is_some());
        assert_eq!(role_of("conmon", Some("conmon"), &argv(&["conmon"])), None);
        assert!(role_of("podman", Some("rootlessport"), &argv(&["rootlessport"])).is_some());
        assert_eq!(role_of("podman", Some("podman"), &argv(&["podman"])), None);
        assert!(role_of("passt.avx2", Some("pasta"), &argv(&["pasta"])).is_some());
        assert!(role_of("slirp4netns", None, &[]).is_some());
        assert!(role_of("dockerd", Some("dockerd"), &argv(&["dockerd"])).is_some());
        assert!(role_of("containerd", None, &[]).is_some());
        // Named dockerd, running something else: not the engine.
        assert_eq!(
            role_of("python3", Some("dockerd"), &argv(&["dockerd"])),
            None
        );
        assert!(role_of("containerd-shim-runc-v2", None, &[]).is_some());
    }

    #[test]
    fn stop_hints_name_the_engine_command() {
        let mut c = Container {
            runtime: "docker".into(),
            id: "4f1c2d3e4a5b6c7d".into(),
            name: Some("shop-web-1".into()),
            pod: None,
            compose: None,
        };
        assert_eq!(stop_hint(&c).unwrap(), "docker stop shop-web-1");
        c.compose = Some(crate::model::Compose {
            project: "shop".into(),
            service: "web".into(),
        });
        assert_eq!(stop_hint(&c).unwrap(), "docker compose -p shop stop web");
        c.compose = Some(crate::model::Compose {
            project: "x; rm -rf ~".into(),
            service: "it's".into(),
        });
        assert_eq!(
            stop_hint(&c).unwrap(),
            r#"docker compose -p 'x; rm -rf ~' stop 'it'\''s'"#
        );
        c.runtime = "podman".into();
        c.compose = None;
        c.name = None;
        assert_eq!(stop_hint(&c).unwrap(), "podman stop 4f1c2d3e4a5b");
        assert_eq!(label(&c), "podman:4f1c2d3e4a5b");
    }

    #[test]
    fn an_identity_differs_by_exe_uid_or_start() {
        let me = identity(std::process::id()).unwrap();
        assert_eq!(difference(&me, &me), None);
        let mut other = me.clone();
        other.exe_inode = other.exe_inode.map(|i| i + 1);
        assert!(difference(&me, &other).unwrap().starts_with("executable"));
        other = me.clone();
        other.start_time += 1;
        assert!(difference(&me, &other).unwrap().contains("PID was reused"));
        other = me.clone();
        other.uids[1] = other.uids[1].wrapping_add(1);
        assert!(difference(&me, &other).unwrap().starts_with("uid "));
        // The same program exec'd again: a new argument block.
        assert!(me.arg_start.is_some_and(|a| a != 0), "{me:?}");
        other = me.clone();
        other.arg_start = other.arg_start.map(|a| a + 4096);
        assert!(difference(&me, &other).unwrap().starts_with("it exec'd "));
        // Unreadable (0) on either side is no evidence.
        other.arg_start = Some(0);
        assert_eq!(difference(&me, &other), None);
    }

    #[test]
    fn finds_a_socket_we_hold_by_inode() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let st = rustix::fs::fstat(&l).unwrap();
        let me = std::process::id();
        assert!(holds_any(me, &[st.st_ino]));
        assert!(!holds_any(me, &[u64::MAX]));
    }
}
