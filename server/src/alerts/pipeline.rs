//! The alert pipeline: one task per DVR reads that DVR's engine events (losslessly),
//! looks up what the rules need and lets them decide (`domain::alerts::decide`, pure),
//! then applies the DVR's cooldowns and budget, renders, routes, and records the alert
//! with its outbox rows in one transaction before the delivery worker is woken.
//!
//! Per-DVR tasks keep DVRs apart: a slow lookup on one DVR never delays another's
//! alerts, and dedup keys and cooldowns never cross DVRs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::enrich::Enrichers;
use crate::notify::outbox::Dispatcher;
use crate::quiet::QuietService;
use crate::zone::TimeZone;
use domain::alerts::decide::{self, Draft, DvrAlerts, Facts, Input, Needs, Snapshot};
use domain::alerts::kind::AlertKind;
use domain::alerts::pacing::{Limits, Pacing, Status};
use domain::alerts::settings::{AlertRules, AlertSettings};
use domain::notify::rules::Facts as RuleFacts;
use engine::cadence;
use engine::Engine;
use engine::EngineEvent;
use storage::outbox::{self, Hold, NewAlert, ProviderRef};
use storage::{providers, routing, settings as store_settings, Db, StorageError};

/// The settings key alert settings are stored under.
pub(crate) const SETTINGS_KEY: &str = "alerts";

struct Shared {
    db: Db,
    engine: Engine,
    dispatcher: Dispatcher,
    settings: RwLock<Arc<AlertSettings>>,
    /// Per-DVR cooldowns and budgets (one busy DVR cannot use up another's). They
    /// outlive the DVR's task restarts and reloads, so a reconnect that rediscovers a
    /// session does not alert it again.
    pacing: Mutex<HashMap<String, Arc<Mutex<Pacing>>>>,
    /// Per-DVR workers, by the sender of their event queue (dropping it ends the worker
    /// once its queue is drained).
    workers: Mutex<HashMap<String, mpsc::UnboundedSender<Arc<EngineEvent>>>>,
    /// Per-DVR lookup caches (channels, guide, jobs), shared with the dashboard.
    enrichers: Enrichers,
    /// The zone alert texts give times in.
    time_zone: TimeZone,
    /// Quiet hours, maintenance windows and snoozes.
    quiet: QuietService,
    /// Where people reach this instance (`CHANNELWATCH_INSTANCE_URL`, when set): each
    /// alert then carries a link that snoozes its DVR.
    links: Option<String>,
}

/// How often a DVR's clock-driven checks run while one is pending, and otherwise.
const FAST_TICK: Duration = Duration::from_secs(5);
const SLOW_TICK: Duration = Duration::from_secs(30);

/// The engine's lossless alert stream ([`Engine::alert_stream`]).
pub(crate) type AlertStream = mpsc::UnboundedReceiver<Arc<EngineEvent>>;

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
        time_zone: TimeZone,
        links: Option<String>,
    ) -> Result<Self, StorageError> {
        let settings: AlertSettings = store_settings::get(&db, SETTINGS_KEY)
            .await?
            .unwrap_or_default();
        dispatcher.set_max_age(Duration::from_secs(settings.delivery.max_age_seconds));
        let pacing = Self::recent_keys(&db).await?;
        let quiet = QuietService::load(db.clone(), time_zone.clone()).await?;
        Ok(Self {
            shared: Arc::new(Shared {
                db,
                engine,
                dispatcher,
                settings: RwLock::new(Arc::new(settings)),
                pacing: Mutex::new(pacing),
                workers: Mutex::new(HashMap::new()),
                enrichers: Enrichers::default(),
                time_zone,
                quiet,
                links,
            }),
        })
    }

    /// Quiet hours, maintenance windows and snoozes.
    pub fn quiet(&self) -> &QuietService {
        &self.shared.quiet
    }

    /// The zone in force (the `time_zone` setting, `TZ`, the host's).
    pub fn time_zone(&self) -> &TimeZone {
        &self.shared.time_zone
    }

    /// Every DVR's dedup keys of the last day, in one query at start (one per DVR
    /// queued thousands of reads on the pool when many DVRs connected at once), so a
    /// restart does not alert again what was just sent.
    async fn recent_keys(db: &Db) -> Result<HashMap<String, Arc<Mutex<Pacing>>>, StorageError> {
        let since = Utc::now() - chrono::Duration::hours(24);
        let (now, mono) = (Utc::now(), std::time::Instant::now());
        let mut all: HashMap<String, Arc<Mutex<Pacing>>> = HashMap::new();
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
                let mut workers = me.shared.workers.lock();
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
        let mut st = DvrAlerts::new(Utc::now());
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
                        for d in self
                            .decide(&dvr_id, &mut st, Input::Event(ev.as_ref()))
                            .await
                        {
                            self.emit(&dvr_id, d).await;
                        }
                    });
                    if let Err(p) = futures::FutureExt::catch_unwind(one).await {
                        tracing::error!(dvr_id = %dvr_id, panic = %domain::panic_message(p), "an alert event was lost to an internal error");
                    }
                }
                None => {
                    let one = std::panic::AssertUnwindSafe(async {
                        for d in self.decide(&dvr_id, &mut st, Input::Tick).await {
                            let kind = d.kind;
                            let sent = self.emit(&dvr_id, d).await;
                            if kind == AlertKind::DvrUnreachable && !sent {
                                st.unreachable_not_sent();
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

    /// Asks the rules what they need to know, looks it up on the DVR's API (cached),
    /// and lets them decide.
    async fn decide(&self, dvr_id: &str, st: &mut DvrAlerts, input: Input<'_>) -> Vec<Draft> {
        // Most events raise nothing: no engine read, no lookup, no state lock for them.
        if !decide::reacts_to(&input) {
            return Vec::new();
        }
        let s = self.current();
        let now = Utc::now();
        let seen = match input {
            Input::Event(ev) => ev.at,
            Input::Tick => now,
        };
        let snap = self.snapshot(dvr_id);
        let mut facts = Facts::default();
        // A job's channel is known only once the job is: at most three rounds.
        for _ in 0..3 {
            let needs = decide::needs(st, &s, &input, &snap, &facts, now);
            if needs.is_empty() {
                break;
            }
            self.look_up(dvr_id, needs, seen, now, &mut facts).await;
        }
        decide::decide(st, &s, &input, &snap, &facts, now)
    }

    /// What the engine shows of the DVR now.
    fn snapshot(&self, dvr_id: &str) -> Snapshot {
        let engine = &self.shared.engine;
        let slot = engine.slot(dvr_id);
        Snapshot {
            dvr_id: dvr_id.to_string(),
            running: slot.is_some(),
            connected: slot.as_ref().is_some_and(|s| s.is_connected()),
            host: slot
                .as_ref()
                .map(|s| {
                    let spec = s.spec();
                    format!("{}:{}", spec.host, spec.port)
                })
                .unwrap_or_default(),
            stream_count: slot
                .as_ref()
                .map(|s| s.with_state(|st| st.stream_count() as u64)),
            disk_thresholds: engine.disk_thresholds(),
            zone: self.shared.time_zone.zone(),
        }
    }

    /// Answers `needs` into `facts`. A failed lookup is an unknown, never a wait: the
    /// alert goes out with what is known.
    async fn look_up(
        &self,
        dvr_id: &str,
        needs: Needs,
        seen: DateTime<Utc>,
        now: DateTime<Utc>,
        facts: &mut Facts,
    ) {
        facts.prefetched |= needs.prefetch;
        let Some(e) = self.shared.enrichers.get(&self.shared.engine, dvr_id) else {
            facts
                .channels
                .extend(needs.channels.into_iter().map(|c| (c, Default::default())));
            facts
                .airings
                .extend(needs.airings.into_iter().map(|a| (a, None)));
            facts
                .library_items
                .extend(needs.library_items.into_iter().map(|i| (i, None)));
            facts.jobs.extend(needs.jobs.into_iter().map(|j| (j, None)));
            facts
                .recordings
                .extend(needs.recordings.into_iter().map(|r| (r, None)));
            return;
        };
        let mut e = e.lock().await;
        if needs.prefetch {
            e.prefetch().await;
        }
        for c in needs.channels {
            let info = e.channel(&c).await;
            facts.channels.insert(c, info);
        }
        for a in needs.airings {
            let airing = e.airing(&a, now.timestamp()).await;
            facts.airings.insert(a, airing);
        }
        for i in needs.library_items {
            let item = e.library_item(&i).await;
            facts.library_items.insert(i, item);
        }
        for j in needs.jobs {
            let job = e.job(&j, seen).await;
            facts.jobs.insert(j, job);
        }
        for r in needs.recordings {
            let outcome = e.recording(&r).await;
            facts.recordings.insert(r, outcome);
        }
    }

    /// The per-DVR lookup caches, shared with the dashboard.
    pub(crate) fn enrichers(&self) -> &Enrichers {
        &self.shared.enrichers
    }

    /// Switches, dedup, texts, routing, quiet times, rate limit, then one transaction;
    /// wakes delivery. True when the alert was recorded with at least one delivery, or
    /// held back by a quiet time.
    pub async fn emit(&self, dvr_id: &str, d: Draft) -> bool {
        let s = self.current();
        // A module switched off still records the alert (history), sending nowhere.
        let wanted = s.wants(dvr_id, d.kind);
        let now = Utc::now();
        let mono = std::time::Instant::now();
        let pacing = self.pacing(dvr_id);
        if !pacing
            .lock()
            .admit(d.dedup_key.as_deref(), d.cooldown, mono)
        {
            return false;
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
        if let Some(base) = &self.shared.links {
            let token = self
                .shared
                .quiet
                .link_token(dvr_id, cat.map(|c| c.as_str()), now);
            message.push_str(&format!("\nSnooze {dvr_name}: {base}/snooze/{token}"));
        }
        if let Some(p) = problem {
            warn!(dvr_id, alert_type = d.kind.event_type(), problem = %p, "alert template failed; the default text was used");
        }
        let mut destinations = Vec::new();
        if wanted {
            destinations = self.destinations(dvr_id, &d, now).await;
        }
        // Quiet hours, maintenance and snoozes: recorded and shown, not sent; kept for
        // the digest when one asks for it. They use none of the DVR's budget.
        let hush = wanted
            .then(|| self.shared.quiet.hush(dvr_id, d.kind, now))
            .flatten()
            .filter(|_| !destinations.is_empty());
        let limits = Limits {
            count: s.rate_limit.count,
            window: Duration::from_secs(s.rate_limit.window_seconds),
            max_age: Duration::from_secs(s.delivery.max_age_seconds),
        };
        let paced = pacing.lock().schedule(
            d.kind,
            wanted && hush.is_none(),
            !destinations.is_empty(),
            limits,
            mono,
        );
        let due = now + chrono::Duration::from_std(paced.wait).unwrap_or_default();
        match paced.status {
            Status::Delayed => {
                info!(dvr_id, alert_type = d.kind.event_type(), send_at = %due, "the DVR's alert budget is used up; the alert waits for a free slot");
            }
            Status::RateLimited => warn!(
                dvr_id,
                alert_type = d.kind.event_type(),
                "the DVR's alert budget is used up for longer than delivery.max_age_seconds; alert recorded but not sent"
            ),
            Status::Sent | Status::Suppressed => {}
        }
        let mut status = paced.status.as_str();
        if let Some(h) = &hush {
            info!(dvr_id, alert_type = d.kind.event_type(), by = %h.reason, digest = h.digest, "alert held back by a quiet time; recorded, not sent");
            status = "quiet";
            if h.digest {
                for to in &mut destinations {
                    to.hold = None;
                }
            } else {
                destinations.clear();
            }
        } else if !paced.delivers() {
            destinations.clear();
        }
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
            route: (d.route != Default::default())
                .then(|| serde_json::to_string(&d.route).unwrap_or_default()),
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
                    if !destinations.is_empty() && hush.is_none() {
                        self.shared.dispatcher.wake();
                    }
                    // Held back by a quiet time counts as handled: its outage's
                    // recovery is still announced.
                    return hush.is_some() || !destinations.is_empty();
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
        pacing.lock().undo(d.dedup_key.as_deref(), Some(&paced));
        false
    }

    /// A test alert of `kind` from `dvr_id`, made from sample data and the given
    /// template (else the saved one), sent to the providers routing lets that DVR's
    /// alerts of this kind reach. Module switches and the alert budget are passed by:
    /// it is asked for. Answers the alert id, its title and where it went.
    pub async fn send_test(
        &self,
        dvr_id: &str,
        kind: AlertKind,
        user: Option<domain::alerts::settings::Template>,
    ) -> Result<(i64, String, Vec<String>), String> {
        let s = self.current();
        let slot = self.shared.engine.slot(dvr_id);
        let dvr_name = slot
            .as_ref()
            .map(|s| s.name())
            .unwrap_or_else(|| dvr_id.to_string());
        let now = Utc::now();
        let mut vars = domain::alerts::template::sample(kind);
        vars["dvr_id"] = json!(dvr_id);
        vars["dvr_name"] = json!(dvr_name);
        vars["timestamp"] = json!(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let user = user.or_else(|| kind.category().map(|c| s.template(c).clone()));
        let (title, message, _) = crate::alerts::render::render_async(kind, vars, user).await;
        let title = format!("[Test] {title}");
        // Where rules would send this kind (a test has no client, and is not held).
        let probe = Draft {
            kind,
            dedup_key: None,
            cooldown: Duration::ZERO,
            vars: Default::default(),
            image_url: None,
            route: Default::default(),
        };
        let mut destinations = self.destinations(dvr_id, &probe, now).await;
        for d in &mut destinations {
            d.hold = None;
        }
        if destinations.is_empty() {
            return Err(format!(
                "no enabled provider receives {} alerts from {dvr_name}: add one under Providers and route it under Routing",
                kind.friendly()
            ));
        }
        let alert = NewAlert {
            dvr_id: dvr_id.to_string(),
            dvr_name,
            alert_type: kind.event_type().to_string(),
            title: title.clone(),
            message,
            image_url: None,
            dedup_key: None,
            status: Status::Sent.as_str(),
            created_at: now,
            send_at: now,
            route: None,
        };
        let id = outbox::record(&self.shared.db, &alert, &destinations)
            .await
            .map_err(|e| format!("the test alert could not be recorded: {e}"))?;
        info!(
            dvr_id,
            alert_id = id,
            alert_type = kind.event_type(),
            deliveries = destinations.len(),
            "test alert raised"
        );
        self.shared.dispatcher.wake();
        Ok((
            id,
            title,
            destinations.into_iter().map(|d| d.provider_type).collect(),
        ))
    }

    /// The enabled providers the routing matrix lets this alert reach (reads retried).
    async fn destinations(&self, dvr_id: &str, d: &Draft, now: DateTime<Utc>) -> Vec<ProviderRef> {
        let kind = d.kind;
        let cat = kind.category();
        let mut wait = Duration::from_millis(50);
        for attempt in 1..=5 {
            match (
                providers::list(&self.shared.db).await,
                routing::load(&self.shared.db).await,
                storage::rules::list(&self.shared.db).await,
            ) {
                (Ok(list), Ok(matrix), Ok(rules)) => {
                    let allowed: Vec<(i64, String)> = list
                        .into_iter()
                        .filter(|p| p.enabled)
                        .filter(|p| cat.is_none_or(|c| matrix.allows(dvr_id, c, &p.kind)))
                        .map(|p| (p.id, p.kind))
                        .collect();
                    let ids: Vec<i64> = allowed.iter().map(|(id, _)| *id).collect();
                    let when = self.shared.time_zone.zone().weekday_minute(now);
                    let facts = RuleFacts::of(dvr_id, kind, &d.route, when);
                    let chosen = domain::notify::rules::route(&rules, &ids, &facts);
                    return allowed
                        .into_iter()
                        .filter_map(|(id, kind)| {
                            let (_, delay) = chosen.iter().find(|(p, _)| *p == id)?;
                            let hold = delay.zip(d.route.session.clone()).map(|(s, key)| Hold {
                                until: now + chrono::Duration::seconds(i64::from(s)),
                                while_playing: key,
                            });
                            Some(ProviderRef {
                                provider_id: id,
                                provider_type: kind,
                                hold,
                            })
                        })
                        .collect();
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) if attempt < 5 => {
                    warn!(dvr_id, error = %e, attempt, "cannot read providers or routing; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    tracing::error!(dvr_id, error = %e, "cannot read providers or routing; the alert is recorded without deliveries");
                }
            }
        }
        Vec::new()
    }

    /// The DVRs the pipeline holds state for (a worker, or cooldowns and budget).
    pub fn tracked_dvrs(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.shared.pacing.lock().keys().cloned().collect();
        ids.extend(self.shared.workers.lock().keys().cloned());
        ids.sort();
        ids.dedup();
        ids
    }

    /// Drops a removed DVR's alert state: its worker (after the events it has queued),
    /// its cooldowns and budget, and its lookup caches.
    pub fn forget_dvr(&self, dvr_id: &str) {
        self.retain_dvrs(|id| id != dvr_id);
    }

    /// Keeps the alert state of the DVRs `keep` names only (the configured ones:
    /// a disabled DVR keeps its cooldowns for when it comes back).
    pub fn retain_dvrs(&self, keep: impl Fn(&str) -> bool) {
        self.shared.workers.lock().retain(|id, _| keep(id));
        self.shared.pacing.lock().retain(|id, _| keep(id));
        self.shared.enrichers.retain(|id| keep(id));
    }

    /// Dedup survives a process restart: the last day's alert keys come back from the
    /// history, so sessions still running when ChannelWatch restarts are not re-announced.
    fn pacing(&self, dvr_id: &str) -> Arc<Mutex<Pacing>> {
        self.shared
            .pacing
            .lock()
            .entry(dvr_id.to_string())
            .or_default()
            .clone()
    }
}
