//! Classify stage: RFC 6335 port classes, this host's ephemeral range, service names.
//! Pure functions over model types, computed once per socket, before the filter stage.

use crate::model::{PortClass, SocketHarvest};
use crate::services::Services;

/// RFC 6335 §6: 0-1023 system (well-known), 1024-49151 user (registered),
/// 49152-65535 dynamic/private.
pub fn port_class(port: u16) -> PortClass {
    match port {
        0..=1023 => PortClass::WellKnown,
        1024..=49151 => PortClass::Registered,
        _ => PortClass::Dynamic,
    }
}

/// What classification needs to know about the host.
pub struct Classifier {
    /// Inclusive; None when the host does not say.
    pub ephemeral: Option<(u16, u16)>,
    /// None with --numeric.
    pub services: Option<&'static Services>,
}

impl Classifier {
    pub fn is_ephemeral(&self, port: u16) -> bool {
        self.ephemeral
            .is_some_and(|(lo, hi)| lo <= port && port <= hi)
    }

    /// The class of one socket's local port.
    pub fn classify(&self, s: &SocketHarvest) -> Classification {
        let port = s.local.port;
        Classification {
            port_class: port_class(port),
            ephemeral: self.is_ephemeral(port),
            service: self.services.and_then(|db| db.name_of(s.protocol, port)),
        }
    }
}

/// What the classify stage says about one socket; the filter and join stages read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub port_class: PortClass,
    pub ephemeral: bool,
    pub service: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_boundaries_follow_rfc6335() {
        assert_eq!(port_class(0), PortClass::WellKnown);
        assert_eq!(port_class(1023), PortClass::WellKnown);
        assert_eq!(port_class(1024), PortClass::Registered);
        assert_eq!(port_class(49151), PortClass::Registered);
        assert_eq!(port_class(49152), PortClass::Dynamic);
        assert_eq!(port_class(65535), PortClass::Dynamic);
    }

    #[test]
    fn ephemeral_range_is_inclusive() {
        let c = Classifier {
            ephemeral: Some((32768, 60999)),
            services: None,
        };
        assert!(!c.is_ephemeral(32767));
        assert!(c.is_ephemeral(32768));
        assert!(c.is_ephemeral(60999));
        assert!(!c.is_ephemeral(61000));
        let none = Classifier {
            ephemeral: None,
            services: None,
        };
        assert!(!none.is_ephemeral(40000));
    }
}
