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

use chrono::Utc;
use parking_lot::RwLock;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use wire::Dashboard;

pub(crate) mod frame;

use self::frame::{ChannelNow, Extras, Gathered, GatheredDvr, Running};
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
    fn images(&self) -> &crate::images::Images;
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
pub(crate) const SAMPLE_DAYS: u32 = 7;

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

/// The live hub. Cheap to share (`Arc`).
pub struct DashboardHub {
    tx: watch::Sender<Arc<Frame>>,
    extras: RwLock<HashMap<String, Extras>>,
    /// One build at a time, so frame numbers rise and a slow build cannot replace a
    /// newer frame.
    building: tokio::sync::Mutex<()>,
    /// Cancelled at shutdown: every open stream ends at once, so the HTTP server's
    /// graceful shutdown is not held up by dashboards that never disconnect.
    closing: CancellationToken,
}

impl Default for DashboardHub {
    fn default() -> Self {
        Self::new()
    }
}

impl DashboardHub {
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

    /// Gathers what the frame shows (the DVR list, each running DVR's health and
    /// sessions, the enrichment found so far, the newest alerts), then builds it.
    async fn build(
        &self,
        services: &impl Sources,
    ) -> Result<Dashboard, crate::registry::RegistryError> {
        let records = services.registry().list().await?;
        let engine = services.engine();
        let dvrs: Vec<GatheredDvr> = records
            .into_iter()
            .map(|record| {
                let running = engine
                    .slot(&record.dvr_id)
                    .filter(|_| record.enabled)
                    .map(|slot| {
                        let (live, vod, recordings) = slot.with_state(|st| {
                            (
                                st.live_sessions().cloned().collect(),
                                st.vod_sessions().cloned().collect(),
                                st.recordings().cloned().collect(),
                            )
                        });
                        Running {
                            health: engine.health_of(&slot),
                            disk: slot.disk(),
                            version: slot.version(),
                            last_error: slot.last_error(),
                            live,
                            vod,
                            recordings,
                        }
                    });
                GatheredDvr { record, running }
            })
            .collect();
        let alerts = outbox::history(services.db(), None, FRAME_ALERTS, None).await?;
        let now = Utc::now();
        let moment = services.alerts().quiet().at(now);
        let quiet = dvrs
            .iter()
            .map(|g: &GatheredDvr| {
                let id = &g.record.dvr_id;
                let q = frame::DvrQuiet {
                    maintenance: moment.maintenance(id),
                    snooze: moment.dvr_snooze(id),
                };
                (id.clone(), q)
            })
            .collect();
        Ok(frame::build(Gathered {
            now,
            dvrs,
            extras: self.extras.read().clone(),
            alerts,
            quiet,
        }))
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
        let services = services.clone();
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
                let logo = info.logo.as_deref().and_then(|u| {
                    services
                        .images()
                        .register(u, info.name.as_deref().or(Some(&n)))
                });
                channels.insert(
                    n,
                    ChannelNow {
                        logo,
                        name: info.name,
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
                .map(|(id, j)| frame::upcoming_row(services.images(), &dvr_id, &name, id, j))
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
                    // DVRs removed by any way (the file, an import) lose their alert
                    // state; disabled ones keep it for when they come back.
                    if let Ok(configured) = services.registry().list().await {
                        let ids: std::collections::HashSet<String> =
                            configured.into_iter().map(|r| r.dvr_id).collect();
                        // A DVR added since the list was read is already running.
                        services
                            .alerts()
                            .retain_dvrs(|id| ids.contains(id) || live.contains(id));
                    }
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

async fn record_samples(services: &impl Sources) {
    let at = Utc::now().timestamp() / 60 * 60;
    let samples: Vec<activity::Sample> = services
        .engine()
        .slots()
        .iter()
        .map(|s| {
            let disk = s.disk();
            let (sessions, live, vod, recording) = s.with_state(|st| {
                (
                    st.session_count(),
                    st.live_sessions().count(),
                    st.vod_sessions().count(),
                    st.recordings().count(),
                )
            });
            activity::Sample {
                dvr_id: s.dvr_id.clone(),
                at,
                sessions: sessions as u32,
                disk_free: disk.map(|d| d.free_bytes),
                disk_total: disk.map(|d| d.total_bytes),
                live: live as u32,
                vod: vod as u32,
                recording: recording as u32,
            }
        })
        .collect();
    if let Err(e) = activity::record(services.db(), &samples).await {
        warn!(error = %e, "cannot record activity samples");
    }
}
