//! What the engine reports about one DVR: stream up and down, session changes, disk
//! figures, and the watchdog's findings. The live feed, the alerts and the watchdog
//! all read these.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::disk::DiskSample;
use crate::health::{RestartCheck, Verdict};
use crate::session::Change;

/// Something that happened on one DVR, for the live feed, alerts and the watchdog.
#[derive(Debug, Clone, Serialize)]
pub struct EngineEvent {
    pub dvr_id: String,
    pub at: DateTime<Utc>,
    pub kind: EngineEventKind,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EngineEventKind {
    Connected,
    Disconnected {
        reason: String,
    },
    TaskRestarted {
        reason: String,
    },
    Change(Change),
    /// The DVR's state was matched with its activity list after a (re)connect:
    /// `playing` names the live and library sessions going on now.
    Resynced {
        playing: Vec<String>,
    },
    /// A `/dvr` poll's disk figures (every 120 s while connected).
    Disk(DiskSample),
    /// The watchdog's verdict on this DVR changed (`from` is null on its first check).
    HealthChanged {
        from: Option<Verdict>,
        to: Verdict,
        detail: Option<String>,
    },
    /// The watchdog confirmed, or could not confirm, that a restarted task came back.
    RestartChecked(RestartCheck),
}
