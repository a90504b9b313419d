//! Shared helpers for the integration tests: real simulators on loopback, a real
//! server on an ephemeral port, fast engine timings, and deadline-bound waits.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use channelwatch::config::{Config, Flags};
use channelwatch::engine::watchdog::WatchdogSettings;
use channelwatch::engine::{DvrSpec, EngineSettings};
use channelwatch::serve::Server;
use channelwatch::sim::{Framing, Scenario, SimConfig, Simulator};

pub const API_KEY: &str = "test-api-key-0123456789";

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
        },
    )
    .await
    .expect("simulator starts")
}

pub fn spec(name: &str, sim: &Simulator, threshold: u32) -> DvrSpec {
    let port = sim.addr().port();
    DvrSpec {
        dvr_id: channelwatch::dvr::id::dvr_id("127.0.0.1", port),
        name: name.to_string(),
        host: "127.0.0.1".to_string(),
        port,
        staleness_threshold_seconds: threshold,
    }
}

/// Polls `f` until it holds or the deadline passes (then fails naming `what`).
pub async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A real server on 127.0.0.1 with an ephemeral port and the test API key.
pub async fn server(data_dir: &Path) -> Server {
    server_with(data_dir, &[], WatchdogSettings::default()).await
}

/// [`server`] with extra environment variables and watchdog grace periods.
pub async fn server_with(
    data_dir: &Path,
    env: &[(&str, &str)],
    watchdog: WatchdogSettings,
) -> Server {
    let flags = Flags {
        data_dir: Some(data_dir.to_path_buf()),
        bind: Some("127.0.0.1".into()),
        port: Some(0),
        ..Flags::default()
    };
    let mut vars = vec![("CHANNELWATCH_API_KEY", API_KEY)];
    vars.extend_from_slice(env);
    let config = Config::load(&flags, &vars).expect("config");
    channelwatch::serve::start_with(config, fast_settings(), watchdog)
        .await
        .expect("server starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub fn url(server: &Server, path: &str) -> String {
    format!("http://{}{}", server.addr, path)
}

/// Sends a request (with the API key when given); answers the status and JSON body.
pub async fn send(req: reqwest::RequestBuilder, key: Option<&str>) -> (u16, serde_json::Value) {
    let req = match key {
        Some(k) => req.header("X-API-Key", k),
        None => req,
    };
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls the async `f` until it yields a value or the deadline passes (then fails naming `what`).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for an engine feed event matching `pred` (fails naming `what` at the deadline).
pub async fn next_event(
    feed: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<channelwatch::engine::EngineEvent>>,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&channelwatch::engine::EngineEvent) -> bool,
) -> std::sync::Arc<channelwatch::engine::EngineEvent> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, feed.recv()).await {
            Ok(Ok(ev)) if pred(&ev) => return ev,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("feed closed while waiting for {what}: {e}"),
            Err(_) => panic!("timed out after {timeout:?} waiting for event: {what}"),
        }
    }
}
