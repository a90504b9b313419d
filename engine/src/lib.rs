//! The engine: one supervised task per enabled DVR, each with its own keyed slot, and
//! runtime reconcile so DVRs come and go without disturbing the others.

pub mod cadence;
pub mod dvr;
pub mod fd_limit;
pub mod limits;
pub mod slot;
mod supervisor;
mod task;
pub mod watchdog;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use parking_lot::RwLock;
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::dvr::client::DvrClient;
use domain::disk::DiskThresholds;
pub use domain::engine_event::{EngineEvent, EngineEventKind};
pub use domain::health::{RestartCause, RestartCheck, Verdict};
#[cfg(feature = "faults")]
pub use slot::Fault;
pub use slot::{DvrSlot, DvrSpec, Health};

/// Timings of the engine. Defaults are the product's; tests shorten them.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// `/status` keep-alive period while connected (15 s).
    pub status_interval: Duration,
    pub status_timeout: Duration,
    /// `/dvr` disk poll period (120 s).
    pub disk_interval: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A connection up this long resets the backoff to its first step.
    pub healthy_reset: Duration,
    /// How long the stream request may take to answer with headers.
    pub header_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// A task silent this long is considered hung and restarted.
    pub hang_timeout: Duration,
    pub restart_delay: Duration,
    pub disk_thresholds: DiskThresholds,
    /// Capacity of the change feed.
    pub feed_capacity: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            status_interval: Duration::from_secs(15),
            status_timeout: Duration::from_secs(5),
            disk_interval: Duration::from_secs(120),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            healthy_reset: Duration::from_secs(60),
            header_timeout: Duration::from_secs(15),
            heartbeat_interval: Duration::from_secs(5),
            hang_timeout: Duration::from_secs(60),
            restart_delay: supervisor::DEFAULT_RESTART_DELAY,
            disk_thresholds: DiskThresholds::default(),
            feed_capacity: 4096,
        }
    }
}

/// Where engine events go: the best-effort live feed (broadcast; a slow reader lags and
/// skips), the lossless alert stream (unbounded; alerts must see every event), and the
/// lossless history stream (only the events that open and close plays).
pub(crate) struct Bus {
    feed: broadcast::Sender<Arc<EngineEvent>>,
    alerts: RwLock<Option<tokio::sync::mpsc::UnboundedSender<Arc<EngineEvent>>>>,
    history: RwLock<Option<tokio::sync::mpsc::UnboundedSender<Arc<EngineEvent>>>>,
}

impl Bus {
    pub(crate) fn send(&self, ev: Arc<EngineEvent>) {
        if let Some(tx) = &*self.alerts.read() {
            let _ = tx.send(ev.clone());
        }
        if domain::history::concerns(&ev.kind) {
            if let Some(tx) = &*self.history.read() {
                let _ = tx.send(ev.clone());
            }
        }
        // No subscriber is fine: the feed is best-effort, the slot is the truth.
        let _ = self.feed.send(ev);
    }
}

struct Running {
    slot: Arc<DvrSlot>,
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

struct Inner {
    settings: Arc<EngineSettings>,
    /// Editable at runtime (Settings > Advanced), so not part of the fixed settings.
    disk_thresholds: RwLock<DiskThresholds>,
    http: reqwest::Client,
    running: RwLock<HashMap<String, Running>>,
    events: Arc<Bus>,
    /// Set once the tasks of the start-up configuration run; later starts are reloads.
    booted: AtomicBool,
    /// Wakes the watchdog when a restart needs confirming.
    restarts: Arc<Notify>,
    /// Event-stream handshakes in flight across all DVRs.
    connecting: Arc<tokio::sync::Semaphore>,
}

/// Event-stream handshakes (connect until the answer's headers) in flight at once,
/// across all DVRs: enough to subscribe 10,000 DVRs within seconds, few enough that
/// a fleet coming back at once queues instead of stampeding.
pub(crate) const MAX_CONNECTING: usize = 256;

/// The registry of running DVRs. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// `http` is the process's one DVR client ([`DvrClient::build_http`]): every DVR
    /// task, lookup and diagnosis shares its connector and TLS roots.
    pub fn new(settings: EngineSettings, http: reqwest::Client) -> Self {
        let (feed, _) = broadcast::channel(settings.feed_capacity.max(16));
        let events = Arc::new(Bus {
            feed,
            alerts: RwLock::new(None),
            history: RwLock::new(None),
        });
        Self {
            inner: Arc::new(Inner {
                disk_thresholds: RwLock::new(settings.disk_thresholds),
                settings: Arc::new(settings),
                http,
                running: RwLock::new(HashMap::new()),
                events,
                booted: AtomicBool::new(false),
                restarts: Arc::new(Notify::new()),
                connecting: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTING)),
            }),
        }
    }

    /// The shared DVR HTTP client, for lookups beside the DVR tasks.
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    pub fn disk_thresholds(&self) -> DiskThresholds {
        *self.inner.disk_thresholds.read()
    }

    pub fn set_disk_thresholds(&self, t: DiskThresholds) {
        *self.inner.disk_thresholds.write() = t;
    }

    /// Marks the start-up configuration as running: from now on every task start is a
    /// reload the watchdog confirms.
    pub fn mark_booted(&self) {
        self.inner.booted.store(true, Ordering::Release);
    }

    /// Makes the running set exactly `desired` (the enabled DVRs): starts what is
    /// missing, stops what is gone, edits name/threshold in place. Others are untouched.
    pub fn reconcile(&self, desired: &[DvrSpec]) {
        let wanted: std::collections::HashSet<&str> =
            desired.iter().map(|d| d.dvr_id.as_str()).collect();
        let stale: Vec<String> = {
            let running = self.inner.running.read();
            running
                .keys()
                .filter(|id| !wanted.contains(id.as_str()))
                .cloned()
                .collect()
        };
        for id in stale {
            self.stop(&id);
        }
        for spec in desired {
            self.start_or_update(spec.clone());
        }
    }

    /// Starts a DVR's task, or applies an edit to a running one.
    pub fn start_or_update(&self, spec: DvrSpec) {
        let mut running = self.inner.running.write();
        if let Some(r) = running.get(&spec.dvr_id) {
            let current = r.slot.spec();
            if current.host == spec.host
                && current.port == spec.port
                && current.api_key == spec.api_key
            {
                if current != spec {
                    r.slot.update_spec(spec);
                }
                return;
            }
            // Same id but a different way of writing the address, or a new API key:
            // restart cleanly.
            if let Some(old) = running.remove(&spec.dvr_id) {
                old.cancel.cancel();
            }
        }
        let cause = self
            .inner
            .booted
            .load(Ordering::Acquire)
            .then_some(RestartCause::Reload);
        self.spawn(&mut running, spec, cause);
    }

    /// Replaces a DVR's task with a fresh one (fresh state, resynced on connect); the
    /// watchdog then confirms it comes back. False if the DVR is not running.
    pub fn restart(&self, dvr_id: &str, cause: RestartCause) -> bool {
        let mut running = self.inner.running.write();
        let Some(old) = running.remove(dvr_id) else {
            return false;
        };
        old.cancel.cancel();
        let spec = old.slot.spec();
        info!(dvr_id = %dvr_id, ?cause, "restarting DVR task");
        self.spawn(&mut running, spec, Some(cause));
        true
    }

    fn spawn(
        &self,
        running: &mut HashMap<String, Running>,
        spec: DvrSpec,
        restart: Option<RestartCause>,
    ) {
        let slot = DvrSlot::new(spec.clone());
        if let Some(cause) = restart {
            slot.expect_restart(cause);
            self.inner.restarts.notify_one();
        }
        let cancel = CancellationToken::new();
        let ctx = task::TaskCtx {
            slot: slot.clone(),
            client: DvrClient::new(self.inner.http.clone(), &spec.host, spec.port)
                .with_api_key(&spec.api_key),
            settings: self.inner.settings.clone(),
            events: self.inner.events.clone(),
            restarts: self.inner.restarts.clone(),
            cancel: cancel.clone(),
            lookups: Arc::new(tokio::sync::Semaphore::new(4)),
            connecting: self.inner.connecting.clone(),
        };
        let handle = tokio::spawn(supervisor::supervise(ctx));
        info!(dvr_id = %spec.dvr_id, name = %spec.name, host = %spec.host, port = spec.port, "DVR task started");
        running.insert(
            spec.dvr_id,
            Running {
                slot,
                cancel,
                handle,
            },
        );
        crate::fd_limit::dvr_connections().set_dvrs(running.len());
    }

    /// Stops a DVR's task; its slot and state go with it. False if it was not running.
    pub fn stop(&self, dvr_id: &str) -> bool {
        let removed = {
            let mut running = self.inner.running.write();
            let removed = running.remove(dvr_id);
            crate::fd_limit::dvr_connections().set_dvrs(running.len());
            removed
        };
        match removed {
            Some(r) => {
                r.cancel.cancel();
                info!(dvr_id = %dvr_id, "DVR task stopped");
                true
            }
            None => false,
        }
    }

    pub fn slot(&self, dvr_id: &str) -> Option<Arc<DvrSlot>> {
        self.inner
            .running
            .read()
            .get(dvr_id)
            .map(|r| r.slot.clone())
    }

    /// Every running DVR's slot, ordered by id for stable output.
    pub fn slots(&self) -> Vec<Arc<DvrSlot>> {
        let mut v: Vec<_> = self
            .inner
            .running
            .read()
            .values()
            .map(|r| r.slot.clone())
            .collect();
        v.sort_by(|a, b| a.dvr_id.cmp(&b.dvr_id));
        v
    }

    pub fn running_count(&self) -> usize {
        self.inner.running.read().len()
    }

    /// True while the DVR's supervisor is running.
    pub fn is_alive(&self, dvr_id: &str) -> bool {
        self.inner
            .running
            .read()
            .get(dvr_id)
            .is_some_and(|r| !r.handle.is_finished())
    }

    /// The DVR's health object now (its task's liveness included).
    pub fn health(&self, dvr_id: &str) -> Option<Health> {
        let slot = self.slot(dvr_id)?;
        Some(self.health_of(&slot))
    }

    pub fn health_of(&self, slot: &DvrSlot) -> Health {
        slot.health(&self.disk_thresholds(), self.is_alive(&slot.dvr_id))
    }

    /// Sends an event on the change feed (the watchdog's verdicts go out this way).
    pub fn publish(&self, dvr_id: &str, kind: EngineEventKind) {
        self.inner.events.send(Arc::new(EngineEvent {
            dvr_id: dvr_id.to_string(),
            at: Utc::now(),
            kind,
        }));
    }

    /// Resolves when a restart was marked for confirmation (the watchdog waits on it).
    pub(crate) async fn restart_marked(&self) {
        self.inner.restarts.notified().await;
    }

    /// The change feed: every connect, disconnect, restart and state change.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EngineEvent>> {
        self.inner.events.feed.subscribe()
    }

    /// The lossless stream of every engine event, for the alert pipeline. A second
    /// call replaces the first consumer.
    pub fn alert_stream(&self) -> tokio::sync::mpsc::UnboundedReceiver<Arc<EngineEvent>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        *self.inner.events.alerts.write() = Some(tx);
        rx
    }

    /// The lossless stream of the events that open and close plays
    /// ([`domain::history::concerns`]), for the watch-history recorder. A second call
    /// replaces the first consumer.
    pub fn history_stream(&self) -> tokio::sync::mpsc::UnboundedReceiver<Arc<EngineEvent>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        *self.inner.events.history.write() = Some(tx);
        rx
    }

    /// Stops every task and waits (bounded) for them to finish.
    pub async fn shutdown(&self) {
        let all: Vec<Running> = self.inner.running.write().drain().map(|(_, r)| r).collect();
        for r in &all {
            r.cancel.cancel();
        }
        for r in all {
            let _ = tokio::time::timeout(Duration::from_secs(5), r.handle).await;
        }
    }
}
