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
pub mod discovery;
pub mod doctor;
pub mod dvr;
pub mod engine;
pub mod fd_limit;
pub mod http;
pub mod limits;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod private_files;
pub mod registry;
pub mod serve;
pub mod services;
#[cfg(test)]
mod shape;
pub mod sign_in;
pub mod storage;

/// The version every surface reports.
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

/// Runs blocking work (file reads, a secret file) from async code without stalling the
/// worker's other tasks: on the multi-threaded runtime they move to another worker for
/// the duration (`block_in_place`); elsewhere (a single-threaded test runtime) it just
/// runs.
pub fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
