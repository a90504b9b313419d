//! The server's integration tests, in one binary (one link instead of twelve): each
//! module is one area, run against the real parts (SQLite files, HTTP on loopback,
//! the simulator, an SMTP sink, the built binary). `cargo test -p server --features
//! app/ssr --test it <module>::` runs one area.

mod alerts;
mod api;
mod cli;
mod deploy;
mod dvr_page;
mod engine_task;
mod fuzz;
mod health;
mod history;
mod isolation;
mod monitoring;
mod operations;
mod providers;
mod quiet;
mod web;
