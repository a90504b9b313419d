//! ChannelWatch's pure domain: what a DVR is, what its event stream says, and the rules
//! that turn that into state. No IO, no clock reads in the rules, no async runtime: the
//! engine, storage and server crates bring those, and everything here is unit-tested
//! without a network.

pub mod alerts;
pub mod backoff;
pub mod disk;
pub mod dvr;
pub mod engine_event;
pub mod health;
pub mod heartbeat;
pub mod history;
pub mod images;
pub mod mqtt;
pub mod notify;
pub mod rate;
pub mod session;
pub mod settings;
pub mod text;
pub mod times;
pub mod zone;

/// The product version (every crate shares the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The text of a caught panic (`JoinError::into_panic`, `catch_unwind`), for a log
/// line or a status message.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
