//! `channelwatch backup`: export and import settings, DVRs, providers and routing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::{load_config, ServeArgs};

#[derive(Subcommand)]
pub(crate) enum BackupCommand {
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

pub(crate) async fn run(c: BackupCommand) -> anyhow::Result<ExitCode> {
    match c {
        BackupCommand::Export {
            output,
            passphrase_file,
            serve,
        } => {
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
        BackupCommand::Import {
            input,
            passphrase_file,
            without_secrets,
            serve,
        } => {
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
    }
    Ok(ExitCode::SUCCESS)
}
