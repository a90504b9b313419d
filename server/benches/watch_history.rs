//! Watch history at scale: fills N plausible plays (default 1,000,000 over a year,
//! five DVRs) into a real database behind a running server, then times every History
//! filter and sort through the HTTP API, the filter lists, the Statistics figures for
//! a week, a month and a year, and a filtered CSV export.
//! Prints p50/p99 per query. Asserts nothing about time.
//!
//! `cargo bench -p server --bench watch_history [-- --plays 1000000 --runs 50]`

use std::time::{Duration, Instant};

use channelwatch::config::{Config, Flags};
use engine::EngineSettings;
use testkit::bench::arg;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run(&args));
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

const KEY: &str = "bench-api-key-0123456789";

async fn run(args: &[String]) {
    let plays: usize = arg(args, "--plays", 1_000_000);
    let runs: usize = arg(args, "--runs", 50);
    // `--keep DIR` leaves the filled database there, to study query plans.
    let keep: String = arg(args, "--keep", String::new());
    let dir = tempfile::tempdir().expect("temp dir");
    let data = if keep.is_empty() {
        dir.path().to_path_buf()
    } else {
        std::path::PathBuf::from(&keep)
    };
    let flags = Flags {
        data_dir: Some(data.clone()),
        bind: Some("127.0.0.1".into()),
        port: Some(0),
        ..Flags::default()
    };
    let config = Config::load(
        &flags,
        &[
            ("CHANNELWATCH_API_KEY", KEY),
            ("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0"),
        ],
    )
    .expect("config");
    let srv = channelwatch::serve::start(config, EngineSettings::default())
        .await
        .expect("server starts");
    let db = srv.services.db.clone();

    let dvrs: Vec<String> = (1..=5).map(|i| format!("aaaa000{i}")).collect();
    let to = chrono::Utc::now();
    let from = to - chrono::Duration::days(365);
    let t0 = Instant::now();
    let rows = channelwatch::history::sample::plausible(&dvrs, from, to, plays, 1, 42);
    let generated = t0.elapsed();
    let t0 = Instant::now();
    for chunk in rows.chunks(50_000) {
        storage::history::insert_finished(&db, chunk)
            .await
            .expect("fill");
    }
    let filled = t0.elapsed();
    println!(
        "filled {plays} plays over 365 days in {:.1} s ({:.0} rows/s; generated in {:.1} s)",
        filled.as_secs_f64(),
        plays as f64 / filled.as_secs_f64(),
        generated.as_secs_f64()
    );
    let size = std::fs::metadata(data.join("channelwatch.db"))
        .map(|m| m.len())
        .unwrap_or(0)
        + std::fs::metadata(data.join("channelwatch.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!("database: {:.0} MiB", size as f64 / 1_048_576.0);
    drop(rows);

    let client = reqwest::Client::new();
    let base = format!("http://{}", srv.addr);
    let week_from =
        (to - chrono::Duration::days(7)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let week_to = to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let day_from =
        (to - chrono::Duration::days(200)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let day_to =
        (to - chrono::Duration::days(199)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // A cursor deep into the listing: page 1,000 costs what page 1 does.
    let deep: serde_json::Value = client
        .get(format!(
            "{base}/api/v1/history?limit=1000&before=0.0&sort=oldest"
        ))
        .header("X-API-Key", KEY)
        .send()
        .await
        .expect("deep")
        .json()
        .await
        .expect("json");
    let cursor = deep["next_before"].as_str().unwrap_or("0.0").to_string();
    let queries: Vec<(&str, String)> = vec![
        ("newest first", "/api/v1/history".into()),
        ("one DVR", "/api/v1/history?dvr_id=aaaa0003".into()),
        ("one device", "/api/v1/history?device=Kitchen".into()),
        ("one channel", "/api/v1/history?channel=13.1".into()),
        ("rare channel", "/api/v1/history?channel=6101".into()),
        ("library only", "/api/v1/history?kind=vod".into()),
        (
            "last 7 days",
            format!("/api/v1/history?from={week_from}&to={week_to}"),
        ),
        (
            "one day 200 days ago",
            format!("/api/v1/history?from={day_from}&to={day_to}"),
        ),
        ("text, common (news)", "/api/v1/history?q=news".into()),
        (
            "text, rare (treehouse)",
            "/api/v1/history?q=treehouse".into(),
        ),
        ("text, absent (zzzz)", "/api/v1/history?q=zzzz".into()),
        ("text, 2 letters (ip)", "/api/v1/history?q=ip".into()),
        (
            "DVR + library + 7 days",
            format!("/api/v1/history?dvr_id=aaaa0002&kind=vod&from={week_from}"),
        ),
        (
            "device + channel + text",
            "/api/v1/history?device=iPad&channel=9&q=dodgers".into(),
        ),
        (
            "text, common, rare channel",
            "/api/v1/history?q=news&channel=6101".into(),
        ),
        ("longest first", "/api/v1/history?sort=longest".into()),
        (
            "longest, common text",
            "/api/v1/history?sort=longest&q=news".into(),
        ),
        (
            "longest, one day",
            format!("/api/v1/history?sort=longest&from={day_from}&to={day_to}"),
        ),
        (
            "longest, one DVR",
            "/api/v1/history?sort=longest&dvr_id=aaaa0001".into(),
        ),
        ("oldest first", "/api/v1/history?sort=oldest".into()),
        (
            "deep page (cursor)",
            format!("/api/v1/history?sort=oldest&before={cursor}"),
        ),
        ("filter lists", "/api/v1/history/facets".into()),
        ("stats, 30 days", "/api/v1/stats".into()),
        (
            "stats, 7 days, one DVR",
            format!("/api/v1/stats?dvr_id=aaaa0002&from={}", &week_from[..10]),
        ),
        (
            "stats, a year",
            format!(
                "/api/v1/stats?from={}",
                &(to - chrono::Duration::days(364)).to_rfc3339()[..10]
            ),
        ),
        (
            "stats, a year, one DVR",
            format!(
                "/api/v1/stats?dvr_id=aaaa0004&from={}",
                &(to - chrono::Duration::days(364)).to_rfc3339()[..10]
            ),
        ),
        (
            "CSV, one day",
            format!("/api/v1/history.csv?from={day_from}&to={day_to}"),
        ),
    ];
    println!(
        "{:<28} {:>9} {:>9} {:>9}  rows",
        "query", "p50 ms", "p99 ms", "max ms"
    );
    let mut worst = (String::new(), Duration::ZERO);
    for (name, path) in &queries {
        let mut took = Vec::with_capacity(runs);
        let mut rows = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let res = client
                .get(format!("{base}{path}"))
                .header("X-API-Key", KEY)
                .send()
                .await
                .expect("request");
            assert_eq!(res.status(), 200, "{path}");
            let body = res.text().await.expect("body");
            took.push(t.elapsed());
            rows = if path.contains(".csv") {
                body.lines().count().saturating_sub(1)
            } else if path.contains("/stats") {
                serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["plays"].as_u64())
                    .unwrap_or(0) as usize
            } else {
                serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["items"].as_array().map(Vec::len))
                    .unwrap_or(0)
            };
        }
        took.sort();
        let p99 = percentile(&took, 0.99);
        if p99 > worst.1 && !path.contains(".csv") {
            worst = (name.to_string(), p99);
        }
        println!(
            "{name:<28} {:>9.2} {:>9.2} {:>9.2}  {rows}",
            ms(percentile(&took, 0.5)),
            ms(p99),
            ms(*took.last().expect("runs")),
        );
    }
    println!("slowest filter at p99: {} ({:.2} ms)", worst.0, ms(worst.1));
    srv.shutdown().await;
}
