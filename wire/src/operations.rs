//! Answers of the admin operations: a configuration reload, a backup import and the
//! heartbeat.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::settings::Diff;

/// `POST /api/v1/config/reload`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Reloaded {
    pub ok: bool,
    /// [`Diff::summary`].
    pub summary: String,
    pub diff: Diff,
}

/// What a backup import did (`POST /api/v1/backup/import`), for the operator.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImportReport {
    pub dvrs: usize,
    pub providers: usize,
    /// Providers imported disabled because their secrets were not in the file.
    pub providers_without_secrets: Vec<String>,
    /// DVRs imported disabled because their API key was not in the file.
    pub dvrs_without_api_key: Vec<String>,
    pub routing_entries: usize,
    /// The backup has a heartbeat but its URL was not in the file (no passphrase): the
    /// heartbeat stored here, if any, was kept.
    #[serde(default)]
    pub heartbeat_without_url: bool,
    /// Routing rules restored with their providers.
    #[serde(default)]
    pub rules: usize,
    /// Quiet hours and maintenance windows in the file (those already here are kept
    /// once).
    #[serde(default)]
    pub quiet_periods: usize,
}

/// `POST /api/v1/backup/export`: with a passphrase, provider secrets are sealed into
/// the file; without one they are left out.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupExport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
}

/// `POST /api/v1/backup/import`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupImport {
    /// The backup file as exported (its own versioned format, read by the server).
    pub backup: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    /// Import providers without their secrets (they come in disabled).
    #[serde(default)]
    pub without_secrets: bool,
}

/// `GET /api/v1/heartbeat`: the push URL pinged while every enabled DVR is healthy.
/// The URL is never answered whole: it holds the push service's token.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HeartbeatView {
    /// A URL is set.
    pub configured: bool,
    pub enabled: bool,
    /// Scheme and host with the rest masked (`https://hc-ping.com/****`).
    pub url: Option<String>,
    pub interval_seconds: u32,
    /// The shortest interval accepted.
    pub min_interval_seconds: u32,
    /// The last ping (RFC 3339) and how it went: `ok`, `failed` or `skipped` (not
    /// every DVR was healthy, so no ping, and the outside service will notice).
    pub last_at: Option<String>,
    pub last_outcome: Option<String>,
    /// The answer or error of the last ping, or why it was skipped.
    pub last_message: Option<String>,
    pub pings_ok: u64,
    pub pings_failed: u64,
    pub skipped: u64,
}

/// `PUT /api/v1/heartbeat`: any part; `url` `"****"` keeps the stored one, `""` or
/// `null` with nothing stored turns it off.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatBody {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub interval_seconds: Option<u32>,
    #[serde(default)]
    pub enabled: Option<bool>,
}
