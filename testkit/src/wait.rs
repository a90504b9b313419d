//! Deadline-bound waits: poll until something holds, or fail naming what was awaited.

use std::time::Duration;

/// Polls `f` until it holds or the deadline passes (then fails naming `what`).
pub async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the async `f` until it yields a value or the deadline passes (then fails naming `what`).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for an engine feed event matching `pred` (fails naming `what` at the deadline).
pub async fn next_event(
    feed: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<engine::EngineEvent>>,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&engine::EngineEvent) -> bool,
) -> std::sync::Arc<engine::EngineEvent> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, feed.recv()).await {
            Ok(Ok(ev)) if pred(&ev) => return ev,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("feed closed while waiting for {what}: {e}"),
            Err(_) => panic!("timed out after {timeout:?} waiting for event: {what}"),
        }
    }
}
