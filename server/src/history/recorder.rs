//! The recorder: reads the engine's history stream, turns it into row operations with
//! [`domain::history::Tracker`], and writes them in batches once a second, so the
//! engine's path never waits on the database. Program and file titles are looked up
//! beside it, through the DVR's shared lookup caches.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use domain::engine_event::{EngineEvent, EngineEventKind};
use domain::health::Verdict;
use domain::history::{Op, Play, PlayKind, Tracker};
use storage::{history, outages, settings, Db};

use crate::services::Services;

/// How often pending operations are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// A batch this large is written at once rather than at the next tick.
const FLUSH_AT: usize = 2000;
/// Operations held while the database refuses writes; past this the oldest go, with
/// a warning (memory stays bounded).
const MAX_PENDING: usize = 200_000;
/// How often open plays are marked as still playing (a crash ends them there).
const TOUCH_EVERY: Duration = Duration::from_secs(60);
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// Title lookups in flight at once, across DVRs.
const LOOKUPS: usize = 4;

/// The recorder's state, kept across a supervised restart of its task.
pub(crate) struct Recorder {
    tracker: Mutex<Tracker>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Arc<EngineEvent>>>,
    pending: Mutex<Vec<Op>>,
    lookups: Arc<tokio::sync::Semaphore>,
    /// DVRs with an outage open (ended when the DVR is removed).
    out: Mutex<std::collections::HashSet<String>>,
}

impl Recorder {
    /// Ends what the last run left open and continues its ids. Call before any DVR
    /// task runs, with the engine's history stream.
    pub(crate) async fn load(
        db: &Db,
        events: mpsc::UnboundedReceiver<Arc<EngineEvent>>,
    ) -> Result<Arc<Self>, storage::StorageError> {
        let closed = history::close_interrupted(db).await?;
        if closed > 0 {
            info!(
                plays = closed,
                "watch history: plays open when the monitor last stopped were ended there"
            );
        }
        outages::close_interrupted(db, Utc::now().timestamp()).await?;
        let (next, last_start) = history::resume_point(db).await?;
        Ok(Arc::new(Self {
            tracker: Mutex::new(Tracker::new(next, last_start)),
            events: tokio::sync::Mutex::new(events),
            pending: Mutex::new(Vec::new()),
            lookups: Arc::new(tokio::sync::Semaphore::new(LOOKUPS)),
            out: Default::default(),
        }))
    }

    /// Runs until cancelled; then ends every open play and writes what is pending.
    pub(crate) async fn run(self: Arc<Self>, services: Arc<Services>, cancel: CancellationToken) {
        let mut events = self.events.lock().await;
        let (titles_tx, mut titles) = mpsc::unbounded_channel::<Op>();
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        let mut touch = tokio::time::interval(TOUCH_EVERY);
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        for t in [&mut flush, &mut touch, &mut sweep] {
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                Some(ev) = events.recv() => {
                    if let EngineEventKind::HealthChanged { to, detail, .. } = &ev.kind {
                        self.health_changed(&services.db, &ev, *to, detail.as_deref()).await;
                        continue;
                    }
                    let ops = self.tracker.lock().on_event(&ev);
                    for op in &ops {
                        if let Op::Start(p) = op {
                            self.look_up(&services, p, &titles_tx);
                        }
                    }
                    if self.queue(ops) >= FLUSH_AT {
                        self.flush(&services.db).await;
                    }
                }
                Some(op) = titles.recv() => {
                    // The play ends with what was learned (the statistics count it so).
                    self.tracker.lock().learn(&op);
                    self.queue(vec![op]);
                }
                _ = flush.tick() => self.flush(&services.db).await,
                _ = touch.tick() => {
                    self.end_removed(&services);
                    self.end_removed_outages(&services).await;
                    self.flush(&services.db).await;
                    if let Err(e) = history::touch_open(&services.db, Utc::now()).await {
                        warn!(error = %e, "watch history: cannot mark open plays");
                    }
                }
                _ = sweep.tick() => {
                    let days = settings::history_retention_days(&services.db)
                        .await
                        .unwrap_or(settings::DEFAULT_HISTORY_RETENTION_DAYS);
                    match history::sweep(&services.db, days, Utc::now()).await {
                        Ok(n) if n > 0 => debug!(plays = n, days, "watch history retention sweep"),
                        Ok(_) => {}
                        Err(e) => warn!(error = %e, "watch history retention sweep failed"),
                    }
                    if let Err(e) = outages::sweep(&services.db, days, Utc::now().timestamp()).await {
                        warn!(error = %e, "health history retention sweep failed");
                    }
                }
            }
        }
        // Whatever the stream still holds happened before the stop.
        while let Ok(ev) = events.try_recv() {
            let ops = self.tracker.lock().on_event(&ev);
            self.queue(ops);
        }
        let ops = self.tracker.lock().close_all(Utc::now());
        self.queue(ops);
        self.flush(&services.db).await;
    }

    /// Adds operations to the pending batch; returns its size.
    fn queue(&self, ops: Vec<Op>) -> usize {
        let mut pending = self.pending.lock();
        pending.extend(ops);
        if pending.len() > MAX_PENDING {
            let drop = pending.len() - MAX_PENDING;
            pending.drain(..drop);
            warn!(
                dropped = drop,
                "watch history: the database is not taking writes; oldest changes dropped"
            );
        }
        pending.len()
    }

    async fn flush(&self, db: &Db) {
        let batch = std::mem::take(&mut *self.pending.lock());
        if batch.is_empty() {
            return;
        }
        if let Err(e) = history::write(db, &batch).await {
            warn!(error = %e, ops = batch.len(), "watch history: write failed; retrying");
            let mut pending = self.pending.lock();
            let newer = std::mem::take(&mut *pending);
            *pending = batch;
            pending.extend(newer);
        }
    }

    /// Opens, worsens or closes the DVR's outage as the watchdog's verdict changes.
    async fn health_changed(&self, db: &Db, ev: &EngineEvent, to: Verdict, detail: Option<&str>) {
        let at = ev.at.timestamp();
        let written = match to {
            Verdict::Healthy => {
                self.out.lock().remove(&ev.dvr_id);
                outages::end(db, &ev.dvr_id, at, None).await
            }
            bad => {
                self.out.lock().insert(ev.dvr_id.clone());
                outages::begin(db, &ev.dvr_id, at, bad.as_str(), detail).await
            }
        };
        if let Err(e) = written {
            warn!(dvr_id = %ev.dvr_id, error = %e, "health history: cannot record the change");
        }
    }

    /// Ends the plays and outages of DVRs the monitor no longer runs (removed or
    /// disabled).
    async fn end_removed_outages(&self, services: &Services) {
        let gone: Vec<String> = self
            .out
            .lock()
            .iter()
            .filter(|id| services.engine.slot(id).is_none())
            .cloned()
            .collect();
        for id in gone {
            self.out.lock().remove(&id);
            if let Err(e) = outages::end(
                &services.db,
                &id,
                Utc::now().timestamp(),
                Some("dvr_removed"),
            )
            .await
            {
                warn!(dvr_id = %id, error = %e, "health history: cannot end the outage");
            }
        }
    }

    /// Ends the plays of DVRs the monitor no longer runs (removed or disabled).
    fn end_removed(&self, services: &Services) {
        let mut tracker = self.tracker.lock();
        let mut ops = Vec::new();
        for dvr in tracker.dvrs_with_plays() {
            if services.engine.slot(&dvr).is_none() {
                ops.extend(tracker.dvr_removed(&dvr, Utc::now()));
            }
        }
        drop(tracker);
        self.queue(ops);
    }

    /// Looks up what a play shows (the program airing on the channel, the library
    /// file's title) and which app played it (the DVR's client list) beside the
    /// recorder; the answers become [`Op::Title`] and [`Op::Client`].
    fn look_up(&self, services: &Arc<Services>, p: &Play, out: &mpsc::UnboundedSender<Op>) {
        let ip: Option<std::net::IpAddr> = p.client_ip.as_deref().and_then(|s| s.parse().ok());
        if p.title.is_some() && ip.is_none() {
            return;
        }
        let Some(enricher) = services.alerts.enrichers().get(&services.engine, &p.dvr_id) else {
            return;
        };
        let Ok(permit) = self.lookups.clone().try_acquire_owned() else {
            debug!(dvr_id = %p.dvr_id, "watch history: lookups busy; title and app not looked up");
            return;
        };
        let (id, kind, channel, file, at, titled) = (
            p.id,
            p.kind,
            p.channel.clone(),
            p.file_id.clone(),
            p.started_at.timestamp(),
            p.title.is_some(),
        );
        let out = out.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut e = enricher.lock().await;
            if let Some(app) = match ip {
                Some(ip) => e.client_at(ip).await,
                None => None,
            } {
                let _ = out.send(Op::Client {
                    id,
                    name: app.name,
                    platform: app.platform,
                    app_version: app.app_version,
                    remote: app.remote,
                });
            }
            if titled {
                return;
            }
            let title = match (kind, channel, file) {
                (PlayKind::Live, Some(ch), _) => e.airing(&ch, at).await.and_then(|a| a.title),
                (PlayKind::Vod, _, Some(f)) => {
                    e.library_item(&f)
                        .await
                        .and_then(|i| match (i.title, i.episode_title) {
                            (Some(t), Some(ep)) if !ep.is_empty() => Some(format!("{t}: {ep}")),
                            (t, _) => t,
                        })
                }
                _ => None,
            };
            if let Some(title) = title.filter(|t| !t.trim().is_empty()) {
                let _ = out.send(Op::Title {
                    id,
                    title: domain::text::outside_text(&title, 300),
                });
            }
        });
    }
}
