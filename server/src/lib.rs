//! ChannelWatch server: the per-DVR engine, storage, the
//! HTTP API and the web app's server side.

// Leptos view types nest deeply; the release build needs the higher limit.
#![recursion_limit = "256"]

pub mod alerts;
pub mod backup;
pub mod bundle;
pub mod config;
pub mod config_watch;
pub mod core_tasks;
pub mod dashboard;
pub mod discovery;
pub mod doctor;
pub mod dvr_page;
pub mod edit;
pub mod heartbeat;
pub mod history;
pub mod http;
pub mod images;
pub mod logging;
pub mod metrics;
pub mod mqtt;
pub mod notify;
pub mod quiet;
pub mod registry;
pub mod serve;
pub mod services;
#[cfg(test)]
mod shape;
pub mod sign_in;
pub mod zone;

/// The version every surface reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs blocking work (file reads, a secret file) from async code without stalling the
/// worker's other tasks: on the multi-threaded runtime they move to another worker for
/// the duration (`block_in_place`); elsewhere (a single-threaded test runtime) it just
/// runs.
pub(crate) fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
