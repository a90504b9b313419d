//! Settings as the API answers them (`GET /api/v1/settings`): the alert modules with
//! their options and templates, the disk thresholds, the advanced values, and what the
//! YAML file manages. The domain checks and applies them (`domain::alerts::settings`,
//! `domain::disk`); this is their shape, shared with the UI.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The routing matrix's event axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Channel,
    Vod,
    Recording,
    Disk,
    Health,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Channel,
        Category::Vod,
        Category::Recording,
        Category::Disk,
        Category::Health,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Channel => "channel",
            Category::Vod => "vod",
            Category::Recording => "recording",
            Category::Disk => "disk",
            Category::Health => "health",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

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
        Self {
            enabled: true,
            cooldown_seconds: 3600,
            startup_grace_seconds: 10,
            worsening_delta_gib: 1.0,
            worsening_delta_percent: 1.0,
            template: Template::default(),
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
        Self {
            enabled: true,
            unreachable: true,
            recovered: true,
            unreachable_delay_seconds: 120,
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

/// Free-space thresholds; a level applies when either its percent or its GiB test holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskThresholds {
    pub warning_percent: f64,
    pub warning_gib: f64,
    pub critical_percent: f64,
    pub critical_gib: f64,
}

impl Default for DiskThresholds {
    fn default() -> Self {
        Self {
            warning_percent: 10.0,
            warning_gib: 50.0,
            critical_percent: 5.0,
            critical_gib: 25.0,
        }
    }
}

/// What applying the file changed: the reload's log line and `GET /api/v1/settings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub dvrs_added: Vec<String>,
    pub dvrs_changed: Vec<String>,
    pub dvrs_removed: Vec<String>,
    pub providers_added: Vec<String>,
    pub providers_changed: Vec<String>,
    pub providers_removed: Vec<String>,
    pub routing_changed: bool,
    pub settings_changed: Vec<String>,
    /// Keys that changed but only take effect after a restart (`bind`, `port`, `log`).
    pub needs_restart: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        *self == Diff::default()
    }

    /// One line: `dvrs +1 ~0 -0, providers +0 ~1 -0, routing changed, settings: alerts`.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "no changes".into();
        }
        let mut parts = vec![
            format!(
                "dvrs +{} ~{} -{}",
                self.dvrs_added.len(),
                self.dvrs_changed.len(),
                self.dvrs_removed.len()
            ),
            format!(
                "providers +{} ~{} -{}",
                self.providers_added.len(),
                self.providers_changed.len(),
                self.providers_removed.len()
            ),
        ];
        if self.routing_changed {
            parts.push("routing changed".into());
        }
        if !self.settings_changed.is_empty() {
            parts.push(format!("settings: {}", self.settings_changed.join(", ")));
        }
        if !self.needs_restart.is_empty() {
            parts.push(format!(
                "restart needed for: {}",
                self.needs_restart.join(", ")
            ));
        }
        parts.join(", ")
    }
}

/// The outcome of the last start or reload, for the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReloadStatus {
    pub at: String,
    pub ok: bool,
    pub message: String,
    #[serde(default)]
    pub diff: Option<Diff>,
    /// Writing failed part-way; the watcher tries the file again.
    pub interrupted: bool,
}

/// The YAML file in effect.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    pub path: String,
    /// The last apply (at start, `SIGHUP`, a change, or the reload endpoint).
    pub last_apply: Option<ReloadStatus>,
}

/// `GET /api/v1/settings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SettingsView {
    /// Dotted keys the YAML file sets: shown, not editable here.
    pub managed_by_file: Vec<String>,
    pub dvr_soft_limit: u32,
    pub alerts: AlertSettings,
    pub retention_days: u32,
    /// Days of watch history kept.
    #[serde(default)]
    pub history_retention_days: u32,
    pub disk_thresholds: DiskThresholds,
    pub disk_thresholds_managed_by_file: bool,
    pub config_file: ConfigFile,
}
