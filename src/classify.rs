//! Classify stage: RFC 6335 port classes, this host's ephemeral range, service names.
//! Pure functions over model types.

use crate::model::{PortClass, Socket};
use crate::services::Services;
use std::sync::Arc;

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

    /// Fills in port_class, ephemeral and service from the local port.
    pub fn apply(&self, sockets: &mut [Socket]) {
        for s in sockets {
            s.port_class = port_class(s.local.port);
            s.ephemeral = self.is_ephemeral(s.local.port);
            s.service = self
                .services
                .as_ref()
                .and_then(|db| db.name_of(s.protocol, s.local.port))
                .map(Arc::from);
        }
    }
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
