//! Literal sockets for the renderers' and the pipeline's unit tests.

use crate::model::*;
use std::sync::Arc;

pub fn process(pid: u32, name: &str, user: &str) -> Arc<Process> {
    Arc::new(Process {
        pid,
        name: name.to_owned(),
        cmdline: vec![format!("/usr/sbin/{name}"), "--secret-flag".to_owned()],
        user: Some(user.to_owned()),
        uid: Some(if user == "root" { 0 } else { 1000 }),
        ppid: Some(1),
        tid: None,
        container: None,
        unit: None,
    })
}

/// A socket on `addr:port` in `state`, held by `processes` (hidden when empty).
pub fn socket(
    protocol: Protocol,
    addr: &str,
    port: u16,
    state: SockState,
    processes: Vec<Arc<Process>>,
) -> Socket {
    let address: std::net::IpAddr = addr.parse().unwrap();
    let family = Family::of(&address);
    let hidden = processes.is_empty();
    Socket {
        netns: Default::default(),
        cgroup: None,
        protocol,
        family,
        v6only: (family == Family::Ipv6).then_some(!address.is_unspecified()),
        local: Endpoint { address, port },
        remote: (!state.is_listening()).then(|| Endpoint {
            address: "192.0.2.7".parse().unwrap(),
            port: 40000,
        }),
        state,
        port_class: crate::classify::port_class(port),
        ephemeral: (32768..=60999).contains(&port),
        service: None,
        recv_queue: Some(0),
        send_queue: Some(0),
        inode: 1000 + u64::from(port),
        uid: Some(if hidden { 104 } else { 0 }),
        user: Some(Arc::from(if hidden { "postgres" } else { "root" })),
        owner: if hidden {
            Owner::Hidden
        } else {
            Owner::Visible
        },
        owner_reason: hidden.then_some(OwnerReason::Denied),
        owner_reason_code: hidden.then_some(ReasonCode::PermissionDenied),
        placement: Default::default(),
        processes,
    }
}
