//! The table in a real terminal: tmux panes 40, 80 and 160 columns wide, so the width comes
//! from the tty as it does for a person, and TERM=dumb gets no colour.
#![cfg(target_os = "linux")]

use crate::common;
use common::*;
use std::process::Command;

/// A private tmux server (its own socket), so the panes run in this test's network
/// namespace and nothing of the user's tmux is touched; killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start() -> Option<Tmux> {
        match Command::new("tmux").arg("-V").output() {
            Ok(o) if o.status.success() => {}
            _ => {
                skip("tmux is not installed (apt-get install tmux)");
                return None;
            }
        }
        let t = Tmux {
            // One server per test: two tests in this binary run at once.
            socket: {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                format!("portscope-test-{}-{n}", std::process::id())
            },
        };
        // A session that outlives every pane: killing a pane's session must not make the
        // server exit while the next one starts ("server exited unexpectedly").
        t.tmux(&["new-session", "-d", "-s", "keep", "exec sleep 600"]);
        Some(t)
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        out
    }

    /// Runs `sh_cmd` in a fresh pane `width` columns wide and returns the screen, without
    /// trailing blank lines; `escapes` keeps the colour codes (capture-pane -e).
    fn screen(&self, width: u16, sh_cmd: &str, escapes: bool) -> String {
        // Readiness: the pane signals the channel once the command is done, then idles
        // so the screen stays to be captured.
        let script = format!(
            "{sh_cmd}; tmux -L {} wait-for -S done; exec sleep 60",
            self.socket
        );
        let w = width.to_string();
        self.tmux(&[
            "new-session",
            "-d",
            "-s",
            "pane",
            "-x",
            &w,
            "-y",
            "50",
            &script,
        ]);
        self.tmux(&["wait-for", "done"]);
        // No -J: a line the terminal wrapped must show as two.
        let mut capture = vec!["capture-pane", "-p", "-t", "pane"];
        if escapes {
            capture.push("-e");
        }
        let text = String::from_utf8(self.tmux(&capture).stdout).unwrap();
        self.tmux(&["kill-session", "-t", "pane"]);
        text.trim_end_matches('\n').to_string() + "\n"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// Whitespace-separated words of each line, for rows whose column widths depend on PIDs.
fn words(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// The rows without one column (by its header word), where the table kept it.
fn without(mut rows: Vec<Vec<String>>, header: &str) -> Vec<Vec<String>> {
    if let Some(i) = rows
        .first()
        .and_then(|h| h.iter().position(|c| c == header))
    {
        // Headers of two words ("LOCAL ADDRESS") shift the index by one in data rows.
        let two_word = rows[0][..i].iter().filter(|c| *c == "ADDRESS").count();
        rows[0].remove(i);
        for r in rows.iter_mut().skip(1) {
            r.remove(i - two_word);
        }
    }
    rows
}

fn w(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

#[test]
fn table_fits_real_terminals_without_breaking_cells() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let Some(tmux) = Tmux::start() else { return };
    let l = Listener::start(&["127.0.0.1:8080", "[::1]:8081", "--fork"]);
    let pids = format!("{},{}", l.opened[0].pids[0], l.opened[0].pids[1]);
    let client = std::net::TcpStream::connect("127.0.0.1:8080").unwrap();
    let cport = client.local_addr().unwrap().port();
    let cclass = if cport >= 49152 {
        "dynamic,eph"
    } else {
        "registered,eph"
    };
    let cport = cport.to_string();
    let me = std::process::id().to_string();
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    let comm = comm.trim_end();
    let bin = bin_path();
    let screen = |width: u16, args: &str| {
        let text = tmux.screen(
            width,
            &format!("env -u NO_COLOR {bin} {args} 2>/dev/null"),
            false,
        );
        for line in text.lines() {
            assert!(
                line.chars().count() <= usize::from(width),
                "{width}: {line:?}\n{text}"
            );
        }
        text
    };

    // 160: every column, one line per socket.
    let text = screen(160, "list -a -n");
    assert_eq!(
        words(&text),
        vec![
            w(&[
                "PROTO", "LOCAL", "ADDRESS", "PORT", "REMOTE", "SERVICE", "CLASS", "STATE",
                "RECV-Q", "SEND-Q", "PID", "PROCESS", "USER"
            ]),
            w(&[
                "tcp",
                "127.0.0.1",
                "8080",
                "*",
                "-",
                "registered",
                "listen",
                "1",
                "128",
                &pids,
                "portscope",
                "root"
            ]),
            w(&[
                "tcp",
                "127.0.0.1",
                "8080",
                &format!("127.0.0.1:{cport}"),
                "-",
                "registered",
                "established",
                "0",
                "0",
                "-",
                "-",
                "-"
            ]),
            w(&[
                "tcp6",
                "[::1]",
                "8081",
                "*",
                "-",
                "registered",
                "listen",
                "0",
                "128",
                &pids,
                "portscope",
                "root"
            ]),
            w(&[
                "tcp",
                "127.0.0.1",
                &cport,
                "127.0.0.1:8080",
                "-",
                cclass,
                "established",
                "0",
                "0",
                &me,
                comm,
                "root"
            ]),
        ],
        "{text}"
    );

    // 80, listening view: CLASS and SEND-Q go (RECV-Q too when the PIDs are long: this
    // host's PID digits decide that last column); nothing is cut.
    let text = screen(80, "list -n");
    assert_eq!(
        without(words(&text), "RECV-Q"),
        vec![
            w(
                &[
                    "PROTO", "LOCAL", "ADDRESS", "PORT", "SERVICE", "STATE", "PID", "PROCESS",
                    "USER"
                ]
            ),
            w(&[
                "tcp",
                "127.0.0.1",
                "8080",
                "-",
                "listen",
                &pids,
                "portscope",
                "root"
            ]),
            w(&[
                "tcp6",
                "[::1]",
                "8081",
                "-",
                "listen",
                &pids,
                "portscope",
                "root"
            ]),
        ],
        "{text}"
    );

    // 80, every state: the remote ends stay whole; SERVICE and USER go, PROCESS may be cut.
    let text = screen(80, "list -a -n");
    let rows = words(&text);
    assert_eq!(
        rows[0],
        w(&["PROTO", "LOCAL", "ADDRESS", "PORT", "REMOTE", "STATE", "PID", "PROCESS"]),
        "{text}"
    );
    assert_eq!(rows.len(), 5, "{text}");
    assert_eq!(
        rows[4][..5],
        w(&["tcp", "127.0.0.1", &cport, "127.0.0.1:8080", "established"])
    );
    let cut = &rows[1][6];
    assert!(
        cut == "portscope"
            || (cut.ends_with('…') && "portscope".starts_with(cut.trim_end_matches('…'))),
        "{text}"
    );

    // 40: nothing fits, so one field per line.
    let text = screen(40, "list -n");
    let record = |proto: &str, addr: &str, port: &str, recvq: &str| {
        format!(
            "PROTO          {proto}\nLOCAL ADDRESS  {addr}\nPORT           {port}\n\
             SERVICE        -\nCLASS          registered\nSTATE          listen\n\
             RECV-Q         {recvq}\nSEND-Q         128\nPID            {pids}\n\
             PROCESS        portscope\nUSER           root\n"
        )
    };
    assert_eq!(
        text,
        format!(
            "{}\n{}",
            record("tcp", "127.0.0.1", "8080", "1"),
            record("tcp6", "[::1]", "8081", "0")
        )
    );
    drop(client);
}

/// TERM=dumb: a terminal that cannot show colour gets none (it got SGR codes before).
#[test]
fn term_dumb_gets_no_colour_in_a_real_terminal() {
    let _serial = serial();
    if !quiet_netns() {
        return;
    }
    let Some(tmux) = Tmux::start() else { return };
    let _l = Listener::start(&["127.0.0.1:8080"]);
    let bin = bin_path();
    let coloured = tmux.screen(100, &format!("env -u NO_COLOR TERM=xterm {bin} list"), true);
    assert!(
        coloured.contains('\x1b'),
        "colour on an ordinary terminal: {coloured:?}"
    );
    let dumb = tmux.screen(100, &format!("env -u NO_COLOR TERM=dumb {bin} list"), true);
    assert!(!dumb.contains('\x1b'), "{dumb:?}");
    assert!(dumb.starts_with("PROTO  LOCAL ADDRESS"), "{dumb}");
}
