//! Errors that name the value, the cause and the owner: `listen` on v4-mapped addresses
//! and on ports held by connections, address lists in a SPEC, `verify` out of descriptors.
#![cfg(target_os = "linux")]

use crate::common;
use common::*;
use std::os::unix::process::CommandExt;

#[test]
fn listen_on_a_v4_mapped_address_is_not_forced_v6_only() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    // Was "Invalid argument (os error 22)": V6ONLY was set on a v4-mapped address.
    let l = Listener::start(&["[::ffff:127.0.0.1]:0"]);
    let o = &l.opened[0];
    assert_eq!(o.address.to_string(), "::ffff:127.0.0.1");
    assert_eq!(o.v6only, Some(false));
    // It is IPv4 to the kernel: an IPv4 SPEC finds it, and the IPv4 bind collides.
    let port = o.port;
    let (code, out, _) = run(&["who", "-q", &format!("127.0.0.1:{port}")]);
    assert_eq!((code, out), (0, format!("{}\n", l.pid())));
    let (code, _, err) = run(&["listen", &format!("127.0.0.1:{port}"), "--for", "0s"]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("(pid {})", l.pid())), "{err}");
}

#[test]
fn address_list_in_one_spec_names_the_value_and_the_cause() {
    let _serial = serial();
    for args in [
        &["list", "-p", "1.2.3.4:80,5.6.7.8:90"][..],
        &["who", "1.2.3.4:80,5.6.7.8:90"],
        &["listen", "1.2.3.4:80,5.6.7.8:90"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}");
        assert!(
            err.starts_with(
                "portscope: invalid port '1.2.3.4:80,5.6.7.8:90': one address per SPEC: \
                 a comma list shares it (ADDR:80,443); give each other address its own SPEC;"
            ),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("brackets"), "{err}");
    }
}

#[test]
fn listen_on_a_port_held_only_by_a_connection_names_the_owner() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let server = Listener::start(&["0"]);
    let client = std::net::TcpStream::connect(("127.0.0.1", server.port(0))).unwrap();
    let cport = client.local_addr().unwrap().port();
    // Only the client's established socket has this local port.
    let (code, _, err) = run(&["listen", &format!("127.0.0.1:{cport}"), "--for", "0s"]);
    assert_eq!(code, 2, "{err}");
    let me = std::process::id();
    assert!(
        err.starts_with(&format!(
            "portscope: cannot listen on '127.0.0.1:{cport}/tcp': Address already in use \
             (os error 98), held by "
        )),
        "{err}"
    );
    assert!(err.ends_with(&format!(" (pid {me})\n")), "{err}");
    drop(client);
}

/// `verify` under a small RLIMIT_NOFILE printed only "Too many open files": every limit
/// that stops it in portscope's own socket code must name the step that failed.
#[test]
fn verify_out_of_descriptors_names_the_failed_step() {
    let _serial = serial();
    let mut seen = Vec::new();
    for limit in 4..=24u64 {
        let mut cmd = std::process::Command::new(bin_path());
        cmd.arg("verify");
        // SAFETY: setrlimit only, between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let r = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.code() == Some(2) {
            seen.push(err);
        }
    }
    let named = |what: &str| seen.iter().any(|e| e.contains(what));
    assert!(
        named("cannot open test socket '[::1]:0/tcp': creating the socket: Too many open files"),
        "{seen:#?}"
    );
    assert!(
        named(
            "cannot fork a process to share the test sockets: creating a pipe: \
             Too many open files"
        ),
        "{seen:#?}"
    );
}
