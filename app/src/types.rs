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

/// One check of a DVR diagnosis (`channelwatch doctor diagnose`, the UI's Diagnose).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseCheck {
    /// `dns`, `tcp`, `status`, `version`, `event_stream`, `disk` or `clock_skew`.
    pub name: String,
    pub ok: bool,
    /// What was found, e.g. `answered in 3 ms`.
    pub detail: String,
    /// What to do about a failure.
    pub hint: Option<String>,
}

/// The diagnosis of one DVR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseReport {
    pub dvr_id: String,
    pub dvr_name: String,
    /// `host:port` as configured.
    pub address: String,
    pub checks: Vec<DiagnoseCheck>,
}

impl DiagnoseReport {
    /// True when every check passed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The report as text: a heading, then one `OK`/`FAIL` line per check with its hint.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "DVR '{}' ({}) at {}\n",
            self.dvr_name, self.dvr_id, self.address
        );
        for c in &self.checks {
            let mark = if c.ok { "OK  " } else { "FAIL" };
            out.push_str(&format!("{mark} {} {}: {}", self.dvr_id, c.name, c.detail));
            if let (false, Some(h)) = (c.ok, &c.hint) {
                out.push_str(&format!(" | hint: {h}"));
            }
            out.push('\n');
        }
        out
    }
}
