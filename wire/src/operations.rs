//! Answers of the admin operations: a configuration reload and a backup import.

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
