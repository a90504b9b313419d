//! Alert settings: each module switchable globally and per DVR, with its options,
//! the global rate limit, and per-module templates. Stored as one JSON setting; the
//! shape is `wire::settings` (shared with the UI), the rules are here.

use super::disk::DiskAlertOptions;
use crate::alerts::kind::{AlertKind, Category};

pub use wire::settings::{
    AlertSettings, ChannelOptions, DeliveryOptions, DiskOptions, DvrModules, HealthOptions,
    RateLimit, RecordingOptions, Template, VodOptions,
};

/// The disk rule's options from the disk module's settings.
pub(crate) fn disk_rule(d: &DiskOptions) -> DiskAlertOptions {
    DiskAlertOptions {
        cooldown_seconds: d.cooldown_seconds,
        startup_grace_seconds: d.startup_grace_seconds,
        worsening_delta_gib: d.worsening_delta_gib,
        worsening_delta_percent: d.worsening_delta_percent,
    }
}

/// What the alert settings mean: which alerts are wanted, each module's template, and
/// the ranges their types cannot express.
pub trait AlertRules {
    fn wants(&self, dvr_id: &str, kind: AlertKind) -> bool;
    fn template(&self, cat: Category) -> &Template;
    fn validate(&self) -> Result<(), String>;
}

impl AlertRules for AlertSettings {
    /// Whether `kind` alerts are wanted on `dvr_id` (global module, its sub-switch, and
    /// the DVR's own switch for the module).
    fn wants(&self, dvr_id: &str, kind: AlertKind) -> bool {
        use AlertKind::*;
        let Some(cat) = kind.category() else {
            return true;
        };
        let global = match kind {
            ChannelWatching => self.channel.enabled,
            VodPlayback => self.vod.enabled,
            DiskWarning | DiskCritical => self.disk.enabled,
            DvrUnreachable => self.health.enabled && self.health.unreachable,
            DvrRecovered => self.health.enabled && self.health.recovered,
            // The watchdog's reload check cannot be switched off (contract §4).
            DvrReloadFailed => return true,
            _ => {
                let r = &self.recording;
                r.enabled
                    && match kind {
                        RecordingScheduled => r.scheduled,
                        RecordingStarted => r.started,
                        RecordingCompleted => r.completed,
                        RecordingStopped => r.stopped,
                        RecordingCancelled => r.cancelled,
                        RecordingFailed => r.failed,
                        RecordingSkipped => r.skipped,
                        RecordingMissed => r.missed,
                        RecordingInterrupted => r.interrupted,
                        _ => true,
                    }
            }
        };
        global
            && self
                .per_dvr
                .get(dvr_id)
                .and_then(|m| m.get(&cat))
                .copied()
                .unwrap_or(true)
    }

    fn template(&self, cat: Category) -> &Template {
        match cat {
            Category::Channel => &self.channel.template,
            Category::Vod => &self.vod.template,
            Category::Recording => &self.recording.template,
            Category::Disk => &self.disk.template,
            Category::Health => &self.health.template,
        }
    }

    /// Checks ranges the types cannot express; the error names the key. Templates are
    /// rendered on their samples here (bounded by the sandbox: milliseconds), so async
    /// callers that can should run this on the blocking pool.
    fn validate(&self) -> Result<(), String> {
        if self.rate_limit.count == 0 {
            return Err("rate_limit.count: must be at least 1".into());
        }
        if self.rate_limit.window_seconds == 0 {
            return Err("rate_limit.window_seconds: must be at least 1".into());
        }
        if !(60..=604_800).contains(&self.delivery.max_age_seconds) {
            return Err("delivery.max_age_seconds: must be between 60 and 604800".into());
        }
        if !(30..=3600).contains(&self.health.unreachable_delay_seconds) {
            return Err("health.unreachable_delay_seconds: must be between 30 and 3600".into());
        }
        if !matches!(self.channel.image_source.as_str(), "program" | "channel") {
            return Err("channel.image_source: must be program or channel".into());
        }
        for cat in Category::ALL {
            let t = self.template(cat);
            for (part, text) in [("title", &t.title), ("body", &t.body)] {
                if let Some(text) = text {
                    super::template::check(text, cat)
                        .map_err(|e| format!("{}.template.{part}: {e}", cat.as_str()))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_defaults_are_the_rules_defaults() {
        let s = AlertSettings::default();
        let disk = DiskAlertOptions::default();
        let rule = disk_rule(&s.disk);
        assert_eq!(
            (rule.cooldown_seconds, rule.startup_grace_seconds),
            (disk.cooldown_seconds, disk.startup_grace_seconds)
        );
        assert_eq!(
            (rule.worsening_delta_gib, rule.worsening_delta_percent),
            (disk.worsening_delta_gib, disk.worsening_delta_percent)
        );
        let health = super::super::health::HealthAlertOptions::default();
        assert_eq!(
            (
                s.health.unreachable,
                s.health.recovered,
                s.health.unreachable_delay_seconds
            ),
            (
                health.unreachable,
                health.recovered,
                health.unreachable_delay_seconds
            )
        );
    }

    #[test]
    fn switches_combine_global_sub_and_per_dvr() {
        let mut s = AlertSettings::default();
        assert!(s.wants("a", AlertKind::RecordingMissed));
        s.recording.missed = false;
        assert!(!s.wants("a", AlertKind::RecordingMissed));
        assert!(s.wants("a", AlertKind::RecordingStarted));
        s.per_dvr
            .entry("a".into())
            .or_default()
            .insert(Category::Channel, false);
        assert!(!s.wants("a", AlertKind::ChannelWatching));
        assert!(s.wants("b", AlertKind::ChannelWatching));
        assert!(s.wants("a", AlertKind::Test));
    }

    #[test]
    fn partial_json_fills_defaults_and_unknown_keys_fail() {
        let s: AlertSettings = serde_json::from_str(
            r#"{"disk": {"cooldown_seconds": 60}, "vod": {"enabled": false}}"#,
        )
        .unwrap();
        assert!(s.disk.enabled, "a partial module keeps its default switch");
        assert_eq!(disk_rule(&s.disk).cooldown_seconds, 60);
        assert!(!s.vod.enabled);
        assert_eq!(s.rate_limit.count, 20);
        assert!(serde_json::from_str::<AlertSettings>(r#"{"vod": {"enabeld": true}}"#).is_err());
        let mut bad = AlertSettings::default();
        bad.health.unreachable_delay_seconds = 5;
        assert!(bad.validate().unwrap_err().starts_with("health."));
    }
}
