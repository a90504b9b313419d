//! Everything about talking to a Channels DVR: identity, the HTTP client, line framing
//! and event parsing.

pub mod client;
pub mod event;
pub mod framing;
pub mod id;
