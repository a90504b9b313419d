//! The outbox worker: delivers pending rows with exponential backoff and jitter,
//! honours `Retry-After`, opens a per-provider circuit after repeated failures, logs
//! every attempt, and never lets one provider hold up another (each delivery is its
//! own task; each provider has its own concurrency bound).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use rand::Rng;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::send::{send, Failure, Outgoing};
use engine::Engine;
use storage::outbox::{self, Attempt, Pending};
use storage::{providers, Db};

#[derive(Debug, Clone)]
pub struct DispatchSettings {
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// After this many attempts a row is given up (failed).
    pub max_attempts: u32,
    /// Consecutive failures that open a provider's circuit.
    pub circuit_threshold: u32,
    pub circuit_open_for: Duration,
    pub per_provider_concurrency: usize,
    pub batch: i64,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(600),
            // Doubling from 2 s to the 10-minute cap: about two hours of retries.
            max_attempts: 20,
            circuit_threshold: 5,
            circuit_open_for: Duration::from_secs(60),
            per_provider_concurrency: 4,
            batch: 500,
        }
    }
}

/// The wait before attempt `n + 1` after `n` failed ones: doubling, capped, ±20 %.
pub fn backoff(s: &DispatchSettings, failed_attempts: u32, jitter: f64) -> Duration {
    let exp = s
        .base_delay
        .saturating_mul(1u32 << failed_attempts.saturating_sub(1).min(20));
    exp.min(s.max_delay).mul_f64(jitter.clamp(0.8, 1.2))
}

#[derive(Debug, Default, Clone, Copy)]
struct Circuit {
    failures: u32,
    open_until: Option<DateTime<Utc>>,
}

struct Inner {
    db: Db,
    http: reqwest::Client,
    engine: Engine,
    settings: DispatchSettings,
    instance_url: String,
    wake: Notify,
    /// In-flight deliveries, so shutdown lets them record their outcome.
    tracker: tokio_util::task::TaskTracker,
    circuits: Mutex<HashMap<i64, Circuit>>,
    limits: Mutex<HashMap<i64, Arc<Semaphore>>>,
    queue_depth: AtomicU64,
    /// `alerts.delivery.max_age_seconds`: older undelivered rows expire.
    max_age_secs: AtomicU64,
    /// Rows this process has claimed and not yet finished (waiting for their
    /// provider's turn or sending): a stale-claim release never takes these.
    in_flight: Mutex<std::collections::HashSet<i64>>,
    /// Cancelled at shutdown: sends that have not started do not start.
    stop: CancellationToken,
    /// When expiry and stale claims were last looked at.
    last_upkeep: Mutex<Option<Instant>>,
    /// Set once the first run released a previous process's claims.
    claims_released: std::sync::atomic::AtomicBool,
}

/// A claim this old without an outcome is released: every send has a request timeout
/// far below it, so its sender is gone (or hung) and the row would never go out.
const CLAIM_TTL: Duration = Duration::from_secs(300);

/// How often the worker expires old rows and releases stale claims.
const UPKEEP_EVERY: Duration = Duration::from_secs(10);

/// At shutdown, sends in flight get this long to record their outcome; the rest are
/// released (pending again) so the next start sends them. Well under Docker's 10 s.
const DRAIN: Duration = Duration::from_secs(5);

/// Handle to the worker. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl Dispatcher {
    pub fn new(db: Db, engine: Engine, settings: DispatchSettings, instance_url: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                http: super::http_client(),
                engine,
                settings,
                instance_url,
                wake: Notify::new(),
                tracker: tokio_util::task::TaskTracker::new(),
                circuits: Mutex::new(HashMap::new()),
                limits: Mutex::new(HashMap::new()),
                queue_depth: AtomicU64::new(0),
                max_age_secs: AtomicU64::new(3600),
                in_flight: Mutex::new(std::collections::HashSet::new()),
                stop: CancellationToken::new(),
                last_upkeep: Mutex::new(None),
                claims_released: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// New rows were written: look now rather than at the next timer.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Undelivered rows of alerts older than this expire instead of going out late.
    pub(crate) fn set_max_age(&self, age: Duration) {
        self.inner
            .max_age_secs
            .store(age.as_secs().max(1), Ordering::Relaxed);
    }

    /// Pending deliveries (for `channelwatch_notification_queue_depth`).
    pub(crate) fn queue_depth(&self) -> u64 {
        self.inner.queue_depth.load(Ordering::Relaxed)
    }

    /// Runs until `cancel`. Rows left pending by a previous process go out first. Run
    /// again after a panic, it leaves the claims alone: sends still in flight own them.
    pub async fn run(self, cancel: CancellationToken) {
        let me = self;
        {
            if !me.inner.claims_released.swap(true, Ordering::SeqCst) {
                match outbox::release_claims(&me.inner.db).await {
                    Ok(0) => {}
                    Ok(n) => info!(
                        rows = n,
                        "outbox: deliveries in flight when the last process stopped are pending again"
                    ),
                    Err(e) => warn!(error = %e, "outbox: cannot release old claims"),
                }
            }
            loop {
                let wait = match me.dispatch_due().await {
                    Ok(wait) => wait,
                    Err(e) => {
                        warn!(error = %e, "outbox: cannot read pending deliveries; retrying");
                        Duration::from_secs(2)
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = me.inner.wake.notified() => {}
                    _ = cancel.cancelled() => {
                        // Stop claiming and starting sends; give sends in flight time
                        // to record their outcome, so an acknowledged row is not sent
                        // again next start. Everything not finished then is released
                        // (a late sender's write is refused: its claim is gone).
                        me.inner.stop.cancel();
                        me.inner.tracker.close();
                        let _ = tokio::time::timeout(DRAIN, me.inner.tracker.wait()).await;
                        match outbox::release_claims(&me.inner.db).await {
                            Ok(0) => {}
                            Ok(n) => info!(rows = n, "outbox: deliveries not finished at shutdown are pending again"),
                            Err(e) => warn!(error = %e, "outbox: cannot release claims at shutdown; the next start does"),
                        }
                        return;
                    }
                }
            }
        }
    }

    /// Starts every due row not already in flight; answers how long to sleep.
    async fn dispatch_due(&self) -> Result<Duration, storage::StorageError> {
        let db = &self.inner.db;
        let now = Utc::now();
        self.upkeep(now).await?;
        let rows = outbox::claim_due(db, now, self.inner.settings.batch).await?;
        for row in rows {
            let me = self.clone();
            self.inner.in_flight.lock().insert(row.id);
            self.inner.tracker.spawn(async move {
                let id = row.id;
                me.deliver(row).await;
                me.inner.in_flight.lock().remove(&id);
                me.wake();
            });
        }
        self.inner
            .queue_depth
            .store(outbox::pending_count(db).await?, Ordering::Relaxed);
        let wait = match outbox::next_due(db).await? {
            Some(t) if t > now => (t - now).to_std().unwrap_or_default(),
            Some(_) => Duration::ZERO,
            None => Duration::from_secs(5),
        };
        Ok(wait.min(Duration::from_secs(5)))
    }

    /// Every [`UPKEEP_EVERY`]: rows too old to be worth sending expire, and claims
    /// whose sender never came back are released.
    async fn upkeep(&self, now: DateTime<Utc>) -> Result<(), storage::StorageError> {
        {
            let mut last = self.inner.last_upkeep.lock();
            if last.is_some_and(|t| t.elapsed() < UPKEEP_EVERY) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let db = &self.inner.db;
        let stale = now - chrono::Duration::from_std(CLAIM_TTL).unwrap_or_default();
        let in_flight = self.inner.in_flight.lock().clone();
        let released = outbox::release_stale_claims(db, stale, &in_flight).await?;
        if released > 0 {
            warn!(rows = released, "outbox: deliveries claimed over 5 minutes ago without an outcome are pending again");
        }
        let age = self.inner.max_age_secs.load(Ordering::Relaxed);
        let cutoff = i64::try_from(age)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let expired = outbox::expire_before(db, cutoff).await?;
        if expired > 0 {
            warn!(
                rows = expired,
                max_age_seconds = age,
                "outbox: deliveries not made within the maximum age expired"
            );
        }
        Ok(())
    }

    fn count(&self, row: &Pending, outcome: &str) {
        if let Some(slot) = self.inner.engine.slot(&row.dvr_id) {
            slot.record_notification(&row.provider_type, outcome);
        }
    }

    /// Records the attempt; a busy database is retried, because a sent row that is not
    /// marked sent would go out again after a restart.
    async fn finish(&self, row: &Pending, a: Attempt) {
        let mut wait = Duration::from_millis(50);
        for attempt in 1..=8 {
            match outbox::finish_attempt(&self.inner.db, row.id, &row.claim, &a).await {
                Ok(true) => break,
                Ok(false) => {
                    warn!(dvr_id = %row.dvr_id, outbox_id = row.id, outcome = a.status, "outbox: the row was released while this send ran; its outcome is not recorded (the row goes out again)");
                    return;
                }
                Err(e) if attempt < 8 => {
                    warn!(dvr_id = %row.dvr_id, outbox_id = row.id, error = %e, "outbox: cannot record a delivery attempt; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::error!(dvr_id = %row.dvr_id, outbox_id = row.id, error = %e, "outbox: delivery attempt not recorded; the row is released at the next start");
                }
            }
        }
        self.count(row, a.status);
    }

    async fn deliver(&self, row: Pending) {
        if self.inner.stop.is_cancelled() {
            return;
        }
        let s = &self.inner.settings;
        let max_age = self.inner.max_age_secs.load(Ordering::Relaxed);
        if (Utc::now() - row.created_at).num_seconds() > i64::try_from(max_age).unwrap_or(i64::MAX)
        {
            self.finish(
                &row,
                Attempt {
                    status: "expired",
                    http_status: None,
                    latency_ms: None,
                    error: Some(
                        "not delivered in time: older than delivery.max_age_seconds".into(),
                    ),
                    next_at: None,
                    counts: false,
                },
            )
            .await;
            return;
        }
        // Held by a rule's minimum watching time: sent only if the play is still on.
        if let Some(key) = &row.while_playing {
            let playing = self.inner.engine.slot(&row.dvr_id).is_some_and(|slot| {
                slot.with_state(|st| {
                    st.live_sessions().any(|l| l.name == *key)
                        || st.vod_sessions().any(|v| v.name == *key)
                })
            });
            if !playing {
                self.finish(
                    &row,
                    Attempt {
                        status: "suppressed",
                        http_status: None,
                        latency_ms: None,
                        error: Some(
                            "the play ended before the routing rule's minimum watching time".into(),
                        ),
                        next_at: None,
                        counts: false,
                    },
                )
                .await;
                return;
            }
        }
        let provider = match providers::get(&self.inner.db, row.provider_id).await {
            Ok(Some(p)) if p.enabled => p,
            Err(e) => {
                warn!(dvr_id = %row.dvr_id, error = %e, "outbox: cannot load provider; will retry");
                self.finish(
                    &row,
                    Attempt {
                        status: "retry",
                        http_status: None,
                        latency_ms: None,
                        error: Some(format!("cannot load provider: {e}")),
                        next_at: Some(Utc::now() + chrono::Duration::seconds(5)),
                        counts: false,
                    },
                )
                .await;
                return;
            }
            Ok(found) => {
                let why = if found.is_some() {
                    "provider disabled"
                } else {
                    "provider removed"
                };
                self.finish(
                    &row,
                    Attempt {
                        status: "failed",
                        http_status: None,
                        latency_ms: None,
                        error: Some(why.into()),
                        next_at: None,
                        counts: false,
                    },
                )
                .await;
                return;
            }
        };
        let limit = self
            .inner
            .limits
            .lock()
            .entry(row.provider_id)
            .or_insert_with(|| Arc::new(Semaphore::new(s.per_provider_concurrency)))
            .clone();
        // Waiting for the provider's turn ends at shutdown: the row is released then.
        let _permit = tokio::select! {
            permit = limit.acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = self.inner.stop.cancelled() => return,
        };
        // An open circuit skips the attempt (not counted) until it half-opens.
        let open_until = self
            .inner
            .circuits
            .lock()
            .get(&row.provider_id)
            .and_then(|c| c.open_until)
            .filter(|t| *t > Utc::now());
        if let Some(until) = open_until {
            // Not an attempt: no log entry, no attempt counted; the row's age still
            // runs toward expiry.
            let why = format!(
                "circuit open after {} consecutive failures",
                s.circuit_threshold
            );
            if let Err(e) = outbox::defer(&self.inner.db, row.id, &row.claim, until, &why).await {
                warn!(dvr_id = %row.dvr_id, outbox_id = row.id, error = %e, "outbox: cannot defer a delivery; the claim is released later");
            }
            self.count(&row, "circuit_open");
            return;
        }
        let out = Outgoing {
            title: row.title.clone(),
            message: row.message.clone(),
            image_url: row.image_url.clone(),
            event_type: row.alert_type.clone(),
            dvr_id: row.dvr_id.clone(),
            dvr_name: row.dvr_name.clone(),
            delivery_id: row.delivery_id.clone(),
            timestamp: row.created_at,
            instance_name: "ChannelWatch".into(),
            instance_url: self.inner.instance_url.clone(),
        };
        let started = Instant::now();
        // A panic while sending (a bug, or a provider answer nobody foresaw) must not
        // leave the row claimed until the next start: it is a failed, retried attempt.
        let result = {
            use futures::FutureExt as _;
            std::panic::AssertUnwindSafe(send(&self.inner.http, &provider.config, &out))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    Err(Failure::transient(format!(
                        "internal error while sending: {}",
                        domain::panic_message(panic)
                    )))
                })
        };
        let latency_ms = Some(started.elapsed().as_millis() as u64);
        let attempt_no = row.attempts + 1;
        match result {
            Ok(ack) => {
                self.inner.circuits.lock().remove(&row.provider_id);
                self.finish(
                    &row,
                    Attempt {
                        status: "sent",
                        http_status: Some(ack.status),
                        latency_ms,
                        error: None,
                        next_at: None,
                        counts: true,
                    },
                )
                .await;
            }
            Err(f) => {
                {
                    let mut circuits = self.inner.circuits.lock();
                    let c = circuits.entry(row.provider_id).or_default();
                    c.failures += 1;
                    if c.failures >= s.circuit_threshold {
                        let until = Utc::now()
                            + chrono::Duration::from_std(s.circuit_open_for).unwrap_or_default();
                        if c.open_until.is_none_or(|t| t <= Utc::now()) {
                            warn!(provider_id = row.provider_id, provider_type = %row.provider_type, failures = c.failures, "outbox: provider circuit opened");
                        }
                        c.open_until = Some(until);
                    }
                }
                let give_up = f.permanent || attempt_no >= s.max_attempts;
                let delay = backoff(s, attempt_no, rand::rng().random_range(0.8..=1.2)).max(
                    f.retry_after
                        .unwrap_or_default()
                        .min(Duration::from_secs(3600)),
                );
                let level_msg = format!("{} (attempt {attempt_no})", f.message);
                if give_up {
                    warn!(dvr_id = %row.dvr_id, provider_type = %row.provider_type, outbox_id = row.id, error = %level_msg, "outbox: delivery failed; giving up");
                } else {
                    info!(dvr_id = %row.dvr_id, provider_type = %row.provider_type, outbox_id = row.id, error = %level_msg, retry_in_s = delay.as_secs_f64(), "outbox: delivery failed; will retry");
                }
                self.finish(
                    &row,
                    Attempt {
                        status: if give_up { "failed" } else { "retry" },
                        http_status: f.status,
                        latency_ms,
                        error: Some(f.message),
                        next_at: (!give_up).then(|| {
                            Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default()
                        }),
                        counts: true,
                    },
                )
                .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let s = DispatchSettings::default();
        assert_eq!(backoff(&s, 1, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(&s, 2, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(&s, 4, 1.0), Duration::from_secs(16));
        assert_eq!(backoff(&s, 30, 1.0), Duration::from_secs(600));
        assert_eq!(backoff(&s, 1, 1.2), Duration::from_millis(2400));
        assert_eq!(
            backoff(&s, 1, 5.0),
            Duration::from_millis(2400),
            "jitter is clamped"
        );
    }
}
