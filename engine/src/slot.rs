//! A DVR's keyed slot: everything the engine knows about one DVR, shared between its
//! task (the only writer of stream state) and readers (HTTP, watchdog, metrics).
//!
//! Hot fields are atomics so readers never wait on the stream; the session state sits
//! behind its own lock, held only for one `apply`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use domain::disk::{DiskLevel, DiskSample, DiskThresholds};
use domain::health::{PendingRestart, RestartCause, RestartCheck, Verdict};
use domain::rate::SlidingRate;
use domain::session::DvrState;

/// What the engine runs a DVR with; editable in place except host/port (a new identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DvrSpec {
    pub dvr_id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub staleness_threshold_seconds: u32,
    /// Sent as `X-API-Key`; a change restarts the task (its client carries the key).
    pub api_key: domain::dvr::ApiKey,
}

/// Faults tests inject to prove the supervisor restarts a broken task (the `faults`
/// feature: a build without it has no way to inject one).
#[cfg(feature = "faults")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Panic,
    Hang,
    /// The supervisor itself ends, leaving the DVR without a task (the watchdog's case).
    Exit,
}

/// The per-DVR health object of the contract (`GET /api/v1/dvrs/{id}/health`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub dvr_id: String,
    pub dvr_name: String,
    pub connected: bool,
    pub last_event_at: Option<String>,
    pub last_event_seconds_ago: Option<u64>,
    pub stale: bool,
    pub staleness_threshold_seconds: u32,
    pub session_state_size: usize,
    pub disk_status: &'static str,
    pub recent_alert_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Health {
    /// `healthy`, `stale` or `disconnected` (the summary status of an enabled DVR).
    pub fn status(&self) -> &'static str {
        self.verdict().as_str()
    }

    /// The watchdog's verdict for this reading.
    pub fn verdict(&self) -> Verdict {
        Verdict::of(self.connected, self.stale)
    }
}

/// Monotonic counters for one DVR.
#[derive(Debug, Default)]
pub struct Counters {
    pub events: AtomicU64,
    pub parse_errors: AtomicU64,
    pub oversized_lines: AtomicU64,
    pub unknown_types: AtomicU64,
    pub reconnects: AtomicU64,
    pub task_restarts: AtomicU64,
    pub connections: AtomicU64,
    /// `/status` keep-alives that failed while the stream delivered (kept open).
    pub status_failures: AtomicU64,
}

#[derive(Debug)]
pub struct DvrSlot {
    pub dvr_id: String,
    spec: RwLock<DvrSpec>,
    state: Mutex<DvrState>,
    connected: AtomicBool,
    /// Unix milliseconds of the last event line or successful `/status`; 0 = none yet.
    last_event_ms: AtomicI64,
    /// Unix milliseconds when the current task started (staleness before any event).
    task_started_ms: AtomicI64,
    /// The same two moments on the monotonic clock (milliseconds since `epoch`, plus
    /// one so 0 means none): staleness is judged on these, so a wall clock stepped
    /// by NTP or by hand neither hides a dead DVR nor fakes an outage.
    last_event_mono: AtomicU64,
    task_started_mono: AtomicU64,
    /// Milliseconds since `epoch` of the task's last sign of life.
    heartbeat_ms: AtomicU64,
    epoch: Instant,
    pub counters: Counters,
    events_by_kind: Mutex<BTreeMap<&'static str, u64>>,
    disk: Mutex<Option<DiskSample>>,
    version: Mutex<Option<String>>,
    /// The rest of the last `/status`: platform and the DVR's start (unix seconds).
    server: Mutex<(Option<String>, Option<i64>)>,
    last_error: Mutex<Option<String>>,
    alert_rate: Mutex<SlidingRate>,
    alerts_by_type: Mutex<BTreeMap<String, u64>>,
    notifications: Mutex<BTreeMap<(String, String), u64>>,
    pending_restart: Mutex<Option<PendingRestart>>,
    last_restart_check: Mutex<Option<RestartCheck>>,
    #[cfg(feature = "faults")]
    fault: Mutex<Option<Fault>>,
    /// Rate-limits the per-line warnings (malformed, oversized event lines).
    pub(crate) line_warnings: Mutex<domain::rate::LogGate>,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl DvrSlot {
    pub fn new(spec: DvrSpec) -> Arc<Self> {
        Arc::new(Self {
            dvr_id: spec.dvr_id.clone(),
            spec: RwLock::new(spec),
            state: Mutex::new(DvrState::new()),
            connected: AtomicBool::new(false),
            last_event_ms: AtomicI64::new(0),
            task_started_ms: AtomicI64::new(now_ms()),
            last_event_mono: AtomicU64::new(0),
            task_started_mono: AtomicU64::new(1),
            heartbeat_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            counters: Counters::default(),
            events_by_kind: Mutex::new(BTreeMap::new()),
            disk: Mutex::new(None),
            version: Mutex::new(None),
            server: Mutex::new((None, None)),
            last_error: Mutex::new(None),
            alert_rate: Mutex::new(SlidingRate::new(Duration::from_secs(300))),
            alerts_by_type: Mutex::new(BTreeMap::new()),
            notifications: Mutex::new(BTreeMap::new()),
            pending_restart: Mutex::new(None),
            last_restart_check: Mutex::new(None),
            #[cfg(feature = "faults")]
            fault: Mutex::new(None),
            line_warnings: Mutex::new(domain::rate::LogGate::new(Duration::from_secs(60), 10)),
        })
    }

    pub fn spec(&self) -> DvrSpec {
        self.spec.read().clone()
    }

    pub fn name(&self) -> String {
        self.spec.read().name.clone()
    }

    /// Name and threshold edits apply in place, without touching the stream.
    pub(crate) fn update_spec(&self, spec: DvrSpec) {
        *self.spec.write() = spec;
    }

    /// Runs `f` with the session state locked (kept short: one event's worth).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut DvrState) -> R) -> R {
        f(&mut self.state.lock())
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
    }

    /// Records a sign of freshness: an event line or a successful `/status` poll.
    pub(crate) fn mark_event(&self) {
        self.last_event_ms.store(now_ms(), Ordering::Release);
        self.last_event_mono
            .store(self.mono_ms(), Ordering::Release);
    }

    pub(crate) fn mark_task_started(&self) {
        self.task_started_ms.store(now_ms(), Ordering::Release);
        self.task_started_mono
            .store(self.mono_ms(), Ordering::Release);
        self.beat();
    }

    /// Milliseconds since `epoch`, plus one (never 0).
    fn mono_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// The task's heartbeat; the supervisor restarts a task whose heartbeat stops.
    pub(crate) fn beat(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.heartbeat_ms.store(ms, Ordering::Release);
    }

    pub(crate) fn heartbeat_age(&self) -> Duration {
        let last = self.heartbeat_ms.load(Ordering::Acquire);
        let now = self.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(last))
    }

    pub fn last_event_at(&self) -> Option<DateTime<Utc>> {
        match self.last_event_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Utc.timestamp_millis_opt(ms).single(),
        }
    }

    /// Seconds since the last event, or since the task started when there was none
    /// (monotonic: wall-clock steps do not count).
    pub fn seconds_since_event_or_start(&self) -> u64 {
        let since = match self.last_event_mono.load(Ordering::Acquire) {
            0 => self.task_started_mono.load(Ordering::Acquire),
            ms => ms,
        };
        self.mono_ms().saturating_sub(since) / 1000
    }

    /// Seconds since the last event (monotonic); `None` before the first.
    pub fn seconds_since_event(&self) -> Option<u64> {
        match self.last_event_mono.load(Ordering::Acquire) {
            0 => None,
            ms => Some(self.mono_ms().saturating_sub(ms) / 1000),
        }
    }

    pub(crate) fn count_event(&self, kind: &'static str) {
        self.counters.events.fetch_add(1, Ordering::Relaxed);
        *self.events_by_kind.lock().entry(kind).or_insert(0) += 1;
    }

    /// Events received per type (for `channelwatch_events_total{type}`).
    pub fn events_by_kind(&self) -> BTreeMap<&'static str, u64> {
        self.events_by_kind.lock().clone()
    }

    pub(crate) fn set_disk(&self, disk: DiskSample) {
        *self.disk.lock() = Some(disk);
    }

    pub fn disk(&self) -> Option<DiskSample> {
        *self.disk.lock()
    }

    /// Keeps what the last `/status` said.
    pub(crate) fn set_status(&self, s: crate::dvr::client::DvrStatus) {
        *self.version.lock() = s.version;
        *self.server.lock() = (s.platform, s.start_time);
    }

    /// The DVR's platform and when its server process started (unix seconds), as its
    /// last `/status` said.
    pub fn server_info(&self) -> (Option<String>, Option<i64>) {
        self.server.lock().clone()
    }

    pub fn version(&self) -> Option<String> {
        self.version.lock().clone()
    }

    pub(crate) fn set_error(&self, e: Option<String>) {
        *self.last_error.lock() = e;
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// Fed by the alert engine: one call per alert raised for this DVR.
    pub fn record_alert(&self, alert_type: &str) {
        self.alert_rate.lock().record(Instant::now());
        *self
            .alerts_by_type
            .lock()
            .entry(alert_type.to_string())
            .or_insert(0) += 1;
    }

    /// Alerts raised per type (for `channelwatch_alerts_total{alert_type}`).
    pub fn alerts_by_type(&self) -> BTreeMap<String, u64> {
        self.alerts_by_type.lock().clone()
    }

    /// Fed by the delivery workers: one call per delivery outcome of this DVR's alerts.
    pub fn record_notification(&self, provider: &str, outcome: &str) {
        *self
            .notifications
            .lock()
            .entry((provider.to_string(), outcome.to_string()))
            .or_insert(0) += 1;
    }

    /// Deliveries per (provider, outcome) (for `channelwatch_notifications_total`).
    pub fn notifications(&self) -> BTreeMap<(String, String), u64> {
        self.notifications.lock().clone()
    }

    /// Asks the watchdog to confirm that the task restarted now comes back.
    pub(crate) fn expect_restart(&self, cause: RestartCause) {
        *self.pending_restart.lock() = Some(PendingRestart {
            cause,
            at: Utc::now(),
        });
    }

    pub(crate) fn pending_restart(&self) -> Option<PendingRestart> {
        *self.pending_restart.lock()
    }

    /// Records the watchdog's finding and clears the pending check it answers.
    pub(crate) fn finish_restart_check(&self, check: RestartCheck) {
        let mut pending = self.pending_restart.lock();
        if pending.is_some_and(|p| p.at == check.restarted_at) {
            *pending = None;
        }
        *self.last_restart_check.lock() = Some(check);
    }

    /// The watchdog's last finding about a restart of this DVR's task.
    pub fn last_restart_check(&self) -> Option<RestartCheck> {
        self.last_restart_check.lock().clone()
    }

    /// The contract's health object, computed now. `alive` is whether the engine still
    /// runs the task: a dead task is never connected, whatever its last flag said.
    pub fn health(&self, disk_thresholds: &DiskThresholds, alive: bool) -> Health {
        let spec = self.spec.read().clone();
        let connected = alive && self.is_connected();
        let last = self.last_event_at();
        let ago = self.seconds_since_event();
        let threshold = u64::from(spec.staleness_threshold_seconds);
        let stale = self.seconds_since_event_or_start() > threshold;
        let disk_status = self
            .disk()
            .map(|d| d.level(disk_thresholds))
            .unwrap_or(DiskLevel::Ok)
            .as_str();
        let mut problems = Vec::new();
        if !alive {
            problems.push("task not running: the watchdog restarts it".to_string());
        } else if !connected {
            problems.push(
                self.last_error()
                    .map(|e| format!("disconnected: {e}"))
                    .unwrap_or_else(|| "disconnected: event stream not open".to_string()),
            );
        }
        if stale {
            problems.push(match ago {
                Some(s) => format!("stale: no events for {s} seconds (threshold {threshold})"),
                None => format!(
                    "stale: no events since the task started {} seconds ago (threshold {threshold})",
                    self.seconds_since_event_or_start()
                ),
            });
        }
        let error = (!problems.is_empty()).then(|| problems.join("; "));
        Health {
            dvr_id: self.dvr_id.clone(),
            dvr_name: spec.name,
            connected,
            last_event_at: last.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            last_event_seconds_ago: ago,
            stale,
            staleness_threshold_seconds: spec.staleness_threshold_seconds,
            session_state_size: self.with_state(|s| s.session_count()),
            disk_status,
            recent_alert_rate: self.alert_rate.lock().per_minute(Instant::now()),
            error,
        }
    }
}

/// The test seam: faults injected into a DVR's task.
#[cfg(feature = "faults")]
impl DvrSlot {
    pub fn inject_fault(&self, fault: Fault) {
        *self.fault.lock() = Some(fault);
    }

    /// Takes a pending task fault (panic or hang); an exit fault is the supervisor's.
    pub(crate) fn take_fault(&self) -> Option<Fault> {
        let mut f = self.fault.lock();
        match *f {
            Some(Fault::Exit) => None,
            _ => f.take(),
        }
    }

    pub(crate) fn take_exit_fault(&self) -> bool {
        let mut f = self.fault.lock();
        if *f == Some(Fault::Exit) {
            *f = None;
            true
        } else {
            false
        }
    }
}

#[cfg(not(feature = "faults"))]
impl DvrSlot {
    /// Without the `faults` feature there is never one.
    pub(crate) fn take_exit_fault(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> Arc<DvrSlot> {
        DvrSlot::new(DvrSpec {
            dvr_id: "aef6d698".into(),
            name: "Den".into(),
            host: "192.168.1.1".into(),
            port: 8089,
            staleness_threshold_seconds: 300,
            api_key: Default::default(),
        })
    }

    /// The wall clock stepping forward after an event (NTP, a suspended VM) must not
    /// make a live DVR stale, nor a step back make a silent one look fresh.
    #[test]
    fn staleness_ignores_wall_clock_steps() {
        let s = slot();
        s.mark_task_started();
        s.mark_event();
        // As if the wall clock jumped ten hours ahead right after the event.
        s.last_event_ms
            .store(now_ms() - 10 * 3_600_000, Ordering::Release);
        s.task_started_ms
            .store(now_ms() - 10 * 3_600_000, Ordering::Release);
        assert!(s.seconds_since_event_or_start() < 5);
        assert!(s.seconds_since_event().is_some_and(|n| n < 5));
        assert!(!s.health(&DiskThresholds::default(), true).stale);
        // And back: an event "from the future" still ages on the monotonic clock.
        s.last_event_ms
            .store(now_ms() + 10 * 3_600_000, Ordering::Release);
        assert!(s.seconds_since_event_or_start() < 5);
    }

    #[test]
    fn before_any_event_staleness_counts_from_the_task_start() {
        let s = slot();
        s.mark_task_started();
        assert_eq!(s.seconds_since_event(), None);
        assert!(s.seconds_since_event_or_start() < 5);
    }
}
