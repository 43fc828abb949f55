//! Collect stage, Linux: socket activation, best effort — which `.socket` unit configures a
//! listener that PID 1 (systemd) holds, from the unit files' `ListenStream=` /
//! `ListenDatagram=` lines; a unit systemd has started this boot (its
//! `/run/systemd/units/invocation:NAME` link) is preferred over one that only exists on disk.

use super::Roots;
use crate::model::Protocol;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// One address a socket unit listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listen {
    protocol: Protocol,
    /// None: a port alone, which systemd binds on every address.
    ip: Option<IpAddr>,
    port: u16,
}

/// The .socket units found on disk with their listening addresses.
#[derive(Debug, Default)]
pub struct SocketUnits {
    /// Unit name → (started this boot, addresses).
    units: BTreeMap<String, (bool, Vec<Listen>)>,
}

/// The .socket unit that listens on `local` for `proto` (see [`SocketUnits`]).
pub fn socket_unit(roots: &Roots, proto: Protocol, local: SocketAddr) -> Option<String> {
    SocketUnits::load(roots).find(proto, local)
}

impl SocketUnits {
    /// Reads every `*.socket` in the unit directories (the first directory naming a unit
    /// wins, as in systemd) and its `NAME.socket.d/*.conf` drop-ins from all of them.
    pub fn load(roots: &Roots) -> SocketUnits {
        let mut files: BTreeMap<String, std::path::PathBuf> = BTreeMap::new();
        for dir in &roots.unit_dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // Templates (foo@.socket) listen only through instances with specifiers.
                if name.ends_with(".socket") && !name.contains("@.") {
                    files.entry(name).or_insert_with(|| e.path());
                }
            }
        }
        let mut units = BTreeMap::new();
        for (name, path) in files {
            let mut listens = Vec::new();
            parse_into(&path, &mut listens);
            let mut dropins: BTreeMap<String, std::path::PathBuf> = BTreeMap::new();
            for dir in &roots.unit_dirs {
                let Ok(entries) = std::fs::read_dir(dir.join(format!("{name}.d"))) else {
                    continue;
                };
                for e in entries.flatten() {
                    let f = e.file_name().to_string_lossy().into_owned();
                    if f.ends_with(".conf") {
                        dropins.entry(f).or_insert_with(|| e.path());
                    }
                }
            }
            for path in dropins.values() {
                parse_into(path, &mut listens);
            }
            let started = std::fs::symlink_metadata(
                roots
                    .run_systemd
                    .join("units")
                    .join(format!("invocation:{name}")),
            )
            .is_ok();
            if !listens.is_empty() {
                units.insert(name, (started, listens));
            }
        }
        SocketUnits { units }
    }

    /// The unit listening on `local`: a started one first, then by name.
    pub fn find(&self, proto: Protocol, local: SocketAddr) -> Option<String> {
        let hits = |want_started: bool| {
            self.units.iter().find_map(|(name, (started, listens))| {
                let hit = *started == want_started
                    && listens.iter().any(|l| {
                        l.protocol == proto
                            && l.port == local.port()
                            && l.ip
                                .map_or(local.ip().is_unspecified(), |ip| ip == local.ip())
                    });
                hit.then(|| name.clone())
            })
        };
        hits(true).or_else(|| hits(false))
    }
}

fn parse_into(path: &Path, listens: &mut Vec<Listen>) {
    if let Ok(text) = std::fs::read_to_string(path) {
        parse_unit(&text, listens);
    }
}

/// The `[Socket]` section's Listen lines; an empty assignment resets the list, as in
/// systemd (drop-ins use it to replace the addresses).
fn parse_unit(text: &str, listens: &mut Vec<Listen>) {
    let mut in_socket = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_socket = line == "[Socket]";
            continue;
        }
        if !in_socket || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let protocol = match key.trim() {
            "ListenStream" => Protocol::Tcp,
            "ListenDatagram" => Protocol::Udp,
            _ => continue,
        };
        let value = value.trim();
        if value.is_empty() {
            listens.clear();
            continue;
        }
        if let Some((ip, port)) = parse_listen(value) {
            listens.push(Listen { protocol, ip, port });
        }
    }
}

/// `80`, `127.0.0.1:80`, `[::1]:80`; None for paths, abstract names, vsock and specifiers.
fn parse_listen(v: &str) -> Option<(Option<IpAddr>, u16)> {
    if v.contains('%') {
        return None;
    }
    if let Ok(port) = v.parse::<u16>() {
        return (port != 0).then_some((None, port));
    }
    let sa: SocketAddr = v.parse().ok()?;
    Some((Some(sa.ip()), sa.port()))
}

#[cfg(test)]
mod tests {
    use super::super::engines::tests_support::temp_dir;
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn listen_values() {
        assert_eq!(parse_listen("22"), Some((None, 22)));
        assert_eq!(
            parse_listen("127.0.0.1:631"),
            Some((Some("127.0.0.1".parse().unwrap()), 631))
        );
        assert_eq!(
            parse_listen("[::1]:8080"),
            Some((Some("::1".parse().unwrap()), 8080))
        );
        assert_eq!(parse_listen("/run/foo.sock"), None);
        assert_eq!(parse_listen("@abstract"), None);
        assert_eq!(parse_listen("vsock:2:1234"), None);
        assert_eq!(parse_listen("%t/foo.sock"), None);
    }

    #[test]
    fn units_drop_ins_and_started_marks_from_a_fake_root() {
        let dir = temp_dir("activation");
        let roots = Roots::under(&dir);
        let lib = dir.join("lib/systemd/system");
        let etc = dir.join("etc/systemd/system");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::create_dir_all(etc.join("cups.socket.d")).unwrap();
        std::fs::create_dir_all(dir.join("run/systemd/units")).unwrap();
        std::fs::write(
            lib.join("ssh.socket"),
            "[Unit]\nDescription=ssh\n[Socket]\nListenStream=22\nAccept=yes\n",
        )
        .unwrap();
        // An older, stopped unit on the same port loses to the started one.
        std::fs::write(lib.join("a-old.socket"), "[Socket]\nListenStream=22\n").unwrap();
        std::fs::write(
            lib.join("cups.socket"),
            "[Socket]\nListenStream=/run/cups/cups.sock\nListenStream=[::1]:631\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("cups.socket.d/override.conf"),
            "[Socket]\nListenStream=\nListenStream=127.0.0.1:631\nListenDatagram=0.0.0.0:631\n",
        )
        .unwrap();
        // /etc overrides /lib entirely for the same name.
        std::fs::write(lib.join("dns.socket"), "[Socket]\nListenDatagram=53\n").unwrap();
        std::fs::write(etc.join("dns.socket"), "[Socket]\nListenDatagram=5353\n").unwrap();
        std::fs::write(lib.join("tpl@.socket"), "[Socket]\nListenStream=7\n").unwrap();
        std::os::unix::fs::symlink("abc", dir.join("run/systemd/units/invocation:ssh.socket"))
            .unwrap();

        let u = SocketUnits::load(&roots);
        let find = |p, a: &str| u.find(p, sa(a));
        assert_eq!(
            find(Protocol::Tcp, "[::]:22").as_deref(),
            Some("ssh.socket")
        );
        assert_eq!(
            find(Protocol::Tcp, "0.0.0.0:22").as_deref(),
            Some("ssh.socket")
        );
        assert_eq!(find(Protocol::Tcp, "127.0.0.1:22"), None);
        assert_eq!(find(Protocol::Udp, "[::]:22"), None);
        assert_eq!(find(Protocol::Tcp, "[::1]:631"), None); // reset by the drop-in
        assert_eq!(
            find(Protocol::Tcp, "127.0.0.1:631").as_deref(),
            Some("cups.socket")
        );
        assert_eq!(
            find(Protocol::Udp, "0.0.0.0:631").as_deref(),
            Some("cups.socket")
        );
        assert_eq!(find(Protocol::Udp, "[::]:53"), None);
        assert_eq!(
            find(Protocol::Udp, "[::]:5353").as_deref(),
            Some("dns.socket")
        );
        assert_eq!(find(Protocol::Tcp, "[::]:7"), None);
        // Without the start mark, the stopped unit is the only candidate.
        std::fs::remove_file(dir.join("run/systemd/units/invocation:ssh.socket")).unwrap();
        let u = SocketUnits::load(&roots);
        assert_eq!(
            u.find(Protocol::Tcp, sa("[::]:22")).as_deref(),
            Some("a-old.socket")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
