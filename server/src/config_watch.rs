//! Reloads the configuration file on `SIGHUP` and when its content changes, for as
//! long as the monitor runs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::ProcessEnv;
use crate::services::Services;

/// The file's bytes, or `None` when it does not exist.
async fn fingerprint(path: &Path) -> Option<Vec<u8>> {
    use sha2::Digest;
    tokio::fs::read(path)
        .await
        .ok()
        .map(|b| sha2::Sha256::digest(&b).to_vec())
}

/// Reloads on `SIGHUP` and when the file's content changes (polled, which also sees
/// Kubernetes ConfigMap swaps and edits over network shares).
pub async fn watch(services: Arc<Services>, poll: Duration, cancel: CancellationToken) {
    {
        let declared = &services.declared;
        // What was applied at start, so an edit made during start-up is still seen.
        let mut seen = {
            use sha2::Digest;
            let applied = declared.file();
            (!applied.origin.name.is_empty())
                .then(|| sha2::Sha256::digest(applied.origin.text.as_bytes()).to_vec())
                .or(fingerprint(&declared.path).await)
        };
        let mut retry_at: Option<tokio::time::Instant> = None;
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let signalled = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let signalled = std::future::pending::<()>();
            let why = tokio::select! {
                _ = cancel.cancelled() => return,
                _ = signalled => "SIGHUP",
                _ = tokio::time::sleep(poll) => {
                    let now = fingerprint(&declared.path).await;
                    // A new file goes in at once; the file that stopped part-way is
                    // tried again when its 30 s are up.
                    let retry_due = retry_at.is_some_and(|t| tokio::time::Instant::now() >= t);
                    if now == seen && !retry_due {
                        continue;
                    }
                    // Wait until the writer is done: the same content twice in a row.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    if fingerprint(&declared.path).await != now {
                        continue;
                    }
                    "file changed"
                }
            };
            seen = fingerprint(&declared.path).await;
            info!(path = %declared.path.display(), trigger = why, "reloading the configuration file");
            let parts = services.parts();
            let _ = declared.reload(parts, &ProcessEnv).await;
            // Half applied (a full disk, say): the same file again, every 30 s, until whole.
            retry_at = None;
            if declared.status().is_some_and(|s| s.interrupted) {
                retry_at = Some(tokio::time::Instant::now() + Duration::from_secs(30));
            }
        }
    }
}
