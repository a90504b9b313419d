//! Cost of health and metrics at scale: a real server (in-process, loopback HTTP) with
//! N connected DVRs, each on its own simulator, timing `GET /metrics`, `GET /api/v1/dvrs`,
//! one DVR's health and the readiness probe. Prints figures; asserts nothing about time.
//!
//! `cargo bench -p server --bench health [-- --dvrs 1000 --requests 200]`

use testkit::bench::arg;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use channelwatch::config::{Config, Flags};
use engine::EngineSettings;
use sim::{Scenario, SimConfig, Simulator};

const API_KEY: &str = "bench-key-0123456789";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run(&args));
}

struct Timing {
    p50: f64,
    p99: f64,
    max: f64,
    bytes: usize,
}

async fn time_get(client: &reqwest::Client, url: &str, n: usize) -> Timing {
    let mut ms = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        let res = client
            .get(url)
            .header("X-API-Key", API_KEY)
            .send()
            .await
            .expect("request");
        let body = res.bytes().await.expect("body");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        bytes = body.len();
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    Timing {
        p50: pick(0.5),
        p99: pick(0.99),
        max: *ms.last().unwrap(),
        bytes,
    }
}

async fn run(args: &[String]) {
    let n: usize = arg(args, "--dvrs", 1000);
    let requests: usize = arg(args, "--requests", 200);
    println!(
        "ChannelWatch health/metrics benchmark: {n} DVRs, {requests} sequential requests per endpoint, {} cores",
        std::thread::available_parallelism()
            .map(|c| c.get())
            .unwrap_or(0)
    );

    let mut sims = Vec::with_capacity(n);
    for i in 0..n {
        sims.push(
            Simulator::start(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                SimConfig {
                    // Sessions and recordings keep every family of series populated.
                    scenario: if i % 10 == 0 {
                        Scenario::FamilyEvening
                    } else {
                        Scenario::Quiet
                    },
                    seed: i as u64,
                    name: format!("bench {i}"),
                    ..SimConfig::default()
                },
            )
            .await
            .expect("simulator starts"),
        );
    }
    let servers: Vec<String> = sims
        .iter()
        .enumerate()
        .map(|(i, s)| format!("DVR {i}@127.0.0.1:{}", s.addr().port()))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("channelwatch.yaml"),
        format!("dvr_soft_limit: {}\n", n.max(10)),
    )
    .expect("config file");
    let flags = Flags {
        data_dir: Some(dir.path().to_path_buf()),
        bind: Some("127.0.0.1".into()),
        port: Some(0),
        ..Flags::default()
    };
    let servers = servers.join(",");
    let config = Config::load(
        &flags,
        &vec![
            ("CHANNELWATCH_API_KEY", API_KEY),
            ("CHANNELS_DVR_SERVERS", servers.as_str()),
            ("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0"),
        ],
    )
    .expect("config");
    let started = Instant::now();
    let srv = channelwatch::serve::start(config, EngineSettings::default())
        .await
        .expect("server starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let connected = srv
            .services
            .engine
            .slots()
            .iter()
            .filter(|s| s.is_connected())
            .count();
        if connected == n || Instant::now() > deadline {
            println!(
                "{connected}/{n} DVRs connected {:.2} s after start",
                started.elapsed().as_secs_f64()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let client = reqwest::Client::new();
    let base = format!("http://{}", srv.addr);
    let some_id = srv.services.engine.slots()[0].dvr_id.clone();
    // Warm up connections and allocators.
    let _ = time_get(&client, &format!("{base}/metrics"), 5).await;

    // Rendering alone, without HTTP.
    let t = Instant::now();
    let rounds = 50;
    let mut series = 0;
    for _ in 0..rounds {
        let (dvrs, globals) = channelwatch::metrics::gather(
            &srv.services.engine,
            &srv.services.watchdog,
            &srv.services.core_tasks,
            0,
            srv.services.heartbeat.counts(),
        );
        let text = channelwatch::metrics::render(&dvrs, &globals);
        series = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
    }
    println!(
        "metrics gather+render in process: {:.2} ms per scrape ({series} series)",
        t.elapsed().as_secs_f64() * 1000.0 / rounds as f64
    );

    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>10}",
        "endpoint", "p50 ms", "p99 ms", "max ms", "body KiB"
    );
    for (label, path) in [
        ("GET /metrics", "/metrics".to_string()),
        ("GET /api/v1/dvrs", "/api/v1/dvrs".to_string()),
        (
            "GET /api/v1/dvrs/{id}/health",
            format!("/api/v1/dvrs/{some_id}/health"),
        ),
        ("GET /healthz/ready", "/healthz/ready".to_string()),
    ] {
        let t = time_get(&client, &format!("{base}{path}"), requests).await;
        println!(
            "{label:<28} {:>8.2} {:>8.2} {:>8.2} {:>10.1}",
            t.p50,
            t.p99,
            t.max,
            t.bytes as f64 / 1024.0
        );
    }
    srv.shutdown().await;
    for s in sims {
        s.shutdown().await;
    }
}
