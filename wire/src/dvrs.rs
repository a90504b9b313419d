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

/// A new DVR (`POST /api/v1/dvrs`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DvrCreate {
    pub name: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staleness_threshold_seconds: Option<u32>,
    /// For a DVR that requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// An edit of a DVR (`PATCH /api/v1/dvrs/{id}`); what is absent keeps its value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DvrPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staleness_threshold_seconds: Option<u32>,
    /// A new key; `""` removes it, and the mask `****` keeps the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// A DVR to try before adding it (`POST /api/v1/dvrs/test`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DvrTest {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `****` (the edit form's echo) means the key stored for this address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// What trying a DVR found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DvrTested {
    /// Every check passed.
    pub ok: bool,
    pub report: crate::DiagnoseReport,
    /// The report as the CLI prints it.
    pub text: String,
}
