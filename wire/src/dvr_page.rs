//! The DVR page (`GET /api/v1/dvrs/<id>/overview`) and the calendar feed tokens.

use serde::{Deserialize, Serialize};

use crate::{AlertRow, DvrCard, UpcomingRow};

/// Everything the page of one DVR shows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DvrOverview {
    pub card: DvrCard,
    /// From the DVR's `/status` (absent while it does not answer).
    pub platform: Option<String>,
    /// When the DVR's server process started (RFC 3339), and how long ago.
    pub started_at: Option<String>,
    pub uptime_seconds: Option<u64>,
    /// Tuners and sources as the DVR reports them (`/devices`); `None` when it does
    /// not say.
    pub sources: Option<Vec<DvrSource>>,
    /// Disk used percent, hourly for the last 7 days: `(unix seconds, percent)`.
    pub disk_trend: Vec<(i64, f64)>,
    /// Periods the DVR was stale or disconnected in the last 30 days, newest first.
    pub outages: Vec<OutageRow>,
    /// Seconds it was out in those 30 days (overlaps with the window only).
    pub outage_seconds_30d: u64,
    pub alerts: Vec<AlertRow>,
    /// Every scheduled recording still to come, soonest first.
    pub upcoming: Vec<UpcomingRow>,
}

/// A tuner or source of a DVR.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DvrSource {
    pub id: String,
    pub name: String,
    /// `tuner`, `tve`, `m3u`, … as the DVR names it.
    pub kind: Option<String>,
    pub tuners: Option<u32>,
}

/// One period a DVR was not healthy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OutageRow {
    pub started_at: String,
    /// `None` while it lasts.
    pub ended_at: Option<String>,
    pub duration_seconds: u64,
    /// `stale` or `disconnected`.
    pub kind: String,
    pub detail: Option<String>,
    /// `monitor_restarted` or `dvr_removed` when the DVR did not recover by itself.
    pub ended_by: Option<String>,
}

/// `POST /api/v1/feeds/tokens {name}`: a calendar feed token, shown once.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FeedTokenCreated {
    pub name: String,
    pub token: String,
    /// The feed of every DVR's upcoming recordings; add `&dvr_id=<id>` for one DVR.
    pub url: String,
    pub message: String,
}
