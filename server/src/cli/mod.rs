//! The command line: the commands and their flags, one module per command; each
//! parses its own flags and calls into the library.

mod apikey;
mod backup;
mod doctor;
mod healthcheck;
mod notify;
mod serve;
mod simulate;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use channelwatch::config::{Config, Flags, LogFormat, ProcessEnv};
use clap::{Args, Parser, Subcommand};

use self::apikey::ApikeyCommand;
use self::backup::BackupCommand;
use self::doctor::DoctorCommand;
use self::notify::NotifyCommand;
use self::simulate::SimulateArgs;
use self::user::UserCommand;

#[derive(Parser)]
#[command(
    name = "channelwatch",
    version,
    about = "Monitor for Channels DVR servers"
)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `channelwatch` alone runs `serve` with these flags.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
pub(crate) struct ServeArgs {
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

/// Commands other than serve log to stderr only; hold the guard while the command runs.
fn init_logging(filter: &str, format: &LogFormat) -> channelwatch::logging::LogGuard {
    channelwatch::logging::init(filter, format, None)
}

fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    Ok(Config::load(&args.flags(), &ProcessEnv)?)
}

pub(crate) async fn open_db(data_dir: Option<PathBuf>) -> anyhow::Result<storage::Db> {
    let flags = Flags {
        data_dir,
        ..Flags::default()
    };
    let config = Config::load(&flags, &ProcessEnv)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    Ok(storage::Db::open(&config.data_dir).await?)
}

/// Runs the command; its exit code.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => serve::run(cli.serve).await,
        Some(Command::Serve(args)) => serve::run(args).await,
        Some(Command::Simulate(a)) => simulate::run(a).await,
        Some(Command::Apikey(c)) => apikey::run(c).await,
        Some(Command::Doctor(c)) => doctor::run(c).await,
        Some(Command::Notify(c)) => notify::run(c).await,
        Some(Command::User(c)) => user::run(c).await,
        Some(Command::Backup(c)) => backup::run(c).await,
        Some(Command::Healthcheck { url }) => healthcheck::run(&url).await,
    }
}
