//! Operations costs: applying the YAML file (first apply, an unchanged reload, one
//! changed DVR), re-encrypting every secret (`doctor rotate-key`), building the debug
//! bundle, and backup export/import. Prints figures; asserts nothing about time.
//!
//! `cargo bench -p server --bench operations [-- --dvrs 50 --providers 200]`

use testkit::bench::arg;

use std::time::{Duration, Instant};

use channelwatch::config::{read_file, Config, Flags};
use engine::EngineSettings;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(&args));
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A file with `dvrs` disabled DVRs (nothing to connect to) and `providers` webhooks.
fn yaml(dvrs: usize, providers: usize, first_name: &str) -> String {
    let mut y = String::from("dvr_soft_limit: 10000\nretention_days: 14\ndvrs:\n");
    for i in 0..dvrs {
        let name = if i == 0 {
            first_name.to_string()
        } else {
            format!("DVR {i}")
        };
        y += &format!(
            "  - name: {name}\n    host: 127.0.{}.{}\n    enabled: false\n",
            i / 250,
            i % 250 + 1
        );
    }
    y += "providers:\n";
    for i in 0..providers {
        y += &format!(
            "  - name: Hook {i}\n    type: webhook\n    url: http://127.0.0.1:9/h{i}\n    secret: ${{HOOK_SECRET}}\n"
        );
    }
    y += "routing:\n  DVR 1:\n    channel: {webhook: false}\n";
    y
}

async fn run(args: &[String]) {
    let dvrs: usize = arg(args, "--dvrs", 50);
    let providers: usize = arg(args, "--providers", 200);
    println!(
        "ChannelWatch operations benchmark on {} cores: {dvrs} DVRs, {providers} providers",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let dir = tempfile::tempdir().unwrap();
    let flags = Flags {
        data_dir: Some(dir.path().to_path_buf()),
        bind: Some("127.0.0.1".into()),
        port: Some(0),
        ..Flags::default()
    };
    let config = Config::load(
        &flags,
        &vec![
            ("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0"),
            ("CHANNELWATCH_LOG", "warn"),
        ],
    )
    .unwrap();
    let srv = channelwatch::serve::start(config, EngineSettings::default())
        .await
        .unwrap();
    let s = &srv.services;
    let env = vec![("HOOK_SECRET", "bench-secret")];
    let path = dir.path().join("bench.yaml");

    std::fs::write(&path, yaml(dvrs, providers, "First")).unwrap();
    let t = Instant::now();
    let first = read_file(&path, true, &env).unwrap();
    let parsed = t.elapsed();
    let t = Instant::now();
    let diff = channelwatch::config::declared::apply(s.parts(), &first, None)
        .await
        .unwrap();
    println!(
        "parse + check the file ({} bytes): {}; first apply: {} ({})",
        std::fs::metadata(&path).unwrap().len(),
        ms(parsed),
        ms(t.elapsed()),
        diff.summary()
    );
    let t = Instant::now();
    let same = read_file(&path, true, &env).unwrap();
    let diff = channelwatch::config::declared::apply(s.parts(), &same, Some(&first))
        .await
        .unwrap();
    println!(
        "reload, nothing changed: {} ({})",
        ms(t.elapsed()),
        diff.summary()
    );
    std::fs::write(&path, yaml(dvrs, providers, "Renamed")).unwrap();
    let t = Instant::now();
    let changed = read_file(&path, true, &env).unwrap();
    let diff = channelwatch::config::declared::apply(s.parts(), &changed, Some(&same))
        .await
        .unwrap();
    println!(
        "reload, one DVR renamed: {} ({})",
        ms(t.elapsed()),
        diff.summary()
    );

    let t = Instant::now();
    let (_, n) = s.db.rotate_key(dir.path()).await.unwrap();
    println!("rotate-key: {n} values re-encrypted in {}", ms(t.elapsed()));

    let t = Instant::now();
    let snap = channelwatch::http::operations::snapshot(s).await;
    let zip = channelwatch::bundle::build(&s.db, &s.config, snap)
        .await
        .unwrap();
    println!("debug bundle: {} bytes in {}", zip.len(), ms(t.elapsed()));

    // Entries added in the UI are what a backup carries.
    for i in 0..providers {
        storage::providers::insert(
            &s.db,
            "webhook",
            &format!("UI hook {i}"),
            true,
            &domain::notify::providers::ProviderConfig::Webhook(
                domain::notify::providers::Webhook {
                    url: format!("http://127.0.0.1:9/u{i}"),
                    secret: format!("ui-secret-{i}"),
                },
            ),
        )
        .await
        .unwrap();
    }
    for i in 0..dvrs {
        let r = channelwatch::registry::record_from(
            &channelwatch::registry::NewDvr {
                name: format!("UI DVR {i}"),
                host: format!("127.1.{}.{}", i / 250, i % 250 + 1),
                enabled: Some(false),
                // Sealed too: rotation and backups carry them.
                api_key: Some(format!("bench-dvr-key-{i}")),
                ..Default::default()
            },
            storage::dvrs::ManagedBy::Ui,
        )
        .unwrap();
        storage::dvrs::upsert(&s.db, &r).await.unwrap();
    }
    let t = Instant::now();
    let b = channelwatch::backup::export(&s.db, Some("bench passphrase"))
        .await
        .unwrap();
    let text = serde_json::to_string(&b).unwrap();
    println!(
        "backup export (sealed): {} bytes in {} (argon2id included)",
        text.len(),
        ms(t.elapsed())
    );
    let fresh = tempfile::tempdir().unwrap();
    let db = storage::Db::open(fresh.path()).await.unwrap();
    let t = Instant::now();
    let parsed = channelwatch::backup::parse(&text).unwrap();
    let r = channelwatch::backup::import(&db, &parsed, Some("bench passphrase"), false)
        .await
        .unwrap();
    println!(
        "backup import on a fresh install: {} DVRs, {} providers in {}",
        r.dvrs,
        r.providers,
        ms(t.elapsed())
    );
    srv.shutdown().await;
}
