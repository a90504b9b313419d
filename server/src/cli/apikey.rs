//! `channelwatch apikey`: create and revoke API keys.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::open_db;

#[derive(Subcommand)]
pub(crate) enum ApikeyCommand {
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

pub(crate) async fn run(c: ApikeyCommand) -> anyhow::Result<ExitCode> {
    match c {
        ApikeyCommand::Create { name, data_dir } => {
            let db = open_db(data_dir).await?;
            let key = storage::api_keys::create(&db, &name).await?;
            println!("{key}");
            eprintln!("Store this key now: it is shown only once.");
        }
        ApikeyCommand::Revoke { name, data_dir } => {
            let db = open_db(data_dir).await?;
            let n = storage::api_keys::revoke(&db, &name).await?;
            println!("revoked {n} key(s) named '{name}'");
        }
    }
    Ok(ExitCode::SUCCESS)
}
