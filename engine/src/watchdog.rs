//! The watchdog: every 30 s it judges each enabled DVR (task alive? events within the
//! staleness threshold?), revives dead tasks, publishes verdict changes on the engine's
//! feed, and confirms that every restarted task comes back within a grace period.
//!
//! It cannot be disabled; only its period is tunable, and only for tests
//! (`CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS`). The judging itself is [`Verdict::of`],
//! the same function the health endpoint, the probes and the metrics use.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{Engine, EngineEventKind};
use domain::health::{PendingRestart, RestartCause, RestartCheck, Verdict};

#[derive(Debug, Clone)]
pub struct WatchdogSettings {
    /// Period of the full check (30 s).
    pub interval: Duration,
    /// How long a restarted task has to come back (60 s).
    pub restart_grace: Duration,
    /// How often pending restarts are looked at while any exist.
    pub restart_poll: Duration,
}

impl Default for WatchdogSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            restart_grace: Duration::from_secs(60),
            restart_poll: Duration::from_secs(1),
        }
    }
}

/// Counters about the watchdog itself, for `/metrics` (a watchdog that stopped running
/// must be visible too).
#[derive(Debug, Default)]
pub struct WatchdogStats {
    pub runs: AtomicU64,
    /// Unix seconds of the last full check; 0 before the first.
    pub last_run: AtomicI64,
    pub restart_checks_ok: AtomicU64,
    pub restart_checks_failed: AtomicU64,
    /// Dead tasks the watchdog started again.
    pub revivals: AtomicU64,
}

/// The last verdict per DVR, to publish changes only.
#[derive(Debug, Default)]
pub(crate) struct Verdicts(HashMap<String, Verdict>);

impl Verdicts {
    /// Records `v`; returns the previous verdict (`None` on the first check) when it
    /// changed, `None` on the outer level when nothing changed.
    pub(crate) fn observe(&mut self, dvr_id: &str, v: Verdict) -> Option<Option<Verdict>> {
        match self.0.insert(dvr_id.to_string(), v) {
            Some(prev) if prev == v => None,
            prev => Some(prev),
        }
    }

    /// Forgets DVRs that are no longer running.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.0.retain(|id, _| keep(id));
    }

    #[cfg(test)]
    fn get(&self, dvr_id: &str) -> Option<Verdict> {
        self.0.get(dvr_id).copied()
    }
}

/// Judges a pending restart: confirmed once the task is alive and an event arrived
/// after the restart; failed once the grace period ran out; otherwise still open.
pub(crate) fn judge_restart(
    pending: PendingRestart,
    alive: bool,
    last_event_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Option<RestartCheck> {
    let moved = last_event_at.is_some_and(|t| t > pending.at);
    let waited = (now - pending.at).to_std().unwrap_or_default();
    let (ok, detail) = if alive && moved {
        (
            true,
            format!(
                "task alive and receiving events {:.1} s after the restart",
                waited.as_secs_f64()
            ),
        )
    } else if waited >= grace {
        let why = if !alive {
            "task not running"
        } else {
            "no event or /status answer since the restart"
        };
        (
            false,
            format!(
                "did not come back within {} s of the restart: {why}",
                grace.as_secs()
            ),
        )
    } else {
        return None;
    };
    Some(RestartCheck {
        cause: pending.cause,
        restarted_at: pending.at,
        checked_at: now,
        ok,
        detail,
    })
}

/// The running watchdog's handle. Cheap to clone.
#[derive(Clone)]
pub struct Watchdog {
    engine: Engine,
    settings: Arc<WatchdogSettings>,
    stats: Arc<WatchdogStats>,
}

impl Watchdog {
    pub fn new(engine: Engine, settings: WatchdogSettings) -> Self {
        Self {
            engine,
            settings: Arc::new(settings),
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> &WatchdogStats {
        &self.stats
    }

    pub fn settings(&self) -> &WatchdogSettings {
        &self.settings
    }

    /// Runs until `cancel`: a full check every interval, restart confirmations as soon
    /// as they can be decided.
    pub async fn run(self, cancel: CancellationToken) {
        let dog = self;
        {
            let mut verdicts = Verdicts::default();
            let mut next = Instant::now() + dog.settings.interval;
            loop {
                let now = Instant::now();
                if now >= next {
                    dog.check_all(&mut verdicts);
                    next = now + dog.settings.interval;
                }
                let pending = dog.check_restarts();
                let wake = if pending {
                    next.min(now + dog.settings.restart_poll)
                } else {
                    next
                };
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => {}
                    _ = dog.engine.restart_marked() => {}
                    _ = cancel.cancelled() => return,
                }
            }
        }
    }

    /// One full pass over every running DVR.
    pub(crate) fn check_all(&self, verdicts: &mut Verdicts) {
        let slots = self.engine.slots();
        for slot in &slots {
            let id = &slot.dvr_id;
            let health = self.engine.health_of(slot);
            let verdict = health.verdict();
            if let Some(prev) = verdicts.observe(id, verdict) {
                let name = &health.dvr_name;
                match verdict {
                    Verdict::Healthy => info!(dvr_id = %id, name = %name, "watchdog: DVR healthy"),
                    _ => warn!(
                        dvr_id = %id,
                        name = %name,
                        verdict = verdict.as_str(),
                        detail = health.error.as_deref().unwrap_or(""),
                        "watchdog: DVR unhealthy"
                    ),
                }
                self.engine.publish(
                    id,
                    EngineEventKind::HealthChanged {
                        from: prev,
                        to: verdict,
                        detail: health.error.clone(),
                    },
                );
            }
            if !self.engine.is_alive(id) {
                error!(dvr_id = %id, "watchdog: DVR task is not running; starting it again");
                if self.engine.restart(id, RestartCause::Watchdog) {
                    self.stats.revivals.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // A set, not a scan per verdict: at 10,000 DVRs the scan was 10⁸ comparisons.
        let running: std::collections::HashSet<&str> =
            slots.iter().map(|s| s.dvr_id.as_str()).collect();
        verdicts.retain(|id| running.contains(id));
        self.stats.runs.fetch_add(1, Ordering::Relaxed);
        self.stats
            .last_run
            .store(Utc::now().timestamp(), Ordering::Relaxed);
    }

    /// Decides every pending restart that can be decided; true while some remain open.
    pub(crate) fn check_restarts(&self) -> bool {
        let mut open = false;
        for slot in self.engine.slots() {
            let Some(pending) = slot.pending_restart() else {
                continue;
            };
            let alive = self.engine.is_alive(&slot.dvr_id);
            let Some(check) = judge_restart(
                pending,
                alive,
                slot.last_event_at(),
                Utc::now(),
                self.settings.restart_grace,
            ) else {
                open = true;
                continue;
            };
            if check.ok {
                self.stats.restart_checks_ok.fetch_add(1, Ordering::Relaxed);
                info!(dvr_id = %slot.dvr_id, cause = ?check.cause, detail = %check.detail, "watchdog: restart confirmed");
            } else {
                self.stats
                    .restart_checks_failed
                    .fetch_add(1, Ordering::Relaxed);
                error!(dvr_id = %slot.dvr_id, cause = ?check.cause, detail = %check.detail, "watchdog: restarted DVR task did not come back");
            }
            slot.finish_restart_check(check.clone());
            self.engine
                .publish(&slot.dvr_id, EngineEventKind::RestartChecked(check));
        }
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn pending() -> PendingRestart {
        PendingRestart {
            cause: RestartCause::Reload,
            at: at(0),
        }
    }

    const GRACE: Duration = Duration::from_secs(60);

    #[test]
    fn restart_confirmed_once_alive_and_an_event_arrived_after_it() {
        let c = judge_restart(pending(), true, Some(at(2)), at(3), GRACE).unwrap();
        assert!(c.ok, "{c:?}");
        assert_eq!(c.cause, RestartCause::Reload);
        assert_eq!(c.restarted_at, at(0));
    }

    #[test]
    fn restart_open_while_waiting_for_the_first_event() {
        // An event from before the restart does not count.
        assert_eq!(
            judge_restart(pending(), true, Some(at(-5)), at(59), GRACE),
            None
        );
        assert_eq!(judge_restart(pending(), true, None, at(10), GRACE), None);
    }

    #[test]
    fn restart_failed_after_the_grace_period_says_why() {
        let c = judge_restart(pending(), true, Some(at(-5)), at(60), GRACE).unwrap();
        assert!(!c.ok);
        assert!(c.detail.contains("no event"), "{}", c.detail);
        let c = judge_restart(pending(), false, Some(at(5)), at(61), GRACE).unwrap();
        assert!(!c.ok, "a dead task is never confirmed, even with an event");
        assert!(c.detail.contains("task not running"), "{}", c.detail);
    }

    #[test]
    fn verdict_changes_are_reported_once() {
        let mut v = Verdicts::default();
        assert_eq!(v.observe("a", Verdict::Healthy), Some(None));
        assert_eq!(v.observe("a", Verdict::Healthy), None);
        assert_eq!(v.observe("a", Verdict::Stale), Some(Some(Verdict::Healthy)));
        assert_eq!(v.observe("b", Verdict::Disconnected), Some(None));
        v.retain(|id| id == "b");
        assert_eq!(v.get("a"), None);
        assert_eq!(v.get("b"), Some(Verdict::Disconnected));
    }

    #[test]
    fn verdict_of_prefers_disconnected_over_stale() {
        assert_eq!(Verdict::of(true, false), Verdict::Healthy);
        assert_eq!(Verdict::of(true, true), Verdict::Stale);
        assert_eq!(Verdict::of(false, true), Verdict::Disconnected);
        assert_eq!(Verdict::of(false, false), Verdict::Disconnected);
    }
}
