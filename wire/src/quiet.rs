//! Quiet hours, maintenance windows and snoozes as `/api/v1/quiet-periods` and
//! `/api/v1/snoozes` answer them.

use serde::{Deserialize, Serialize};

/// One weekly period.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PeriodView {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub enabled: bool,
    /// `quiet` or `maintenance`.
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub dvrs: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub days: Vec<String>,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub digest: bool,
    #[serde(default)]
    pub health_breaks_through: bool,
}

/// A period on now.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InForce {
    pub id: i64,
    pub label: String,
}

/// `GET /api/v1/quiet-periods`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PeriodsView {
    pub periods: Vec<PeriodView>,
    #[serde(default)]
    pub in_force: Vec<InForce>,
    /// The zone the times are read in.
    #[serde(default)]
    pub time_zone: String,
}

/// A snooze in force.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SnoozeView {
    pub id: i64,
    pub dvr_id: Option<String>,
    pub kind: Option<String>,
    /// RFC 3339.
    pub until: String,
    #[serde(default)]
    pub digest: bool,
    #[serde(default)]
    pub source: String,
}

/// The categories a period or snooze may name, with their labels.
pub const CATEGORIES: [(&str, &str); 5] = [
    ("channel", "Live TV"),
    ("vod", "Library playback"),
    ("recording", "Recordings"),
    ("disk", "Disk space"),
    ("health", "DVR health"),
];

/// Days as periods name them, with their labels.
pub const DAYS: [(&str, &str); 7] = [
    ("mon", "Mon"),
    ("tue", "Tue"),
    ("wed", "Wed"),
    ("thu", "Thu"),
    ("fri", "Fri"),
    ("sat", "Sat"),
    ("sun", "Sun"),
];
