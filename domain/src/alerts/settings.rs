//! Alert settings: each module switchable globally and per DVR, with its options,
//! the global rate limit, and per-module templates. Stored as one JSON setting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::disk::DiskAlertOptions;
use super::health::HealthAlertOptions;
use crate::alerts::kind::{AlertKind, Category};

/// A user template for one module (minijinja); empty means the default layout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Template {
    pub title: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelOptions {
    pub enabled: bool,
    pub cooldown_seconds: u64,
    /// `program` (the program's artwork, else the channel logo) or `channel`.
    pub image_source: String,
    pub template: Template,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            cooldown_seconds: 300,
            image_source: "program".into(),
            template: Template::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VodOptions {
    pub enabled: bool,
    /// The same playback (file on client) does not alert again within this window.
    pub cooldown_seconds: u64,
    pub template: Template,
}

impl Default for VodOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            cooldown_seconds: 300,
            template: Template::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingOptions {
    pub enabled: bool,
    pub scheduled: bool,
    pub started: bool,
    pub completed: bool,
    pub stopped: bool,
    pub cancelled: bool,
    pub failed: bool,
    pub skipped: bool,
    pub missed: bool,
    pub interrupted: bool,
    pub cooldown_seconds: u64,
    /// A scheduled job that has not started this long after its start is "did not start".
    pub missed_grace_seconds: u64,
    pub template: Template,
}

impl Default for RecordingOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            scheduled: true,
            started: true,
            completed: true,
            stopped: true,
            cancelled: true,
            failed: true,
            skipped: true,
            missed: true,
            interrupted: true,
            cooldown_seconds: 60,
            missed_grace_seconds: 180,
            template: Template::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiskOptions {
    pub enabled: bool,
    pub cooldown_seconds: u64,
    pub startup_grace_seconds: u64,
    pub worsening_delta_gib: f64,
    pub worsening_delta_percent: f64,
    pub template: Template,
}

impl Default for DiskOptions {
    fn default() -> Self {
        let r = DiskAlertOptions::default();
        Self {
            enabled: true,
            cooldown_seconds: r.cooldown_seconds,
            startup_grace_seconds: r.startup_grace_seconds,
            worsening_delta_gib: r.worsening_delta_gib,
            worsening_delta_percent: r.worsening_delta_percent,
            template: Template::default(),
        }
    }
}

impl DiskOptions {
    pub fn rule(&self) -> DiskAlertOptions {
        DiskAlertOptions {
            cooldown_seconds: self.cooldown_seconds,
            startup_grace_seconds: self.startup_grace_seconds,
            worsening_delta_gib: self.worsening_delta_gib,
            worsening_delta_percent: self.worsening_delta_percent,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthOptions {
    pub enabled: bool,
    pub unreachable: bool,
    pub recovered: bool,
    /// Continuous unavailability before `dvr.unreachable` (30–3600 s).
    pub unreachable_delay_seconds: u64,
    pub template: Template,
}

impl Default for HealthOptions {
    fn default() -> Self {
        let r = HealthAlertOptions::default();
        Self {
            enabled: true,
            unreachable: r.unreachable,
            recovered: r.recovered,
            unreachable_delay_seconds: r.unreachable_delay_seconds,
            template: Template::default(),
        }
    }
}

/// Each DVR's alert budget for the channel, VOD and recording modules: at most `count`
/// alerts per `window_seconds`. Disk and health alerts are outside it (their rules
/// already send one per level or outage), so a busy DVR can never mute them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    pub count: usize,
    pub window_seconds: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            count: 20,
            window_seconds: 300,
        }
    }
}

/// Per-DVR module switches; a missing entry follows the global switch.
pub type DvrModules = BTreeMap<String, BTreeMap<Category, bool>>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    pub channel: ChannelOptions,
    pub vod: VodOptions,
    pub recording: RecordingOptions,
    pub disk: DiskOptions,
    pub health: HealthOptions,
    pub rate_limit: RateLimit,
    pub delivery: DeliveryOptions,
    pub per_dvr: DvrModules,
}

/// How long an alert stays worth sending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryOptions {
    /// An alert not delivered within this age (held by a budget, a provider down or
    /// its circuit open) is marked expired instead of arriving hours late.
    pub max_age_seconds: u64,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            max_age_seconds: 3600,
        }
    }
}

impl AlertSettings {
    /// Whether `kind` alerts are wanted on `dvr_id` (global module, its sub-switch, and
    /// the DVR's own switch for the module).
    pub fn wants(&self, dvr_id: &str, kind: AlertKind) -> bool {
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

    pub fn template(&self, cat: Category) -> &Template {
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
    pub fn validate(&self) -> Result<(), String> {
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
        assert_eq!(s.disk.rule().cooldown_seconds, 60);
        assert!(!s.vod.enabled);
        assert_eq!(s.rate_limit.count, 20);
        assert!(serde_json::from_str::<AlertSettings>(r#"{"vod": {"enabeld": true}}"#).is_err());
        let mut bad = AlertSettings::default();
        bad.health.unreachable_delay_seconds = 5;
        assert!(bad.validate().unwrap_err().starts_with("health."));
    }
}
