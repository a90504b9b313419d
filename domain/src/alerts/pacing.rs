//! When an alert goes out, once the rules made it: its cooldown (a repeat of the same
//! dedup key inside it is dropped), then the DVR's budget (over it, the alert waits for
//! a free slot, or is recorded unsent when that is later than delivery can still use).
//! One DVR's [`Pacing`] holds both; the shell keeps one per DVR and the clock is the
//! caller's, so every case is a unit test here.

use std::time::{Duration, Instant};

use super::dedup::{Budget, Cooldowns};
use super::kind::{AlertKind, Category};

/// How long dedup keys are remembered: longer than any cooldown the settings allow.
const KEEP_KEYS: Duration = Duration::from_secs(86_400);

/// The budget's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At most this many alerts …
    pub count: usize,
    /// … in any window this long.
    pub window: Duration,
    /// How old an alert may be when it is delivered (`delivery.max_age_seconds`).
    pub max_age: Duration,
}

/// What is recorded for an alert (the history's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Its module is off: kept in the history, sent nowhere.
    Suppressed,
    /// Goes out now.
    Sent,
    /// Waits for a budget slot.
    Delayed,
    /// No slot before it would be too old: kept, not sent.
    RateLimited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Suppressed => "suppressed",
            Status::Sent => "sent",
            Status::Delayed => "delayed",
            Status::RateLimited => "rate_limited",
        }
    }
}

/// The schedule of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paced {
    pub status: Status,
    /// How long after now it is due.
    pub wait: Duration,
    /// The budget slot it holds, given back by [`Pacing::undo`].
    slot: Option<Instant>,
}

impl Paced {
    /// Whether it goes to its destinations at all.
    pub fn delivers(&self) -> bool {
        matches!(self.status, Status::Sent | Status::Delayed)
    }
}

/// Whether a kind counts against its DVR's budget: disk and health alerts never do
/// (their rules send one per level or outage), so a storm cannot mute them.
pub(crate) fn budgeted(kind: AlertKind) -> bool {
    !matches!(
        kind.category(),
        None | Some(Category::Disk | Category::Health)
    )
}

/// One DVR's cooldowns and budget.
#[derive(Debug, Clone, Default)]
pub struct Pacing {
    cooldowns: Cooldowns,
    budget: Budget,
}

impl Pacing {
    /// Restores a dedup key that last alerted `age` before `now` (from the history).
    pub fn restore(&mut self, key: &str, age: Duration, now: Instant) {
        self.cooldowns.restore(key, age, now);
    }

    /// The first step: false when `key` alerted within `cooldown` (drop the alert);
    /// otherwise the key's time is now. No key, or no cooldown, always passes.
    pub fn admit(&mut self, key: Option<&str>, cooldown: Duration, now: Instant) -> bool {
        let Some(key) = key.filter(|_| !cooldown.is_zero()) else {
            return true;
        };
        if !self.cooldowns.allow(key, cooldown, now) {
            return false;
        }
        self.cooldowns.prune(KEEP_KEYS, now);
        true
    }

    /// The second step, once its destinations are known: when it goes out. Only an
    /// alert that is wanted, has somewhere to go and counts against the budget takes a
    /// slot; a tenth of `max_age` is left for the delivery itself (a retry).
    pub fn schedule(
        &mut self,
        kind: AlertKind,
        wanted: bool,
        has_destinations: bool,
        limits: Limits,
        now: Instant,
    ) -> Paced {
        let paced = |status, wait, slot| Paced { status, wait, slot };
        if !wanted {
            return paced(Status::Suppressed, Duration::ZERO, None);
        }
        if !has_destinations || !budgeted(kind) {
            return paced(Status::Sent, Duration::ZERO, None);
        }
        let max_delay = limits.max_age - limits.max_age / 10;
        match self
            .budget
            .reserve(limits.count, limits.window, max_delay, now)
        {
            Some(wait) if wait.is_zero() => paced(Status::Sent, wait, Some(now)),
            Some(wait) => paced(Status::Delayed, wait, Some(now + wait)),
            None => paced(Status::RateLimited, Duration::ZERO, None),
        }
    }

    /// Takes both steps back for an alert that could not be recorded: its next
    /// occurrence must not be blocked by this one's cooldown, nor wait for its slot.
    pub fn undo(&mut self, key: Option<&str>, paced: Option<&Paced>) {
        if let Some(key) = key {
            self.cooldowns.forget(key);
        }
        if let Some(at) = paced.and_then(|p| p.slot) {
            self.budget.release(at);
        }
    }

    /// Dedup keys remembered and budget slots counted.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        (self.cooldowns.len(), self.budget.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(base: Instant, s: u64) -> Instant {
        base + Duration::from_secs(s)
    }

    const LIMITS: Limits = Limits {
        count: 2,
        window: Duration::from_secs(60),
        max_age: Duration::from_secs(1000),
    };

    #[test]
    fn a_repeat_inside_its_cooldown_is_dropped_and_others_pass() {
        let (base, mut p) = (Instant::now(), Pacing::default());
        let cd = Duration::from_secs(300);
        assert!(p.admit(Some("ch7"), cd, t(base, 0)));
        assert!(!p.admit(Some("ch7"), cd, t(base, 299)));
        assert!(p.admit(Some("ch9"), cd, t(base, 1)));
        assert!(p.admit(Some("ch7"), cd, t(base, 300)));
        assert!(p.admit(None, cd, t(base, 300)), "no key: no dedup");
        assert!(
            p.admit(Some("ch7"), Duration::ZERO, t(base, 301)),
            "no cooldown"
        );
    }

    #[test]
    fn over_the_budget_alerts_wait_then_are_recorded_unsent() {
        let (base, mut p) = (Instant::now(), Pacing::default());
        let k = AlertKind::ChannelWatching;
        let first = p.schedule(k, true, true, LIMITS, t(base, 0));
        assert_eq!((first.status, first.wait), (Status::Sent, Duration::ZERO));
        assert_eq!(
            p.schedule(k, true, true, LIMITS, t(base, 1)).status,
            Status::Sent
        );
        let third = p.schedule(k, true, true, LIMITS, t(base, 2));
        assert_eq!(third.status, Status::Delayed);
        assert_eq!(third.wait, Duration::from_secs(58));
        assert!(third.delivers());
        // A max age of 10 s leaves 9 s of waiting: a 58 s wait is too late.
        let short = Limits {
            max_age: Duration::from_secs(10),
            ..LIMITS
        };
        let late = p.schedule(k, true, true, short, t(base, 3));
        assert_eq!(late.status, Status::RateLimited);
        assert!(!late.delivers());
    }

    #[test]
    fn health_disk_unwanted_and_undeliverable_alerts_take_no_slot() {
        let (base, mut p) = (Instant::now(), Pacing::default());
        let now = t(base, 0);
        let off = p.schedule(AlertKind::ChannelWatching, false, true, LIMITS, now);
        assert_eq!(off.status, Status::Suppressed);
        assert!(!off.delivers());
        let nowhere = p.schedule(AlertKind::ChannelWatching, true, false, LIMITS, now);
        assert_eq!(nowhere.status, Status::Sent);
        for k in [AlertKind::DvrUnreachable, AlertKind::DiskCritical] {
            assert_eq!(p.schedule(k, true, true, LIMITS, now).status, Status::Sent);
        }
        assert_eq!(p.sizes(), (0, 0));
    }

    #[test]
    fn undo_frees_the_key_and_the_slot() {
        let (base, mut p) = (Instant::now(), Pacing::default());
        let cd = Duration::from_secs(300);
        let k = AlertKind::ChannelWatching;
        assert!(p.admit(Some("ch7"), cd, t(base, 0)));
        let a = p.schedule(k, true, true, LIMITS, t(base, 0));
        p.undo(Some("ch7"), Some(&a));
        assert_eq!(p.sizes(), (0, 0));
        assert!(p.admit(Some("ch7"), cd, t(base, 1)));
    }

    #[test]
    fn disk_and_health_alerts_are_outside_the_budget() {
        assert!(budgeted(AlertKind::ChannelWatching));
        assert!(budgeted(AlertKind::RecordingStarted));
        assert!(!budgeted(AlertKind::DvrUnreachable));
        assert!(!budgeted(AlertKind::DiskCritical));
    }
}
