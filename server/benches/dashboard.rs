//! The live dashboard under load: a real server (in-process, loopback HTTP) watching N
//! DVRs that stream events (each its own simulator, family-evening scenario sped up),
//! with C browsers' worth of `/api/v1/live` streams open at once, plus a few clients
//! that never read. Prints how far behind each client falls (frame built → frame
//! received), frame sizes and rates, memory before and after, and the dashboard page's
//! time to first byte. Asserts nothing about time.
//!
//! `cargo bench -p server --bench dashboard [-- --dvrs 100 --clients 200 --seconds 30]`

use testkit::bench::arg;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use channelwatch::config::{Config, Flags};
use engine::EngineSettings;
use futures::StreamExt;
use sim::{Scenario, SimConfig, Simulator};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run(&args));
}

/// Resident memory of this process (server, simulators and clients together).
fn rss_mib() -> f64 {
    testkit::bench::mib(testkit::bench::rss_bytes("self"))
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

/// What one client saw.
#[derive(Default)]
struct ClientStats {
    frames: u64,
    /// Milliseconds from the frame's `generated_at` to its arrival here.
    lags_ms: Vec<f64>,
    max_lag_ms: f64,
}

async fn client(
    http: reqwest::Client,
    url: String,
    cookie: String,
    stop: Instant,
    bytes: Arc<AtomicU64>,
) -> ClientStats {
    let res = http
        .get(&url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("live feed");
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    let mut stats = ClientStats::default();
    while Instant::now() < stop {
        let next = tokio::time::timeout(
            stop.saturating_duration_since(Instant::now()),
            stream.next(),
        )
        .await;
        let Ok(Some(Ok(chunk))) = next else { break };
        bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            // Only the timestamp is needed; a full parse would measure the client.
            let Some(at) = data
                .strip_prefix("{\"generated_at\":\"")
                .and_then(|r| r.split('"').next())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            else {
                continue;
            };
            let lag = (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
                .num_microseconds()
                .unwrap_or(0) as f64
                / 1000.0;
            stats.frames += 1;
            stats.max_lag_ms = stats.max_lag_ms.max(lag);
            stats.lags_ms.push(lag);
        }
    }
    stats
}

/// Events received so far, over every DVR.
fn total_events(srv: &channelwatch::serve::Server) -> u64 {
    srv.services
        .engine
        .slots()
        .iter()
        .map(|s| s.events_by_kind().values().sum::<u64>())
        .sum()
}

async fn ttfb(http: &reqwest::Client, url: &str, cookie: &str, n: usize) -> (f64, f64, f64) {
    let mut first = Vec::with_capacity(n);
    let mut full = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let res = http
            .get(url)
            .header("cookie", cookie)
            .send()
            .await
            .expect("page");
        let mut body = res.bytes_stream();
        let _ = body.next().await;
        first.push(t.elapsed().as_secs_f64() * 1000.0);
        while body.next().await.is_some() {}
        full.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (
        pct(&mut first, 0.5),
        pct(&mut first, 0.99),
        pct(&mut full, 0.5),
    )
}

async fn run(args: &[String]) {
    let n: usize = arg(args, "--dvrs", 100);
    let clients: usize = arg(args, "--clients", 200);
    let seconds: u64 = arg(args, "--seconds", 30);
    let idle: usize = arg(args, "--idle-clients", 10);
    let speed: f64 = arg(args, "--speed", 20.0);
    println!(
        "ChannelWatch live dashboard benchmark: {n} DVRs streaming (family evening at {speed}x), \
         {clients} live clients + {idle} that never read, {seconds} s, {} cores",
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
                    scenario: Scenario::FamilyEvening,
                    seed: i as u64 + 1,
                    name: format!("bench {i}"),
                    time_scale: speed,
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
            ("CHANNELS_DVR_SERVERS", servers.as_str()),
            ("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0"),
            ("CHANNELWATCH_ADMIN_USER", "bench"),
            ("CHANNELWATCH_ADMIN_PASSWORD", "bench password"),
        ],
    )
    .expect("config");
    let srv = channelwatch::serve::start(config, EngineSettings::default())
        .await
        .expect("server starts");
    let base = format!("http://{}", srv.addr);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(clients + idle + 4)
        .build()
        .expect("client");
    let res = http
        .post(format!("{base}/auth/login"))
        .form(&[("username", "bench"), ("password", "bench password")])
        .send()
        .await
        .expect("sign in");
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while srv
        .services
        .engine
        .slots()
        .iter()
        .filter(|s| s.is_connected())
        .count()
        < n
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (p50, p99, full) = ttfb(&http, &format!("{base}/"), &cookie, 50).await;
    println!("dashboard page, no live clients: TTFB p50 {p50:.2} ms, p99 {p99:.2} ms; whole page p50 {full:.2} ms");
    let rss_before = rss_mib();
    let events_before = total_events(&srv);

    let stop = Instant::now() + Duration::from_secs(seconds);
    let bytes = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        tasks.push(tokio::spawn(client(
            http.clone(),
            format!("{base}/api/v1/live"),
            cookie.clone(),
            stop,
            bytes.clone(),
        )));
    }
    // Clients that open the stream and never read: they must not hold anyone up or
    // make the server buffer without bound.
    let mut idle_streams = Vec::new();
    for _ in 0..idle {
        idle_streams.push(
            http.get(format!("{base}/api/v1/live"))
                .header("cookie", &cookie)
                .send()
                .await
                .expect("idle client"),
        );
    }
    tokio::time::sleep(Duration::from_secs(seconds / 2)).await;
    let rss_mid = rss_mib();
    let (lp50, lp99, lfull) = ttfb(&http, &format!("{base}/"), &cookie, 50).await;
    let mut all = Vec::new();
    let mut worst = 0f64;
    let mut frames = Vec::new();
    for t in tasks {
        let s = t.await.expect("client task");
        worst = worst.max(s.max_lag_ms);
        frames.push(s.frames as f64);
        all.extend(s.lags_ms);
    }
    let rss_after = rss_mib();
    let events_after = total_events(&srv);
    let frame = srv.services.dashboard.current(srv.services.as_ref()).await;
    let total_frames: f64 = frames.iter().sum();
    let lagging = all.iter().filter(|l| **l > 1000.0).count();
    println!(
        "engine events: {:.0}/s across {n} DVRs",
        (events_after - events_before) as f64 / seconds as f64
    );
    println!(
        "frames: {:.1}/s per client, {:.1} KiB each ({} DVRs, {} sessions, {} alerts), {:.1} MiB/s pushed in total",
        total_frames / clients as f64 / seconds as f64,
        frame.json.len() as f64 / 1024.0,
        frame.dashboard.dvrs.len(),
        frame.dashboard.sessions.len(),
        frame.dashboard.alerts.len(),
        bytes.load(Ordering::Relaxed) as f64 / 1048576.0 / seconds as f64
    );
    println!(
        "client lag (frame built -> received) over {} frames: p50 {:.1} ms, p99 {:.1} ms, worst client {:.1} ms; frames over 1 s: {lagging}",
        all.len(),
        pct(&mut all.clone(), 0.5),
        pct(&mut all, 0.99),
        worst
    );
    println!(
        "frames per client: min {:.0}, max {:.0}",
        frames.iter().cloned().fold(f64::MAX, f64::min),
        frames.iter().cloned().fold(0.0, f64::max)
    );
    println!("dashboard page under load: TTFB p50 {lp50:.2} ms, p99 {lp99:.2} ms; whole page p50 {lfull:.2} ms");
    println!(
        "memory (whole process incl. simulators and clients): {rss_before:.0} MiB before clients, \
         {rss_mid:.0} MiB mid-run, {rss_after:.0} MiB at the end"
    );
    drop(idle_streams);
    srv.shutdown().await;
    for s in sims {
        s.shutdown().await;
    }
}
