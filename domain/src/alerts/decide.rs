//! Every alert rule in one place: given one DVR's alert state, what just happened (an
//! engine event, or the clock), what the engine shows of the DVR, the facts looked up
//! on its API and the time, [`decide`] says which alerts to raise. Nothing here reads
//! a clock, the network or the database, so each rule is tested with the time it
//! needs, in microseconds. The server's pipeline is the shell: it asks [`needs`] what
//! to look up, fetches it, calls [`decide`], then renders, routes and records.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Map, Value};

use super::disk::DiskRule;
use super::facts::{Airing, ChannelInfo, JobInfo, LibraryItem, RecordingOutcome};
use super::health::{human_duration, HealthAlert, HealthRule};
use super::kind::AlertKind;
use super::settings::{disk_rule, AlertSettings};
use super::template;
use crate::disk::{DiskLevel, DiskSample, DiskThresholds};
use crate::engine_event::{EngineEvent, EngineEventKind};
use crate::health::{RestartCause, Verdict};
use crate::session::{Change, LiveSession, Recording, VodSession};
use crate::zone::Zone;

/// An alert the rules decided on, before texts and routing.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: AlertKind,
    pub dedup_key: Option<String>,
    pub cooldown: Duration,
    pub vars: Map<String, Value>,
    pub image_url: Option<String>,
    /// What routing rules read (watching alerts; empty for the others).
    pub route: Route,
}

/// The client and channel of a watching alert, for routing rules (kept with the alert,
/// so a rule's preview reads what the rule would have read).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Route {
    pub device: Option<String>,
    pub client_ip: Option<std::net::IpAddr>,
    pub channel: Option<String>,
    /// `tuner`, `tve`, `m3u` or `other`.
    pub source: Option<String>,
    /// The play's activity key, so a delayed delivery can ask whether it still plays.
    pub session: Option<String>,
}

/// What happened: one engine event, or the clock (the checks that wait on time).
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Event(&'a EngineEvent),
    Tick,
}

/// What the engine shows of the DVR when the rules run.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The DVR still has a task: not removed, disabled or given a new identity.
    pub running: bool,
    pub connected: bool,
    pub dvr_id: String,
    /// `host:port`, named in health alerts.
    pub host: String,
    /// Streams playing now.
    pub stream_count: Option<u64>,
    pub disk_thresholds: DiskThresholds,
    /// The zone alert texts give times in.
    pub zone: Zone,
}

/// Lookups on the DVR's API the rules want answered before they decide.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Needs {
    /// Warm the DVR's caches: it just connected, and its first alert should not wait.
    pub prefetch: bool,
    /// Channel numbers: name and logo.
    pub channels: Vec<String>,
    /// Channel numbers: what airs now.
    pub airings: Vec<String>,
    pub library_items: Vec<String>,
    pub jobs: Vec<String>,
    /// File ids of finished recordings.
    pub recordings: Vec<String>,
}

impl Needs {
    pub fn is_empty(&self) -> bool {
        *self == Needs::default()
    }
}

/// The answers. A lookup that was tried and found nothing is `None`; one not tried
/// is absent, and [`needs`] asks for it again.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub prefetched: bool,
    pub channels: HashMap<String, ChannelInfo>,
    pub airings: HashMap<String, Option<Airing>>,
    pub library_items: HashMap<String, Option<LibraryItem>>,
    pub jobs: HashMap<String, Option<JobInfo>>,
    pub recordings: HashMap<String, Option<RecordingOutcome>>,
}

impl Facts {
    fn job(&self, id: &str) -> JobInfo {
        self.jobs.get(id).cloned().flatten().unwrap_or_default()
    }

    fn channel(&self, number: Option<&String>) -> ChannelInfo {
        number
            .and_then(|n| self.channels.get(n))
            .cloned()
            .unwrap_or_default()
    }
}

/// One DVR's alert state between events (its dedup cooldowns and budget live with
/// the pipeline: they outlive a worker restart).
#[derive(Debug, Clone)]
pub struct DvrAlerts {
    disk: DiskRule,
    health: HealthRule,
    last_detail: Option<String>,
    /// Scheduled jobs and their start time (unix s), for "did not start".
    scheduled: HashMap<String, i64>,
    started: HashSet<String>,
    missed: HashSet<String>,
    /// Overdue jobs seen once, waiting for the second check.
    missed_candidates: HashMap<String, DateTime<Utc>>,
}

/// Two checks at least this far apart, both with the DVR reachable, before a recording
/// counts as not started (a start missed during a reconnect is resynced in between).
const MISSED_CONFIRM_SECONDS: i64 = 30;
/// A job starting within this many seconds announces itself as started instead.
const STARTS_NOW_SECONDS: i64 = 30;

impl DvrAlerts {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            disk: DiskRule::new(now),
            health: HealthRule::default(),
            last_detail: None,
            scheduled: HashMap::new(),
            started: HashSet::new(),
            missed: HashSet::new(),
            missed_candidates: HashMap::new(),
        }
    }

    /// A check waits on the clock: an outage's unreachable delay, or a recording on
    /// its way to "did not start".
    pub fn pending(&self) -> bool {
        self.health.waiting() || !self.missed_candidates.is_empty()
    }

    /// Whether a check could find anything: a scheduled recording that may not start,
    /// an outage, or a pending check. A healthy DVR with nothing scheduled needs no
    /// clock at all.
    pub fn watching_clock(&self) -> bool {
        self.pending() || !self.scheduled.is_empty() || self.health.down_since().is_some()
    }

    /// An unreachable alert was decided but not sent (a cooldown, the database): the
    /// outage's recovery is not announced either.
    pub fn unreachable_not_sent(&mut self) {
        self.health.disarm();
    }

    /// Scheduled jobs past their start and the grace, never started nor reported.
    fn overdue(&self, s: &AlertSettings, now: DateTime<Utc>) -> Vec<String> {
        let grace = i64::try_from(s.recording.missed_grace_seconds).unwrap_or(180);
        let mut ids: Vec<String> = self
            .scheduled
            .iter()
            .filter(|(id, start)| {
                now.timestamp() > start.saturating_add(grace)
                    && !self.started.contains(*id)
                    && !self.missed.contains(*id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// The overdue jobs a check at `now` confirms as not started (read only).
    fn due_missed(&self, s: &AlertSettings, snap: &Snapshot, now: DateTime<Utc>) -> Vec<String> {
        if !snap.running || !snap.connected {
            return Vec::new();
        }
        self.overdue(s, now)
            .into_iter()
            .filter(|id| {
                self.missed_candidates
                    .get(id)
                    .is_some_and(|first| (now - *first).num_seconds() >= MISSED_CONFIRM_SECONDS)
            })
            .collect()
    }
}

/// Whether any rule reads this input. Most of a DVR's events (progress, updates,
/// stream drops the watchdog judges) raise nothing; the shell skips them before it
/// reads the engine, so they cost the pipeline nothing.
pub fn reacts_to(input: &Input<'_>) -> bool {
    match input {
        Input::Tick => true,
        Input::Event(ev) => matches!(
            ev.kind,
            EngineEventKind::Connected
                | EngineEventKind::Change(
                    Change::LiveStarted(_)
                        | Change::VodStarted(_)
                        | Change::RecordingScheduled { .. }
                        | Change::RecordingStarted(_)
                        | Change::RecordingCompleted { .. }
                        | Change::JobDeleted { .. }
                )
                | EngineEventKind::Disk(_)
                | EngineEventKind::HealthChanged { .. }
                | EngineEventKind::RestartChecked(_)
        ),
    }
}

/// What to look up before [`decide`] can run, given what `got` holds already. Call
/// it until it asks for nothing (a job's channel is known only once the job is).
pub fn needs(
    st: &DvrAlerts,
    s: &AlertSettings,
    input: &Input<'_>,
    snap: &Snapshot,
    got: &Facts,
    now: DateTime<Utc>,
) -> Needs {
    let mut n = Needs::default();
    let job_and_channel =
        |n: &mut Needs, id: &str, fallback: Option<&String>| match got.jobs.get(id) {
            None => n.jobs.push(id.to_string()),
            Some(job) => {
                let number = job.as_ref().and_then(|j| j.channel.as_ref()).or(fallback);
                if let Some(number) = number.filter(|c| !got.channels.contains_key(*c)) {
                    n.channels.push(number.clone());
                }
            }
        };
    match input {
        Input::Event(ev) => match &ev.kind {
            EngineEventKind::Connected if s.channel.enabled && !got.prefetched => {
                n.prefetch = true;
            }
            EngineEventKind::Change(Change::LiveStarted(live)) => {
                if !got.channels.contains_key(&live.channel_number) {
                    n.channels.push(live.channel_number.clone());
                }
                if !got.airings.contains_key(&live.channel_number) {
                    n.airings.push(live.channel_number.clone());
                }
            }
            EngineEventKind::Change(Change::VodStarted(vod))
                if !got.library_items.contains_key(&vod.file_id) =>
            {
                n.library_items.push(vod.file_id.clone());
            }
            EngineEventKind::Change(Change::RecordingScheduled { job_id }) => {
                match got.jobs.get(job_id) {
                    None => n.jobs.push(job_id.clone()),
                    // A job starting now gets no alert: its channel is not needed.
                    Some(job) if starts_now(job.as_ref(), now) => {}
                    Some(_) => job_and_channel(&mut n, job_id, None),
                }
            }
            EngineEventKind::Change(Change::RecordingStarted(rec)) => {
                job_and_channel(&mut n, &rec.job_id, rec.channel_number.as_ref());
            }
            EngineEventKind::Change(Change::RecordingCompleted { file_id, job_id }) => {
                if !got.recordings.contains_key(file_id) {
                    n.recordings.push(file_id.clone());
                }
                job_and_channel(&mut n, job_id.as_ref().unwrap_or(file_id), None);
            }
            // Only a job the rules know of is announced as cancelled.
            EngineEventKind::Change(Change::JobDeleted {
                job_id,
                was_recording,
                was_scheduled,
            }) if *was_recording || *was_scheduled || st.scheduled.contains_key(job_id) => {
                job_and_channel(&mut n, job_id, None);
            }
            _ => {}
        },
        Input::Tick => {
            for id in st.due_missed(s, snap, now) {
                job_and_channel(&mut n, &id, None);
            }
        }
    }
    n
}

fn starts_now(job: Option<&JobInfo>, now: DateTime<Utc>) -> bool {
    job.and_then(|j| j.start_time)
        .is_some_and(|t| t <= now.timestamp() + STARTS_NOW_SECONDS)
}

/// The alerts `input` raises on this DVR, with `st` updated. Every rule is here:
/// channel and library playback, the recording stages (scheduled, started, finished,
/// cancelled, did not start), disk levels, and DVR health (unreachable after the
/// delay, recovered, a reload that did not come back).
pub fn decide(
    st: &mut DvrAlerts,
    s: &AlertSettings,
    input: &Input<'_>,
    snap: &Snapshot,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Vec<Draft> {
    match input {
        Input::Event(ev) => on_event(st, s, ev, snap, facts, now),
        Input::Tick => on_tick(st, s, snap, facts, now),
    }
}

fn on_event(
    st: &mut DvrAlerts,
    s: &AlertSettings,
    ev: &EngineEvent,
    snap: &Snapshot,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Vec<Draft> {
    let recording =
        |kind, job_id: &str, started| recording_draft(kind, job_id, started, s, snap, facts, now);
    match &ev.kind {
        EngineEventKind::Change(Change::LiveStarted(live)) => {
            vec![channel_draft(live, s, snap, facts)]
        }
        EngineEventKind::Change(Change::VodStarted(vod)) => vec![vod_draft(vod, s, facts)],
        EngineEventKind::Change(Change::RecordingScheduled { job_id }) => {
            let job = facts.jobs.get(job_id).cloned().flatten();
            if let Some(t) = job.as_ref().and_then(|j| j.start_time) {
                st.scheduled.insert(job_id.clone(), t);
            }
            // Only jobs that start later are "scheduled"; one starting now will
            // announce itself as started.
            if starts_now(job.as_ref(), now) {
                return Vec::new();
            }
            vec![recording(AlertKind::RecordingScheduled, job_id, None)]
        }
        EngineEventKind::Change(Change::RecordingStarted(rec)) => {
            st.started.insert(rec.job_id.clone());
            let was_scheduled = rec.scheduled || st.scheduled.contains_key(&rec.job_id);
            vec![recording(
                AlertKind::RecordingStarted,
                &rec.job_id,
                Some((rec, was_scheduled)),
            )]
        }
        EngineEventKind::Change(Change::RecordingCompleted { file_id, job_id }) => {
            if let Some(j) = job_id {
                st.started.remove(j);
                st.scheduled.remove(j);
            }
            let key_id = job_id.as_ref().unwrap_or(file_id);
            let outcome = facts.recordings.get(file_id).cloned().flatten();
            let kind = finished_kind(outcome.as_ref());
            vec![with_outcome(recording(kind, key_id, None), outcome)]
        }
        EngineEventKind::Change(Change::JobDeleted {
            job_id,
            was_recording,
            was_scheduled,
        }) => {
            let known = *was_recording || *was_scheduled || st.scheduled.contains_key(job_id);
            st.scheduled.remove(job_id);
            st.started.remove(job_id);
            if !known {
                return Vec::new();
            }
            let mut d = recording(AlertKind::RecordingCancelled, job_id, None);
            let status = if *was_recording {
                "🚫 Cancelled (Active)"
            } else {
                "🚫 Cancelled"
            };
            d.vars.insert("status".into(), json!(status));
            vec![d]
        }
        EngineEventKind::Disk(sample) => {
            let level = sample.level(&snap.disk_thresholds);
            st.disk
                .on_sample(*sample, level, now, &disk_rule(&s.disk))
                .map(|kind| disk_draft(kind, level, sample))
                .into_iter()
                .collect()
        }
        EngineEventKind::HealthChanged { to, detail, .. } => {
            if !matches!(to, Verdict::Healthy) {
                st.last_detail = detail.clone();
            }
            match st.health.on_verdict(*to == Verdict::Healthy, ev.at) {
                Some(HealthAlert::Recovered(o)) => vec![health_draft(
                    AlertKind::DvrRecovered,
                    o.since,
                    o.until,
                    None,
                    snap,
                    now,
                )],
                _ => Vec::new(),
            }
        }
        EngineEventKind::RestartChecked(check)
            if !check.ok && check.cause == RestartCause::Reload =>
        {
            let mut d = health_draft(
                AlertKind::DvrReloadFailed,
                check.restarted_at,
                None,
                Some(check.detail.clone()),
                snap,
                now,
            );
            d.dedup_key = Some(format!("reload-{}", check.restarted_at.timestamp_millis()));
            vec![d]
        }
        _ => Vec::new(),
    }
}

/// How a finished recording ended, from the DVR's record of it.
fn finished_kind(outcome: Option<&RecordingOutcome>) -> AlertKind {
    match outcome {
        Some(o) if o.failed => AlertKind::RecordingFailed,
        Some(o) if o.skipped => AlertKind::RecordingSkipped,
        Some(o) if o.cancelled && o.completed => AlertKind::RecordingStopped,
        Some(o) if o.cancelled => AlertKind::RecordingInterrupted,
        _ => AlertKind::RecordingCompleted,
    }
}

/// A finished recording's draft with what the DVR's record adds: the status, its own
/// title, summary, duration and image.
fn with_outcome(mut d: Draft, outcome: Option<RecordingOutcome>) -> Draft {
    let Some(o) = outcome else {
        return d;
    };
    let status = match d.kind {
        AlertKind::RecordingFailed => "❌ Failed",
        AlertKind::RecordingSkipped => "⏭️ Skipped",
        AlertKind::RecordingStopped => "⏹️ Stopped",
        AlertKind::RecordingInterrupted => "⚠️ Interrupted",
        _ if o.delayed => "✅ Completed (Delayed)",
        _ => "✅ Completed",
    };
    d.vars.insert("status".into(), json!(status));
    if let Some(t) = o.title {
        d.vars.insert("program_title".into(), json!(t));
    }
    if let Some(sum) = o.summary {
        d.vars.insert("program_summary".into(), json!(sum));
    }
    if let Some(dur) = o.duration {
        d.vars.insert(
            "duration".into(),
            json!(template::words_duration(Duration::from_secs(dur))),
        );
    }
    if d.image_url.is_none() {
        d.image_url = o.image;
    }
    if let Some(e) = o.error.filter(|_| d.kind == AlertKind::RecordingFailed) {
        d.vars.insert("error".into(), json!(e));
    }
    d
}

/// A disk alert's draft (the rule applies its own cooldown and worsening deltas).
fn disk_draft(kind: AlertKind, level: DiskLevel, sample: &DiskSample) -> Draft {
    let mut vars = Map::new();
    vars.insert("level".into(), json!(level.as_str()));
    vars.insert(
        "disk_free".into(),
        json!(template::human_size(sample.free_bytes)),
    );
    vars.insert(
        "disk_total".into(),
        json!(template::human_size(sample.total_bytes)),
    );
    vars.insert(
        "disk_used".into(),
        json!(template::human_size(
            sample.total_bytes.saturating_sub(sample.free_bytes)
        )),
    );
    vars.insert(
        "disk_percent".into(),
        json!(format!("{:.1}%", sample.free_percent())),
    );
    vars.insert("dvr_path".into(), Value::Null);
    Draft {
        kind,
        dedup_key: None,
        cooldown: Duration::ZERO,
        vars,
        image_url: None,
        route: Route::default(),
    }
}

fn on_tick(
    st: &mut DvrAlerts,
    s: &AlertSettings,
    snap: &Snapshot,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Vec<Draft> {
    let mut out = Vec::new();
    // A DVR removed, disabled or given a new identity is not "unreachable".
    if !snap.running {
        st.health.reset();
        st.scheduled.clear();
        st.missed_candidates.clear();
        return out;
    }
    let delay = Duration::from_secs(s.health.unreachable_delay_seconds);
    if let Some(HealthAlert::Unreachable(o)) = st.health.on_tick(now, delay) {
        out.push(health_draft(
            AlertKind::DvrUnreachable,
            o.since,
            None,
            st.last_detail.clone(),
            snap,
            now,
        ));
    }
    // "Did not start": a scheduled job past its start plus the grace, never started,
    // while the DVR is reachable (a DVR that is down says so itself).
    if snap.connected {
        let overdue = st.overdue(s, now);
        let confirmed = st.due_missed(s, snap, now);
        st.missed_candidates.retain(|id, _| overdue.contains(id));
        for id in &overdue {
            st.missed_candidates.entry(id.clone()).or_insert(now);
        }
        for id in confirmed {
            st.missed_candidates.remove(&id);
            st.missed.insert(id.clone());
            st.scheduled.remove(&id);
            out.push(recording_draft(
                AlertKind::RecordingMissed,
                &id,
                None,
                s,
                snap,
                facts,
                now,
            ));
        }
    }
    out
}

fn channel_draft(live: &LiveSession, s: &AlertSettings, snap: &Snapshot, f: &Facts) -> Draft {
    let info = f.channel(Some(&live.channel_number));
    let airing = f.airings.get(&live.channel_number).cloned().flatten();
    let who = live
        .device_name
        .clone()
        .or(live.client_ip.map(|ip| ip.to_string()))
        .unwrap_or_else(|| live.name.clone());
    let program_image = airing.as_ref().and_then(|a| a.image.clone());
    let image = if s.channel.image_source == "channel" {
        info.logo.clone().or(program_image.clone())
    } else {
        program_image.clone().or(info.logo.clone())
    };
    let mut vars = Map::new();
    vars.insert("channel_number".into(), json!(live.channel_number));
    vars.insert(
        "channel_name".into(),
        json!(live
            .channel_name
            .clone()
            .or(info.name.clone())
            .unwrap_or_else(|| "Unknown Channel".into())),
    );
    vars.insert("channel_logo".into(), json!(info.logo));
    vars.insert(
        "program_title".into(),
        json!(airing.as_ref().and_then(|a| a.title.clone())),
    );
    vars.insert(
        "program_summary".into(),
        json!(airing.as_ref().and_then(|a| a.summary.clone())),
    );
    vars.insert("program_image".into(), json!(program_image));
    vars.insert("resolution".into(), json!(live.resolution));
    vars.insert("device_name".into(), json!(live.device_name));
    vars.insert(
        "client_ip".into(),
        json!(live.client_ip.map(|ip| ip.to_string())),
    );
    let source = live.source.to_string();
    vars.insert(
        "stream_source".into(),
        json!((!source.is_empty()).then_some(source)),
    );
    vars.insert("stream_count".into(), json!(snap.stream_count));
    vars.insert("image_url".into(), json!(image));
    Draft {
        kind: AlertKind::ChannelWatching,
        dedup_key: Some(format!("ch{}-{who}", live.channel_number)),
        cooldown: Duration::from_secs(s.channel.cooldown_seconds),
        vars,
        image_url: image,
        route: Route {
            device: live.device_name.clone(),
            client_ip: live.client_ip,
            channel: Some(live.channel_number.clone()),
            source: Some(crate::history::source_kind(&live.source).to_string()),
            session: Some(live.name.clone()),
        },
    }
}

fn vod_draft(vod: &VodSession, s: &AlertSettings, f: &Facts) -> Draft {
    let item = f
        .library_items
        .get(&vod.file_id)
        .cloned()
        .flatten()
        .unwrap_or_default();
    let mut vars = Map::new();
    vars.insert(
        "title".into(),
        json!(item.title.clone().or(vod.title.clone())),
    );
    vars.insert("year".into(), json!(item.year));
    vars.insert("episode_title".into(), json!(item.episode_title));
    vars.insert("summary".into(), json!(item.summary));
    vars.insert(
        "duration".into(),
        json!(item
            .duration
            .map(|d| template::clock_duration(Duration::from_secs(d)))),
    );
    vars.insert(
        "position".into(),
        json!(vod
            .position_seconds
            .map(|p| template::clock_duration(Duration::from_secs(p)))),
    );
    vars.insert("device_name".into(), json!(vod.device_name));
    vars.insert(
        "client_ip".into(),
        json!(vod.client_ip.map(|ip| ip.to_string())),
    );
    vars.insert("rating".into(), json!(item.rating));
    vars.insert("genres".into(), json!(item.genres));
    vars.insert("cast".into(), json!(item.cast));
    vars.insert("image_url".into(), json!(item.image));
    Draft {
        kind: AlertKind::VodPlayback,
        dedup_key: Some(format!("vod{}-{}", vod.file_id, vod.client)),
        cooldown: Duration::from_secs(s.vod.cooldown_seconds),
        vars,
        image_url: item.image,
        route: Route {
            device: vod.device_name.clone(),
            client_ip: vod.client_ip,
            channel: None,
            source: None,
            session: Some(vod.name.clone()),
        },
    }
}

fn recording_draft(
    kind: AlertKind,
    job_id: &str,
    started: Option<(&Recording, bool)>,
    s: &AlertSettings,
    snap: &Snapshot,
    f: &Facts,
    now: DateTime<Utc>,
) -> Draft {
    let job = f.job(job_id);
    let channel_number = job
        .channel
        .clone()
        .or(started.and_then(|(r, _)| r.channel_number.clone()));
    let channel = f.channel(channel_number.as_ref());
    let title = job
        .name
        .clone()
        .or(started.and_then(|(r, _)| r.title.clone()));
    let status = match kind {
        AlertKind::RecordingScheduled => "📅 Scheduled".to_string(),
        AlertKind::RecordingStarted => format!(
            "🔴 Recording ({})",
            if started.is_some_and(|(_, sched)| sched) {
                "Scheduled"
            } else {
                "Manual"
            }
        ),
        AlertKind::RecordingMissed => "⛔ Did not start".to_string(),
        AlertKind::RecordingCancelled => "🚫 Cancelled".to_string(),
        _ => "✅ Completed".to_string(),
    };
    let mut vars = Map::new();
    vars.insert("status".into(), json!(status));
    vars.insert("job_id".into(), json!(job_id));
    vars.insert("program_title".into(), json!(title));
    vars.insert("program_summary".into(), json!(job.summary));
    vars.insert("channel_number".into(), json!(channel_number));
    vars.insert("channel_name".into(), json!(channel.name));
    let start = job
        .start_time
        .and_then(|t| Utc.timestamp_opt(t, 0).single());
    vars.insert(
        "scheduled_time".into(),
        json!(match kind {
            AlertKind::RecordingScheduled
            | AlertKind::RecordingCancelled
            | AlertKind::RecordingMissed => start.map(|t| snap.zone.friendly(t, now)),
            _ => None,
        }),
    );
    vars.insert(
        "start_time".into(),
        json!(match kind {
            AlertKind::RecordingStarted => Some(snap.zone.clock(now)),
            _ => None,
        }),
    );
    vars.insert(
        "duration".into(),
        json!(job
            .duration
            .map(|d| template::words_duration(Duration::from_secs(d)))),
    );
    vars.insert(
        "stream_count".into(),
        json!(match kind {
            AlertKind::RecordingScheduled
            | AlertKind::RecordingCancelled
            | AlertKind::RecordingMissed => None,
            _ => snap.stream_count,
        }),
    );
    let image = if s.recording.program_image_for(&snap.dvr_id) {
        job.image.clone().or(channel.logo.clone())
    } else {
        channel.logo.clone()
    };
    vars.insert("image_url".into(), json!(image));
    // The DVR's reason, where a job failed or never started.
    vars.insert(
        "error".into(),
        json!(match kind {
            AlertKind::RecordingFailed | AlertKind::RecordingMissed => job.error.clone(),
            _ => None,
        }),
    );
    let stage = kind.event_type().trim_start_matches("recording.");
    Draft {
        kind,
        dedup_key: Some(format!("recording-{stage}-{job_id}")),
        cooldown: Duration::from_secs(s.recording.cooldown_seconds),
        vars,
        image_url: image,
        route: Route::default(),
    }
}

fn health_draft(
    kind: AlertKind,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    detail: Option<String>,
    snap: &Snapshot,
    now: DateTime<Utc>,
) -> Draft {
    let mut vars = Map::new();
    let zone = snap.zone;
    vars.insert("outage_start".into(), json!(zone.date_time(since)));
    vars.insert("outage_end".into(), json!(until.map(|t| zone.date_time(t))));
    vars.insert(
        "outage_duration".into(),
        json!(human_duration(
            (until.unwrap_or(now) - since).to_std().unwrap_or_default()
        )),
    );
    vars.insert("detail".into(), json!(detail));
    vars.insert("dvr_host".into(), json!(snap.host));
    Draft {
        kind,
        dedup_key: Some(format!("{}-{}", kind.event_type(), since.timestamp())),
        cooldown: Duration::from_secs(1),
        vars,
        image_url: None,
        route: Route::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_776_630_000 + s, 0).unwrap()
    }

    fn event(at: DateTime<Utc>, kind: EngineEventKind) -> EngineEvent {
        EngineEvent {
            dvr_id: "3f7ecdd3".into(),
            at,
            kind,
        }
    }

    fn health(at: DateTime<Utc>, to: Verdict) -> EngineEvent {
        event(
            at,
            EngineEventKind::HealthChanged {
                from: None,
                to,
                detail: (to != Verdict::Healthy).then(|| "no answer from /status".into()),
            },
        )
    }

    fn running() -> Snapshot {
        Snapshot {
            running: true,
            connected: true,
            dvr_id: "3f7ecdd3".into(),
            host: "192.168.1.20:8089".into(),
            stream_count: Some(1),
            disk_thresholds: DiskThresholds::default(),
            zone: Zone::UTC,
        }
    }

    /// `decide` with every lookup answered from `known` (the shell's loop over `needs`).
    fn run(
        st: &mut DvrAlerts,
        s: &AlertSettings,
        input: Input<'_>,
        snap: &Snapshot,
        known: &Facts,
        now: DateTime<Utc>,
    ) -> Vec<Draft> {
        let mut facts = Facts::default();
        for _ in 0..3 {
            let n = needs(st, s, &input, snap, &facts, now);
            if n.is_empty() {
                break;
            }
            facts.prefetched |= n.prefetch;
            for c in n.channels {
                let info = known.channels.get(&c).cloned().unwrap_or_default();
                facts.channels.insert(c, info);
            }
            for j in n.jobs {
                let job = known.jobs.get(&j).cloned().flatten();
                facts.jobs.insert(j, job);
            }
            for r in n.recordings {
                let rec = known.recordings.get(&r).cloned().flatten();
                facts.recordings.insert(r, rec);
            }
            for a in n.airings {
                facts.airings.insert(a, None);
            }
            for i in n.library_items {
                facts.library_items.insert(i, None);
            }
        }
        assert!(needs(st, s, &input, snap, &facts, now).is_empty());
        decide(st, s, &input, snap, &facts, now)
    }

    /// The rendered default title and message, as the shell would send them.
    fn texts(d: &Draft, dvr_name: &str) -> (String, String) {
        let mut vars = d.vars.clone();
        vars.insert("dvr_name".into(), json!(dvr_name));
        template::default_text(d.kind, &Value::Object(vars))
    }

    /// The same story as the integration test `a_dark_dvr_alerts_unreachable_after_the_
    /// delay_then_recovered`, which waits a minute of real time for it.
    #[test]
    fn a_dark_dvr_is_unreachable_after_the_delay_once_then_recovered() {
        let mut s = AlertSettings::default();
        s.health.unreachable_delay_seconds = 30;
        let snap = running();
        let none = Facts::default();
        let mut st = DvrAlerts::new(t(0));
        assert!(!st.watching_clock());
        let stale = health(t(0), Verdict::Stale);
        assert!(run(&mut st, &s, Input::Event(&stale), &snap, &none, t(0)).is_empty());
        assert!(st.pending(), "the unreachable delay runs on the clock");
        assert!(run(&mut st, &s, Input::Tick, &snap, &none, t(29)).is_empty());
        let u = run(&mut st, &s, Input::Tick, &snap, &none, t(30));
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].kind, AlertKind::DvrUnreachable);
        assert_eq!(texts(&u[0], "Cabin").0, "🔌 DVR unreachable: Cabin");
        assert_eq!(u[0].vars["dvr_host"], "192.168.1.20:8089");
        assert_eq!(u[0].vars["detail"], "no answer from /status");
        for later in [35, 60, 65] {
            assert!(
                run(&mut st, &s, Input::Tick, &snap, &none, t(later)).is_empty(),
                "one alert per outage"
            );
        }
        let healthy = health(t(70), Verdict::Healthy);
        let r = run(&mut st, &s, Input::Event(&healthy), &snap, &none, t(70));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind, AlertKind::DvrRecovered);
        let (_, msg) = texts(&r[0], "Cabin");
        assert!(
            msg.starts_with("Back after ") && msg.contains("down from "),
            "{msg}"
        );
        assert!(!st.watching_clock());
    }

    #[test]
    fn an_unsent_unreachable_alert_is_not_followed_by_recovered() {
        let mut s = AlertSettings::default();
        s.health.unreachable_delay_seconds = 30;
        let (snap, none) = (running(), Facts::default());
        let mut st = DvrAlerts::new(t(0));
        run(
            &mut st,
            &s,
            Input::Event(&health(t(0), Verdict::Disconnected)),
            &snap,
            &none,
            t(0),
        );
        assert_eq!(run(&mut st, &s, Input::Tick, &snap, &none, t(31)).len(), 1);
        st.unreachable_not_sent();
        let back = health(t(90), Verdict::Healthy);
        assert!(run(&mut st, &s, Input::Event(&back), &snap, &none, t(90)).is_empty());
    }

    #[test]
    fn a_removed_dvr_is_never_unreachable() {
        let mut s = AlertSettings::default();
        s.health.unreachable_delay_seconds = 30;
        let none = Facts::default();
        let mut st = DvrAlerts::new(t(0));
        run(
            &mut st,
            &s,
            Input::Event(&health(t(0), Verdict::Stale)),
            &running(),
            &none,
            t(0),
        );
        let gone = Snapshot {
            running: false,
            ..running()
        };
        assert!(run(&mut st, &s, Input::Tick, &gone, &none, t(60)).is_empty());
        assert!(run(&mut st, &s, Input::Tick, &running(), &none, t(120)).is_empty());
    }

    fn job(start: DateTime<Utc>, channel: &str) -> JobInfo {
        JobInfo {
            name: Some("The Evening News".into()),
            start_time: Some(start.timestamp()),
            duration: Some(1800),
            channel: Some(channel.into()),
            ..Default::default()
        }
    }

    fn known(jobs: &[(&str, JobInfo)]) -> Facts {
        let mut f = Facts::default();
        for (id, j) in jobs {
            f.jobs.insert(id.to_string(), Some(j.clone()));
        }
        f.channels.insert(
            "5.1".into(),
            ChannelInfo {
                name: Some("KTLA".into()),
                logo: Some("http://dvr/logo.png".into()),
            },
        );
        f
    }

    fn scheduled(at: DateTime<Utc>, id: &str) -> EngineEvent {
        event(
            at,
            EngineEventKind::Change(Change::RecordingScheduled { job_id: id.into() }),
        )
    }

    /// Alert texts give times in the zone in force, daylight saving included: the
    /// night New York's clocks go back, 05:30 and 06:30 UTC are both 1:30 AM.
    #[test]
    fn alert_times_are_in_the_zone_in_force_across_a_dst_change() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let ny = Snapshot {
            zone: Zone::parse("America/New_York").unwrap(),
            ..running()
        };
        let s = AlertSettings::default();
        // Saturday 22:00 EDT: the job starts at 1:30 EST, the next day.
        let now = at("2026-11-01T02:00:00Z");
        let f = known(&[("job-1", job(at("2026-11-01T06:30:00Z"), "5.1"))]);
        let mut st = DvrAlerts::new(now);
        let ev = scheduled(now, "job-1");
        let d = run(&mut st, &s, Input::Event(&ev), &ny, &f, now);
        assert_eq!(d[0].vars["scheduled_time"], "Tomorrow at 1:30 AM");
        let d = run(&mut st, &s, Input::Event(&ev), &running(), &f, now);
        assert_eq!(
            d[0].vars["scheduled_time"], "Today at 6:30 AM",
            "the same job read in UTC"
        );

        let mut s = AlertSettings::default();
        s.health.unreachable_delay_seconds = 30;
        let down = at("2026-11-01T05:30:00Z");
        let mut st = DvrAlerts::new(down);
        let stale = health(down, Verdict::Stale);
        run(
            &mut st,
            &s,
            Input::Event(&stale),
            &ny,
            &Facts::default(),
            down,
        );
        let later = down + chrono::Duration::seconds(3600);
        run(&mut st, &s, Input::Tick, &ny, &Facts::default(), later);
        let back = health(later, Verdict::Healthy);
        let r = run(
            &mut st,
            &s,
            Input::Event(&back),
            &ny,
            &Facts::default(),
            later,
        );
        assert_eq!(r[0].vars["outage_start"], "2026-11-01 01:30:00 EDT");
        assert_eq!(r[0].vars["outage_end"], "2026-11-01 01:30:00 EST");
        assert_eq!(r[0].vars["outage_duration"], "1h 0m 0s");
    }

    /// Program art by default; the switch gives the channel logo, globally or for one
    /// DVR, and one DVR can keep the art while the rest go without.
    #[test]
    fn the_program_image_switch_picks_the_logo_globally_and_per_dvr() {
        let with_art = JobInfo {
            image: Some("http://dvr/art.jpg".into()),
            ..job(t(3600), "5.1")
        };
        let f = known(&[("job-1", with_art)]);
        let image = |s: &AlertSettings, snap: &Snapshot| {
            let mut st = DvrAlerts::new(t(0));
            let ev = scheduled(t(0), "job-1");
            let d = run(&mut st, s, Input::Event(&ev), snap, &f, t(0));
            (d[0].image_url.clone(), d[0].vars["image_url"].clone())
        };
        let art = (
            Some("http://dvr/art.jpg".to_string()),
            json!("http://dvr/art.jpg"),
        );
        let logo = (
            Some("http://dvr/logo.png".to_string()),
            json!("http://dvr/logo.png"),
        );
        let mut s = AlertSettings::default();
        assert_eq!(image(&s, &running()), art);
        s.recording.program_image = false;
        assert_eq!(image(&s, &running()), logo);
        let other = Snapshot {
            dvr_id: "0000beef".into(),
            ..running()
        };
        s.recording
            .program_image_per_dvr
            .insert("0000beef".into(), true);
        assert_eq!(image(&s, &other), art, "this DVR keeps the art");
        assert_eq!(image(&s, &running()), logo);
        s.recording.program_image = true;
        s.recording
            .program_image_per_dvr
            .insert("3f7ecdd3".into(), false);
        assert_eq!(image(&s, &running()), logo, "this DVR goes without");
        assert_eq!(image(&s, &other), art);
    }

    #[test]
    fn a_scheduled_recording_names_its_job_and_channel() {
        let s = AlertSettings::default();
        let f = known(&[("job-1", job(t(3600), "5.1"))]);
        let mut st = DvrAlerts::new(t(0));
        let ev = scheduled(t(0), "job-1");
        // The job first; its channel once the job says which.
        let n = needs(
            &st,
            &s,
            &Input::Event(&ev),
            &running(),
            &Facts::default(),
            t(0),
        );
        assert_eq!(n.jobs, ["job-1"]);
        assert!(n.channels.is_empty());
        let d = run(&mut st, &s, Input::Event(&ev), &running(), &f, t(0));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, AlertKind::RecordingScheduled);
        assert_eq!(d[0].vars["channel_name"], "KTLA");
        assert_eq!(d[0].vars["program_title"], "The Evening News");
        assert_eq!(d[0].dedup_key.as_deref(), Some("recording-scheduled-job-1"));
        assert_eq!(d[0].image_url.as_deref(), Some("http://dvr/logo.png"));
        assert!(st.watching_clock(), "a scheduled job may not start");
    }

    #[test]
    fn a_job_starting_now_announces_itself_as_started_not_scheduled() {
        let s = AlertSettings::default();
        let f = known(&[("job-2", job(t(20), "5.1"))]);
        let mut st = DvrAlerts::new(t(0));
        let ev = scheduled(t(0), "job-2");
        assert!(run(&mut st, &s, Input::Event(&ev), &running(), &f, t(0)).is_empty());
    }

    #[test]
    fn a_recording_that_never_starts_is_reported_after_two_checks() {
        let s = AlertSettings::default();
        let grace = s.recording.missed_grace_seconds as i64;
        let mut j3 = job(t(600), "5.1");
        j3.error = Some("No tuners available".into());
        let f = known(&[("job-3", j3)]);
        let snap = running();
        let mut st = DvrAlerts::new(t(0));
        assert_eq!(
            run(
                &mut st,
                &s,
                Input::Event(&scheduled(t(0), "job-3")),
                &snap,
                &f,
                t(0)
            )
            .len(),
            1
        );
        let first = 600 + grace + 1;
        assert!(run(&mut st, &s, Input::Tick, &snap, &f, t(first)).is_empty());
        assert!(st.pending(), "the second check is due");
        assert!(run(&mut st, &s, Input::Tick, &snap, &f, t(first + 29)).is_empty());
        let d = run(&mut st, &s, Input::Tick, &snap, &f, t(first + 30));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, AlertKind::RecordingMissed);
        assert_eq!(d[0].vars["status"], "⛔ Did not start");
        assert_eq!(d[0].vars["channel_name"], "KTLA");
        assert_eq!(d[0].vars["error"], "No tuners available");
        assert!(run(&mut st, &s, Input::Tick, &snap, &f, t(first + 90)).is_empty());
        assert!(!st.watching_clock());
    }

    #[test]
    fn a_recording_that_starts_late_or_while_the_dvr_is_down_is_not_missed() {
        let s = AlertSettings::default();
        let grace = s.recording.missed_grace_seconds as i64;
        let f = known(&[("job-4", job(t(600), "5.1"))]);
        let mut st = DvrAlerts::new(t(0));
        run(
            &mut st,
            &s,
            Input::Event(&scheduled(t(0), "job-4")),
            &running(),
            &f,
            t(0),
        );
        let down = Snapshot {
            connected: false,
            ..running()
        };
        let first = 600 + grace + 1;
        assert!(run(&mut st, &s, Input::Tick, &down, &f, t(first)).is_empty());
        assert!(run(&mut st, &s, Input::Tick, &down, &f, t(first + 60)).is_empty());
        // Back, and the recording turns out to be running.
        let started = event(
            t(first + 61),
            EngineEventKind::Change(Change::RecordingStarted(Recording {
                job_id: "job-4".into(),
                scheduled: true,
                started_at: None,
                title: None,
                channel_number: Some("5.1".into()),
            })),
        );
        let d = run(
            &mut st,
            &s,
            Input::Event(&started),
            &running(),
            &f,
            t(first + 61),
        );
        assert_eq!(d[0].vars["status"], "🔴 Recording (Scheduled)");
        assert!(run(&mut st, &s, Input::Tick, &running(), &f, t(first + 200)).is_empty());
    }

    #[test]
    fn only_known_jobs_are_announced_as_cancelled() {
        let s = AlertSettings::default();
        let f = known(&[("job-5", job(t(3600), "5.1"))]);
        let mut st = DvrAlerts::new(t(0));
        let deleted = |id: &str| {
            event(
                t(10),
                EngineEventKind::Change(Change::JobDeleted {
                    job_id: id.into(),
                    was_recording: false,
                    was_scheduled: false,
                }),
            )
        };
        let unknown = deleted("job-other");
        let n = needs(
            &st,
            &s,
            &Input::Event(&unknown),
            &running(),
            &Facts::default(),
            t(10),
        );
        assert!(n.is_empty(), "an unknown job costs no lookup");
        assert!(run(&mut st, &s, Input::Event(&unknown), &running(), &f, t(10)).is_empty());
        run(
            &mut st,
            &s,
            Input::Event(&scheduled(t(0), "job-5")),
            &running(),
            &f,
            t(0),
        );
        let d = run(
            &mut st,
            &s,
            Input::Event(&deleted("job-5")),
            &running(),
            &f,
            t(10),
        );
        assert_eq!(d[0].kind, AlertKind::RecordingCancelled);
        assert_eq!(d[0].vars["status"], "🚫 Cancelled");
    }

    #[test]
    fn a_finished_recording_says_how_it_ended() {
        let s = AlertSettings::default();
        let mut f = known(&[("job-6", job(t(0), "5.1"))]);
        f.recordings.insert(
            "file-6".into(),
            Some(RecordingOutcome {
                title: Some("The Late Show".into()),
                failed: true,
                duration: Some(3600),
                error: Some("tuner lost".into()),
                ..Default::default()
            }),
        );
        let mut st = DvrAlerts::new(t(0));
        let done = event(
            t(4000),
            EngineEventKind::Change(Change::RecordingCompleted {
                file_id: "file-6".into(),
                job_id: Some("job-6".into()),
            }),
        );
        let d = run(&mut st, &s, Input::Event(&done), &running(), &f, t(4000));
        assert_eq!(d[0].kind, AlertKind::RecordingFailed);
        assert_eq!(d[0].vars["status"], "❌ Failed");
        assert_eq!(d[0].vars["program_title"], "The Late Show");
        assert_eq!(d[0].vars["channel_name"], "KTLA");
        assert_eq!(d[0].dedup_key.as_deref(), Some("recording-failed-job-6"));
        assert_eq!(d[0].vars["error"], "tuner lost", "the DVR's reason");
    }

    #[test]
    fn a_low_disk_alerts_once_per_level_after_the_start_grace() {
        let s = AlertSettings::default();
        let grace = s.disk.startup_grace_seconds as i64;
        let mut st = DvrAlerts::new(t(0));
        let gib = 1024 * 1024 * 1024;
        let disk = |at, free_gib: u64| {
            event(
                at,
                EngineEventKind::Disk(DiskSample {
                    free_bytes: free_gib * gib,
                    total_bytes: 500 * gib,
                }),
            )
        };
        let none = Facts::default();
        let early = disk(t(1), 20);
        assert!(run(&mut st, &s, Input::Event(&early), &running(), &none, t(1)).is_empty());
        let low = disk(t(grace + 1), 40);
        let d = run(
            &mut st,
            &s,
            Input::Event(&low),
            &running(),
            &none,
            t(grace + 1),
        );
        assert_eq!(d[0].kind, AlertKind::DiskWarning);
        assert_eq!(d[0].vars["level"], "warning");
        assert_eq!(d[0].vars["disk_free"], "40.00 GB");
        let again = disk(t(grace + 2), 40);
        assert!(run(
            &mut st,
            &s,
            Input::Event(&again),
            &running(),
            &none,
            t(grace + 2)
        )
        .is_empty());
        let worse = disk(t(grace + 3), 20);
        let d = run(
            &mut st,
            &s,
            Input::Event(&worse),
            &running(),
            &none,
            t(grace + 3),
        );
        assert_eq!(d[0].kind, AlertKind::DiskCritical);
    }

    #[test]
    fn inputs_no_rule_reads_are_skipped_and_raise_nothing() {
        let s = AlertSettings::default();
        let mut st = DvrAlerts::new(t(0));
        let ignored = [
            EngineEventKind::Disconnected {
                reason: "closed".into(),
            },
            EngineEventKind::TaskRestarted {
                reason: "hung".into(),
            },
        ];
        for kind in ignored {
            let ev = event(t(1), kind);
            assert!(!reacts_to(&Input::Event(&ev)));
            let none = Facts::default();
            assert!(run(&mut st, &s, Input::Event(&ev), &running(), &none, t(1)).is_empty());
        }
        assert!(reacts_to(&Input::Tick));
        assert!(reacts_to(&Input::Event(&scheduled(t(0), "job-7"))));
        assert!(reacts_to(&Input::Event(&health(t(0), Verdict::Stale))));
    }
}
