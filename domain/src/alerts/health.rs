//! DVR Health: `dvr.unreachable` once a DVR has been unavailable (disconnected or
//! stale, per the watchdog) for the configured delay, `dvr.recovered` when it comes
//! back (only after an unreachable alert went out, with the outage's start, end and
//! duration), and `dvr.reload_failed` when a reloaded task did not come back.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthAlertOptions {
    /// Continuous unavailability before `dvr.unreachable` (30–3600 s).
    pub unreachable_delay_seconds: u64,
    pub unreachable: bool,
    pub recovered: bool,
}

impl Default for HealthAlertOptions {
    fn default() -> Self {
        Self {
            unreachable_delay_seconds: 120,
            unreachable: true,
            recovered: true,
        }
    }
}

/// An outage as the alerts describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outage {
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

impl Outage {
    /// How long it lasted (or has lasted, at `now`).
    #[cfg(test)]
    fn duration(&self, now: DateTime<Utc>) -> Duration {
        (self.until.unwrap_or(now) - self.since)
            .to_std()
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HealthAlert {
    Unreachable(Outage),
    Recovered(Outage),
}

/// One DVR's outage tracking.
#[derive(Debug, Clone, Default)]
pub(crate) struct HealthRule {
    down_since: Option<DateTime<Utc>>,
    /// The unreachable alert went out for the current outage (arms `recovered`).
    armed: bool,
    /// The unreachable alert for this outage was decided but not sent.
    silenced: bool,
}

impl HealthRule {
    /// The watchdog's verdict changed: healthy or not.
    pub(crate) fn on_verdict(&mut self, healthy: bool, now: DateTime<Utc>) -> Option<HealthAlert> {
        match (healthy, self.down_since) {
            (false, None) => {
                self.down_since = Some(now);
                None
            }
            (true, Some(since)) => {
                self.down_since = None;
                self.silenced = false;
                let armed = std::mem::take(&mut self.armed);
                armed.then_some(HealthAlert::Recovered(Outage {
                    since,
                    until: Some(now),
                }))
            }
            _ => None,
        }
    }

    /// Called periodically: the unreachable alert once the outage is long enough.
    pub(crate) fn on_tick(&mut self, now: DateTime<Utc>, delay: Duration) -> Option<HealthAlert> {
        let since = self.down_since?;
        if self.armed || self.silenced || (now - since).to_std().unwrap_or_default() < delay {
            return None;
        }
        self.armed = true;
        Some(HealthAlert::Unreachable(Outage { since, until: None }))
    }

    /// The unreachable alert did not go out (switched off, held back): no recovery
    /// alert for this outage, but no second unreachable either.
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
        self.silenced = true;
    }

    /// Forgets everything (the DVR was removed or disabled).
    pub fn reset(&mut self) {
        *self = HealthRule::default();
    }

    /// An outage is on whose unreachable alert is still to be decided by the clock.
    pub fn waiting(&self) -> bool {
        self.down_since.is_some() && !self.armed && !self.silenced
    }

    pub(crate) fn down_since(&self) -> Option<DateTime<Utc>> {
        self.down_since
    }
}

/// `1h 2m 3s`-style durations for alert texts.
pub(crate) fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    const DELAY: Duration = Duration::from_secs(120);

    #[test]
    fn unreachable_once_after_the_delay_then_recovered_with_the_outage() {
        let mut r = HealthRule::default();
        assert_eq!(r.on_verdict(false, t(0)), None);
        assert_eq!(r.on_tick(t(60), DELAY), None);
        let a = r.on_tick(t(121), DELAY);
        assert_eq!(
            a,
            Some(HealthAlert::Unreachable(Outage {
                since: t(0),
                until: None
            }))
        );
        assert_eq!(r.on_tick(t(500), DELAY), None, "once per outage");
        // Stale → disconnected is still the same outage.
        assert_eq!(r.on_verdict(false, t(600)), None);
        let Some(HealthAlert::Recovered(o)) = r.on_verdict(true, t(700)) else {
            panic!("recovered expected")
        };
        assert_eq!((o.since, o.until), (t(0), Some(t(700))));
        assert_eq!(human_duration(o.duration(t(9999))), "11m 40s");
    }

    #[test]
    fn a_short_blip_sends_nothing() {
        let mut r = HealthRule::default();
        r.on_verdict(false, t(0));
        assert_eq!(r.on_tick(t(30), DELAY), None);
        assert_eq!(
            r.on_verdict(true, t(40)),
            None,
            "not armed: no recovery alert"
        );
        assert_eq!(r.on_tick(t(500), DELAY), None);
    }

    #[test]
    fn an_unsent_outage_alert_never_arms_recovery() {
        let mut r = HealthRule::default();
        r.on_verdict(false, t(0));
        assert!(r.on_tick(t(200), DELAY).is_some());
        r.disarm();
        assert_eq!(r.on_tick(t(300), DELAY), None);
        assert_eq!(r.on_verdict(true, t(400)), None);
        // The next outage starts clean.
        r.on_verdict(false, t(500));
        assert!(r.on_tick(t(700), DELAY).is_some());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(42)), "42s");
        assert_eq!(human_duration(Duration::from_secs(3723)), "1h 2m 3s");
    }
}
