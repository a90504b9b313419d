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
    /// Recording alerts carry the program's artwork (else the channel logo); off, the
    /// channel logo (upstream #19: art can spoil, or clutter a lock screen).
    pub program_image: bool,
    /// `program_image` for one DVR (by `dvr_id`); a DVR not listed follows it.
    pub program_image_per_dvr: BTreeMap<String, bool>,
    pub template: Template,
}

impl RecordingOptions {
    /// Whether recording alerts from `dvr_id` carry the program's artwork.
    pub fn program_image_for(&self, dvr_id: &str) -> bool {
        self.program_image_per_dvr
            .get(dvr_id)
            .copied()
            .unwrap_or(self.program_image)
    }
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
            program_image: true,
            program_image_per_dvr: BTreeMap::new(),
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
    /// The `time_zone` setting: an IANA name, or empty for `TZ` (then the host's zone).
    #[serde(default)]
    pub time_zone: String,
    /// The zone times are shown in now, and where it came from.
    #[serde(default)]
    pub time_zone_in_force: ZoneInForce,
    pub disk_thresholds: DiskThresholds,
    pub disk_thresholds_managed_by_file: bool,
    pub config_file: ConfigFile,
}

/// The zone in force: its name, where it came from (`setting`, `env` for `TZ`,
/// `host`, `default`), and why a zone that was named was passed over.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ZoneInForce {
    pub name: String,
    pub source: String,
    pub warning: Option<String>,
}

/// How an alert option reads in the UI: its label, one line of help, and its unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptionText {
    /// The option's dotted path under `alerts` (`disk.worsening_delta_gib`); a path
    /// ending in `*` names every option of a group (`recording.*` is not used: each
    /// option has its own line).
    pub path: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub unit: Option<&'static str>,
}

const fn t(
    path: &'static str,
    label: &'static str,
    help: &'static str,
    unit: Option<&'static str>,
) -> OptionText {
    OptionText {
        path,
        label,
        help,
        unit,
    }
}

/// Every alert option in words. A test checks that each option of `AlertSettings`
/// has its line, so a new option cannot reach the UI as a raw key.
pub const OPTION_TEXTS: &[OptionText] = &[
    t("channel", "Live TV", "Someone starts watching a channel.", None),
    t("channel.enabled", "Send live TV alerts", "Off: still recorded in the alert history, sent nowhere.", None),
    t("channel.cooldown_seconds", "Quiet time per channel and device", "The same device on the same channel does not alert again within this time.", Some("seconds")),
    t("channel.image_source", "Picture", "program: the program's artwork (else the channel logo); channel: always the logo.", None),
    t("vod", "Recordings and library", "Someone starts playing a recording, a movie or a video.", None),
    t("vod.enabled", "Send playback alerts", "Off: still recorded in the alert history, sent nowhere.", None),
    t("vod.cooldown_seconds", "Quiet time per file and device", "The same file on the same device does not alert again within this time.", Some("seconds")),
    t("recording", "Recording jobs", "What happens to scheduled and running recordings.", None),
    t("recording.enabled", "Send recording alerts", "Off: none of the recording alerts below are sent.", None),
    t("recording.scheduled", "Scheduled", "A new recording is scheduled.", None),
    t("recording.started", "Started", "A recording begins.", None),
    t("recording.completed", "Completed", "A recording finishes.", None),
    t("recording.stopped", "Stopped early", "Someone stops a recording before its end.", None),
    t("recording.cancelled", "Cancelled", "A scheduled recording is removed before it starts.", None),
    t("recording.failed", "Failed", "The DVR reports a recording failed.", None),
    t("recording.skipped", "Skipped", "The DVR skips a scheduled recording.", None),
    t("recording.missed", "Did not start", "A scheduled recording has not started after the grace time below.", None),
    t("recording.interrupted", "Interrupted", "A recording ended with a gap or an error.", None),
    t("recording.cooldown_seconds", "Quiet time per job", "The same job and stage do not alert again within this time.", Some("seconds")),
    t("recording.program_image", "Program art", "Recording alerts show the program's artwork (else the channel logo); off: always the channel logo. Each DVR can differ under Modules per DVR.", None),
    t("recording.program_image_per_dvr", "Program art per DVR", "", None),
    t("recording.missed_grace_seconds", "Grace before \"did not start\"", "How long after its start time a scheduled recording may still begin.", Some("seconds")),
    t("disk", "Disk space", "The DVR's free space crosses the warning or critical level (Advanced).", None),
    t("disk.enabled", "Send disk alerts", "Off: levels still show on the dashboard.", None),
    t("disk.cooldown_seconds", "Quiet time per level", "A level does not alert again within this time unless it gets worse.", Some("seconds")),
    t("disk.startup_grace_seconds", "Quiet after start", "No disk alert this soon after the monitor starts.", Some("seconds")),
    t("disk.worsening_delta_gib", "Alert again when worse by", "Within the quiet time, alert again once free space fell by this much more.", Some("GiB")),
    t("disk.worsening_delta_percent", "…or by", "The same, as a share of the disk.", Some("%")),
    t("health", "DVR health", "A DVR stops answering or comes back.", None),
    t("health.enabled", "Send health alerts", "Off: the dashboard and /healthz still show it.", None),
    t("health.unreachable", "Unreachable", "The DVR has been unreachable for the delay below.", None),
    t("health.recovered", "Recovered", "An unreachable DVR answers again.", None),
    t("health.unreachable_delay_seconds", "Unreachable after", "How long a DVR must be down before the alert (30–3600).", Some("seconds")),
    t("rate_limit", "Alert budget per DVR", "Live TV, playback and recording alerts beyond it wait for room (disk and health never wait).", None),
    t("rate_limit.count", "Alerts", "At most this many alerts…", Some("alerts")),
    t("rate_limit.window_seconds", "…per", "…in this stretch of time.", Some("seconds")),
    t("delivery", "Delivery", "How long an alert stays worth sending.", None),
    t("delivery.max_age_seconds", "Give up after", "An alert not delivered by then (a provider down, the budget full) is marked expired.", Some("seconds")),
    t("template", "Message template", "Your own wording (Jinja); empty keeps the default layout.", None),
    t("template.title", "Title", "Empty: the default title.", None),
    t("template.body", "Body", "Empty: the default message.", None),
];

/// The words for an option: its own line, else those of its last two parts
/// (`vod.template.body` → `template.body`), else of its last part (`vod.template`).
pub fn option_text(path: &str) -> Option<&'static OptionText> {
    let find = |p: &str| OPTION_TEXTS.iter().find(|o| o.path == p);
    let parts: Vec<&str> = path.split('.').collect();
    find(path)
        .or_else(|| {
            (parts.len() > 2)
                .then(|| find(&parts[parts.len() - 2..].join(".")))
                .flatten()
        })
        .or_else(|| parts.last().and_then(|last| find(last)))
}

#[cfg(test)]
mod option_text_tests {
    use super::*;

    fn leaves(v: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        if let serde_json::Value::Object(m) = v {
            if !at.is_empty() {
                out.push(at.to_string());
            }
            for (k, x) in m {
                let p = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                leaves(x, &p, out);
            }
        } else {
            out.push(at.to_string());
        }
    }

    #[test]
    fn every_alert_option_has_words() {
        let v = serde_json::to_value(AlertSettings::default()).unwrap();
        let mut paths = Vec::new();
        leaves(&v, "", &mut paths);
        let missing: Vec<_> = paths
            .iter()
            .filter(|p| !p.starts_with("per_dvr") && option_text(p).is_none())
            .collect();
        assert!(missing.is_empty(), "options without a label: {missing:?}");
        assert_eq!(
            option_text("disk.worsening_delta_gib").unwrap().unit,
            Some("GiB")
        );
        assert_eq!(option_text("vod.template.body").unwrap().label, "Body");
    }
}

/// Alert policies in one click: which modules and recording stages send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Nothing is sent; every alert is still recorded and shown.
    MonitorOnly,
    /// Only what needs someone: failed, missed, interrupted or skipped recordings, a
    /// filling disk, a DVR gone dark.
    ImportantOnly,
    /// The important ones, plus who starts watching and recordings starting and ending.
    Balanced,
    /// Every alert.
    Everything,
}

/// The switches a preset sets, in one order: channel, VOD, recording, the recording
/// stages (scheduled, started, completed, stopped, cancelled, failed, skipped, missed,
/// interrupted), disk, health, unreachable, recovered.
type Switches = [bool; 16];

impl Preset {
    pub const ALL: [Preset; 4] = [
        Preset::MonitorOnly,
        Preset::ImportantOnly,
        Preset::Balanced,
        Preset::Everything,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Preset::MonitorOnly => "Monitor only",
            Preset::ImportantOnly => "Important only",
            Preset::Balanced => "Balanced",
            Preset::Everything => "Everything",
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            Preset::MonitorOnly => "Send nothing; keep every alert in the history.",
            Preset::ImportantOnly => {
                "Failed or missed recordings, a filling disk, a DVR gone dark."
            }
            Preset::Balanced => "The important ones, plus who starts watching and recordings.",
            Preset::Everything => "Every alert, every recording stage.",
        }
    }

    fn switches(self) -> Switches {
        let (watch, rec_main, rec_minor, important) = match self {
            Preset::MonitorOnly => (false, false, false, false),
            Preset::ImportantOnly => (false, false, false, true),
            Preset::Balanced => (true, true, false, true),
            Preset::Everything => (true, true, true, true),
        };
        [
            watch, watch, important, rec_minor, // scheduled
            rec_main,  // started
            rec_main,  // completed
            rec_minor, // stopped
            rec_minor, // cancelled
            important, // failed
            important, // skipped
            important, // missed
            important, // interrupted
            important, // disk
            important, // health
            important, // unreachable
            important, // recovered
        ]
    }

    fn read(a: &AlertSettings) -> Switches {
        let r = &a.recording;
        [
            a.channel.enabled,
            a.vod.enabled,
            r.enabled,
            r.scheduled,
            r.started,
            r.completed,
            r.stopped,
            r.cancelled,
            r.failed,
            r.skipped,
            r.missed,
            r.interrupted,
            a.disk.enabled,
            a.health.enabled,
            a.health.unreachable,
            a.health.recovered,
        ]
    }

    /// Sets the preset's switches; every other option (cooldowns, templates) stays.
    pub fn apply(self, a: &mut AlertSettings) {
        let s = self.switches();
        let r = &mut a.recording;
        a.channel.enabled = s[0];
        a.vod.enabled = s[1];
        r.enabled = s[2];
        r.scheduled = s[3];
        r.started = s[4];
        r.completed = s[5];
        r.stopped = s[6];
        r.cancelled = s[7];
        r.failed = s[8];
        r.skipped = s[9];
        r.missed = s[10];
        r.interrupted = s[11];
        a.disk.enabled = s[12];
        a.health.enabled = s[13];
        a.health.unreachable = s[14];
        a.health.recovered = s[15];
    }

    /// The preset these settings match; `None` is "Custom".
    pub fn of(a: &AlertSettings) -> Option<Preset> {
        let now = Self::read(a);
        Self::ALL.into_iter().find(|p| p.switches() == now)
    }
}

#[cfg(test)]
mod preset_tests {
    use super::*;

    #[test]
    fn each_preset_is_recognised_after_it_is_applied_and_keeps_other_options() {
        for p in Preset::ALL {
            let mut a = AlertSettings::default();
            a.channel.cooldown_seconds = 42;
            p.apply(&mut a);
            assert_eq!(Preset::of(&a), Some(p), "{}", p.name());
            assert_eq!(a.channel.cooldown_seconds, 42);
        }
        let mut a = AlertSettings::default();
        Preset::Balanced.apply(&mut a);
        a.recording.scheduled = true;
        assert_eq!(Preset::of(&a), None, "one switch more is Custom");
        let mut quiet = AlertSettings::default();
        Preset::MonitorOnly.apply(&mut quiet);
        assert!(!quiet.health.enabled && !quiet.disk.enabled && !quiet.channel.enabled);
        let mut important = AlertSettings::default();
        Preset::ImportantOnly.apply(&mut important);
        assert!(important.recording.failed && !important.recording.started);
        assert!(!important.channel.enabled && important.health.unreachable);
    }
}
