//! A long alert history: N alerts (each with one delivery) spread over 60 days in a
//! real database behind a running server. Prints what one dashboard frame costs to
//! build (its alert list is one query for the page), what a history page costs, and
//! how long the retention sweep takes to delete the older half in bounded batches,
//! with the longest wait a concurrent writer saw meanwhile. Asserts nothing about time.
//!
//! `cargo bench -p server --bench history [-- --alerts 100000 --frames 200]`

use testkit::bench::arg;

use std::time::{Duration, Instant};

use channelwatch::config::{Config, Flags};
use engine::EngineSettings;
use storage::{activity, outbox};

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

async fn run(args: &[String]) {
    let alerts: i64 = arg(args, "--alerts", 100_000);
    let frames: usize = arg(args, "--frames", 200);
    let dir = tempfile::tempdir().expect("temp dir");
    let flags = Flags {
        data_dir: Some(dir.path().to_path_buf()),
        bind: Some("127.0.0.1".into()),
        port: Some(0),
        ..Flags::default()
    };
    // Three DVRs that never answer: the frame has cards to build, nothing streams.
    let closed: Vec<String> = (0..3)
        .map(|i| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
            format!("DVR {i}@127.0.0.1:{}", l.local_addr().expect("addr").port())
        })
        .collect();
    let servers = closed.join(",");
    let config = Config::load(
        &flags,
        &[
            ("CHANNELS_DVR_SERVERS", servers.as_str()),
            ("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0"),
        ],
    )
    .expect("config");
    let srv = channelwatch::serve::start(config, EngineSettings::default())
        .await
        .expect("server starts");
    let db = srv.services.db.clone();
    // The server's own hourly sweep keeps ten years: the bench runs the 30-day one.
    storage::settings::set(&db, storage::settings::RETENTION_DAYS, &3650u32)
        .await
        .expect("retention");

    // Fill: one transaction, alerts spread evenly over the last 60 days, each with one
    // finished delivery (what a month of a busy household leaves behind).
    let t0 = Instant::now();
    let now = chrono::Utc::now();
    let mut tx = db.pool.begin().await.expect("begin");
    for i in 0..alerts {
        let at = now - chrono::Duration::seconds(60 * 86_400 * i / alerts.max(1));
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO alerts (dvr_id, dvr_name, alert_type, title, message, status, created_at)
             VALUES ('aef6d698', 'Den', 'channel.watching.start', ?, 'Watching ch7 ABC from Den TV', 'sent', ?)
             RETURNING id",
        )
        .bind(format!("📺 Watching TV #{i}"))
        .bind(&at)
        .fetch_one(&mut *tx)
        .await
        .expect("alert");
        sqlx::query(
            "INSERT INTO outbox (alert_id, provider_id, provider_type, delivery_id, status, attempts,
                                 next_attempt_at, created_at, finished_at)
             VALUES (?, 1, 'webhook', ?, 'sent', 1, ?, ?, ?)",
        )
        .bind(id)
        .bind(format!("bench-{i}"))
        .bind(&at)
        .bind(&at)
        .bind(&at)
        .execute(&mut *tx)
        .await
        .expect("delivery");
    }
    tx.commit().await.expect("commit");
    println!(
        "filled {alerts} alerts (+{alerts} deliveries) in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // Dashboard frames: DVR cards, sessions, and the 50 newest alerts with deliveries.
    let mut took = Vec::with_capacity(frames);
    for _ in 0..frames {
        let t = Instant::now();
        let f = srv.services.dashboard.rebuild(srv.services.as_ref()).await;
        took.push(t.elapsed());
        assert!(f.seq > 0);
    }
    took.sort();
    println!(
        "dashboard frame build ({alerts} alerts in history): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(&took, 0.5)),
        ms(percentile(&took, 0.99)),
        ms(*took.last().expect("frames"))
    );

    // History pages: the newest page, and one deep in the past (by cursor).
    let deep = alerts * 3 / 4;
    for (what, before) in [("newest", None), ("deep", Some(deep))] {
        let mut took = Vec::new();
        for _ in 0..100 {
            let t = Instant::now();
            let page = outbox::history(&db, None, 100, before).await.expect("page");
            took.push(t.elapsed());
            assert!(!page.is_empty());
        }
        took.sort();
        println!(
            "history page of 100 ({what}): p50 {:.2} ms, p99 {:.2} ms",
            ms(percentile(&took, 0.5)),
            ms(percentile(&took, 0.99))
        );
    }

    // The retention sweep (30 days) while a writer records an alert every 20 ms.
    let writer_db = db.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let stop2 = stop.clone();
    let writer = tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        let mut writes = 0u64;
        while !stop2.is_cancelled() {
            let t = Instant::now();
            let a = outbox::NewAlert {
                dvr_id: "aef6d698".into(),
                dvr_name: "Den".into(),
                alert_type: "channel.watching.start".into(),
                title: "during the sweep".into(),
                message: "m".into(),
                image_url: None,
                dedup_key: None,
                status: "sent",
                created_at: chrono::Utc::now(),
                send_at: chrono::Utc::now(),
                route: None,
            };
            outbox::record(&writer_db, &a, &[]).await.expect("write");
            worst = worst.max(t.elapsed());
            writes += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (worst, writes)
    });
    let cutoff = (chrono::Utc::now() - chrono::Duration::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let due: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE created_at < ?")
        .bind(&cutoff)
        .fetch_one(&db.pool)
        .await
        .expect("count");
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    println!("{due} of {total} alerts are older than 30 days");
    let t = Instant::now();
    let (deleted, _) = activity::sweep(&db, 30, 7).await.expect("sweep");
    let sweep = t.elapsed();
    stop.cancel();
    let (worst, writes) = writer.await.expect("writer");
    println!(
        "retention sweep: deleted {deleted} alerts (with their deliveries) in {:.2} s, batches of {}; a concurrent writer's worst wait {:.1} ms over {writes} writes",
        sweep.as_secs_f64(),
        activity::SWEEP_BATCH,
        ms(worst)
    );
    srv.shutdown().await;
}
