//! Routing rules per destination as `/api/v1/rules` answers them, and a rule's preview.

use serde::{Deserialize, Serialize};

/// One rule (see the server's `domain::notify::rules::Rule`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RuleView {
    #[serde(default)]
    pub id: i64,
    pub provider_id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub dvrs: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub conditions: ConditionsView,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConditionsView {
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default)]
    pub exclude_devices: Vec<String>,
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub min_watched_seconds: Option<u32>,
    #[serde(default)]
    pub time_of_day: Option<TimeOfDayView>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TimeOfDayView {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub days: Vec<String>,
}

/// One recent alert judged by a rule (`POST /api/v1/rules/preview`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PreviewItem {
    pub id: i64,
    pub created_at: String,
    pub dvr_name: String,
    pub alert_type: String,
    pub title: String,
    pub sends: bool,
    #[serde(default)]
    pub delay_seconds: Option<u32>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Preview {
    pub items: Vec<PreviewItem>,
}

/// Stream sources a rule may name, with their labels.
pub const SOURCES: [(&str, &str); 4] = [
    ("tuner", "Tuner"),
    ("tve", "TV Everywhere"),
    ("m3u", "M3U"),
    ("other", "Other"),
];
