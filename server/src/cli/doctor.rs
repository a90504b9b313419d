//! `channelwatch doctor`: config check, key rotation, the debug bundle, DVR diagnosis.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::{load_config, ServeArgs};

#[derive(Subcommand)]
pub(crate) enum DoctorCommand {
    /// Validate configuration and database; exit 1 with a precise message on error.
    ConfigCheck {
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Re-encrypt every stored secret under a new <data-dir>/encryption.key.
    RotateKey {
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Write a sanitized debug bundle (no secrets, hashes, key or database).
    Bundle {
        /// The zip to write. Default: channelwatch-debug-<time>.zip here.
        #[arg(long)]
        output: Option<PathBuf>,
        /// The running server, for the metrics and health snapshot.
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Check each enabled DVR (DNS, TCP, /status, version, event stream, disk, clock);
    /// one OK/FAIL line per check with a hint; exit 1 on any FAIL.
    Diagnose {
        /// Only this DVR (its dvr_id), even when disabled.
        #[arg(long = "dvr")]
        dvr: Option<String>,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

pub(crate) async fn run(c: DoctorCommand) -> anyhow::Result<ExitCode> {
    match c {
        DoctorCommand::ConfigCheck { serve } => {
            let config = load_config(&serve)?;
            let db = storage::Db::open(&config.data_dir).await?;
            channelwatch::config::declared::check(&db, &config.file, &config.env_dvrs).await?;
            let n = storage::dvrs::count(&db).await?;
            println!(
                "OK configuration: {}",
                config
                    .config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "no file (flags, environment and defaults)".into())
            );
            println!(
                "OK database: {} ({n} DVRs)",
                config.data_dir.join("channelwatch.db").display()
            );
        }
        DoctorCommand::RotateKey { serve } => {
            let config = load_config(&serve)?;
            let db = storage::Db::open(&config.data_dir).await?;
            let before = db.vault.key_id();
            let (after, n) = db.rotate_key(&config.data_dir).await?;
            println!(
            "OK rotated the encryption key {before} -> {after}; {n} stored secret value(s) re-encrypted"
        );
            println!("A running server picks up the new key by itself. Back up the new key file with the database.");
        }
        DoctorCommand::Bundle { output, url, serve } => return bundle(serve, output, url).await,
        DoctorCommand::Diagnose { dvr, serve } => return diagnose(serve, dvr).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn diagnose(args: ServeArgs, only: Option<String>) -> anyhow::Result<ExitCode> {
    use channelwatch::doctor;
    let config = load_config(&args)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let db = storage::Db::open(&config.data_dir).await?;
    let targets = doctor::targets(&config, &db, only.as_deref()).await?;
    if targets.is_empty() {
        println!("No enabled DVRs to check. Add one in the web app, CHANNELS_DVR_SERVERS or the config file.");
        return Ok(ExitCode::SUCCESS);
    }
    let thresholds = config.file.disk_thresholds.unwrap_or_default();
    let http = engine::dvr::client::DvrClient::build_http()?;
    let reports = futures::future::join_all(
        targets
            .iter()
            .map(|t| doctor::diagnose(&http, t, &thresholds, doctor::DoctorTimeouts::default())),
    )
    .await;
    let (mut passed, mut failed) = (0, 0);
    for r in &reports {
        print!("{}", r.to_text());
        for c in &r.checks {
            if c.ok {
                passed += 1;
            } else {
                failed += 1;
            }
        }
    }
    println!(
        "{} DVR(s) checked: {passed} OK, {failed} FAIL",
        reports.len()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `doctor bundle`: the doctor runs here; health and metrics come from the running
/// server when it answers (the bundle says so when it does not).
async fn bundle(
    args: ServeArgs,
    output: Option<PathBuf>,
    url: Option<String>,
) -> anyhow::Result<ExitCode> {
    use channelwatch::doctor;
    let config = load_config(&args)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let db = storage::Db::open(&config.data_dir).await?;
    let base = url.unwrap_or_else(|| format!("http://127.0.0.1:{}", config.port));
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    // The metrics token goes to /metrics only, and only on this machine.
    let local = url::Url::parse(&base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| {
            h == "localhost"
                || h.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
    let fetch = |path: &'static str| {
        let mut req = http.get(format!("{base}{path}"));
        if let (Some(t), true, "/metrics") = (&config.metrics_token, local, path) {
            req = req.bearer_auth(t);
        }
        async move {
            match req.send().await {
                Ok(r) => {
                    let status = r.status();
                    // Our own server's answer, but `--url` may name any: capped.
                    let body = engine::limits::read_text_prefix(r, 16 * 1024 * 1024)
                        .await
                        .unwrap_or_default();
                    format!("{status}\n{body}")
                }
                Err(e) => format!("the server did not answer ({e}); is it running?\n"),
            }
        }
    };
    let metrics = fetch("/metrics").await;
    let health = serde_json::json!({
        "live": fetch("/healthz/live").await,
        "ready": fetch("/healthz/ready").await,
        "startup": fetch("/healthz/startup").await,
    });
    let targets = doctor::targets(&config, &db, None).await?;
    let thresholds = config.file.disk_thresholds.unwrap_or_default();
    let dvr_http = engine::dvr::client::DvrClient::build_http()?;
    let reports =
        futures::future::join_all(targets.iter().map(|t| {
            doctor::diagnose(&dvr_http, t, &thresholds, doctor::DoctorTimeouts::default())
        }))
        .await;
    let doctor: String = if reports.is_empty() {
        "No enabled DVRs.\n".into()
    } else {
        reports.iter().map(|r| r.to_text()).collect()
    };
    let zip = channelwatch::bundle::build(
        &db,
        &config,
        channelwatch::bundle::Snapshot {
            health,
            metrics,
            doctor,
        },
    )
    .await?;
    let output = output.unwrap_or_else(channelwatch::bundle::default_name);
    std::fs::write(&output, &zip).with_context(|| format!("cannot write {}", output.display()))?;
    println!("wrote {} ({} bytes)", output.display(), zip.len());
    Ok(ExitCode::SUCCESS)
}
