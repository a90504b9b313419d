//! `channelwatch notify test`: one test notification through one provider.

use std::process::ExitCode;

use clap::Subcommand;

use super::{load_config, ServeArgs};

#[derive(Subcommand)]
pub(crate) enum NotifyCommand {
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

pub(crate) async fn run(c: NotifyCommand) -> anyhow::Result<ExitCode> {
    let NotifyCommand::Test { provider, serve } = c;
    let config = load_config(&serve)?;
    let db = storage::Db::open(&config.data_dir).await?;
    let Some(p) = storage::providers::get(&db, provider).await? else {
        anyhow::bail!("no provider with id {provider}");
    };
    let out = channelwatch::notify::providers::test_message(&p, &config.instance_url);
    let http = channelwatch::notify::http_client();
    Ok(
        match channelwatch::notify::send::send(&http, &p.config, &out).await {
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
    )
}
