//! A real server on an ephemeral loopback port, and requests to it.

use std::path::Path;
use std::time::Duration;

use channelwatch::config::{Config, Flags};
use channelwatch::serve::Server;
use engine::watchdog::WatchdogSettings;

use crate::dvr::fast_settings;

pub const API_KEY: &str = "test-api-key-0123456789";

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
    server_full(data_dir, env, watchdog, fast_dispatch()).await
}

/// [`server_with`] with the delivery worker's timings given too.
pub async fn server_full(
    data_dir: &Path,
    env: &[(&str, &str)],
    watchdog: WatchdogSettings,
    dispatch: channelwatch::notify::outbox::DispatchSettings,
) -> Server {
    let flags = Flags {
        data_dir: Some(data_dir.to_path_buf()),
        bind: Some("127.0.0.1".into()),
        port: Some(0),
        ..Flags::default()
    };
    // No background mDNS scans: tests send nothing beyond loopback.
    let mut vars = vec![
        ("CHANNELWATCH_API_KEY", API_KEY),
        ("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0"),
    ];
    vars.extend_from_slice(env);
    let config = Config::load(&flags, &vars).expect("config");
    channelwatch::serve::start_with(config, fast_settings(), watchdog, dispatch)
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

/// A GET of `path` (with the API key when given) whose answer is not JSON: the
/// status, the `Content-Type` and the body as text.
pub async fn get_text(server: &Server, path: &str, key: Option<&str>) -> (u16, String, String) {
    let mut req = client().get(url(server, path));
    if let Some(k) = key {
        req = req.header("X-API-Key", k);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, kind, res.text().await.unwrap())
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

/// Delivery retries shortened so backoff, Retry-After and the circuit show within a test.
pub fn fast_dispatch() -> channelwatch::notify::outbox::DispatchSettings {
    channelwatch::notify::outbox::DispatchSettings {
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        max_attempts: 4,
        circuit_threshold: 3,
        circuit_open_for: Duration::from_secs(2),
        ..Default::default()
    }
}

/// Adds a DVR for a simulator through the API and waits until its health answers 200
/// (connected, fresh); answers its id.
pub async fn add_connected_dvr(srv: &Server, name: &str, sim: &sim::Simulator) -> String {
    let (status, d) = send(
        client()
            .post(url(srv, "/api/v1/dvrs"))
            .json(&serde_json::json!({
                "name": name, "host": "127.0.0.1", "port": sim.addr().port()
            })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{d}");
    let id = d["dvr_id"].as_str().expect("dvr_id").to_string();
    crate::wait::eventually("the DVR connects", Duration::from_secs(20), || async {
        let (s, _) = send(
            client().get(url(srv, &format!("/api/v1/dvrs/{id}/health"))),
            Some(API_KEY),
        )
        .await;
        (s == 200).then_some(())
    })
    .await;
    id
}
