//! A Channels DVR as the monitor knows it: its identity, and its event stream's lines.

mod api_key;
pub mod clients;
pub mod event;
pub mod framing;
pub mod id;
pub mod sources;

pub use api_key::ApiKey;
