//! Rendering alert texts from async code: user templates run on the blocking pool, a
//! few at once, within a time limit, so no template can hold a runtime worker.

use std::sync::{Arc, LazyLock};

use serde_json::Value;

use domain::alerts::kind::AlertKind;
use domain::alerts::settings::Template;
use domain::alerts::template::{default_text, render, RENDER_TIMEOUT};

/// Renders at once, across all DVRs: with the template caps, one render holds at most
/// (MAX_SOURCE / 2 leaves) × (largest leaf, ~32 KiB) ≈ 64 MiB, in the worst case.
static RENDERS: LazyLock<Arc<tokio::sync::Semaphore>> =
    LazyLock::new(|| Arc::new(tokio::sync::Semaphore::new(2)));

/// `render` on the blocking pool, at most two at once, with [`RENDER_TIMEOUT`]: the
/// way async code renders. A render that panics or takes too long falls back to the
/// default texts, and says why.
pub(crate) async fn render_async(
    kind: AlertKind,
    vars: Value,
    user: Option<Template>,
) -> (String, String, Option<String>) {
    let blank = |t: &Option<String>| t.as_deref().is_none_or(|s| s.trim().is_empty());
    if user
        .as_ref()
        .is_none_or(|u| blank(&u.title) && blank(&u.body))
    {
        let (t, b) = default_text(kind, &vars);
        return (t, b, None);
    }
    // The wait for a render slot counts toward the limit too: two stalled renders
    // must not hold every DVR's alerts behind them.
    let job = {
        let vars = vars.clone();
        async move {
            let permit = RENDERS.clone().acquire_owned().await.ok();
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                render(kind, &vars, user.as_ref())
            })
            .await
        }
    };
    let problem = match tokio::time::timeout(RENDER_TIMEOUT, job).await {
        Ok(Ok(rendered)) => return rendered,
        Ok(Err(e)) => format!("the template render failed: {e}"),
        Err(_) => format!(
            "the template render took over {} s",
            RENDER_TIMEOUT.as_secs()
        ),
    };
    let (t, b) = default_text(kind, &vars);
    (t, b, Some(problem))
}
