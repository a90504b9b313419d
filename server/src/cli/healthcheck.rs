//! `channelwatch healthcheck`: exit 0 iff `/healthz/live` answers 200 (Docker's
//! HEALTHCHECK).

use std::process::ExitCode;

pub(crate) async fn run(url: &str) -> anyhow::Result<ExitCode> {
    let ok = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?
        .get(url)
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
