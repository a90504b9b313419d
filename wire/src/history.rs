//! Watch history on the wire: `GET /api/v1/history` pages and the History page's
//! filter lists.

use serde::{Deserialize, Serialize};

/// One play. The contract's fields come first, in the CSV's order; the rest add what
/// the History page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub dvr_id: String,
    pub dvr_name: String,
    /// `live` or `vod`.
    pub kind: String,
    pub device: Option<String>,
    pub client_ip: Option<String>,
    /// The channel number for live TV, else `null`.
    pub channel: Option<String>,
    pub title: Option<String>,
    /// RFC 3339.
    pub started_at: String,
    /// `null` while it plays.
    pub ended_at: Option<String>,
    /// So far, while it plays.
    pub watched_seconds: u64,
    /// `stopped`, `dvr_lost`, `monitor_restarted`, `dvr_removed`; `null` while it plays.
    pub ended_by: Option<String>,
    pub id: i64,
    /// Live TV: the channel's call sign.
    pub call_sign: Option<String>,
    /// Live TV: `tuner`, `tve`, `m3u` or `other`.
    pub source: Option<String>,
    /// Library playback: the DVR's file id.
    pub file_id: Option<String>,
    /// From the DVR's client list: the app's platform and version, and whether it
    /// played from outside the DVR's network.
    pub platform: Option<String>,
    pub app_version: Option<String>,
    pub remote: Option<bool>,
}

/// The CSV's columns: the contract's item fields, in order.
pub const CSV_COLUMNS: [&str; 11] = [
    "dvr_id",
    "dvr_name",
    "kind",
    "device",
    "client_ip",
    "channel",
    "title",
    "started_at",
    "ended_at",
    "watched_seconds",
    "ended_by",
];

/// A page, newest first unless asked otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub items: Vec<HistoryItem>,
    /// Pass as `before` for the next page; `null` on the last.
    pub next_before: Option<String>,
}

/// A channel seen in the history, for the filter list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelSeen {
    pub number: String,
    pub call_sign: Option<String>,
}

/// What the History page's filter lists offer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HistoryFacets {
    pub devices: Vec<String>,
    pub channels: Vec<ChannelSeen>,
}

/// Plays and watch time of one channel, device, kind or program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatSlice {
    pub key: String,
    /// What to show: a channel's call sign with its number, a kind in words.
    pub label: String,
    pub plays: u64,
    pub watched_seconds: u64,
}

/// Streams at once in one stretch of time: its busiest minute, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamsPoint {
    /// The stretch's start, RFC 3339.
    pub at: String,
    pub live: u32,
    pub library: u32,
    pub recording: u32,
    pub total: u32,
}

/// The most streams at once in the range, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamsPeak {
    pub at: String,
    pub total: u32,
    pub live: u32,
    pub library: u32,
    pub recording: u32,
}

/// Recording outcomes of one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingOutcomes {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub completed: u64,
    pub failed: u64,
    pub missed: u64,
    pub interrupted: u64,
}

/// `GET /api/v1/stats`: one DVR or all, over whole days (UTC).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stats {
    pub dvr_id: Option<String>,
    /// First and last day, `YYYY-MM-DD`, both included.
    pub from: String,
    pub to: String,
    pub plays: u64,
    pub watched_seconds: u64,
    pub by_kind: Vec<StatSlice>,
    pub by_channel: Vec<StatSlice>,
    pub by_device: Vec<StatSlice>,
    pub top_programs: Vec<StatSlice>,
    /// Plays by day of week (Monday first) × hour of day they started (UTC).
    pub heatmap: Vec<Vec<u64>>,
    /// Seconds per point of `streams`.
    pub streams_step_seconds: u64,
    pub streams: Vec<StreamsPoint>,
    pub peak: Option<StreamsPeak>,
    /// From the alert log, so only as far back as alerts are kept.
    pub recordings: Vec<RecordingOutcomes>,
}
