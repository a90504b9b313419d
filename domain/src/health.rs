//! What the watchdog concludes about a DVR, and about a restarted task: one set of
//! definitions for the health endpoint, the probes, the metrics and the alerts.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What the watchdog concludes about one enabled DVR. One definition, used by the
/// health endpoint, the DVR list, the probes, the metrics and the watchdog's signal,
/// so they can never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    Stale,
    Disconnected,
}

impl Verdict {
    /// Disconnected wins over stale: the stream being closed is the more precise cause.
    pub fn of(connected: bool, stale: bool) -> Self {
        if !connected {
            Verdict::Disconnected
        } else if stale {
            Verdict::Stale
        } else {
            Verdict::Healthy
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Stale => "stale",
            Verdict::Disconnected => "disconnected",
        }
    }
}

/// Why a DVR's task was (re)started after the process came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartCause {
    /// A configuration change (API, UI, file reload) started or restarted the task.
    Reload,
    /// The supervisor replaced a task that panicked or hung.
    Crash,
    /// The watchdog found the task dead and started a new one.
    Watchdog,
}

/// A restart the watchdog still has to confirm: alive, and an event since `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingRestart {
    pub cause: RestartCause,
    pub at: DateTime<Utc>,
}

/// The watchdog's finding about one restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestartCheck {
    pub cause: RestartCause,
    pub restarted_at: DateTime<Utc>,
    pub checked_at: DateTime<Utc>,
    pub ok: bool,
    pub detail: String,
}
