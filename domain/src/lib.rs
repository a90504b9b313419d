//! ChannelWatch's pure domain: what a DVR is, what its event stream says, and the rules
//! that turn that into state. No IO, no clock reads in the rules, no async runtime: the
//! engine, storage and server crates bring those, and everything here is unit-tested
//! without a network.

pub mod alerts;
pub mod backoff;
pub mod disk;
pub mod dvr;
pub mod notify;
pub mod rate;
pub mod session;
pub mod text;

/// The product version (every crate shares the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
