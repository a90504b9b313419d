//! DVRs as the API answers them (`GET /api/v1/dvrs`), and the defaults and limits a
//! DVR's settings have: the server applies them, the form shows them.

use serde::{Deserialize, Serialize};

/// The Channels DVR port, when none is given.
pub const DEFAULT_PORT: u16 = 8089;
/// Seconds without an event before a DVR counts as stale, when not set.
pub const DEFAULT_STALENESS_SECONDS: u32 = 300;
/// The lowest staleness threshold: above the 15 s `/status` poll, which also counts as
/// an event.
pub const MIN_STALENESS_SECONDS: u32 = 30;
/// The highest staleness threshold (a day).
pub const MAX_STALENESS_SECONDS: u32 = 86_400;

/// A DVR's health in the DVR list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DvrHealth {
    /// `healthy`, `stale`, `disconnected` or `disabled`.
    pub status: String,
    pub connected: bool,
    pub stale: bool,
    pub last_event_at: Option<String>,
    pub last_event_seconds_ago: Option<u64>,
}

/// The contract's DVR object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DvrView {
    pub dvr_id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub enabled: bool,
    pub staleness_threshold_seconds: u32,
    /// `ui`, `file` or `env`: who may edit it.
    pub managed_by: String,
    /// `****` when the DVR has an API key; absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    pub health: DvrHealth,
}
