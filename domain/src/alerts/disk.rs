//! Disk Space: when a polled disk sample deserves a warning or critical alert.
//!
//! Notifies the first time the disk is low, whenever the level rises, and at the same
//! level only when free space dropped by a worsening delta since the last alert AND the
//! cooldown has passed. Back to normal resets everything. Nothing is sent during the
//! start-up grace, so a restart does not re-announce a known low disk at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alerts::kind::AlertKind;
use crate::disk::{DiskLevel, DiskSample};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiskAlertOptions {
    pub cooldown_seconds: u64,
    pub startup_grace_seconds: u64,
    pub worsening_delta_gib: f64,
    pub worsening_delta_percent: f64,
}

impl Default for DiskAlertOptions {
    fn default() -> Self {
        Self {
            cooldown_seconds: 3600,
            startup_grace_seconds: 10,
            worsening_delta_gib: 1.0,
            worsening_delta_percent: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Notified {
    level: DiskLevel,
    free_bytes: u64,
    free_percent: f64,
    at: DateTime<Utc>,
}

/// One DVR's disk alert state.
#[derive(Debug, Clone)]
pub struct DiskRule {
    started: DateTime<Utc>,
    last: Option<Notified>,
}

fn rank(l: DiskLevel) -> u8 {
    match l {
        DiskLevel::Ok => 0,
        DiskLevel::Warning => 1,
        DiskLevel::Critical => 2,
    }
}

impl DiskRule {
    pub fn new(started: DateTime<Utc>) -> Self {
        Self {
            started,
            last: None,
        }
    }

    /// The alert this sample calls for, if any.
    pub fn on_sample(
        &mut self,
        sample: DiskSample,
        level: DiskLevel,
        now: DateTime<Utc>,
        o: &DiskAlertOptions,
    ) -> Option<AlertKind> {
        if level == DiskLevel::Ok {
            self.last = None;
            return None;
        }
        let since_start = (now - self.started).to_std().unwrap_or_default();
        if since_start < Duration::from_secs(o.startup_grace_seconds) {
            return None;
        }
        let pct = sample.free_percent();
        let notify = match self.last {
            None => true,
            Some(prev) if rank(level) > rank(prev.level) => true,
            Some(prev) if rank(level) < rank(prev.level) => {
                // Better but still low: remember the new level quietly, so a later
                // fall back to critical is a rise again.
                self.last = Some(Notified { level, ..prev });
                false
            }
            Some(prev) => {
                let dropped_gib = (prev.free_bytes as f64 - sample.free_bytes as f64) / GIB;
                let dropped_pct = prev.free_percent - pct;
                let worse = dropped_gib >= o.worsening_delta_gib
                    || dropped_pct >= o.worsening_delta_percent;
                let cooled = (now - prev.at).to_std().unwrap_or_default()
                    >= Duration::from_secs(o.cooldown_seconds);
                worse && cooled
            }
        };
        if !notify {
            return None;
        }
        self.last = Some(Notified {
            level,
            free_bytes: sample.free_bytes,
            free_percent: pct,
            at: now,
        });
        Some(match level {
            DiskLevel::Critical => AlertKind::DiskCritical,
            _ => AlertKind::DiskWarning,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::DiskThresholds;

    const G: u64 = 1 << 30;
    const TOTAL: u64 = 1000 * G;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn feed(rule: &mut DiskRule, free_gib: u64, at: i64) -> Option<AlertKind> {
        let s = DiskSample {
            free_bytes: free_gib * G,
            total_bytes: TOTAL,
        };
        let level = s.level(&DiskThresholds::default());
        rule.on_sample(s, level, t(at), &DiskAlertOptions::default())
    }

    #[test]
    fn first_low_sample_after_grace_then_rises_only() {
        let mut r = DiskRule::new(t(0));
        assert_eq!(feed(&mut r, 90, 5), None, "start-up grace");
        assert_eq!(feed(&mut r, 90, 20), Some(AlertKind::DiskWarning));
        assert_eq!(feed(&mut r, 89, 30), None, "same level, cooldown");
        assert_eq!(feed(&mut r, 40, 40), Some(AlertKind::DiskCritical), "rise");
        assert_eq!(feed(&mut r, 39, 50), None);
    }

    #[test]
    fn same_level_needs_both_delta_and_cooldown() {
        let mut r = DiskRule::new(t(0));
        assert_eq!(feed(&mut r, 90, 20), Some(AlertKind::DiskWarning));
        // Cooldown passed but barely worse (under 1 GiB and 1 point).
        assert_eq!(feed(&mut r, 90, 4000), None);
        // Worse by 2 GiB, but within the cooldown of the last alert.
        assert_eq!(feed(&mut r, 88, 1000), None);
        // Worse and cooled down.
        assert_eq!(feed(&mut r, 88, 3700), Some(AlertKind::DiskWarning));
    }

    #[test]
    fn back_to_normal_resets_and_improving_is_quiet() {
        let mut r = DiskRule::new(t(0));
        assert_eq!(feed(&mut r, 40, 20), Some(AlertKind::DiskCritical));
        assert_eq!(feed(&mut r, 80, 30), None, "improved to warning: quiet");
        assert_eq!(
            feed(&mut r, 40, 40),
            Some(AlertKind::DiskCritical),
            "critical again is a rise"
        );
        assert_eq!(feed(&mut r, 500, 50), None);
        assert_eq!(
            feed(&mut r, 90, 60),
            Some(AlertKind::DiskWarning),
            "fresh start"
        );
    }
}
