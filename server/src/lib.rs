//! ChannelWatch server: the per-DVR engine, the Channels DVR simulator, storage, the
//! HTTP API and the web app's server side.

// Leptos view types nest deeply; the release build needs the higher limit.
#![recursion_limit = "256"]

pub mod alerts;
pub mod backup;
pub mod bundle;
pub mod config;
pub mod declared;
pub mod discovery;
pub mod doctor;
pub mod dvr;
pub mod engine;
pub mod http;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod private_files;
pub mod registry;
pub mod serve;
pub mod sim;
pub mod storage;
pub mod web;

/// The version every surface reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
