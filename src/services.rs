//! Classification data: service names for ports, from the system's services database
//! (/etc/services) with a built-in table of common assignments where that is missing.

use crate::model::Protocol;
use std::collections::HashMap;
use std::str::SplitWhitespace;
use std::sync::OnceLock;

/// Common IANA assignments, used only when /etc/services cannot be read.
const BUILTIN: &[(&str, u16, &[Protocol])] = {
    use Protocol::{Tcp as T, Udp as U};
    &[
        ("ftp-data", 20, &[T]),
        ("ftp", 21, &[T]),
        ("ssh", 22, &[T]),
        ("telnet", 23, &[T]),
        ("smtp", 25, &[T]),
        ("domain", 53, &[T, U]),
        ("bootps", 67, &[U]),
        ("bootpc", 68, &[U]),
        ("tftp", 69, &[U]),
        ("http", 80, &[T]),
        ("kerberos", 88, &[T, U]),
        ("pop3", 110, &[T]),
        ("sunrpc", 111, &[T, U]),
        ("ntp", 123, &[U]),
        ("netbios-ns", 137, &[U]),
        ("netbios-dgm", 138, &[U]),
        ("netbios-ssn", 139, &[T]),
        ("imap2", 143, &[T]),
        ("snmp", 161, &[T, U]),
        ("ldap", 389, &[T]),
        ("https", 443, &[T, U]),
        ("microsoft-ds", 445, &[T]),
        ("submissions", 465, &[T]),
        ("syslog", 514, &[U]),
        ("submission", 587, &[T]),
        ("ipp", 631, &[T]),
        ("ldaps", 636, &[T]),
        ("domain-s", 853, &[T, U]),
        ("rsync", 873, &[T]),
        ("imaps", 993, &[T]),
        ("pop3s", 995, &[T]),
        ("socks", 1080, &[T]),
        ("openvpn", 1194, &[T, U]),
        ("ms-sql-s", 1433, &[T]),
        ("mqtt", 1883, &[T]),
        ("nfs", 2049, &[T, U]),
        ("mysql", 3306, &[T]),
        ("ms-wbt-server", 3389, &[T]),
        ("sip", 5060, &[T, U]),
        ("amqp", 5672, &[T]),
        ("postgresql", 5432, &[T]),
        ("mdns", 5353, &[U]),
        ("x11", 6000, &[T]),
        ("redis", 6379, &[T]),
        ("http-alt", 8080, &[T]),
        ("memcache", 11211, &[T, U]),
        ("mongodb", 27017, &[T]),
    ]
};

/// Port ↔ name lookups for one services database. Port → name is what every listing
/// needs, so only that is indexed when the database is read (one pass, no allocation per
/// entry); name → ports (SPECs such as `who http`) is built on its first use.
#[derive(Debug, Default, Clone)]
pub struct Services {
    text: String,
    /// (protocol, port) → the byte range of its canonical name in `text`, sorted.
    by_port: Vec<((Protocol, u16), (usize, usize))>,
    by_name: OnceLock<HashMap<String, Vec<(Protocol, u16)>>>,
}

/// Each services(5) entry of `text`: `name port/proto [aliases...] [# comment]`, with the
/// offset of its name in `text`; lines that do not parse are skipped.
fn entries(text: &str) -> impl Iterator<Item = (usize, &str, Protocol, u16, SplitWhitespace<'_>)> {
    text.lines().filter_map(move |line| {
        let (name, proto, port, words) = entry(line)?;
        let at = name.as_ptr() as usize - text.as_ptr() as usize;
        Some((at, name, proto, port, words))
    })
}

/// One line of services(5): name, protocol, port and the aliases; None for a comment, a
/// blank line or one that does not parse.
fn entry(line: &str) -> Option<(&str, Protocol, u16, SplitWhitespace<'_>)> {
    let line = line.split('#').next().unwrap_or("");
    let mut words = line.split_whitespace();
    let (name, pp) = (words.next()?, words.next()?);
    let (port, proto) = pp.split_once('/')?;
    let proto = protocol(proto.as_bytes())?;
    let port = port.parse::<u16>().ok()?;
    Some((name, proto, port, words))
}

fn protocol(word: &[u8]) -> Option<Protocol> {
    if word.eq_ignore_ascii_case(b"tcp") {
        Some(Protocol::Tcp)
    } else if word.eq_ignore_ascii_case(b"udp") {
        Some(Protocol::Udp)
    } else {
        None
    }
}

/// The port index of `text`: (protocol, port) and the byte range of the name, in file
/// order. The same entries as [`entries`], read by bytes: an ASCII line's whitespace is
/// exactly the bytes below (what `split_whitespace` takes in ASCII), and any other line
/// goes through [`entry`]. Debian's 12 KB file: ~90 µs by `entries`, a fraction by bytes;
/// every `list` reads it.
fn port_index(text: &str) -> Vec<((Protocol, u16), (usize, usize))> {
    let bytes = text.as_bytes();
    let all_ascii = bytes.is_ascii();
    let mut out = Vec::with_capacity(bytes.len() / 40);
    let mut at = 0;
    // One pass by hand: the file is read on every `list`, and splitting each line four
    // times cost ~50 µs of a 3 ms run. (core's searches, not the memchr crate's: its
    // first call detects the CPU with cpuid, which traps to the hypervisor in a VM.)
    while at < bytes.len() {
        let end = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |n| at + n);
        let line = &bytes[at..end];
        let found = if all_ascii || line.is_ascii() {
            ascii_entry(line)
                .map(|((proto, port), (from, to))| ((proto, port), (at + from, at + to)))
        } else {
            text.get(at..end)
                .and_then(entry)
                .map(|(name, proto, port, _)| {
                    let from = name.as_ptr() as usize - text.as_ptr() as usize;
                    ((proto, port), (from, from + name.len()))
                })
        };
        out.extend(found);
        at = end + 1;
    }
    out
}

/// [`entry`] for an ASCII line, by bytes: its whitespace is exactly what
/// `split_whitespace` takes in ASCII, and '#' ends the words as `split('#')` does.
/// (protocol, port) and the name's byte range in the line.
fn ascii_entry(line: &[u8]) -> Option<((Protocol, u16), (usize, usize))> {
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut words = [(0, 0); 2];
    let mut i = 0;
    for w in &mut words {
        while i < line.len() && space(line[i]) {
            i += 1;
        }
        let start = i;
        while i < line.len() && !space(line[i]) && line[i] != b'#' {
            i += 1;
        }
        if i == start {
            return None;
        }
        *w = (start, i);
    }
    let pp = &line[words[1].0..words[1].1];
    let slash = pp.iter().position(|&b| b == b'/')?;
    let proto = protocol(&pp[slash + 1..])?;
    // ASCII, so valid UTF-8: parsed as `entry` parses (a leading '+' too).
    let port = std::str::from_utf8(&pp[..slash])
        .ok()?
        .parse::<u16>()
        .ok()?;
    Some(((proto, port), words[0]))
}

impl Services {
    /// The system database, or the built-in table when it is missing or empty; read once
    /// per process, however many SPECs and sockets ask.
    pub fn system() -> &'static Services {
        static SYSTEM: OnceLock<Services> = OnceLock::new();
        SYSTEM.get_or_init(Services::load)
    }

    fn load() -> Services {
        match std::fs::read_to_string("/etc/services") {
            Ok(text) => {
                let s = Services::parse(text);
                if s.by_port.is_empty() {
                    Services::builtin()
                } else {
                    s
                }
            }
            Err(_) => Services::builtin(),
        }
    }

    pub fn builtin() -> Services {
        let mut text = String::new();
        for (name, port, protos) in BUILTIN {
            for p in *protos {
                text.push_str(&format!("{name} {port}/{p}\n"));
            }
        }
        Services::parse(text)
    }

    /// Parses services(5) text: `name port/proto [aliases...] [# comment]`.
    pub fn parse(text: impl Into<String>) -> Services {
        let text = text.into();
        let mut by_port = port_index(&text);
        // The first name listed for a port is its canonical one: a stable sort keeps the
        // file's order among equal keys, and dedup keeps the first.
        by_port.sort_by_key(|&(k, _)| k);
        by_port.dedup_by_key(|&mut (k, _)| k);
        Services {
            text,
            by_port,
            by_name: OnceLock::new(),
        }
    }

    pub fn name_of(&self, proto: Protocol, port: u16) -> Option<&str> {
        let i = self
            .by_port
            .binary_search_by_key(&(proto, port), |&(k, _)| k)
            .ok()?;
        let (from, to) = self.by_port[i].1;
        Some(&self.text[from..to])
    }

    /// Every (protocol, port) a service name (or alias) stands for, case-insensitive.
    pub fn lookup(&self, name: &str) -> &[(Protocol, u16)] {
        self.by_name
            .get_or_init(|| {
                let mut m: HashMap<String, Vec<(Protocol, u16)>> = HashMap::new();
                for (_, name, proto, port, aliases) in entries(&self.text) {
                    for n in std::iter::once(name).chain(aliases) {
                        let v = m.entry(n.to_ascii_lowercase()).or_default();
                        if !v.contains(&(proto, port)) {
                            v.push((proto, port));
                        }
                    }
                }
                m
            })
            .get(&name.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# comment line
ssh\t\t22/tcp\t\t\t\t# SSH Remote Login Protocol
domain\t\t53/tcp
domain\t\t53/udp
http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP
www-alt\t\t80/tcp
broken line
bad\t\t99999/tcp
odd\t\t7/sctp
";

    #[test]
    fn parses_names_aliases_and_protocols() {
        let s = Services::parse(SAMPLE);
        assert_eq!(s.name_of(Protocol::Tcp, 22), Some("ssh"));
        assert_eq!(s.name_of(Protocol::Udp, 22), None);
        assert_eq!(s.name_of(Protocol::Udp, 53), Some("domain"));
        // first name for a port wins
        assert_eq!(s.name_of(Protocol::Tcp, 80), Some("http"));
        assert_eq!(s.lookup("WWW"), &[(Protocol::Tcp, 80)]);
        assert_eq!(
            s.lookup("domain"),
            &[(Protocol::Tcp, 53), (Protocol::Udp, 53)]
        );
        assert!(s.lookup("bad").is_empty());
        assert!(s.lookup("odd").is_empty());
    }

    /// The byte-wise index finds exactly the entries the line-by-line reading does,
    /// name ranges included: on services-like lines with every kind of whitespace, a
    /// leading '+', comments, other protocols and non-ASCII text.
    fn same_as_entries(text: &str) {
        let slow: Vec<_> = entries(text)
            .map(|(at, name, proto, port, _)| ((proto, port), (at, at + name.len())))
            .collect();
        assert_eq!(port_index(text), slow, "{text:?}");
    }

    #[test]
    fn port_index_reads_what_entries_reads() {
        same_as_entries(SAMPLE);
        same_as_entries("a +80/tcp\r\nb\x0b81/UDP\x0cx\n\u{a0}c 82/tcp\nd\u{a0}83/tcp e\n");
        same_as_entries("é 84/tcp\n#x 85/tcp\nf 86/tcp#c\ng 87/tcp/x\nh 65536/tcp\ni /tcp\nj");
        if let Ok(text) = std::fs::read_to_string("/etc/services") {
            same_as_entries(&text);
        }
    }

    proptest::proptest! {
        #[test]
        fn port_index_agrees_on_any_text(
            lines in proptest::collection::vec(
                "[a-z\u{e9}#+ \t\r\x0b\x0c\u{a0}\u{2003}]{0,6}[0-9+]{0,6}/?(tcp|udp|UDP|sctp|)[ \ta-z#]{0,6}",
                0..12,
            )
        ) {
            same_as_entries(&lines.join("\n"));
        }
    }

    #[test]
    fn builtin_table_has_common_services() {
        let s = Services::builtin();
        assert_eq!(s.name_of(Protocol::Tcp, 443), Some("https"));
        assert_eq!(s.lookup("postgresql"), &[(Protocol::Tcp, 5432)]);
        assert_eq!(s.name_of(Protocol::Tcp, 8080), Some("http-alt"));
    }
}
