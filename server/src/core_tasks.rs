//! The product's own background tasks (the live hub with its sweeps, the watchdog,
//! the outbox, the alert router, the config watcher, discovery) run under one
//! supervisor: a task that panics or ends before shutdown is logged, counted and
//! started again after a pause that grows while it keeps failing. None can die
//! silently; each one's state is in `/metrics`, `/healthz/ready` and
//! `GET /api/v1/health`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::error;

/// The first pause before a failed task runs again, and the longest.
pub(crate) const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);
pub(crate) const MAX_RESTART_DELAY: Duration = Duration::from_secs(30);
/// A task that ran this long before failing starts again after the first pause.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

struct Entry {
    name: &'static str,
    running: AtomicBool,
    restarts: AtomicU64,
    last_failure: Mutex<Option<(DateTime<Utc>, String)>>,
    /// Test seam (the `faults` feature): makes the running task panic where it stands.
    #[cfg(any(test, feature = "faults"))]
    panic_now: tokio::sync::Notify,
}

/// One task's state, as health and metrics show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CoreTaskStatus {
    pub name: String,
    pub running: bool,
    pub restarts: u64,
    pub last_failure: Option<String>,
    pub last_failure_at: Option<DateTime<Utc>>,
}

/// The supervised tasks. Cheap to clone.
#[derive(Clone, Default)]
pub struct CoreTasks {
    entries: Arc<Mutex<Vec<Arc<Entry>>>>,
}

impl CoreTasks {
    /// Runs `make()`'s future under supervision until `cancel`: started again after
    /// each panic or unexpected end.
    pub fn supervise<F, Fut>(
        &self,
        name: &'static str,
        cancel: CancellationToken,
        make: F,
    ) -> JoinHandle<()>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let entry = Arc::new(Entry {
            name,
            running: AtomicBool::new(false),
            restarts: AtomicU64::new(0),
            last_failure: Mutex::new(None),
            #[cfg(any(test, feature = "faults"))]
            panic_now: tokio::sync::Notify::new(),
        });
        self.entries.lock().push(entry.clone());
        tokio::spawn(async move {
            let mut delay = FIRST_RESTART_DELAY;
            loop {
                let started = Instant::now();
                entry.running.store(true, Ordering::Release);
                let task = make();
                #[cfg(any(test, feature = "faults"))]
                let task = {
                    let seam = entry.clone();
                    async move {
                        tokio::select! {
                            () = task => {}
                            () = seam.panic_now.notified() => panic!("a panic injected by a test into {}", seam.name),
                        }
                    }
                };
                let res = tokio::spawn(task).await;
                entry.running.store(false, Ordering::Release);
                if cancel.is_cancelled() {
                    return;
                }
                let reason = match res {
                    Ok(()) => "ended unexpectedly".to_string(),
                    Err(e) if e.is_panic() => {
                        format!("panicked: {}", domain::panic_message(e.into_panic()))
                    }
                    Err(_) => "was cancelled".to_string(),
                };
                let restarts = entry.restarts.fetch_add(1, Ordering::Relaxed) + 1;
                *entry.last_failure.lock() = Some((Utc::now(), reason.clone()));
                if started.elapsed() >= HEALTHY_RUN {
                    delay = FIRST_RESTART_DELAY;
                }
                error!(
                    task = name,
                    reason = %reason,
                    restarts,
                    retry_in_ms = delay.as_millis() as u64,
                    "core task failed; starting it again"
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => return,
                }
                delay = (delay * 2).min(MAX_RESTART_DELAY);
            }
        })
    }

    /// Every task's state, in the order they were started.
    pub fn statuses(&self) -> Vec<CoreTaskStatus> {
        self.entries
            .lock()
            .iter()
            .map(|e| {
                let failure = e.last_failure.lock().clone();
                CoreTaskStatus {
                    name: e.name.to_string(),
                    running: e.running.load(Ordering::Acquire),
                    restarts: e.restarts.load(Ordering::Relaxed),
                    last_failure_at: failure.as_ref().map(|f| f.0),
                    last_failure: failure.map(|f| f.1),
                }
            })
            .collect()
    }

    /// Test seam (the `faults` feature): makes the named task panic; false when there is
    /// none by that name.
    #[cfg(any(test, feature = "faults"))]
    pub fn inject_panic(&self, name: &str) -> bool {
        let entries = self.entries.lock();
        let Some(e) = entries.iter().find(|e| e.name == name) else {
            return false;
        };
        e.panic_now.notify_one();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_task_that_panics_runs_again_and_the_failure_is_counted() {
        let tasks = CoreTasks::default();
        let cancel = CancellationToken::new();
        let runs = Arc::new(AtomicU64::new(0));
        let r = runs.clone();
        let stop = cancel.clone();
        // Like every core task, it ends when told to.
        let handle = tasks.supervise("ticker", cancel.clone(), move || {
            let (r, stop) = (r.clone(), stop.clone());
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                stop.cancelled().await
            }
        });
        wait_until("the first run", || runs.load(Ordering::SeqCst) == 1).await;
        assert!(tasks.inject_panic("ticker"));
        wait_until("the second run", || runs.load(Ordering::SeqCst) == 2).await;
        let s = &tasks.statuses()[0];
        assert_eq!(s.name, "ticker");
        assert!(s.running);
        assert_eq!(s.restarts, 1);
        assert!(
            s.last_failure
                .as_deref()
                .is_some_and(|f| f.contains("panicked: a panic injected")),
            "{s:?}"
        );
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .unwrap()
            .unwrap();
        assert!(!tasks.statuses()[0].running);
        assert!(!tasks.inject_panic("nothing by this name"));
    }

    #[tokio::test]
    async fn a_task_that_ends_before_shutdown_runs_again_and_shutdown_is_not_a_failure() {
        let tasks = CoreTasks::default();
        let cancel = CancellationToken::new();
        let runs = Arc::new(AtomicU64::new(0));
        let r = runs.clone();
        let stop = cancel.clone();
        let handle = tasks.supervise("quitter", cancel.clone(), move || {
            let r = r.clone();
            let stop = stop.clone();
            async move {
                // Ends at once the first time, then runs until shutdown.
                if r.fetch_add(1, Ordering::SeqCst) > 0 {
                    stop.cancelled().await;
                }
            }
        });
        wait_until("a second run", || runs.load(Ordering::SeqCst) == 2).await;
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .unwrap()
            .unwrap();
        let s = &tasks.statuses()[0];
        assert_eq!(s.restarts, 1, "{s:?}");
        assert_eq!(s.last_failure.as_deref(), Some("ended unexpectedly"));
    }
}
