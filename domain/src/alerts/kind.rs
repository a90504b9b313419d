//! What an alert is about: its `eventType` (the contract's names, also the
//! `alert_type` of the history and metrics) and the routing category it falls under.

use serde::{Deserialize, Serialize};

pub use wire::settings::Category;

/// Every kind of alert, named by its webhook `eventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AlertKind {
    #[serde(rename = "channel.watching.start")]
    ChannelWatching,
    #[serde(rename = "vod.playback.start")]
    VodPlayback,
    #[serde(rename = "recording.scheduled")]
    RecordingScheduled,
    #[serde(rename = "recording.started")]
    RecordingStarted,
    #[serde(rename = "recording.completed")]
    RecordingCompleted,
    #[serde(rename = "recording.stopped")]
    RecordingStopped,
    #[serde(rename = "recording.cancelled")]
    RecordingCancelled,
    #[serde(rename = "recording.failed")]
    RecordingFailed,
    #[serde(rename = "recording.skipped")]
    RecordingSkipped,
    #[serde(rename = "recording.missed")]
    RecordingMissed,
    #[serde(rename = "recording.interrupted")]
    RecordingInterrupted,
    #[serde(rename = "disk.space.warning")]
    DiskWarning,
    #[serde(rename = "disk.space.critical")]
    DiskCritical,
    #[serde(rename = "dvr.unreachable")]
    DvrUnreachable,
    #[serde(rename = "dvr.recovered")]
    DvrRecovered,
    #[serde(rename = "dvr.reload_failed")]
    DvrReloadFailed,
    #[serde(rename = "test")]
    Test,
}

impl AlertKind {
    pub const ALL: [AlertKind; 17] = [
        AlertKind::ChannelWatching,
        AlertKind::VodPlayback,
        AlertKind::RecordingScheduled,
        AlertKind::RecordingStarted,
        AlertKind::RecordingCompleted,
        AlertKind::RecordingStopped,
        AlertKind::RecordingCancelled,
        AlertKind::RecordingFailed,
        AlertKind::RecordingSkipped,
        AlertKind::RecordingMissed,
        AlertKind::RecordingInterrupted,
        AlertKind::DiskWarning,
        AlertKind::DiskCritical,
        AlertKind::DvrUnreachable,
        AlertKind::DvrRecovered,
        AlertKind::DvrReloadFailed,
        AlertKind::Test,
    ];

    /// The contract's `eventType` string.
    pub fn event_type(self) -> &'static str {
        match self {
            AlertKind::ChannelWatching => "channel.watching.start",
            AlertKind::VodPlayback => "vod.playback.start",
            AlertKind::RecordingScheduled => "recording.scheduled",
            AlertKind::RecordingStarted => "recording.started",
            AlertKind::RecordingCompleted => "recording.completed",
            AlertKind::RecordingStopped => "recording.stopped",
            AlertKind::RecordingCancelled => "recording.cancelled",
            AlertKind::RecordingFailed => "recording.failed",
            AlertKind::RecordingSkipped => "recording.skipped",
            AlertKind::RecordingMissed => "recording.missed",
            AlertKind::RecordingInterrupted => "recording.interrupted",
            AlertKind::DiskWarning => "disk.space.warning",
            AlertKind::DiskCritical => "disk.space.critical",
            AlertKind::DvrUnreachable => "dvr.unreachable",
            AlertKind::DvrRecovered => "dvr.recovered",
            AlertKind::DvrReloadFailed => "dvr.reload_failed",
            AlertKind::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.event_type() == s)
    }

    /// The routing category; `None` for test notifications, which bypass routing.
    pub fn category(self) -> Option<Category> {
        use AlertKind::*;
        Some(match self {
            ChannelWatching => Category::Channel,
            VodPlayback => Category::Vod,
            RecordingScheduled | RecordingStarted | RecordingCompleted | RecordingStopped
            | RecordingCancelled | RecordingFailed | RecordingSkipped | RecordingMissed
            | RecordingInterrupted => Category::Recording,
            DiskWarning | DiskCritical => Category::Disk,
            DvrUnreachable | DvrRecovered | DvrReloadFailed => Category::Health,
            Test => return None,
        })
    }

    /// A short human name for lists and template variables.
    pub fn friendly(self) -> &'static str {
        use AlertKind::*;
        match self {
            ChannelWatching => "Watching TV",
            VodPlayback => "Watching DVR content",
            RecordingScheduled => "Recording scheduled",
            RecordingStarted => "Recording started",
            RecordingCompleted => "Recording completed",
            RecordingStopped => "Recording stopped",
            RecordingCancelled => "Recording cancelled",
            RecordingFailed => "Recording failed",
            RecordingSkipped => "Recording skipped",
            RecordingMissed => "Recording did not start",
            RecordingInterrupted => "Recording interrupted",
            DiskWarning => "Low disk space warning",
            DiskCritical => "Low disk space critical",
            DvrUnreachable => "DVR unreachable",
            DvrRecovered => "DVR recovered",
            DvrReloadFailed => "DVR did not come back after a reload",
            Test => "Test notification",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_and_match_serde() {
        for k in AlertKind::ALL {
            assert_eq!(AlertKind::parse(k.event_type()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::String(k.event_type().into())
            );
        }
        assert_eq!(
            AlertKind::RecordingStarted.category(),
            Some(Category::Recording)
        );
        assert_eq!(AlertKind::Test.category(), None);
        assert_eq!(Category::parse("vod"), Some(Category::Vod));
        assert_eq!(Category::parse("nope"), None);
    }
}
