//! Talking to a Channels DVR: the HTTP client and the keep-alive polls' connection.
//! Identity, framing and event parsing are pure and live in `domain::dvr`.

pub mod client;
pub mod poll;
