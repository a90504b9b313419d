//! Simulated DVRs on loopback and the engine's timings shortened for tests.

use std::net::SocketAddr;
use std::time::Duration;

use engine::{DvrSpec, EngineSettings};
use sim::{Framing, Scenario, SimConfig, Simulator};

/// Engine timings shortened so reconnects and restarts happen within a test.
pub fn fast_settings() -> EngineSettings {
    EngineSettings {
        status_interval: Duration::from_millis(500),
        status_timeout: Duration::from_secs(3),
        disk_interval: Duration::from_millis(500),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        healthy_reset: Duration::from_secs(2),
        header_timeout: Duration::from_secs(2),
        heartbeat_interval: Duration::from_millis(100),
        hang_timeout: Duration::from_secs(3),
        restart_delay: Duration::from_millis(50),
        ..EngineSettings::default()
    }
}

pub async fn sim(scenario: Scenario) -> Simulator {
    sim_with(scenario, Framing::Bare).await
}

pub async fn sim_with(scenario: Scenario, framing: Framing) -> Simulator {
    Simulator::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SimConfig {
            scenario,
            seed: 7,
            name: format!("sim {}", scenario.name()),
            time_scale: 1.0,
            framing,
            keepalive: None,
            api_key: None,
        },
    )
    .await
    .expect("simulator starts")
}

pub fn spec(name: &str, sim: &Simulator, threshold: u32) -> DvrSpec {
    let port = sim.addr().port();
    DvrSpec {
        dvr_id: domain::dvr::id::dvr_id("127.0.0.1", port),
        name: name.to_string(),
        host: "127.0.0.1".to_string(),
        port,
        staleness_threshold_seconds: threshold,
        api_key: Default::default(),
    }
}
