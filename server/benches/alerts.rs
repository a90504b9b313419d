//! Alert path costs: event-to-enqueued latency (a simulator event until its alert and
//! outbox row are committed) and outbox throughput to a local fake provider. Prints
//! figures; asserts nothing about time.
//!
//! `cargo bench -p server --bench alerts [-- --events 500 --notifications 5000]`

use testkit::bench::arg;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use channelwatch::config::{Config, Flags};
use domain::notify::providers::{ProviderConfig, Webhook};
use engine::EngineSettings;
use sim::{Scenario, SimConfig, Simulator};
use storage::outbox::{self, NewAlert, ProviderRef};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(&args));
}

async fn count(db: &storage::Db, sql_sent: bool) -> i64 {
    if sql_sent {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'sent'")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    } else {
        sqlx::query_scalar("SELECT COUNT(*) FROM alerts")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    }
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

async fn run(args: &[String]) {
    let events: usize = arg(args, "--events", 500);
    let notifications: usize = arg(args, "--notifications", 5000);
    println!(
        "ChannelWatch alert benchmark on {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    // A local provider that acknowledges at once (a webhook receiver).
    let hits = Arc::new(AtomicU64::new(0));
    let h2 = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let h = h2.clone();
        async move {
            h.fetch_add(1, Ordering::Relaxed);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let sim = Simulator::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SimConfig {
            scenario: Scenario::Quiet,
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let flags = Flags {
        data_dir: Some(dir.path().to_path_buf()),
        bind: Some("127.0.0.1".into()),
        port: Some(0),
        ..Flags::default()
    };
    let servers = format!("Bench@127.0.0.1:{}", sim.addr().port());
    let config = Config::load(
        &flags,
        &vec![
            ("CHANNELS_DVR_SERVERS", servers.as_str()),
            ("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0"),
            ("CHANNELWATCH_LOG", "warn"),
        ],
    )
    .unwrap();
    let srv = channelwatch::serve::start(config, EngineSettings::default())
        .await
        .unwrap();
    let db = srv.services.db.clone();
    let mut s = srv.services.alerts.settings();
    s.rate_limit.count = 1_000_000;
    srv.services.alerts.set_settings(s).await.unwrap();
    let provider = storage::providers::insert(
        &db,
        "webhook",
        "bench",
        true,
        &ProviderConfig::Webhook(Webhook {
            url: format!("http://{fake}/hook"),
            secret: "s".into(),
        }),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !srv.services.engine.slots().iter().all(|s| s.is_connected()) && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // 1. Event to enqueued: one event at a time, each a new channel on a new device.
    let h = sim.handle();
    let mut lat = Vec::with_capacity(events);
    for i in 0..events {
        let before = count(&db, false).await;
        let name = format!(
            "{}-stream-10811DF5-10.9.{}.{}",
            100 + i % 800,
            i / 250,
            i % 250
        );
        let t0 = Instant::now();
        h.emit(
            "activities.set",
            &name,
            &format!(
                "Watching ch{} X from Bench {i} (10.9.{}.{})",
                100 + i % 800,
                i / 250,
                i % 250
            ),
        );
        let deadline = t0 + Duration::from_secs(5);
        while count(&db, false).await == before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
        h.emit("activities.set", &name, "");
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "event → alert + outbox row committed ({events} events): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().unwrap()
    );
    // Let those deliveries finish before measuring throughput.
    let deadline = Instant::now() + Duration::from_secs(30);
    while outbox::pending_count(&db).await.unwrap() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // 2. Outbox throughput: enqueue N at once, then time until all are acknowledged.
    let sent_before = count(&db, true).await;
    let t0 = Instant::now();
    for i in 0..notifications {
        outbox::record(
            &db,
            &NewAlert {
                dvr_id: "bench".into(),
                dvr_name: "Bench".into(),
                alert_type: "test".into(),
                title: format!("bench {i}"),
                message: "throughput".into(),
                image_url: None,
                dedup_key: None,
                status: "sent",
                created_at: chrono::Utc::now(),
                send_at: chrono::Utc::now(),
                route: None,
            },
            &[ProviderRef {
                provider_id: provider.id,
                provider_type: "webhook".into(),
                hold: None,
            }],
        )
        .await
        .unwrap();
    }
    let enqueue = t0.elapsed();
    srv.services.dispatcher.wake();
    let t1 = Instant::now();
    let target = sent_before + notifications as i64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&db, true).await < target && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = t1.elapsed();
    let done = count(&db, true).await - sent_before;
    println!(
        "enqueue {notifications} alerts with outbox rows: {:.0} alerts/s",
        notifications as f64 / enqueue.as_secs_f64()
    );
    println!(
        "outbox delivery to a local webhook: {done} sent in {:.2} s = {:.0} notifications/s (fake saw {} requests)",
        took.as_secs_f64(),
        done as f64 / took.as_secs_f64(),
        hits.load(Ordering::Relaxed)
    );
    srv.shutdown().await;
    sim.shutdown().await;
}
