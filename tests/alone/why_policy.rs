//! `portscope why` for what the kernel refuses before the bind tables: an IPv6 address
//! still tentative (a veth whose peer is down never finishes DAD), and a cgroup BPF bind
//! program that denies every IPv4 bind (what systemd's SocketBindDeny= attaches).
#![cfg(target_os = "linux")]

use crate::common;
use common::*;
use portscope::render::why::Document;
use portscope::why::Evidence;
use std::process::Command;

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_tentative_ipv6_address() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    // The peer stays down: no carrier, so DAD never starts and the address stays tentative.
    if !ip(&[
        "link", "add", "why0", "type", "veth", "peer", "name", "why1",
    ]) || !ip(&["link", "set", "why0", "up"])
        || !ip(&["addr", "add", "fd00::1/64", "dev", "why0"])
    {
        skip("cannot make a veth pair with `ip` here");
        return;
    }
    let out = portscope()
        .args(["why", "--json", "[fd00::1]:8080"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let d: Document = serde_json::from_slice(&out.stdout).unwrap();
    let r = &d.results[0];
    assert_eq!(r.errno.as_ref().unwrap().name, "EADDRNOTAVAIL");
    let rules: Vec<&str> = r.reasons.iter().map(|x| x.rule.as_str()).collect();
    assert_eq!(rules, ["ipv6_tentative"]);
    let Evidence::Interfaces { addresses } = &r.reasons[0].evidence[0] else {
        panic!("{r:#?}");
    };
    assert_eq!(addresses.len(), 1);
    assert_eq!(
        (
            addresses[0].interface.as_str(),
            addresses[0].address.to_string(),
            addresses[0].tentative
        ),
        ("why0", "fd00::1".to_string(), true)
    );
    assert!(r.reasons[0].fix.starts_with("wait for DAD"));
    // IP_FREEBIND binds it all the same.
    let out = portscope()
        .args(["why", "--freebind", "[fd00::1]:8080"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

/// A cgroup v2 directory made for one test, with a deny-all inet4 bind program attached;
/// removed (and so the program detached) on drop.
struct DenyingCgroup {
    dir: String,
    prog: libc::c_int,
}

fn cgroup2_mount() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split_whitespace().next() == Some("cgroup2"))
            .then(|| left.split_whitespace().nth(4).map(str::to_string))?
    })
}

fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> libc::c_long {
    // SAFETY: bpf(2) with an attribute buffer of its stated size, zero where unused.
    unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) }
}

impl DenyingCgroup {
    fn new() -> Result<DenyingCgroup, String> {
        let mount = cgroup2_mount().ok_or("no cgroup2 file system")?;
        let dir = format!("{mount}/portscope-why-test-{}", std::process::id());
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
        let mut cg = DenyingCgroup { dir, prog: -1 };
        // r0 = 0 (deny); exit.
        let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
        let license = c"GPL";
        let mut load = [0u8; 72];
        load[0..4].copy_from_slice(&18u32.to_ne_bytes()); // BPF_PROG_TYPE_CGROUP_SOCK_ADDR
        load[4..8].copy_from_slice(&2u32.to_ne_bytes());
        load[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
        load[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
        load[68..72].copy_from_slice(&8u32.to_ne_bytes()); // BPF_CGROUP_INET4_BIND
        let fd = bpf(5, &mut load); // BPF_PROG_LOAD
        if fd < 0 {
            return Err(format!(
                "BPF_PROG_LOAD: {}",
                std::io::Error::last_os_error()
            ));
        }
        cg.prog = fd as libc::c_int;
        let c = std::ffi::CString::new(cg.dir.as_str()).unwrap();
        // SAFETY: opening a directory read-only; closed below.
        let dfd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
        let mut attach = [0u8; 16];
        attach[0..4].copy_from_slice(&(dfd as u32).to_ne_bytes());
        attach[4..8].copy_from_slice(&(cg.prog as u32).to_ne_bytes());
        attach[8..12].copy_from_slice(&8u32.to_ne_bytes());
        let rc = bpf(8, &mut attach); // BPF_PROG_ATTACH
        let err = std::io::Error::last_os_error();
        // SAFETY: our own descriptor.
        unsafe { libc::close(dfd) };
        if rc != 0 {
            return Err(format!("BPF_PROG_ATTACH: {err}"));
        }
        Ok(cg)
    }

    /// The cgroup's path as /proc/PID/cgroup shows it.
    fn path(&self) -> String {
        format!("/portscope-why-test-{}", std::process::id())
    }
}

impl Drop for DenyingCgroup {
    fn drop(&mut self) {
        // SAFETY: our own program descriptor.
        unsafe { libc::close(self.prog) };
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[test]
fn a_cgroup_bind_program_that_denies() {
    let _s = serial();
    if !quiet_netns() {
        return;
    }
    let cg = match DenyingCgroup::new() {
        Ok(c) => c,
        Err(e) => {
            skip(&format!("cannot attach a cgroup bind program: {e}"));
            return;
        }
    };
    // The shell moves itself into the cgroup, then becomes portscope.
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec {} why --json 127.0.0.1:8080 '[::1]:8080'",
        cg.dir,
        bin_path()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let d: Document = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {err}"));
    let want = format!(
        "cgroup {}: 1 inet4 and 0 inet6 bind program(s) in effect",
        cg.path()
    );
    drop(cg);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let r = &d.results[0];
    assert_eq!(r.errno.as_ref().unwrap().name, "EPERM");
    let rules: Vec<&str> = r.reasons.iter().map(|x| x.rule.as_str()).collect();
    assert_eq!(rules, ["bind_policy"]);
    assert_eq!(r.reasons[0].evidence[0], Evidence::Note { text: want });
    assert!(r.reasons[0].detail.contains("cgroup BPF bind program"));
    // IPv6 binds are not hooked: that one works.
    assert!(d.results[1].bindable, "{:#?}", d.results[1]);
}
