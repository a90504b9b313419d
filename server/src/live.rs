//! The dashboard's live feed: one task builds a whole-dashboard frame when something
//! changes (engine events, coalesced) and once a second (ages, new alerts), and every
//! browser reads the newest frame from a `watch` channel.
//!
//! A `watch` channel holds only the latest frame, so a slow browser skips frames
//! instead of queueing them: no client can fall behind by more than one frame, and
//! memory does not grow with the number or speed of clients.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use parking_lot::RwLock;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use wire::{AlertRow, Dashboard, DeliveryRow, DvrCard, RecordingRow, SessionRow, UpcomingRow};

use crate::alerts::pipeline::AlertService;
use crate::registry::Registry;
use domain::session::Change;
use engine::{Engine, EngineEventKind};
use storage::{activity, outbox, settings, Db};

/// What the hub reads to build frames, take samples and sweep: the running services
/// provide it (`crate::services::Services`), benchmarks and tests may too.
pub trait Sources: Send + Sync + 'static {
    fn registry(&self) -> &Registry;
    fn engine(&self) -> &Engine;
    fn db(&self) -> &Db;
    fn alerts(&self) -> &AlertService;
}

/// Events closer together than this share one frame: at most four frames a second,
/// well inside the one second a change may take to show.
const COALESCE: Duration = Duration::from_millis(250);
/// Frames are rebuilt at least this often while anyone watches (ages, alert outcomes).
const TICK: Duration = Duration::from_secs(1);
/// How often each DVR's activity is sampled for the charts.
const SAMPLE_EVERY: Duration = Duration::from_secs(60);
/// The first sample waits this long after start.
const FIRST_SAMPLE: Duration = Duration::from_secs(10);
/// How often old alerts and samples are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// Alerts in a frame.
const FRAME_ALERTS: i64 = 50;
/// Chart samples are kept this long.
pub const SAMPLE_DAYS: u32 = 7;

/// One built dashboard frame, serialized once for every viewer. The alert history is
/// serialized apart and sent only when it changed: it is a large part of a frame and
/// changes far less often than session ages and counts.
#[derive(Debug)]
pub struct Frame {
    pub seq: u64,
    /// When it was built; `None` for the empty frame before the first build.
    pub built: Option<Instant>,
    pub dashboard: Dashboard,
    /// The dashboard without its alerts (`event: dashboard`).
    pub json: Arc<str>,
    /// The alerts alone (`event: alerts`), and the frame they last changed in.
    pub alerts_json: Arc<str>,
    pub alerts_seq: u64,
}

/// A channel's name, logo and the program on air now.
#[derive(Default, Clone)]
struct ChannelNow {
    name: Option<String>,
    logo: Option<String>,
    program: Option<String>,
}

/// What enrichment found for one DVR: channel names, logos and programs, and the
/// upcoming recordings from its job list.
#[derive(Default, Clone)]
struct Extras {
    channels: HashMap<String, ChannelNow>,
    upcoming: Vec<UpcomingRow>,
}

/// The live hub. Cheap to share (`Arc`).
/// An enricher and the DVR API key its client sends.
pub struct LiveHub {
    tx: watch::Sender<Arc<Frame>>,
    extras: RwLock<HashMap<String, Extras>>,
    /// One build at a time, so frame numbers rise and a slow build cannot replace a
    /// newer frame.
    building: tokio::sync::Mutex<()>,
    /// Cancelled at shutdown: every open stream ends at once, so the HTTP server's
    /// graceful shutdown is not held up by dashboards that never disconnect.
    closing: CancellationToken,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveHub {
    pub fn new() -> Self {
        let empty = Frame {
            seq: 0,
            built: None,
            dashboard: Dashboard::default(),
            json: Arc::from("{}"),
            alerts_json: Arc::from("[]"),
            alerts_seq: 0,
        };
        Self {
            tx: watch::channel(Arc::new(empty)).0,
            extras: RwLock::default(),
            building: tokio::sync::Mutex::new(()),
            closing: CancellationToken::new(),
        }
    }

    /// Ends every open stream (shutdown).
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Cancelled when the hub closes: each stream ends with it.
    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    /// A receiver that sees every new frame (the newest only, never a backlog).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Frame>> {
        self.tx.subscribe()
    }

    /// How many browsers are connected to the feed.
    pub fn viewers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The newest frame, built now if the hub has not built one in the last second
    /// (no viewer was connected).
    pub async fn current(&self, services: &impl Sources) -> Arc<Frame> {
        let last = self.tx.borrow().clone();
        if last.built.is_some_and(|b| b.elapsed() < TICK) {
            return last;
        }
        self.rebuild(services).await
    }

    /// Builds and publishes a new frame now (the hub's own timers call this; public
    /// for the benchmarks, which time it).
    pub async fn rebuild(&self, services: &impl Sources) -> Arc<Frame> {
        let _one = self.building.lock().await;
        let seq = self.tx.borrow().seq + 1;
        let dashboard = match self.build(services).await {
            Ok(d) => d,
            Err(e) => {
                warn!(error = %e, "cannot build the dashboard frame");
                return self.tx.borrow().clone();
            }
        };
        let mut core = dashboard;
        let alerts = std::mem::take(&mut core.alerts);
        let json: Arc<str> = serde_json::to_string(&core)
            .unwrap_or_else(|_| "{}".into())
            .into();
        let previous = self.tx.borrow().clone();
        let (alerts_json, alerts_seq) = if previous.dashboard.alerts == alerts && previous.seq > 0 {
            (previous.alerts_json.clone(), previous.alerts_seq)
        } else {
            let j: Arc<str> = serde_json::to_string(&alerts)
                .unwrap_or_else(|_| "[]".into())
                .into();
            (j, seq)
        };
        core.alerts = alerts;
        let frame = Arc::new(Frame {
            seq,
            built: Some(Instant::now()),
            dashboard: core,
            json,
            alerts_json,
            alerts_seq,
        });
        self.tx.send_replace(frame.clone());
        frame
    }

    async fn build(
        &self,
        services: &impl Sources,
    ) -> Result<Dashboard, crate::registry::RegistryError> {
        let records = services.registry().list().await?;
        let engine = services.engine();
        let extras = self.extras.read().clone();
        let mut d = Dashboard {
            generated_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            ..Default::default()
        };
        for r in records {
            let slot = engine.slot(&r.dvr_id).filter(|_| r.enabled);
            let health = slot.as_ref().map(|s| engine.health_of(s));
            let disk = slot.as_ref().and_then(|s| s.disk());
            let ex = extras.get(&r.dvr_id);
            let mut card = DvrCard {
                dvr_id: r.dvr_id.clone(),
                name: r.name.clone(),
                host: r.host.clone(),
                port: r.port,
                enabled: r.enabled,
                managed_by: r.managed_by.as_str().to_string(),
                has_api_key: r.api_key.is_set(),
                status: "disabled".into(),
                staleness_threshold_seconds: r.staleness_threshold_seconds,
                disk_status: "unknown".into(),
                disk_free_bytes: disk.map(|d| d.free_bytes),
                disk_total_bytes: disk.map(|d| d.total_bytes),
                ..Default::default()
            };
            if let (Some(slot), Some(h)) = (&slot, &health) {
                card.status = h.status().to_string();
                card.connected = h.connected;
                card.stale = h.stale;
                card.last_event_at = h.last_event_at.clone();
                card.last_event_seconds_ago = h.last_event_seconds_ago;
                card.sessions = h.session_state_size;
                if disk.is_some() {
                    card.disk_status = h.disk_status.to_string();
                }
                card.version = slot.version();
                card.last_error = slot.last_error();
                let name = r.name.clone();
                slot.with_state(|st| {
                    for s in st.live_sessions() {
                        let ChannelNow {
                            name: ch_name,
                            logo,
                            program,
                        } = ex
                            .and_then(|e| e.channels.get(&s.channel_number))
                            .cloned()
                            .unwrap_or_default();
                        d.sessions.push(SessionRow {
                            dvr_id: r.dvr_id.clone(),
                            dvr_name: name.clone(),
                            kind: "live".into(),
                            channel_number: Some(s.channel_number.clone()),
                            channel_name: s.channel_name.clone().or(ch_name),
                            logo_url: logo,
                            program,
                            device: s
                                .device_name
                                .clone()
                                .or_else(|| s.client_ip.map(|ip| ip.to_string())),
                            started_at: rfc3339(s.started_at),
                            position_seconds: None,
                        });
                    }
                    for s in st.vod_sessions() {
                        d.sessions.push(SessionRow {
                            dvr_id: r.dvr_id.clone(),
                            dvr_name: name.clone(),
                            kind: "vod".into(),
                            program: s.title.clone(),
                            device: s.device_name.clone().or_else(|| Some(s.client.clone())),
                            started_at: rfc3339(s.started_at),
                            position_seconds: s.position_seconds,
                            ..Default::default()
                        });
                    }
                    for rec in st.recordings() {
                        d.recordings.push(RecordingRow {
                            dvr_id: r.dvr_id.clone(),
                            dvr_name: name.clone(),
                            job_id: rec.job_id.clone(),
                            title: rec.title.clone(),
                            channel_number: rec.channel_number.clone(),
                            started_at: rec.started_at.map(rfc3339),
                        });
                    }
                    card.recordings = st.recordings().count();
                });
                if let Some(e) = ex {
                    let recording: Vec<&str> =
                        d.recordings.iter().map(|r| r.job_id.as_str()).collect();
                    d.upcoming.extend(
                        e.upcoming
                            .iter()
                            .filter(|u| !recording.contains(&u.job_id.as_str()))
                            .cloned(),
                    );
                }
            }
            d.dvrs.push(card);
        }
        d.sessions.sort_by(|a, b| b.started_at.cmp(&a.started_at));
        d.upcoming.sort_by(|a, b| a.starts_at.cmp(&b.starts_at));
        d.upcoming.truncate(20);
        let alerts = outbox::history(services.db(), None, FRAME_ALERTS, None).await?;
        d.alerts = alerts
            .into_iter()
            .map(|a| AlertRow {
                id: a.id,
                dvr_id: a.dvr_id,
                dvr_name: a.dvr_name,
                alert_type: a.alert_type,
                title: a.title,
                message: a.message,
                created_at: a.created_at,
                status: a.status,
                deliveries: a
                    .deliveries
                    .into_iter()
                    .map(|x| DeliveryRow {
                        provider_type: x.provider_type,
                        status: x.status,
                        attempts: x.attempts,
                        last_error: x.last_error,
                    })
                    .collect(),
            })
            .collect();
        Ok(d)
    }

    /// Looks up channel names, logos, programs and upcoming jobs for one DVR, off the
    /// frame path (a slow DVR never delays a frame). One lookup per DVR at a time.
    fn enrich<S: Sources>(self: &Arc<Self>, services: &Arc<S>, dvr_id: &str) {
        let Some(slot) = services.engine().slot(dvr_id) else {
            return;
        };
        // Shared with the alert pipeline: one cache per DVR.
        let Some(enricher) = services.alerts().enrichers().get(services.engine(), dvr_id) else {
            return;
        };
        let hub = self.clone();
        let dvr_id = dvr_id.to_string();
        tokio::spawn(async move {
            // Busy (another lookup, or the alert pipeline's prefetch on connect): a
            // refresh is skipped, but a DVR with nothing shown yet waits its turn, so its
            // upcoming recordings appear as soon as the cache is free.
            let mut e = match enricher.try_lock() {
                Ok(e) => e,
                Err(_) if !hub.extras.read().contains_key(&dvr_id) => enricher.lock().await,
                Err(_) => return,
            };
            let numbers: Vec<String> = slot.with_state(|st| {
                st.live_sessions()
                    .map(|s| s.channel_number.clone())
                    .collect()
            });
            let now = Utc::now().timestamp();
            let mut channels = HashMap::new();
            for n in numbers {
                let info = e.channel(&n).await;
                let program = e.airing(&n, now).await.and_then(|a| a.title);
                channels.insert(
                    n,
                    ChannelNow {
                        name: info.name,
                        logo: info.logo,
                        program,
                    },
                );
            }
            let name = slot.name();
            let upcoming = e
                .jobs(Duration::from_secs(300))
                .await
                .into_iter()
                .filter(|(_, j)| j.start_time.is_some_and(|t| t > now))
                .map(|(id, j)| UpcomingRow {
                    dvr_id: dvr_id.clone(),
                    dvr_name: name.clone(),
                    job_id: id,
                    title: j.name,
                    channel_number: j.channel,
                    starts_at: j
                        .start_time
                        .and_then(|t| Utc.timestamp_opt(t, 0).single())
                        .map(rfc3339),
                })
                .collect();
            hub.extras
                .write()
                .insert(dvr_id, Extras { channels, upcoming });
        });
    }

    /// Runs the hub until `cancel`: frames, enrichment, chart samples and the
    /// retention sweep.
    pub async fn run<S: Sources>(self: Arc<Self>, services: Arc<S>, cancel: CancellationToken) {
        let mut feed = services.engine().subscribe();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first sample once DVRs had a moment to connect, then every minute.
        let mut sample =
            tokio::time::interval_at(tokio::time::Instant::now() + FIRST_SAMPLE, SAMPLE_EVERY);
        sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Every DVR's lookups are refreshed a minute apart while someone watches, and
        // within 10 s of the first viewer after nobody did; unwatched, they rest (10,000
        // idle DVRs would otherwise cost a task and a lookup each, every minute).
        let mut enrich_all = tokio::time::interval(Duration::from_secs(10));
        let mut enriched_at: Option<Instant> = None;
        let mut dirty_since: Option<Instant> = None;
        loop {
            let flush = async {
                match dirty_since {
                    Some(t) => tokio::time::sleep_until((t + COALESCE).into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => {
                    self.close();
                    break;
                }
                ev = feed.recv() => match ev {
                    Ok(ev) => {
                        if let EngineEventKind::Change(
                            Change::LiveStarted(_) | Change::RecordingScheduled { .. } | Change::JobDeleted { .. },
                        ) | EngineEventKind::Connected = &ev.kind
                        {
                            self.enrich(&services, &ev.dvr_id);
                        }
                        dirty_since.get_or_insert_with(Instant::now);
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        debug!(skipped = n, "the live hub lagged behind the engine feed");
                        dirty_since.get_or_insert_with(Instant::now);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = flush => {
                    dirty_since = None;
                    if self.viewers() > 0 {
                        self.rebuild(services.as_ref()).await;
                    }
                }
                _ = tick.tick() => {
                    if self.viewers() > 0 && dirty_since.is_none() {
                        self.rebuild(services.as_ref()).await;
                    }
                }
                _ = enrich_all.tick() => {
                    if self.viewers() == 0 {
                        enriched_at = None;
                        continue;
                    }
                    if enriched_at.is_some_and(|t| t.elapsed() < Duration::from_secs(60)) {
                        continue;
                    }
                    enriched_at = Some(Instant::now());
                    let slots = services.engine().slots();
                    for slot in &slots {
                        self.enrich(&services, &slot.dvr_id);
                    }
                }
                _ = sample.tick() => {
                    record_samples(services.as_ref()).await;
                    // Removed DVRs' caches go with them.
                    let slots = services.engine().slots();
                    let live: std::collections::HashSet<&str> =
                        slots.iter().map(|s| s.dvr_id.as_str()).collect();
                    self.extras.write().retain(|id, _| live.contains(id.as_str()));
                    services.alerts().enrichers().retain(|id| live.contains(id));
                }
                _ = sweep.tick() => {
                    let days = settings::retention_days(services.db()).await.unwrap_or(settings::DEFAULT_RETENTION_DAYS);
                    match activity::sweep(services.db(), days, SAMPLE_DAYS).await {
                        Ok((a, s)) if a + s > 0 => debug!(alerts = a, samples = s, "retention sweep"),
                        Ok(_) => {}
                        Err(e) => warn!(error = %e, "retention sweep failed"),
                    }
                }
            }
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn record_samples(services: &impl Sources) {
    let at = Utc::now().timestamp() / 60 * 60;
    let samples: Vec<activity::Sample> = services
        .engine()
        .slots()
        .iter()
        .map(|s| {
            let disk = s.disk();
            activity::Sample {
                dvr_id: s.dvr_id.clone(),
                at,
                sessions: s.with_state(|st| st.session_count()) as u32,
                disk_free: disk.map(|d| d.free_bytes),
                disk_total: disk.map(|d| d.total_bytes),
            }
        })
        .collect();
    if let Err(e) = activity::record(services.db(), &samples).await {
        warn!(error = %e, "cannot record activity samples");
    }
}
