//! Everything about talking to a Channels DVR: identity, the HTTP client, the
//! keep-alive polls' connection, line framing and event parsing.

pub mod client;
pub mod event;
pub mod framing;
pub mod id;
pub mod poll;
