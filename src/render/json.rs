//! Render stage: the versioned JSON document, only through serde, streamed into the writer.

use crate::model::{Socket, Sources};
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
    warnings: &'a [String],
}

/// The same document, owned, for readers (and tests) that deserialize it strictly.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub schema_version: u32,
    /// Which backends ran (added in 0.2; schema 1 allows additions).
    pub sources: Sources,
    pub sockets: Vec<Socket>,
    pub warnings: Vec<String>,
}

pub fn write_document(
    out: &mut dyn Write,
    sources: Sources,
    sockets: &[Socket],
    warnings: &[String],
    pretty: bool,
) -> io::Result<()> {
    let doc = DocumentRef {
        schema_version: SCHEMA_VERSION,
        sources,
        sockets,
        warnings,
    };
    if pretty {
        serde_json::to_writer_pretty(&mut *out, &doc)?;
    } else {
        serde_json::to_writer(&mut *out, &doc)?;
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    const SOURCES: Sources = Sources {
        table: TableSourceKind::Netlink,
        owners: OwnerSourceKind::Procfs,
    };

    #[test]
    fn empty_result_is_a_valid_document() {
        let mut out = Vec::new();
        write_document(&mut out, SOURCES, &[], &[], false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"schema_version\":1,\"sources\":{\"table\":\"netlink\",\"owners\":\"procfs\"},\"sockets\":[],\"warnings\":[]}\n"
        );
    }

    #[test]
    fn hostile_names_stay_valid_json_and_round_trip() {
        let s = Socket {
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
            processes: vec![std::sync::Arc::new(Process {
                pid: 1,
                name: "a\nb\x1b[31m\u{202e}".into(),
                cmdline: vec!["x\ty".into(), "\u{fffd}".into()],
                user: Some("root".into()),
                uid: Some(0),
                ppid: None,
                tid: None,
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
        let doc: Document = serde_json::from_str(&text).unwrap();
        assert_eq!(doc.schema_version, 1);
        assert_eq!(doc.sockets, vec![s]);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["sockets"][0]["state"], "unconnected");
        assert_eq!(v["sockets"][0]["port_class"], "well-known");
        assert_eq!(v["sockets"][0]["local"]["address"], "::1");
        assert_eq!(v["sockets"][0]["remote"], serde_json::Value::Null);
        assert_eq!(v["sockets"][0]["send_queue"], serde_json::Value::Null);
        assert_eq!(v["sources"]["table"], "netlink");
    }
}
