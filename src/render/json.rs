//! Render stage: the versioned JSON document, only through serde, streamed into the writer.

use crate::model::{Publication, Socket, Sources};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// Raised only when a field is renamed or removed; additions keep the version.
pub const SCHEMA_VERSION: u32 = 1;

/// The `list --json` / `who --json` document, as written.
#[derive(Serialize)]
struct DocumentRef<'a> {
    schema_version: u32,
    sources: Sources,
    sockets: &'a [Socket],
    #[serde(skip_serializing_if = "<[Publication]>::is_empty")]
    published: &'a [Publication],
    warnings: &'a [String],
}

/// The same document, owned, for readers (and tests) that deserialize it strictly.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub schema_version: u32,
    /// Which backends ran (added in 0.2, so absent from older schema-1 documents).
    #[serde(default)]
    pub sources: Option<Sources>,
    pub sockets: Vec<Socket>,
    /// `who`: published host ports followed to their containers (absent when none).
    #[serde(default)]
    pub published: Vec<Publication>,
    pub warnings: Vec<String>,
}

/// From this many sockets a compact document is written by two threads taking turns by
/// chunk (~0.8 µs a socket; a thread costs ~50 µs to start).
const SPLIT_MIN_SOCKETS: usize = 2_000;
/// Sockets per chunk (~150 KiB of JSON): the second thread runs at most `AHEAD` chunks
/// ahead, so memory stays bounded whatever the socket count.
const CHUNK: usize = 256;
const AHEAD: usize = 3;

pub fn write_document(
    out: &mut dyn Write,
    sources: Sources,
    sockets: &[Socket],
    warnings: &[String],
    pretty: bool,
) -> io::Result<()> {
    write_document_with(out, sources, sockets, &[], warnings, pretty)
}

/// [`write_document`] with the published ports `who` followed.
pub fn write_document_with(
    out: &mut dyn Write,
    sources: Sources,
    sockets: &[Socket],
    published: &[Publication],
    warnings: &[String],
    pretty: bool,
) -> io::Result<()> {
    if !pretty
        && published.is_empty()
        && sockets.len() >= SPLIT_MIN_SOCKETS
        && crate::collect::cores() > 1
    {
        write_compact_split(out, sources, sockets, warnings)?;
    } else {
        let doc = DocumentRef {
            schema_version: SCHEMA_VERSION,
            sources,
            sockets,
            published,
            warnings,
        };
        to_writer(&mut *out, &doc, pretty)?;
    }
    out.write_all(b"\n")
}

/// The compact document, byte for byte what serde writes for [`DocumentRef`]. The sockets
/// go in chunks: this thread serialises the even ones straight into `out`, a second one
/// the odd ones into buffers handed over in order.
fn write_compact_split(
    out: &mut dyn Write,
    sources: Sources,
    sockets: &[Socket],
    warnings: &[String],
) -> io::Result<()> {
    let chunks: Vec<&[Socket]> = sockets.chunks(CHUNK).collect();
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(AHEAD);
        let odd: Vec<&[Socket]> = chunks.iter().skip(1).step_by(2).copied().collect();
        s.spawn(move || {
            for c in odd {
                let mut buf = Vec::with_capacity(c.len() * 640);
                // Nobody receives once this thread's writer gave up (an error): stop.
                if tx.send(write_sockets(&mut buf, c).map(|()| buf)).is_err() {
                    break;
                }
            }
        });
        out.write_all(b"{\"schema_version\":")?;
        to_writer(&mut *out, &SCHEMA_VERSION, false)?;
        out.write_all(b",\"sources\":")?;
        to_writer(&mut *out, &sources, false)?;
        out.write_all(b",\"sockets\":[")?;
        for (i, c) in chunks.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            if i % 2 == 0 {
                write_sockets(&mut *out, c)?;
            } else {
                let buf = rx
                    .recv()
                    .map_err(|_| io::Error::other("the JSON writer thread failed"))??;
                out.write_all(&buf)?;
            }
        }
        out.write_all(b"],\"warnings\":")?;
        to_writer(&mut *out, warnings, false)?;
        out.write_all(b"}")
    })
}

/// Compact JSON of each socket, comma-separated.
fn write_sockets(out: &mut dyn Write, sockets: &[Socket]) -> io::Result<()> {
    let mut buf = io::BufWriter::with_capacity(64 * 1024, out);
    for (i, s) in sockets.iter().enumerate() {
        if i > 0 {
            buf.write_all(b",")?;
        }
        let f = TerminalSafe(serde_json::ser::CompactFormatter);
        s.serialize(&mut serde_json::Serializer::with_formatter(&mut buf, f))?;
    }
    buf.flush()
}

/// Serializes `value` as JSON that is safe on a terminal: serde's escaping plus DEL and the
/// C1 controls (U+0080-U+009F; U+009B alone is a CSI to many terminals), which JSON allows
/// raw and serde writes raw.
pub fn to_writer<T: Serialize + ?Sized>(
    out: &mut dyn Write,
    value: &T,
    pretty: bool,
) -> serde_json::Result<()> {
    // serde writes a few bytes at a time (each quote, comma, number): through a concrete
    // buffer those writes are inlined copies, through `dyn Write` each is a call.
    let mut buf = io::BufWriter::with_capacity(64 * 1024, out);
    if pretty {
        let f = TerminalSafe(serde_json::ser::PrettyFormatter::new());
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut buf, f))?;
    } else {
        let f = TerminalSafe(serde_json::ser::CompactFormatter);
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut buf, f))?;
    }
    buf.flush().map_err(serde_json::Error::io)
}

/// A formatter that escapes what `TerminalSafe::escapes` names inside strings and passes
/// everything else to the formatter it wraps. serde hands string text to
/// `write_string_fragment` in runs it found nothing to escape in, so that is the one place
/// to look; the layout methods are forwarded so pretty output keeps its indentation.
struct TerminalSafe<F>(F);

impl<F> TerminalSafe<F> {
    fn escapes(c: char) -> bool {
        matches!(c, '\u{7f}'..='\u{9f}')
    }
}

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for TerminalSafe<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        frag: &str,
    ) -> io::Result<()> {
        // DEL is 0x7f and every C1 control is 0xc2 0x80-0x9f in UTF-8: text without those
        // bytes (nearly all) goes through untouched, without decoding it.
        if memchr::memchr2(0x7f, 0xc2, frag.as_bytes()).is_none() {
            return self.0.write_string_fragment(w, frag);
        }
        let mut rest = frag;
        while let Some((i, c)) = rest.char_indices().find(|&(_, c)| Self::escapes(c)) {
            self.0.write_string_fragment(w, &rest[..i])?;
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[i + c.len_utf8()..];
        }
        self.0.write_string_fragment(w, rest)
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    const SOURCES: Sources = Sources {
        netns: Vec::new(),
        table: TableSourceKind::Netlink,
        owners: OwnerSourceKind::Procfs,
        owner_walk: None,
    };

    #[test]
    fn json_escapes_c1_controls_and_del() {
        for pretty in [false, true] {
            let mut out = Vec::new();
            let v = serde_json::json!({"k\u{9b}": ["\u{7f}x\u{80}\u{9f}\u{a0}é\u{9b}2J"]});
            to_writer(&mut out, &v, pretty).unwrap();
            let text = String::from_utf8(out).unwrap();
            let want = if pretty {
                "{\n  \"k\\u009b\": [\n    \"\\u007fx\\u0080\\u009f\u{a0}é\\u009b2J\"\n  ]\n}"
            } else {
                "{\"k\\u009b\":[\"\\u007fx\\u0080\\u009f\u{a0}é\\u009b2J\"]}"
            };
            assert_eq!(text, want);
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, v);
        }
    }

    #[test]
    fn empty_result_is_a_valid_document() {
        let mut out = Vec::new();
        write_document(&mut out, SOURCES, &[], &[], false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"schema_version\":1,\"sources\":{\"table\":\"netlink\",\"owners\":\"procfs\"},\"sockets\":[],\"warnings\":[]}\n"
        );
    }

    /// `sources.owner_walk.program` names the BPF program that walked; the /proc scan
    /// has none and writes no such field; both read back strictly.
    #[test]
    fn the_owner_walk_names_its_program_where_there_is_one() {
        use crate::model::{OwnerWalk, OwnerWalkProgram};
        for (program, json) in [
            (
                Some(OwnerWalkProgram::TaskFdtable),
                r#""owner_walk":{"descriptors":5,"program":"task_fdtable"}"#,
            ),
            (
                Some(OwnerWalkProgram::TaskFile),
                r#""owner_walk":{"descriptors":5,"program":"task_file"}"#,
            ),
            (None, r#""owner_walk":{"descriptors":5}}"#),
        ] {
            let mut sources = SOURCES;
            sources.owner_walk = Some(OwnerWalk {
                descriptors: 5,
                program,
            });
            let mut out = Vec::new();
            write_document(&mut out, sources.clone(), &[], &[], false).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(json), "{text}");
            let doc: Document = serde_json::from_str(&text).unwrap();
            assert_eq!(doc.sources, Some(sources));
        }
    }

    #[test]
    fn hostile_names_stay_valid_json_and_round_trip() {
        let s = Socket {
            netns: Default::default(),
            cgroup: None,
            protocol: Protocol::Udp,
            family: Family::Ipv6,
            v6only: Some(true),
            local: Endpoint {
                address: "::1".parse().unwrap(),
                port: 53,
            },
            remote: None,
            state: SockState::Unconnected,
            port_class: PortClass::WellKnown,
            ephemeral: false,
            service: Some("domain".into()),
            recv_queue: Some(0),
            send_queue: None,
            inode: 77,
            uid: Some(0),
            user: Some("root".into()),
            owner: Owner::Visible,
            owner_reason: None,
            owner_reason_code: None,
            placement: Default::default(),
            processes: vec![std::sync::Arc::new(Process {
                pid: 1,
                name: "a\nb\x1b[31m\u{9b}\u{7f}\u{80}\u{202e}".into(),
                cmdline: vec!["x\ty".into(), "\u{fffd}".into()],
                user: Some("root".into()),
                uid: Some(0),
                ppid: None,
                tid: None,
                container: None,
                unit: None,
            })],
        };
        let mut out = Vec::new();
        write_document(
            &mut out,
            SOURCES,
            std::slice::from_ref(&s),
            &["w".into()],
            true,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\x1b'));
        for c in ['\u{7f}', '\u{80}', '\u{9b}', '\u{9f}'] {
            assert!(!text.contains(c), "raw {c:?} in {text}");
        }
        let doc: Document = serde_json::from_str(&text).unwrap();
        assert_eq!(doc.schema_version, 1);
        // Bidi characters are valid JSON text and stay raw (the table escapes them).
        let name = "\"name\": \"a\\nb\\u001b[31m\\u009b\\u007f\\u0080\u{202e}\",";
        assert!(text.contains(name), "{text}");
        assert_eq!(doc.sockets, vec![s]);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["sockets"][0]["state"], "unconnected");
        assert_eq!(v["sockets"][0]["port_class"], "well-known");
        assert_eq!(v["sockets"][0]["local"]["address"], "::1");
        assert_eq!(v["sockets"][0]["remote"], serde_json::Value::Null);
        assert_eq!(v["sockets"][0]["send_queue"], serde_json::Value::Null);
        assert_eq!(v["sources"]["table"], "netlink");
    }

    /// A socket with every kind of field, some hostile.
    fn sock(i: u32) -> Socket {
        Socket {
            netns: Default::default(),
            cgroup: i
                .is_multiple_of(3)
                .then(|| "/system.slice/x\u{9b}.service".into()),
            protocol: if i.is_multiple_of(2) {
                Protocol::Tcp
            } else {
                Protocol::Udp
            },
            family: Family::Ipv4,
            v6only: None,
            local: Endpoint {
                address: "127.0.0.1".parse().unwrap(),
                port: i as u16,
            },
            remote: None,
            state: SockState::Listen,
            port_class: PortClass::Registered,
            ephemeral: i.is_multiple_of(5),
            service: None,
            recv_queue: Some(i),
            send_queue: None,
            inode: u64::from(i) * 7,
            uid: Some(i),
            user: None,
            owner: Owner::Visible,
            owner_reason: None,
            owner_reason_code: None,
            placement: Default::default(),
            processes: vec![std::sync::Arc::new(Process {
                pid: i,
                name: format!("n\u{7f}{i}\x1b"),
                cmdline: vec![format!("a{i}"), String::new()],
                user: Some("é".into()),
                uid: Some(0),
                ppid: Some(1),
                tid: None,
                container: None,
                unit: None,
            })],
        }
    }

    /// The two-thread compact writer gives serde's bytes exactly, at every split: no
    /// socket, one, one chunk, a chunk and one, several chunks, and hostile names.
    #[test]
    fn split_compact_document_is_serdes_byte_for_byte() {
        let warnings = vec!["w\u{80}".to_string(), "two".to_string()];
        let c = CHUNK as u32;
        for n in [0, 1, c, c + 1, 2 * c, 7 * c + 3] {
            let sockets: Vec<Socket> = (0..n).map(sock).collect();
            let mut split = Vec::new();
            write_compact_split(&mut split, SOURCES, &sockets, &warnings).unwrap();
            let doc = DocumentRef {
                schema_version: SCHEMA_VERSION,
                sources: SOURCES,
                sockets: &sockets,
                published: &[],
                warnings: &warnings,
            };
            let mut whole = Vec::new();
            to_writer(&mut whole, &doc, false).unwrap();
            assert_eq!(
                String::from_utf8(split).unwrap(),
                String::from_utf8(whole).unwrap(),
                "{n}"
            );
        }
    }

    /// A writer that fails part-way (a closed pipe) ends the document with the error,
    /// without waiting forever on the second thread.
    #[test]
    fn split_writer_stops_on_a_write_error() {
        struct Full(usize);
        impl Write for Full {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                if self.0 < b.len() {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
                self.0 -= b.len();
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        // Fails in the header, in the first chunk, and past several chunks, with the
        // second thread holding more than it may hand over.
        let s: Vec<Socket> = (0..20 * CHUNK as u32).map(sock).collect();
        for room in [10, 5_000, 700_000] {
            let e = write_compact_split(&mut Full(room), SOURCES, &s, &[]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        }
    }

    /// A document written by portscope 0.1 (schema 1, before sources, netns, cgroup, tid,
    /// container and unit were added) still reads: `diff` compares saved documents.
    #[test]
    fn a_schema_1_document_from_before_the_additions_still_reads() {
        let old = r#"{"schema_version":1,"sockets":[{"protocol":"tcp","family":"ipv4","v6only":null,"local":{"address":"0.0.0.0","port":22},"remote":null,"state":"listen","port_class":"well-known","ephemeral":false,"service":"ssh","recv_queue":0,"send_queue":128,"inode":7,"uid":0,"user":"root","owner":"visible","owner_reason":null,"processes":[{"pid":812,"name":"sshd","cmdline":["/usr/sbin/sshd"],"user":"root","uid":0}]}],"warnings":[]}"#;
        let d: Document = serde_json::from_str(old).unwrap();
        assert_eq!(d.sources, None);
        let s = &d.sockets[0];
        assert_eq!((s.local.port, s.cgroup.as_deref()), (22, None));
        assert!(s.netns.current);
        assert_eq!(s.processes[0].tid, None);
        assert_eq!(s.processes[0].container, None);
    }
}
