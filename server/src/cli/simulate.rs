//! `channelwatch simulate`: the Channels DVR simulator alone.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use channelwatch::config::LogFormat;
use clap::Args;
use sim::{Framing, Scenario, SimConfig};

use super::init_logging;

#[derive(Args)]
pub(crate) struct SimulateArgs {
    #[arg(long)]
    port: u16,
    /// Address to listen on (loopback unless you mean otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// quiet, family-evening, disk-filling, flapping, garbage or stall.
    #[arg(long, default_value = "family-evening")]
    scenario: Scenario,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The name /status reports.
    #[arg(long, default_value = "Simulated DVR")]
    name: String,
    /// Write SSE `data:` lines instead of bare JSON lines.
    #[arg(long)]
    sse: bool,
    /// Run the scenario this many times faster than real time.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Announce the simulator over mDNS as `_channels_dvr._tcp` (for discovery).
    #[arg(long)]
    mdns: bool,
    /// Require this `X-API-Key` on every DVR path, as a DVR set to require one does.
    #[arg(long)]
    api_key: Option<String>,
}

pub(crate) async fn run(a: SimulateArgs) -> anyhow::Result<ExitCode> {
    let _log = init_logging(
        &std::env::var("CHANNELWATCH_LOG").unwrap_or_else(|_| "info".into()),
        &LogFormat::Text,
    );
    if !(a.speed.is_finite() && a.speed > 0.0) {
        anyhow::bail!("--speed must be a positive number");
    }
    let config = SimConfig {
        scenario: a.scenario,
        seed: a.seed,
        name: a.name,
        time_scale: a.speed,
        framing: if a.sse { Framing::Sse } else { Framing::Bare },
        keepalive: None,
        api_key: a.api_key,
    };
    sim::run_cli(SocketAddr::new(a.bind, a.port), config, a.mdns)
        .await
        .context("simulator failed")?;
    Ok(ExitCode::SUCCESS)
}
