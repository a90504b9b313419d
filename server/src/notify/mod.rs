//! Notification delivery: the routing matrix (and, next, providers and the outbox).

pub mod apprise;
pub mod routing;
pub mod target;
