//! One DVR's live state and how events change it.
//!
//! Pure: `apply` takes an event and the current time and returns what changed, so the
//! session rules are unit-tested without a network, a clock or a runtime.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::dvr::event::{parse_line, DvrEvent, Line, LiveTv, RecordingActivity, StreamSource, Vod};

/// A live-TV session as tracked by the monitor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveSession {
    pub name: String,
    pub channel_number: String,
    pub channel_name: Option<String>,
    pub resolution: Option<String>,
    pub device_name: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub source: StreamSource,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A library playback session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VodSession {
    pub name: String,
    pub file_id: String,
    pub client: String,
    pub title: Option<String>,
    pub device_name: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub position_seconds: Option<u64>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A recording job the DVR told us about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recording {
    pub job_id: String,
    /// Known from `jobs.created` before it started (else a manual/unknown start).
    pub scheduled: bool,
    pub started_at: Option<DateTime<Utc>>,
    /// From the `Recording ch… for … until …` activity, when seen.
    pub title: Option<String>,
    pub channel_number: Option<String>,
}

/// What an event changed; consumed by the live feed, alerts and tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    LiveStarted(LiveSession),
    LiveUpdated(LiveSession),
    LiveEnded(LiveSession),
    VodStarted(VodSession),
    VodProgress(VodSession),
    VodEnded(VodSession),
    RecordingScheduled {
        job_id: String,
    },
    RecordingStarted(Recording),
    RecordingCompleted {
        file_id: String,
        job_id: Option<String>,
    },
    JobDeleted {
        job_id: String,
        was_recording: bool,
        was_scheduled: bool,
    },
    /// The number of active streams (activities) changed.
    StreamCount {
        count: usize,
    },
}

/// The most activities (live, VOD, recording and other, together) and jobs (scheduled
/// and recording, together) one DVR can make us track. A real DVR has a handful of
/// activities and at most a few hundred jobs; past a cap a new name is dropped and
/// counted ([`DvrState::overflowed`], on `/metrics`), while known names still update.
pub const MAX_ACTIVITIES: usize = 256;
pub const MAX_JOBS: usize = 4096;

/// Per-DVR state. Activities are keyed by their DVR activity name, as the DVR does.
#[derive(Debug, Default, Clone)]
pub struct DvrState {
    live: HashMap<String, LiveSession>,
    vod: HashMap<String, VodSession>,
    /// Recording activities (name → job-less description) for the stream count.
    recording_activities: HashMap<String, RecordingActivity>,
    other_activities: HashMap<String, String>,
    scheduled: BTreeMap<String, DateTime<Utc>>,
    recordings: BTreeMap<String, Recording>,
    /// New activities and jobs dropped because a cap was reached.
    overflowed: u64,
}

impl DvrState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Active sessions (live + VOD): the health object's `session_state_size`.
    pub fn session_count(&self) -> usize {
        self.live.len() + self.vod.len()
    }

    /// Active activities as the DVR counts them (watching, playing, recording).
    pub fn stream_count(&self) -> usize {
        self.live.len()
            + self.vod.len()
            + self.recording_activities.len()
            + self.other_activities.len()
    }

    pub fn live_sessions(&self) -> impl Iterator<Item = &LiveSession> {
        self.live.values()
    }

    pub fn vod_sessions(&self) -> impl Iterator<Item = &VodSession> {
        self.vod.values()
    }

    /// The activity names of the live and library sessions going on.
    pub fn playing_names(&self) -> Vec<String> {
        self.live.keys().chain(self.vod.keys()).cloned().collect()
    }

    pub fn recordings(&self) -> impl Iterator<Item = &Recording> {
        self.recordings.values()
    }

    pub fn scheduled_jobs(&self) -> impl Iterator<Item = &String> {
        self.scheduled.keys()
    }

    /// Activities and jobs not tracked because a cap was reached (a counter).
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// Whether the activity `name` may be tracked: it is known, or there is room.
    fn room_for_activity(&mut self, name: &str) -> bool {
        let known = self.live.contains_key(name)
            || self.vod.contains_key(name)
            || self.recording_activities.contains_key(name)
            || self.other_activities.contains_key(name);
        if known || self.stream_count() < MAX_ACTIVITIES {
            true
        } else {
            self.overflowed += 1;
            false
        }
    }

    /// Whether one more job may be tracked.
    fn room_for_job(&mut self) -> bool {
        if self.scheduled.len() + self.recordings.len() < MAX_JOBS {
            true
        } else {
            self.overflowed += 1;
            false
        }
    }

    /// Applies one event; returns what changed (possibly nothing).
    pub fn apply(&mut self, event: &DvrEvent, now: DateTime<Utc>) -> Vec<Change> {
        let activity = match event {
            DvrEvent::LiveTv(l) => Some(&l.name),
            DvrEvent::Vod(v) => Some(&v.name),
            DvrEvent::Recording(r) => Some(&r.name),
            DvrEvent::OtherActivity { name, .. } => Some(name),
            _ => None,
        };
        if activity.is_some_and(|name| !self.room_for_activity(name)) {
            return Vec::new();
        }
        let before = self.stream_count();
        let mut changes = Vec::new();
        match event {
            DvrEvent::LiveTv(l) => self.apply_live(l, now, &mut changes),
            DvrEvent::Vod(v) => self.apply_vod(v, now, &mut changes),
            DvrEvent::Recording(r) => {
                self.end_other_kinds(&r.name, Kind::Recording, &mut changes);
                // Match the activity to its job by channel; with several recordings
                // at once, first-untitled would swap titles between them.
                let job = self
                    .recordings
                    .values()
                    .find(|rec| rec.title.is_none() && rec.channel_number == r.channel_number)
                    .or_else(|| {
                        let mut untitled =
                            self.recordings.values().filter(|rec| rec.title.is_none());
                        match (untitled.next(), untitled.next()) {
                            (Some(only), None) => Some(only),
                            _ => None,
                        }
                    })
                    .map(|rec| rec.job_id.clone());
                if let Some(rec) = job.and_then(|id| self.recordings.get_mut(&id)) {
                    rec.title = r.title.clone();
                    rec.channel_number = r.channel_number.clone();
                }
                self.recording_activities.insert(r.name.clone(), r.clone());
            }
            DvrEvent::OtherActivity { name, value } => {
                self.end_other_kinds(name, Kind::Other, &mut changes);
                self.other_activities.insert(name.clone(), value.clone());
            }
            DvrEvent::ActivityEnded { name } => self.end_activity(name, &mut changes),
            DvrEvent::JobCreated { job_id } => {
                if !job_id.is_empty()
                    && !self.recordings.contains_key(job_id)
                    && (self.scheduled.contains_key(job_id) || self.room_for_job())
                {
                    self.scheduled.insert(job_id.clone(), now);
                    changes.push(Change::RecordingScheduled {
                        job_id: job_id.clone(),
                    });
                }
            }
            DvrEvent::JobDeleted { job_id } => {
                let was_scheduled = self.scheduled.remove(job_id).is_some();
                let was_recording = self.recordings.remove(job_id).is_some();
                if was_scheduled || was_recording {
                    changes.push(Change::JobDeleted {
                        job_id: job_id.clone(),
                        was_recording,
                        was_scheduled,
                    });
                }
            }
            DvrEvent::RecordingStarted { job_id } => {
                let scheduled = self.scheduled.remove(job_id).is_some();
                if !scheduled && !self.recordings.contains_key(job_id) && !self.room_for_job() {
                    return changes;
                }
                let rec = Recording {
                    job_id: job_id.clone(),
                    scheduled,
                    started_at: Some(now),
                    title: None,
                    channel_number: job_channel(job_id),
                };
                self.recordings.insert(job_id.clone(), rec.clone());
                changes.push(Change::RecordingStarted(rec));
            }
            // `recorded-<file>` names only the library file; the engine resolves the job
            // (an HTTP lookup) and reports the completion once, when it knows it.
            DvrEvent::RecordingCompleted { .. } => {}
            DvrEvent::Hello | DvrEvent::Ignored { .. } | DvrEvent::Unknown { .. } => {}
        }
        let after = self.stream_count();
        if after != before {
            changes.push(Change::StreamCount { count: after });
        }
        changes
    }

    /// A finished recording whose job the DVR's library named (`recorded-<file>` carries
    /// only the file id): it leaves the in-progress set.
    pub fn finish_recording(&mut self, job_id: &str) -> Option<Recording> {
        self.recordings.remove(job_id)
    }

    /// The only recording in progress, used when the library lookup is unavailable.
    pub fn sole_recording(&self) -> Option<String> {
        (self.recordings.len() == 1)
            .then(|| self.recordings.keys().next().cloned())
            .flatten()
    }

    /// Brings the activity state in line with the DVR's own activity map (`GET /dvr`),
    /// after a reconnect: what ended while we were away ends, what started starts.
    pub fn resync(
        &mut self,
        activity: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        let known: Vec<String> = self
            .live
            .keys()
            .chain(self.vod.keys())
            .chain(self.recording_activities.keys())
            .chain(self.other_activities.keys())
            .filter(|k| !activity.contains_key(*k))
            .cloned()
            .collect();
        for name in known {
            changes.extend(self.apply(&DvrEvent::ActivityEnded { name }, now));
        }
        for (name, value) in activity {
            let line = serde_json::json!({"Type": "activities.set", "Name": name, "Value": value});
            if let Ok(Line::Event(event)) = parse_line(&line.to_string()) {
                changes.extend(self.apply(&event, now));
            }
        }
        changes
    }

    fn apply_live(&mut self, l: &LiveTv, now: DateTime<Utc>, changes: &mut Vec<Change>) {
        self.end_other_kinds(&l.name, Kind::Live, changes);
        match self.live.get_mut(&l.name) {
            Some(s) if s.channel_number == l.channel_number => {
                s.updated_at = now;
                if l.channel_name.is_some() {
                    s.channel_name = l.channel_name.clone();
                }
                if l.resolution.is_some() {
                    s.resolution = l.resolution.clone();
                }
                if l.device_name.is_some() {
                    s.device_name = l.device_name.clone();
                }
                if l.client_ip.is_some() {
                    s.client_ip = l.client_ip;
                }
                changes.push(Change::LiveUpdated(s.clone()));
            }
            _ => {
                let session = LiveSession {
                    name: l.name.clone(),
                    channel_number: l.channel_number.clone(),
                    channel_name: l.channel_name.clone(),
                    resolution: l.resolution.clone(),
                    device_name: l.device_name.clone(),
                    client_ip: l.client_ip,
                    source: l.source.clone(),
                    started_at: now,
                    updated_at: now,
                };
                if let Some(old) = self.live.insert(l.name.clone(), session.clone()) {
                    changes.push(Change::LiveEnded(old));
                }
                changes.push(Change::LiveStarted(session));
            }
        }
    }

    fn apply_vod(&mut self, v: &Vod, now: DateTime<Utc>, changes: &mut Vec<Change>) {
        self.end_other_kinds(&v.name, Kind::Vod, changes);
        match self.vod.get_mut(&v.name) {
            Some(s) if s.file_id == v.file_id => {
                s.updated_at = now;
                if v.position_seconds.is_some() {
                    s.position_seconds = v.position_seconds;
                }
                if v.title.is_some() {
                    s.title = v.title.clone();
                }
                if v.device_name.is_some() {
                    s.device_name = v.device_name.clone();
                }
                changes.push(Change::VodProgress(s.clone()));
            }
            _ => {
                let session = VodSession {
                    name: v.name.clone(),
                    file_id: v.file_id.clone(),
                    client: v.client.clone(),
                    title: v.title.clone(),
                    device_name: v.device_name.clone(),
                    client_ip: v.client_ip,
                    position_seconds: v.position_seconds,
                    started_at: now,
                    updated_at: now,
                };
                if let Some(old) = self.vod.insert(v.name.clone(), session.clone()) {
                    changes.push(Change::VodEnded(old));
                }
                changes.push(Change::VodStarted(session));
            }
        }
    }

    fn end_activity(&mut self, name: &str, changes: &mut Vec<Change>) {
        if let Some(s) = self.live.remove(name) {
            changes.push(Change::LiveEnded(s));
        }
        if let Some(s) = self.vod.remove(name) {
            changes.push(Change::VodEnded(s));
        }
        self.recording_activities.remove(name);
        self.other_activities.remove(name);
    }

    /// An activity name can change kind (a pre-roll becomes playback, say): drop it from
    /// the other maps so it is never counted twice.
    fn end_other_kinds(&mut self, name: &str, keep: Kind, changes: &mut Vec<Change>) {
        if keep != Kind::Live {
            if let Some(s) = self.live.remove(name) {
                changes.push(Change::LiveEnded(s));
            }
        }
        if keep != Kind::Vod {
            if let Some(s) = self.vod.remove(name) {
                changes.push(Change::VodEnded(s));
            }
        }
        if keep != Kind::Recording {
            self.recording_activities.remove(name);
        }
        if keep != Kind::Other {
            self.other_activities.remove(name);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Live,
    Vod,
    Recording,
    Other,
}

/// `1776630000-ch5.1` → `5.1`.
fn job_channel(job_id: &str) -> Option<String> {
    job_id
        .split_once("-ch")
        .map(|(_, ch)| ch.to_string())
        .filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_776_630_000 + s, 0).unwrap()
    }

    fn ev(line: &str) -> DvrEvent {
        match parse_line(line).unwrap() {
            Line::Event(e) => e,
            Line::Skip => panic!("skip"),
        }
    }

    /// The simulator and the engine agree: every line the family script sends parses
    /// as a known event, and replaying them leaves exactly the simulator's activity map.
    #[test]
    fn the_engine_understands_every_family_line() {
        let run = sim::testing::family_run(9, 5000);
        let mut st = DvrState::new();
        for line in &run.lines {
            match parse_line(line) {
                Ok(Line::Event(e)) => {
                    assert!(
                        !matches!(e, DvrEvent::OtherActivity { .. } | DvrEvent::Unknown { .. }),
                        "unclassified: {line}"
                    );
                    st.apply(&e, Utc::now());
                }
                other => panic!("{line}: {other:?}"),
            }
        }
        assert!(run.lines.len() > 100, "the script sent {}", run.lines.len());
        assert_eq!(st.stream_count(), run.activity);
    }

    #[test]
    fn the_fixture_session_leaves_nothing_active() {
        let mut st = DvrState::new();
        let mut all = Vec::new();
        for (i, line) in include_str!("../../sim/src/fixtures/events-session.jsonl")
            .lines()
            .enumerate()
        {
            all.extend(st.apply(&ev(line), t(i as i64)));
        }
        assert_eq!(st.session_count(), 0);
        assert_eq!(st.stream_count(), 0);
        let live_started = all
            .iter()
            .filter(|c| matches!(c, Change::LiveStarted(_)))
            .count();
        assert_eq!(
            live_started, 2,
            "ch7 then ch9; the buf= refresh is an update"
        );
        assert!(all.iter().any(|c| matches!(c, Change::LiveUpdated(_))));
        assert!(all
            .iter()
            .any(|c| matches!(c, Change::VodProgress(s) if s.position_seconds == Some(4572))));
        assert!(
            all.iter().any(|c| matches!(c, Change::VodEnded(_))),
            "VOD end events end the session"
        );
        assert!(all.iter().any(|c| matches!(c, Change::RecordingStarted(r) if r.scheduled && r.job_id == "1776630000-ch5.1")));
        assert!(all.iter().any(|c| matches!(
            c,
            Change::JobDeleted {
                was_scheduled: true,
                ..
            }
        )));
        assert_eq!(
            st.recordings().count(),
            1,
            "in progress until its file is resolved"
        );
        assert!(st.finish_recording("1776630000-ch5.1").is_some());
        assert_eq!(st.scheduled_jobs().count(), 0);
    }

    #[test]
    fn live_session_lifecycle_and_counts() {
        let mut st = DvrState::new();
        let c = st.apply(&ev(r#"{"Type":"activities.set","Name":"7-stream-A-1.2.3.4","Value":"Watching ch7 ABC from Den (1.2.3.4)"}"#), t(0));
        assert!(
            matches!(&c[0], Change::LiveStarted(s) if s.channel_number == "7" && s.started_at == t(0))
        );
        assert_eq!(c.last(), Some(&Change::StreamCount { count: 1 }));
        let c = st.apply(&ev(r#"{"Type":"activities.set","Name":"7-stream-A-1.2.3.4","Value":"Watching ch7 ABC 720p from Den (1.2.3.4): buf=0%"}"#), t(5));
        match &c[..] {
            [Change::LiveUpdated(s)] => {
                assert_eq!(s.started_at, t(0));
                assert_eq!(s.updated_at, t(5));
                assert_eq!(s.resolution.as_deref(), Some("720p"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(st.session_count(), 1);
        let c = st.apply(
            &ev(r#"{"Type":"activities.set","Name":"7-stream-A-1.2.3.4","Value":""}"#),
            t(9),
        );
        assert!(matches!(&c[0], Change::LiveEnded(_)));
        assert_eq!(st.session_count(), 0);
        // Ending twice changes nothing.
        assert!(st
            .apply(
                &ev(r#"{"Type":"activities.set","Name":"7-stream-A-1.2.3.4","Value":""}"#),
                t(10)
            )
            .is_empty());
    }

    #[test]
    fn preroll_then_playback_is_one_session_and_one_stream() {
        let mut st = DvrState::new();
        st.apply(&ev(r#"{"Type":"activities.set","Name":"6-file-9-c","Value":"Streaming Movie from Den"}"#), t(0));
        st.apply(&ev(r#"{"Type":"activities.set","Name":"6-file-9-c","Value":"Watching Movie from Den at 1m2s"}"#), t(1));
        assert_eq!(st.stream_count(), 1);
        assert_eq!(st.vod_sessions().next().unwrap().position_seconds, Some(62));
    }

    #[test]
    fn resync_ends_what_is_gone_and_starts_what_is_new() {
        let mut st = DvrState::new();
        st.apply(&ev(r#"{"Type":"activities.set","Name":"9-stream-A-x","Value":"Watching ch9 KCAL from Den"}"#), t(0));
        let mut map = BTreeMap::new();
        map.insert(
            "7-stream-10811DF5-192.168.1.50".to_string(),
            "Watching ch7 ABC from Living Room (192.168.1.50): buf=0% drop=0%".to_string(),
        );
        let c = st.resync(&map, t(30));
        assert!(c
            .iter()
            .any(|c| matches!(c, Change::LiveEnded(s) if s.channel_number == "9")));
        assert!(c
            .iter()
            .any(|c| matches!(c, Change::LiveStarted(s) if s.channel_number == "7")));
        assert_eq!(st.session_count(), 1);
    }

    #[test]
    fn a_flood_of_names_is_capped_and_counted() {
        let mut st = DvrState::new();
        for i in 0..MAX_ACTIVITIES + 10 {
            st.apply(
                &ev(&format!(
                    r#"{{"Type":"activities.set","Name":"x-{i}","Value":"Something {i}"}}"#
                )),
                t(0),
            );
        }
        assert_eq!(st.stream_count(), MAX_ACTIVITIES);
        assert_eq!(st.overflowed(), 10);
        // A known name still updates and ends.
        assert!(!st
            .apply(
                &ev(r#"{"Type":"activities.set","Name":"x-0","Value":""}"#),
                t(1)
            )
            .is_empty());
        for i in 0..MAX_JOBS + 5 {
            st.apply(
                &ev(&format!(r#"{{"Type":"jobs.created","Name":"{i}-ch1"}}"#)),
                t(2),
            );
        }
        assert_eq!(st.scheduled_jobs().count(), MAX_JOBS);
        assert_eq!(st.overflowed(), 15);
    }

    #[test]
    fn manual_recording_and_sole_fallback() {
        let mut st = DvrState::new();
        let c = st.apply(
            &ev(r#"{"Type":"programs.set","Name":"x","Value":"recording-1-ch13.1"}"#),
            t(0),
        );
        assert!(
            matches!(&c[0], Change::RecordingStarted(r) if !r.scheduled && r.channel_number.as_deref() == Some("13.1"))
        );
        assert_eq!(st.sole_recording().as_deref(), Some("1-ch13.1"));
        let c = st.apply(&ev(r#"{"Type":"jobs.deleted","Name":"1-ch13.1"}"#), t(1));
        assert_eq!(
            c,
            vec![Change::JobDeleted {
                job_id: "1-ch13.1".into(),
                was_recording: true,
                was_scheduled: false
            }]
        );
    }
}
