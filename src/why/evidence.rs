//! Rules stage (pure): the pieces every rule and warning builds on (a reason, a sysctl as
//! evidence, the privileged-port test, the view of the request, a socket's state in words),
//! below both `why::rules` and `why::warnings` so neither imports the other for them.

use crate::model::{SockState, Socket};
use crate::why::conflict::View;
use crate::why::{Evidence, Facts, Reason};

/// The kernel's default for `net.ipv4.ip_unprivileged_port_start`.
pub const DEFAULT_UNPRIVILEGED_PORT_START: u16 = 1024;

pub(crate) fn reason(rule: &str, detail: String, evidence: Vec<Evidence>, fix: &str) -> Reason {
    Reason {
        rule: rule.to_string(),
        detail,
        evidence,
        fix: fix.to_string(),
    }
}

pub(crate) fn sysctl(name: &str, value: impl ToString) -> Evidence {
    Evidence::Sysctl {
        name: name.to_string(),
        value: value.to_string(),
    }
}

/// The port is below `ip_unprivileged_port_start`.
pub fn privileged(f: &Facts) -> (bool, u16) {
    let start = f
        .sysctls
        .unprivileged_port_start
        .unwrap_or(DEFAULT_UNPRIVILEGED_PORT_START);
    (f.request.addr.port() < start, start)
}

pub(crate) fn new_view(f: &Facts) -> View {
    let req = &f.request;
    View {
        v6_socket: req.addr.is_ipv6(),
        addr: req.addr.ip(),
        v6only: req.addr.is_ipv6()
            && req
                .options
                .v6only
                .unwrap_or(f.sysctls.bindv6only.unwrap_or(false)),
    }
}

pub(crate) fn state_phrase(s: &Socket) -> String {
    match s.state {
        SockState::Listen => "a listening socket".into(),
        SockState::Unconnected => "a bound UDP socket".into(),
        SockState::Connected => "a connected UDP socket".into(),
        SockState::Closed => "a bound, not listening, socket".into(),
        SockState::TimeWait => "a connection in TIME_WAIT".into(),
        st => format!("a connection ({st})"),
    }
}
