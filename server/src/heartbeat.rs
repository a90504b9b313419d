//! The heartbeat: a GET of the user's push URL (healthchecks.io, Uptime Kuma's push
//! monitor, ...) every interval while the monitor is ready by its own verdict (the one
//! `/healthz/ready` gives: every enabled DVR's task alive and not stale, every core
//! task running). When the monitor dies, hangs or loses a DVR, the pings stop and the
//! outside service raises the alarm the monitor itself cannot.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::edit::EditError;
use domain::heartbeat::{self as rules, Edit, Heartbeat};
use storage::heartbeat::{self as store, HeartbeatRecord};
use storage::{Db, StorageError};
use wire::operations::HeartbeatView;

/// How long one ping may take.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// While not ready, how soon readiness is looked at again.
const RECHECK: Duration = Duration::from_secs(5);
/// The most of a push service's answer kept for the status line.
const ANSWER_BYTES: usize = 200;

/// Shared by the API and the supervised ping loop; cheap to clone.
#[derive(Clone)]
pub struct HeartbeatService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    http: reqwest::Client,
    min_interval: u32,
    config: RwLock<Option<Heartbeat>>,
    status: Mutex<Status>,
    /// Woken by an edit: the loop pings at once with what was saved.
    changed: Notify,
}

#[derive(Default)]
struct Status {
    last_at: Option<DateTime<Utc>>,
    last_outcome: Option<&'static str>,
    last_message: Option<String>,
    ok: u64,
    failed: u64,
    skipped: u64,
}

fn from_record(r: HeartbeatRecord) -> Heartbeat {
    Heartbeat {
        url: r.url,
        interval_seconds: r.interval_seconds,
        enabled: r.enabled,
    }
}

impl HeartbeatService {
    /// Reads the stored heartbeat. `min_interval` is the shortest interval accepted
    /// (`rules::MIN_INTERVAL_SECONDS` except in tests).
    pub async fn load(db: Db, min_interval: u32) -> Result<Self, StorageError> {
        let config = store::get(&db).await?.map(from_record);
        Ok(HeartbeatService {
            inner: Arc::new(Inner {
                db,
                http: crate::notify::http_client(),
                min_interval,
                config: RwLock::new(config),
                status: Mutex::new(Status::default()),
                changed: Notify::new(),
            }),
        })
    }

    /// What the API shows: the URL masked, the last ping and the counts.
    pub fn view(&self) -> HeartbeatView {
        let config = self.inner.config.read().clone();
        let st = self.inner.status.lock();
        HeartbeatView {
            configured: config.is_some(),
            enabled: config.as_ref().is_some_and(|c| c.enabled),
            url: config.as_ref().map(|c| rules::masked(&c.url)),
            interval_seconds: config
                .as_ref()
                .map_or(rules::DEFAULT_INTERVAL_SECONDS, |c| c.interval_seconds),
            min_interval_seconds: self.inner.min_interval,
            last_at: st.last_at.map(domain::times::rfc3339),
            last_outcome: st.last_outcome.map(str::to_string),
            last_message: st.last_message.clone(),
            pings_ok: st.ok,
            pings_failed: st.failed,
            skipped: st.skipped,
        }
    }

    /// Pings sent, failed and skipped: `channelwatch_heartbeat_pings_total{outcome}`.
    pub fn counts(&self) -> [u64; 3] {
        let st = self.inner.status.lock();
        [st.ok, st.failed, st.skipped]
    }

    /// Applies an edit, stores it, and has the loop ping with it at once.
    pub async fn edit(&self, edit: Edit) -> Result<(), EditError> {
        let stored = self.inner.config.read().clone();
        let next = rules::apply(stored.as_ref(), &edit, self.inner.min_interval)
            .map_err(EditError::Invalid)?;
        match &next {
            Some(h) => {
                store::put(
                    &self.inner.db,
                    &HeartbeatRecord {
                        url: h.url.clone(),
                        interval_seconds: h.interval_seconds,
                        enabled: h.enabled,
                    },
                )
                .await?
            }
            None => {
                store::delete(&self.inner.db).await?;
            }
        }
        info!(
            configured = next.is_some(),
            enabled = next.as_ref().is_some_and(|h| h.enabled),
            interval_seconds = next.as_ref().map(|h| h.interval_seconds),
            "heartbeat changed"
        );
        *self.inner.config.write() = next;
        self.inner.changed.notify_one();
        Ok(())
    }

    /// Rereads the stored heartbeat (a backup was restored).
    pub async fn reload(&self) -> Result<(), StorageError> {
        *self.inner.config.write() = store::get(&self.inner.db).await?.map(from_record);
        self.inner.changed.notify_one();
        Ok(())
    }

    /// One ping now, whatever the health (Settings' test button): whether the push
    /// service took it, and what it said.
    pub async fn ping_now(&self) -> Option<(bool, String)> {
        let url = self.inner.config.read().as_ref()?.url.clone();
        Some(self.ping(&url).await)
    }

    /// Every interval: a ping while `ready()` finds nothing wrong, else a skip with
    /// its reasons. Runs until `cancel`.
    pub async fn run(
        self,
        ready: impl Fn() -> Vec<String> + Send + Sync + 'static,
        cancel: CancellationToken,
    ) {
        let mut wait = Duration::ZERO;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.inner.changed.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            let Some(h) = self.inner.config.read().clone().filter(|h| h.enabled) else {
                // Nothing to ping until an edit wakes the loop.
                wait = Duration::from_secs(3600);
                continue;
            };
            let interval = Duration::from_secs(u64::from(h.interval_seconds));
            wait = interval;
            let problems = ready();
            if problems.is_empty() {
                self.ping(&h.url).await;
            } else {
                // Looked at again soon, so the first ping after a recovery is prompt.
                wait = interval.min(RECHECK);
                let why = domain::text::outside_text(&problems.join("; "), 300);
                let mut st = self.inner.status.lock();
                st.skipped += 1;
                st.last_at = Some(Utc::now());
                st.last_outcome = Some("skipped");
                st.last_message = Some(format!("not pinged: {why}"));
            }
        }
    }

    /// One GET of the push URL; answers whether it was taken and what came back.
    async fn ping(&self, url: &str) -> (bool, String) {
        let res = self.inner.http.get(url).timeout(PING_TIMEOUT).send().await;
        let (ok, message) = match res {
            Ok(r) => {
                let status = r.status();
                let text = engine::limits::read_text_prefix(r, ANSWER_BYTES)
                    .await
                    .unwrap_or_default();
                let text = domain::text::outside_text(&text, ANSWER_BYTES);
                (
                    status.is_success(),
                    format!(
                        "HTTP {}{}",
                        status.as_u16(),
                        if text.is_empty() {
                            String::new()
                        } else {
                            format!(": {text}")
                        }
                    ),
                )
            }
            // The error names the URL; it holds the token, so it is left out.
            Err(e) => (false, describe(&e)),
        };
        if !ok {
            warn!(
                url = %rules::masked(url),
                error = %message,
                "heartbeat ping failed"
            );
        }
        let mut st = self.inner.status.lock();
        if ok {
            st.ok += 1;
        } else {
            st.failed += 1;
        }
        st.last_at = Some(Utc::now());
        st.last_outcome = Some(if ok { "ok" } else { "failed" });
        st.last_message = Some(message.clone());
        (ok, message)
    }
}

/// A request error in words, without the URL (`reqwest` would print it whole).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let cause = crate::notify::send::root_cause(e);
    if cause.contains("://") {
        what.to_string()
    } else {
        format!("{what}: {}", domain::text::outside_text(&cause, 200))
    }
}
