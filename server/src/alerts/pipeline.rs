//! The alert pipeline: one task per DVR reads that DVR's engine events (losslessly),
//! applies the module rules with the DVR's own dedup state, enriches, renders, routes,
//! applies the global rate limit, and records the alert with its outbox rows in one
//! transaction before the delivery worker is woken.
//!
//! Per-DVR tasks keep DVRs apart: a slow lookup on one DVR never delays another's
//! alerts, and dedup keys and cooldowns never cross DVRs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local, TimeZone, Utc};
use parking_lot::{Mutex, RwLock};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::enrich::{Enrichers, SharedEnricher};
use crate::notify::outbox::Dispatcher;
use domain::alerts::dedup::{Budget, Cooldowns};
use domain::alerts::disk::DiskRule;
use domain::alerts::health::{human_duration, HealthAlert, HealthRule};
use domain::alerts::kind::AlertKind;
use domain::alerts::settings::AlertSettings;
use domain::alerts::template;
use domain::session::{Change, LiveSession, Recording, VodSession};
use engine::cadence;
use engine::Engine;
use engine::{EngineEvent, EngineEventKind, RestartCause, Verdict};
use storage::outbox::{self, Destination, NewAlert};
use storage::{providers, routing, settings as store_settings, Db, StorageError};

/// The settings key alert settings are stored under.
pub const SETTINGS_KEY: &str = "alerts";

/// An alert the rules decided on, before texts and routing.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: AlertKind,
    pub dedup_key: Option<String>,
    pub cooldown: Duration,
    pub vars: Map<String, Value>,
    pub image_url: Option<String>,
}

struct Shared {
    db: Db,
    engine: Engine,
    dispatcher: Dispatcher,
    settings: RwLock<Arc<AlertSettings>>,
    /// Per-DVR alert budgets, so one busy DVR cannot use up another's.
    budgets: Mutex<HashMap<String, Budget>>,
    /// Per-DVR cooldowns; they outlive the DVR's task restarts and reloads, so a
    /// reconnect that rediscovers a session does not alert it again.
    cooldowns: Mutex<HashMap<String, Arc<Mutex<Cooldowns>>>>,
    /// Per-DVR lookup caches (channels, guide, jobs), shared with the dashboard.
    enrichers: Enrichers,
}

/// How often a DVR's clock-driven checks run while one is pending, and otherwise.
const FAST_TICK: Duration = Duration::from_secs(5);
const SLOW_TICK: Duration = Duration::from_secs(30);

/// The engine's lossless alert stream ([`Engine::alert_stream`]).
pub type AlertStream = mpsc::UnboundedReceiver<Arc<EngineEvent>>;

/// Handle to the alert pipeline. Cheap to clone.
#[derive(Clone)]
pub struct AlertService {
    shared: Arc<Shared>,
}

impl AlertService {
    /// Loads stored settings (defaults when none).
    pub async fn load(
        db: Db,
        engine: Engine,
        dispatcher: Dispatcher,
    ) -> Result<Self, StorageError> {
        let settings: AlertSettings = store_settings::get(&db, SETTINGS_KEY)
            .await?
            .unwrap_or_default();
        dispatcher.set_max_age(Duration::from_secs(settings.delivery.max_age_seconds));
        let cooldowns = Self::recent_cooldowns(&db).await?;
        Ok(Self {
            shared: Arc::new(Shared {
                db,
                engine,
                dispatcher,
                settings: RwLock::new(Arc::new(settings)),
                budgets: Mutex::new(HashMap::new()),
                cooldowns: Mutex::new(cooldowns),
                enrichers: Enrichers::default(),
            }),
        })
    }

    /// Every DVR's dedup keys of the last day, in one query at start (one per DVR
    /// queued thousands of reads on the pool when many DVRs connected at once), so a
    /// restart does not alert again what was just sent.
    async fn recent_cooldowns(
        db: &Db,
    ) -> Result<HashMap<String, Arc<Mutex<Cooldowns>>>, StorageError> {
        let since = Utc::now() - chrono::Duration::hours(24);
        let (now, mono) = (Utc::now(), std::time::Instant::now());
        let mut all: HashMap<String, Arc<Mutex<Cooldowns>>> = HashMap::new();
        for (dvr_id, key, at) in outbox::recent_keys_all(db, since).await? {
            all.entry(dvr_id).or_default().lock().restore(
                &key,
                (now - at).to_std().unwrap_or_default(),
                mono,
            );
        }
        Ok(all)
    }

    pub fn settings(&self) -> AlertSettings {
        (**self.shared.settings.read()).clone()
    }

    /// The settings in force, shared (the per-event path takes no copy).
    fn current(&self) -> Arc<AlertSettings> {
        self.shared.settings.read().clone()
    }

    /// Validates, stores and applies new settings (the next alert uses them).
    pub async fn set_settings(&self, s: AlertSettings) -> Result<(), String> {
        // Validation renders every template on its samples: off the async workers.
        let s = tokio::task::spawn_blocking(move || s.validate().map(|()| s))
            .await
            .map_err(|e| format!("checking the settings failed: {e}"))??;
        store_settings::set(&self.shared.db, SETTINGS_KEY, &s)
            .await
            .map_err(|e| e.to_string())?;
        self.shared
            .dispatcher
            .set_max_age(Duration::from_secs(s.delivery.max_age_seconds));
        *self.shared.settings.write() = Arc::new(s);
        Ok(())
    }

    /// Routes the engine's alert stream to per-DVR tasks until `cancel`. The stream is
    /// shared so that a run started again after a panic reads on where it stopped.
    pub async fn run(self, rx: Arc<tokio::sync::Mutex<AlertStream>>, cancel: CancellationToken) {
        let me = self;
        let mut rx = rx.lock().await;
        {
            let mut workers: HashMap<String, mpsc::UnboundedSender<Arc<EngineEvent>>> =
                HashMap::new();
            loop {
                let ev = tokio::select! {
                    ev = rx.recv() => match ev { Some(ev) => ev, None => return },
                    _ = cancel.cancelled() => return,
                };
                let start = |dvr_id: &str| {
                    let (tx, wrx) = mpsc::unbounded_channel();
                    tokio::spawn(me.clone().run_dvr(dvr_id.to_string(), wrx, cancel.clone()));
                    tx
                };
                let tx = workers
                    .entry(ev.dvr_id.clone())
                    .or_insert_with(|| start(&ev.dvr_id));
                // The DVR's worker ended (it panicked): start a new one, or every later
                // alert of this DVR would vanish without a word.
                if let Err(mpsc::error::SendError(ev)) = tx.send(ev) {
                    warn!(dvr_id = %ev.dvr_id, "the DVR's alert worker stopped (a panic?); starting it again");
                    *tx = start(&ev.dvr_id);
                    let _ = tx.send(ev);
                }
            }
        }
    }

    async fn run_dvr(
        self,
        dvr_id: String,
        mut rx: mpsc::UnboundedReceiver<Arc<EngineEvent>>,
        cancel: CancellationToken,
    ) {
        let mut st = DvrAlerts::new(&dvr_id);
        // Checks that wait on the clock (an outage's delay, a recording that did not
        // start) run every 5 s while one is pending, else every 30 s: an idle DVR costs
        // one wake-up here every half minute, not one every 5 s.
        // Both on the shared grid: every DVR's checks run in one batch.
        let mut tick = cadence::aligned_interval(FAST_TICK, FAST_TICK);
        let mut slow = cadence::aligned_interval(SLOW_TICK, SLOW_TICK);
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => Some(ev),
                    None => return,
                },
                _ = tick.tick(), if st.pending() => None,
                _ = slow.tick(), if st.watching_clock() => None,
                _ = cancel.cancelled() => return,
            };
            match ev {
                Some(ev) => {
                    // A panic (a bug) costs this one event, said in the log; the
                    // worker and the events queued behind it go on.
                    let one = std::panic::AssertUnwindSafe(async {
                        for d in self.on_event(&mut st, &ev).await {
                            self.emit(&dvr_id, d).await;
                        }
                    });
                    if let Err(p) = futures::FutureExt::catch_unwind(one).await {
                        tracing::error!(dvr_id = %dvr_id, panic = %domain::panic_message(p), "an alert event was lost to an internal error");
                    }
                }
                None => {
                    let one = std::panic::AssertUnwindSafe(async {
                        for d in self.on_tick(&mut st).await {
                            let kind = d.kind;
                            let sent = self.emit(&dvr_id, d).await;
                            if kind == AlertKind::DvrUnreachable && !sent {
                                st.health.disarm();
                            }
                        }
                    });
                    if let Err(p) = futures::FutureExt::catch_unwind(one).await {
                        tracing::error!(dvr_id = %dvr_id, panic = %domain::panic_message(p), "an alert check was lost to an internal error");
                    }
                }
            }
        }
    }

    fn enricher(&self, st: &DvrAlerts) -> Option<SharedEnricher> {
        self.shared.enrichers.get(&self.shared.engine, &st.dvr_id)
    }

    /// The per-DVR lookup caches, shared with the dashboard.
    pub fn enrichers(&self) -> &Enrichers {
        &self.shared.enrichers
    }

    fn stream_count(&self, dvr_id: &str) -> Option<u64> {
        self.shared
            .engine
            .slot(dvr_id)
            .map(|s| s.with_state(|st| st.stream_count() as u64))
    }

    async fn on_event(&self, st: &mut DvrAlerts, ev: &EngineEvent) -> Vec<Draft> {
        let s = self.current();
        st.seen = ev.at;
        match &ev.kind {
            EngineEventKind::Connected if s.channel.enabled => {
                if let Some(e) = self.enricher(st) {
                    e.lock().await.prefetch().await;
                }
                Vec::new()
            }
            EngineEventKind::Change(Change::LiveStarted(live)) => {
                vec![self.channel_draft(st, live, &s).await]
            }
            EngineEventKind::Change(Change::VodStarted(vod)) => {
                vec![self.vod_draft(st, vod, &s).await]
            }
            EngineEventKind::Change(Change::RecordingScheduled { job_id }) => {
                let job = match self.enricher(st) {
                    Some(e) => e.lock().await.job(job_id, st.seen).await,
                    None => None,
                };
                let start = job.as_ref().and_then(|j| j.start_time);
                if let Some(t) = start {
                    st.scheduled.insert(job_id.clone(), t);
                }
                // Only jobs that start later are "scheduled"; one starting now will
                // announce itself as started.
                if start.is_some_and(|t| t <= Utc::now().timestamp() + 30) {
                    return Vec::new();
                }
                vec![
                    self.recording_draft(st, AlertKind::RecordingScheduled, job_id, None, &s)
                        .await,
                ]
            }
            EngineEventKind::Change(Change::RecordingStarted(rec)) => {
                st.started.insert(rec.job_id.clone());
                let was_scheduled = rec.scheduled || st.scheduled.contains_key(&rec.job_id);
                vec![
                    self.recording_draft(
                        st,
                        AlertKind::RecordingStarted,
                        &rec.job_id,
                        Some((rec, was_scheduled)),
                        &s,
                    )
                    .await,
                ]
            }
            EngineEventKind::Change(Change::RecordingCompleted { file_id, job_id }) => {
                let outcome = match self.enricher(st) {
                    Some(e) => e.lock().await.recording(file_id).await,
                    None => None,
                };
                let kind = match &outcome {
                    Some(o) if o.failed => AlertKind::RecordingFailed,
                    Some(o) if o.skipped => AlertKind::RecordingSkipped,
                    Some(o) if o.cancelled && o.completed => AlertKind::RecordingStopped,
                    Some(o) if o.cancelled => AlertKind::RecordingInterrupted,
                    _ => AlertKind::RecordingCompleted,
                };
                let key_id = job_id.clone().unwrap_or_else(|| file_id.clone());
                if let Some(j) = job_id {
                    st.started.remove(j);
                    st.scheduled.remove(j);
                }
                let mut d = self.recording_draft(st, kind, &key_id, None, &s).await;
                if let Some(o) = outcome {
                    let status = match kind {
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
                }
                vec![d]
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
                let mut d = self
                    .recording_draft(st, AlertKind::RecordingCancelled, job_id, None, &s)
                    .await;
                d.vars.insert(
                    "status".into(),
                    json!(if *was_recording {
                        "🚫 Cancelled (Active)"
                    } else {
                        "🚫 Cancelled"
                    }),
                );
                vec![d]
            }
            EngineEventKind::Disk(sample) => {
                let level = sample.level(&self.shared.engine.disk_thresholds());
                let rule = s.disk.rule();
                match st.disk.on_sample(*sample, level, Utc::now(), &rule) {
                    Some(kind) => {
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
                        // The rule already applies the cooldown and worsening deltas.
                        vec![Draft {
                            kind,
                            dedup_key: None,
                            cooldown: Duration::ZERO,
                            vars,
                            image_url: None,
                        }]
                    }
                    None => Vec::new(),
                }
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
                        &self.host_of(&st.dvr_id),
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
                    &self.host_of(&st.dvr_id),
                );
                d.dedup_key = Some(format!("reload-{}", check.restarted_at.timestamp_millis()));
                vec![d]
            }
            _ => Vec::new(),
        }
    }

    fn host_of(&self, dvr_id: &str) -> String {
        self.shared
            .engine
            .slot(dvr_id)
            .map(|s| {
                let spec = s.spec();
                format!("{}:{}", spec.host, spec.port)
            })
            .unwrap_or_default()
    }

    async fn on_tick(&self, st: &mut DvrAlerts) -> Vec<Draft> {
        let s = self.current();
        let now = Utc::now();
        st.seen = now;
        let mut out = Vec::new();
        // A DVR removed, disabled or given a new identity is not "unreachable".
        if self.shared.engine.slot(&st.dvr_id).is_none() {
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
                &self.host_of(&st.dvr_id),
            ));
        }
        // "Did not start": a scheduled job past its start plus the grace, never started,
        // while the DVR is reachable (a DVR that is down says so itself).
        let connected = self
            .shared
            .engine
            .slot(&st.dvr_id)
            .is_some_and(|sl| sl.is_connected());
        if connected {
            let grace = i64::try_from(s.recording.missed_grace_seconds).unwrap_or(180);
            let overdue: Vec<String> = st
                .scheduled
                .iter()
                .filter(|(id, start)| {
                    now.timestamp() > start.saturating_add(grace)
                        && !st.started.contains(*id)
                        && !st.missed.contains(*id)
                })
                .map(|(id, _)| id.clone())
                .collect();
            // Two checks at least 30 s apart, both with the DVR reachable, before
            // saying a recording did not start (a start missed during a reconnect is
            // resynced in between).
            st.missed_candidates.retain(|id, _| overdue.contains(id));
            let mut confirmed = Vec::new();
            for id in overdue {
                let first = *st.missed_candidates.entry(id.clone()).or_insert(now);
                if (now - first).num_seconds() >= 30 {
                    confirmed.push(id);
                }
            }
            for id in confirmed {
                st.missed_candidates.remove(&id);
                st.missed.insert(id.clone());
                st.scheduled.remove(&id);
                out.push(
                    self.recording_draft(st, AlertKind::RecordingMissed, &id, None, &s)
                        .await,
                );
            }
        }
        out
    }

    async fn channel_draft(
        &self,
        st: &mut DvrAlerts,
        live: &LiveSession,
        s: &AlertSettings,
    ) -> Draft {
        let now = Utc::now().timestamp();
        let (info, airing) = match self.enricher(st) {
            Some(e) => {
                let mut e = e.lock().await;
                (
                    e.channel(&live.channel_number).await,
                    e.airing(&live.channel_number, now).await,
                )
            }
            None => Default::default(),
        };
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
        vars.insert("stream_count".into(), json!(self.stream_count(&st.dvr_id)));
        vars.insert("image_url".into(), json!(image));
        Draft {
            kind: AlertKind::ChannelWatching,
            dedup_key: Some(format!("ch{}-{who}", live.channel_number)),
            cooldown: Duration::from_secs(s.channel.cooldown_seconds),
            vars,
            image_url: image,
        }
    }

    async fn vod_draft(&self, st: &mut DvrAlerts, vod: &VodSession, s: &AlertSettings) -> Draft {
        let item = match self.enricher(st) {
            Some(e) => e.lock().await.library_item(&vod.file_id).await,
            None => None,
        };
        let item = item.unwrap_or_default();
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
        }
    }

    async fn recording_draft(
        &self,
        st: &mut DvrAlerts,
        kind: AlertKind,
        job_id: &str,
        started: Option<(&Recording, bool)>,
        s: &AlertSettings,
    ) -> Draft {
        let job = match self.enricher(st) {
            Some(e) => e.lock().await.job(job_id, st.seen).await,
            None => None,
        };
        let job = job.unwrap_or_default();
        let channel_number = job
            .channel
            .clone()
            .or(started.and_then(|(r, _)| r.channel_number.clone()));
        let channel = match (&channel_number, self.enricher(st)) {
            (Some(n), Some(e)) => e.lock().await.channel(n).await,
            _ => Default::default(),
        };
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
                | AlertKind::RecordingMissed => start.map(friendly_day_time),
                _ => None,
            }),
        );
        vars.insert(
            "start_time".into(),
            json!(match kind {
                AlertKind::RecordingStarted => Some(clock_time(Utc::now())),
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
                _ => self.stream_count(&st.dvr_id),
            }),
        );
        let image = job.image.clone().or(channel.logo.clone());
        vars.insert("image_url".into(), json!(image));
        let stage = kind.event_type().trim_start_matches("recording.");
        Draft {
            kind,
            dedup_key: Some(format!("recording-{stage}-{job_id}")),
            cooldown: Duration::from_secs(s.recording.cooldown_seconds),
            vars,
            image_url: image,
        }
    }

    /// Switches, dedup, texts, routing, rate limit, then one transaction; wakes delivery.
    /// True when the alert was recorded with at least one delivery.
    pub async fn emit(&self, dvr_id: &str, d: Draft) -> bool {
        let s = self.current();
        // A module switched off still records the alert (history), sending nowhere.
        let wanted = s.wants(dvr_id, d.kind);
        let now = Utc::now();
        let mono = std::time::Instant::now();
        if let Some(key) = &d.dedup_key {
            if !d.cooldown.is_zero() {
                let cds = self.cooldowns(dvr_id);
                let mut c = cds.lock();
                if !c.allow(key, d.cooldown, mono) {
                    return false;
                }
                c.prune(Duration::from_secs(86_400), mono);
            }
        }
        let slot = self.shared.engine.slot(dvr_id);
        let dvr_name = slot
            .as_ref()
            .map(|s| s.name())
            .unwrap_or_else(|| dvr_id.to_string());
        let mut vars = d.vars.clone();
        vars.insert("dvr_id".into(), json!(dvr_id));
        vars.insert("dvr_name".into(), json!(dvr_name));
        vars.insert("alert_type".into(), json!(d.kind.event_type()));
        vars.insert("alert_type_friendly".into(), json!(d.kind.friendly()));
        vars.insert(
            "timestamp".into(),
            json!(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
        vars.insert("channelwatch_version".into(), json!(crate::VERSION));
        let cat = d.kind.category();
        let user = cat.map(|c| s.template(c).clone());
        let vars = Value::Object(vars);
        // Rendered on the blocking pool with a time limit: a template is user input.
        let (title, mut message, problem) =
            crate::alerts::render::render_async(d.kind, vars, user).await;
        // Every notification names its DVR, whatever a user template left out.
        if !title.contains(&dvr_name) && !message.contains(&dvr_name) {
            message.push_str(&format!("\nDVR: {dvr_name}"));
        }
        if let Some(p) = problem {
            warn!(dvr_id, alert_type = d.kind.event_type(), problem = %p, "alert template failed; the default text was used");
        }
        let mut destinations = Vec::new();
        if wanted {
            destinations = self.destinations(dvr_id, d.kind).await;
        }
        // The budget slot taken, to give back if the alert cannot be recorded.
        let mut slot_at = None;
        let (status, due) = if !wanted {
            ("suppressed", now)
        } else if destinations.is_empty() || !budgeted(d.kind) {
            ("sent", now)
        } else {
            let reserved = self
                .shared
                .budgets
                .lock()
                .entry(dvr_id.to_string())
                .or_default()
                .reserve(
                    s.rate_limit.count,
                    Duration::from_secs(s.rate_limit.window_seconds),
                    // A tenth of the age is left for the delivery itself (a retry).
                    Duration::from_secs(
                        s.delivery.max_age_seconds - s.delivery.max_age_seconds / 10,
                    ),
                    mono,
                );
            slot_at = reserved.map(|wait| mono + wait);
            match reserved {
                Some(wait) if wait.is_zero() => ("sent", now),
                Some(wait) => {
                    let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                    info!(dvr_id, alert_type = d.kind.event_type(), send_at = %at, "the DVR's alert budget is used up; the alert waits for a free slot");
                    ("delayed", at)
                }
                None => {
                    warn!(
                        dvr_id,
                        alert_type = d.kind.event_type(),
                        "the DVR's alert budget is used up for longer than delivery.max_age_seconds; alert recorded but not sent"
                    );
                    destinations.clear();
                    ("rate_limited", now)
                }
            }
        };
        let alert = NewAlert {
            dvr_id: dvr_id.to_string(),
            dvr_name: dvr_name.clone(),
            alert_type: d.kind.event_type().to_string(),
            title,
            message,
            image_url: d.image_url.clone(),
            dedup_key: d.dedup_key.clone(),
            status,
            created_at: now,
            send_at: due,
        };
        // Nothing is lost: a busy database is retried before giving up loudly.
        let mut wait = Duration::from_millis(100);
        for attempt in 1..=5 {
            match outbox::record(&self.shared.db, &alert, &destinations).await {
                Ok(id) => {
                    if let Some(slot) = &slot {
                        slot.record_alert(d.kind.event_type());
                    }
                    info!(
                        dvr_id,
                        alert_id = id,
                        alert_type = d.kind.event_type(),
                        status,
                        deliveries = destinations.len(),
                        "alert raised"
                    );
                    if !destinations.is_empty() {
                        self.shared.dispatcher.wake();
                    }
                    return !destinations.is_empty();
                }
                Err(e) if attempt < 5 => {
                    warn!(dvr_id, error = %e, attempt, "cannot record an alert; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => {
                    tracing::error!(dvr_id, error = %e, alert_type = d.kind.event_type(), title = %alert.title, "alert could not be recorded");
                }
            }
        }
        // Not recorded: the next occurrence must not be blocked by this one's cooldown,
        // nor wait for the budget slot it took.
        if let Some(key) = &d.dedup_key {
            self.cooldowns(dvr_id).lock().forget(key);
        }
        if let (Some(at), Some(b)) = (slot_at, self.shared.budgets.lock().get_mut(dvr_id)) {
            b.release(at);
        }
        false
    }

    /// The enabled providers the routing matrix lets this alert reach (reads retried).
    async fn destinations(&self, dvr_id: &str, kind: AlertKind) -> Vec<Destination> {
        let cat = kind.category();
        let mut wait = Duration::from_millis(50);
        for attempt in 1..=5 {
            match (
                providers::list(&self.shared.db).await,
                routing::load(&self.shared.db).await,
            ) {
                (Ok(list), Ok(matrix)) => {
                    return list
                        .into_iter()
                        .filter(|p| p.enabled)
                        .filter(|p| cat.is_none_or(|c| matrix.allows(dvr_id, c, &p.kind)))
                        .map(|p| Destination {
                            provider_id: p.id,
                            provider_type: p.kind,
                        })
                        .collect();
                }
                (Err(e), _) | (_, Err(e)) if attempt < 5 => {
                    warn!(dvr_id, error = %e, attempt, "cannot read providers or routing; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(dvr_id, error = %e, "cannot read providers or routing; the alert is recorded without deliveries");
                }
            }
        }
        Vec::new()
    }

    /// Dedup survives a process restart: the last day's alert keys come back from the
    /// history, so sessions still running when ChannelWatch restarts are not re-announced.
    fn cooldowns(&self, dvr_id: &str) -> Arc<Mutex<Cooldowns>> {
        self.shared
            .cooldowns
            .lock()
            .entry(dvr_id.to_string())
            .or_default()
            .clone()
    }
}

/// One DVR's alert state (its dedup cooldowns live in the service, keyed by DVR).
struct DvrAlerts {
    dvr_id: String,
    disk: DiskRule,
    health: HealthRule,
    last_detail: Option<String>,
    /// Scheduled jobs and their start time (unix s), for "did not start".
    scheduled: HashMap<String, i64>,
    started: HashSet<String>,
    missed: HashSet<String>,
    /// Overdue jobs seen once, waiting for the second check.
    missed_candidates: HashMap<String, DateTime<Utc>>,
    /// When the engine saw what is being handled now (an event; a tick's own time).
    seen: DateTime<Utc>,
}

impl DvrAlerts {
    /// A check waits on the clock: an outage's unreachable delay, or a recording on
    /// its way to "did not start".
    fn pending(&self) -> bool {
        self.health.waiting() || !self.missed_candidates.is_empty()
    }

    /// Whether a check could find anything: a scheduled recording that may not start,
    /// an outage, or a pending check. A healthy DVR with nothing scheduled costs no
    /// wake-up at all (10,000 of them woke 333 times a second for nothing).
    fn watching_clock(&self) -> bool {
        self.pending() || !self.scheduled.is_empty() || self.health.down_since().is_some()
    }

    fn new(dvr_id: &str) -> Self {
        Self {
            dvr_id: dvr_id.to_string(),
            disk: DiskRule::new(Utc::now()),
            health: HealthRule::default(),
            last_detail: None,
            scheduled: HashMap::new(),
            started: HashSet::new(),
            missed: HashSet::new(),
            missed_candidates: HashMap::new(),
            seen: Utc::now(),
        }
    }
}

/// Whether a kind counts against its DVR's budget: disk and health alerts never do
/// (their rules send one per level or outage), so a storm cannot mute them.
fn budgeted(kind: AlertKind) -> bool {
    use domain::alerts::kind::Category;
    !matches!(
        kind.category(),
        None | Some(Category::Disk | Category::Health)
    )
}

fn health_draft(
    kind: AlertKind,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    detail: Option<String>,
    host: &str,
) -> Draft {
    let now = Utc::now();
    let mut vars = Map::new();
    vars.insert("outage_start".into(), json!(local_time(since)));
    vars.insert("outage_end".into(), json!(until.map(local_time)));
    vars.insert(
        "outage_duration".into(),
        json!(human_duration(
            (until.unwrap_or(now) - since).to_std().unwrap_or_default()
        )),
    );
    vars.insert("detail".into(), json!(detail));
    vars.insert("dvr_host".into(), json!(host));
    Draft {
        kind,
        dedup_key: Some(format!("{}-{}", kind.event_type(), since.timestamp())),
        cooldown: Duration::from_secs(1),
        vars,
        image_url: None,
    }
}

fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// `8:54 PM EDT`-style clock time (leading zero stripped).
fn clock_time(t: DateTime<Utc>) -> String {
    let l = t.with_timezone(&Local);
    let s = l.format("%I:%M %p").to_string();
    s.trim_start_matches('0').to_string()
}

/// `Today at 8:54 PM`, `Tomorrow at …`, or `Mon DD, YYYY at …`.
fn friendly_day_time(t: DateTime<Utc>) -> String {
    let l = t.with_timezone(&Local);
    let today = Local::now().date_naive();
    let day = if l.date_naive() == today {
        "Today".to_string()
    } else if Some(l.date_naive()) == today.succ_opt() {
        "Tomorrow".to_string()
    } else {
        l.format("%b %d, %Y").to_string()
    };
    format!("{day} at {}", clock_time(t))
}
