//! `channelwatch`: the binary's wiring only. Commands parse their flags here and call
//! into the library.

// Leptos view types nest deeply; the release build needs the higher limit.
#![recursion_limit = "256"]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use channelwatch::config::{Config, Flags, LogFormat, ProcessEnv};
use clap::{Args, Parser, Subcommand};
use engine::EngineSettings;
use sim::{Framing, Scenario, SimConfig};

#[derive(Parser)]
#[command(
    name = "channelwatch",
    version,
    about = "Monitor for Channels DVR servers"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `channelwatch` alone runs `serve` with these flags.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the monitor and the web app (the default).
    ///
    /// Until the first user exists, /setup creates the admin: from a browser on this
    /// machine at localhost, or from anywhere with the one-time token the server logs
    /// at start (`First-run setup: open http://<host>:8501/setup?token=…`).
    Serve(ServeArgs),
    /// Run the Channels DVR simulator alone.
    Simulate(SimulateArgs),
    /// Manage API keys.
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Checks for operators.
    #[command(subcommand)]
    Doctor(DoctorCommand),
    /// Notification providers.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Manage logins.
    #[command(subcommand)]
    User(UserCommand),
    /// Back up or restore settings, DVRs, providers and routing.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Exit 0 iff /healthz/live answers 200 (for Docker HEALTHCHECK).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8501/healthz/live")]
        url: String,
    },
}

#[derive(Args, Clone, Default)]
struct ServeArgs {
    /// Data folder (database, config file). Env: CHANNELWATCH_DATA_DIR. Default ./data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on. Env: CHANNELWATCH_BIND. Default 0.0.0.0.
    #[arg(long)]
    bind: Option<String>,
    /// Port to listen on. Env: CHANNELWATCH_PORT. Default 8501.
    #[arg(long)]
    port: Option<u16>,
    /// YAML config file. Env: CHANNELWATCH_CONFIG. Default <data-dir>/channelwatch.yaml if present.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Also start three simulated DVRs in-process, so there is live activity to see.
    #[arg(long)]
    demo: bool,
}

impl ServeArgs {
    fn flags(&self) -> Flags {
        Flags {
            data_dir: self.data_dir.clone(),
            bind: self.bind.clone(),
            port: self.port,
            config: self.config.clone(),
            demo: self.demo,
        }
    }
}

#[derive(Args)]
struct SimulateArgs {
    #[arg(long)]
    port: u16,
    /// Address to listen on (loopback unless you mean otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// quiet, family-evening, disk-filling, flapping, garbage or stall.
    #[arg(long, default_value = "family-evening")]
    scenario: Scenario,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The name /status reports.
    #[arg(long, default_value = "Simulated DVR")]
    name: String,
    /// Write SSE `data:` lines instead of bare JSON lines.
    #[arg(long)]
    sse: bool,
    /// Run the scenario this many times faster than real time.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Announce the simulator over mDNS as `_channels_dvr._tcp` (for discovery).
    #[arg(long)]
    mdns: bool,
    /// Require this `X-API-Key` on every DVR path, as a DVR set to require one does.
    #[arg(long)]
    api_key: Option<String>,
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create a key and print it once; only its hash is stored.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Revoke every key with this name.
    Revoke {
        #[arg(long)]
        name: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a login (prompts for the password when --password is omitted).
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: Option<String>,
        /// admin (everything) or viewer (read-only).
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Set a new password (prompts when --password is omitted); ends the user's sessions.
    ResetPassword {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// The password from the flag, or asked for (hidden on a terminal, a line otherwise).
fn password_or_prompt(given: Option<String>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(p == again, "the passwords do not match");
        Ok(p)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

#[derive(Subcommand)]
enum NotifyCommand {
    /// Send a test notification through one provider and print its answer; exit 1 if
    /// the provider refused it.
    Test {
        /// The provider's id (see GET /api/v1/providers).
        #[arg(long)]
        provider: i64,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Write settings, DVRs, providers and routing to one JSON file.
    Export {
        #[arg(long)]
        output: PathBuf,
        /// Seal provider secrets under the passphrase in this file (at least 8
        /// characters; or CHANNELWATCH_BACKUP_PASSPHRASE). Without it secrets are left out.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Restore a backup file into this install (stop the server first, or use the API).
    Import {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Import providers without their secrets (they come in disabled).
        #[arg(long)]
        without_secrets: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

/// The backup passphrase from a file (trailing newline removed) or the environment.
fn passphrase(file: Option<&PathBuf>) -> anyhow::Result<Option<String>> {
    if let Some(f) = file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()));
    }
    Ok(std::env::var("CHANNELWATCH_BACKUP_PASSPHRASE")
        .ok()
        .filter(|p| !p.is_empty()))
}

#[derive(Subcommand)]
enum DoctorCommand {
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

/// Commands other than serve log to stderr only; hold the guard while the command runs.
fn init_logging(filter: &str, format: &LogFormat) -> channelwatch::logging::LogGuard {
    channelwatch::logging::init(filter, format, None)
}

fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    Ok(Config::load(&args.flags(), &ProcessEnv)?)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    let _flush = channelwatch::logging::init(
        &config.log_filter,
        &config.log_format,
        Some(&config.data_dir),
    );
    let server = channelwatch::serve::start(config, EngineSettings::default()).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler cannot fail on unix");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn open_db(data_dir: Option<PathBuf>) -> anyhow::Result<storage::Db> {
    let flags = Flags {
        data_dir,
        ..Flags::default()
    };
    let config = Config::load(&flags, &ProcessEnv)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    Ok(storage::Db::open(&config.data_dir).await?)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => serve(cli.serve).await?,
        Some(Command::Serve(args)) => serve(args).await?,
        Some(Command::Simulate(a)) => {
            let _log = init_logging(
                &std::env::var("CHANNELWATCH_LOG").unwrap_or_else(|_| "info".into()),
                &LogFormat::Text,
            );
            if !(a.speed.is_finite() && a.speed > 0.0) {
                anyhow::bail!("--speed must be a positive number");
            }
            let config = SimConfig {
                scenario: a.scenario,
                seed: a.seed,
                name: a.name,
                time_scale: a.speed,
                framing: if a.sse { Framing::Sse } else { Framing::Bare },
                keepalive: None,
                api_key: a.api_key,
            };
            sim::run_cli(SocketAddr::new(a.bind, a.port), config, a.mdns)
                .await
                .context("simulator failed")?;
        }
        Some(Command::Apikey(ApikeyCommand::Create { name, data_dir })) => {
            let db = open_db(data_dir).await?;
            let key = storage::api_keys::create(&db, &name).await?;
            println!("{key}");
            eprintln!("Store this key now: it is shown only once.");
        }
        Some(Command::Apikey(ApikeyCommand::Revoke { name, data_dir })) => {
            let db = open_db(data_dir).await?;
            let n = storage::api_keys::revoke(&db, &name).await?;
            println!("revoked {n} key(s) named '{name}'");
        }
        Some(Command::Doctor(DoctorCommand::ConfigCheck { serve })) => {
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
        Some(Command::Doctor(DoctorCommand::RotateKey { serve })) => {
            let config = load_config(&serve)?;
            let db = storage::Db::open(&config.data_dir).await?;
            let before = db.vault.key_id();
            let (after, n) = db.rotate_key(&config.data_dir).await?;
            println!(
                "OK rotated the encryption key {before} -> {after}; {n} stored secret value(s) re-encrypted"
            );
            println!("A running server picks up the new key by itself. Back up the new key file with the database.");
        }
        Some(Command::Doctor(DoctorCommand::Bundle { output, url, serve })) => {
            return bundle(serve, output, url).await;
        }
        Some(Command::Backup(BackupCommand::Export {
            output,
            passphrase_file,
            serve,
        })) => {
            let config = load_config(&serve)?;
            let db = storage::Db::open(&config.data_dir).await?;
            let pass = passphrase(passphrase_file.as_ref())?;
            let b = channelwatch::backup::export(&db, pass.as_deref()).await?;
            std::fs::write(&output, serde_json::to_string_pretty(&b)?)
                .with_context(|| format!("cannot write {}", output.display()))?;
            println!(
                "wrote {}: {} DVR(s), {} provider(s), secrets {}",
                output.display(),
                b.dvrs.len(),
                b.providers.len(),
                if b.sealed_secrets.is_some() {
                    "sealed with the passphrase"
                } else {
                    "left out"
                }
            );
        }
        Some(Command::Backup(BackupCommand::Import {
            input,
            passphrase_file,
            without_secrets,
            serve,
        })) => {
            let config = load_config(&serve)?;
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
            let text = std::fs::read_to_string(&input)
                .with_context(|| format!("cannot read {}", input.display()))?;
            let b = channelwatch::backup::parse(&text)?;
            let db = storage::Db::open(&config.data_dir).await?;
            let pass = passphrase(passphrase_file.as_ref())?;
            let r = channelwatch::backup::import(&db, &b, pass.as_deref(), without_secrets).await?;
            println!(
                "imported {} DVR(s), {} provider(s), {} routing entries",
                r.dvrs, r.providers, r.routing_entries
            );
            for p in &r.providers_without_secrets {
                println!(
                    "provider '{p}' came in disabled without its secrets; enter them in Settings"
                );
            }
            for d in &r.dvrs_without_api_key {
                println!(
                    "DVR '{d}' came in disabled without its API key; enter it on the DVRs page"
                );
            }
        }
        Some(Command::Doctor(DoctorCommand::Diagnose { dvr, serve })) => {
            return diagnose(serve, dvr).await;
        }
        Some(Command::User(UserCommand::Create {
            username,
            password,
            role,
            data_dir,
        })) => {
            use storage::users;
            let role = users::Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role: '{role}' is not admin or viewer"))?;
            users::validate_username(&username)?;
            let password = password_or_prompt(password)?;
            let db = open_db(data_dir).await?;
            users::create(&db, &username, &password, role).await?;
            println!("created {} '{username}'", role.as_str());
        }
        Some(Command::User(UserCommand::ResetPassword {
            username,
            password,
            data_dir,
        })) => {
            let password = password_or_prompt(password)?;
            let db = open_db(data_dir).await?;
            storage::users::reset_password(&db, &username, &password).await?;
            println!("password of '{username}' changed; their sessions were ended");
        }
        Some(Command::Notify(NotifyCommand::Test { provider, serve })) => {
            let config = load_config(&serve)?;
            let db = storage::Db::open(&config.data_dir).await?;
            let Some(p) = storage::providers::get(&db, provider).await? else {
                anyhow::bail!("no provider with id {provider}");
            };
            let out = channelwatch::notify::providers::test_message(&p, &config.instance_url);
            let http = channelwatch::notify::http_client();
            return Ok(
                match channelwatch::notify::send::send(&http, &p.target, &out).await {
                    Ok(ack) => {
                        println!(
                            "OK   {} '{}': {} {}",
                            p.kind, p.name, ack.status, ack.message
                        );
                        ExitCode::SUCCESS
                    }
                    Err(f) => {
                        println!("FAIL {} '{}': {}", p.kind, p.name, f.message);
                        ExitCode::FAILURE
                    }
                },
            );
        }
        Some(Command::Healthcheck { url }) => {
            let ok = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()?
                .get(&url)
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
