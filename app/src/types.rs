//! Types shared by the server and the browser. Nothing here holds a secret.

use serde::{Deserialize, Serialize};

/// One DVR as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DvrOverview {
    pub dvr_id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    /// `healthy`, `stale`, `disconnected` or `disabled`.
    pub status: String,
    pub connected: bool,
    pub sessions: usize,
}

/// Every configured DVR at one moment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Overview {
    pub version: String,
    pub dvrs: Vec<DvrOverview>,
}
