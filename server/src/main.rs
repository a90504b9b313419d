//! `channelwatch`: the binary. The commands are in `cli/`, one module each.

// Leptos view types nest deeply; the release build needs the higher limit.
#![recursion_limit = "256"]

mod cli;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
