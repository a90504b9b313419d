//! `channelwatch serve` (and `channelwatch` alone): the monitor and the web app until
//! SIGTERM or Ctrl-C.

use std::process::ExitCode;

use engine::EngineSettings;

use super::{load_config, ServeArgs};

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args)?;
    let _flush = channelwatch::logging::init(
        &config.log_filter,
        &config.log_format,
        Some(&config.data_dir),
    );
    let server = channelwatch::serve::start(config, EngineSettings::default()).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler cannot fail on unix");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
