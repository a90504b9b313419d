//! Quiet hours, maintenance windows and snoozes in force (`domain::notify::quiet`):
//! held in memory for the per-alert check, the readiness probe and the dashboard, and
//! written through to the database on every edit. Its task sends the digests: every
//! delivery held back for one is summed up, per DVR and destination, once nothing
//! holds its alert back any more.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::edit::EditError;
use crate::notify::outbox::Dispatcher;
use crate::zone::TimeZone;
use domain::alerts::kind::AlertKind;
use domain::notify::quiet::{self, Held, Hush, Period, Snooze, Subject};
use storage::outbox::{NewAlert, ProviderRef};
use storage::{quiet as store, Db, StorageError};

/// How often held deliveries are looked at when nothing wakes the task.
const DIGEST_EVERY: Duration = Duration::from_secs(15);

/// How long a notification's snooze link works.
pub const LINK_DAYS: i64 = 7;

/// The alert type digests are recorded under.
pub const DIGEST_TYPE: &str = "quiet.digest";

/// What holds alerts back at one moment ([`QuietService::at`]).
pub struct Moment {
    periods: Arc<Vec<Period>>,
    snoozes: Arc<Vec<Snooze>>,
    local: (usize, u32),
    now: DateTime<Utc>,
}

impl Moment {
    /// Whether an alert of `kind` from `dvr_id` is held back.
    pub fn hush(&self, dvr_id: &str, kind: AlertKind) -> Option<Hush> {
        let subject = Subject {
            dvr_id,
            event_type: kind.event_type(),
            category: kind.category().map(|c| c.as_str()),
        };
        quiet::hush(&self.periods, &self.snoozes, &subject, self.local, self.now)
    }

    /// The maintenance window `dvr_id` is in (its label), if any.
    pub fn maintenance(&self, dvr_id: &str) -> Option<String> {
        quiet::maintenance(&self.periods, dvr_id, self.local).map(Period::label)
    }

    /// The snooze holding every alert of `dvr_id` back the longest (its id and end),
    /// if any.
    pub fn dvr_snooze(&self, dvr_id: &str) -> Option<(i64, DateTime<Utc>)> {
        self.snoozes
            .iter()
            .filter(|s| s.until > self.now && s.kind.is_none())
            .filter(|s| s.dvr_id.as_deref().is_none_or(|d| d == dvr_id))
            .max_by_key(|s| s.until)
            .map(|s| (s.id, s.until))
    }
}

/// Cheap to clone.
#[derive(Clone)]
pub struct QuietService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    zone: TimeZone,
    state: RwLock<State>,
    /// An edit or a snooze ended: look at the held deliveries now.
    wake: Notify,
}

#[derive(Default)]
struct State {
    periods: Arc<Vec<Period>>,
    snoozes: Arc<Vec<Snooze>>,
}

/// What a snooze link names, sealed into its token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkTarget {
    #[serde(rename = "d")]
    pub dvr_id: String,
    /// A category; `None`: every kind.
    #[serde(rename = "k")]
    pub kind: Option<String>,
    /// Unix seconds the link stops working.
    #[serde(rename = "e")]
    pub expires: i64,
}

const LINK_COLUMN: &str = "snooze_link";

impl QuietService {
    pub async fn load(db: Db, zone: TimeZone) -> Result<Self, StorageError> {
        let s = QuietService {
            inner: Arc::new(Inner {
                db,
                zone,
                state: RwLock::new(State::default()),
                wake: Notify::new(),
            }),
        };
        s.reload().await?;
        Ok(s)
    }

    /// Rereads periods and snoozes (after an edit or a restore).
    pub async fn reload(&self) -> Result<(), StorageError> {
        let periods = store::periods(&self.inner.db).await?;
        let snoozes = store::snoozes(&self.inner.db, Utc::now()).await?;
        *self.inner.state.write() = State {
            periods: Arc::new(periods),
            snoozes: Arc::new(snoozes),
        };
        self.inner.wake.notify_one();
        Ok(())
    }

    pub fn periods(&self) -> Arc<Vec<Period>> {
        self.inner.state.read().periods.clone()
    }

    /// Snoozes not over by `now`.
    pub fn snoozes(&self, now: DateTime<Utc>) -> Vec<Snooze> {
        let st = self.inner.state.read();
        st.snoozes
            .iter()
            .filter(|s| s.until > now)
            .cloned()
            .collect()
    }

    /// Periods, snoozes and the local time at `now`, for asking about many DVRs or
    /// alerts at that moment (the dashboard's frame, readiness, the digest pass) with
    /// one lock and one zone conversion.
    pub fn at(&self, now: DateTime<Utc>) -> Moment {
        let st = self.inner.state.read();
        Moment {
            periods: st.periods.clone(),
            snoozes: st.snoozes.clone(),
            local: self.inner.zone.zone().weekday_minute(now),
            now,
        }
    }

    /// Whether an alert of `kind` from `dvr_id` is held back at `now`.
    pub fn hush(&self, dvr_id: &str, kind: AlertKind, now: DateTime<Utc>) -> Option<Hush> {
        self.at(now).hush(dvr_id, kind)
    }

    /// The snooze holding every alert of `dvr_id` back the longest, if any.
    pub fn dvr_snooze(&self, dvr_id: &str, now: DateTime<Utc>) -> Option<(i64, DateTime<Utc>)> {
        self.at(now).dvr_snooze(dvr_id)
    }

    pub async fn add_period(&self, p: Period) -> Result<Period, EditError> {
        p.validate().map_err(EditError::Invalid)?;
        let saved = store::insert_period(&self.inner.db, &p).await?;
        self.reload().await?;
        info!(period_id = saved.id, label = %saved.label(), "quiet period added");
        Ok(saved)
    }

    /// False when there is no such period.
    pub async fn replace_period(&self, p: Period) -> Result<bool, EditError> {
        p.validate().map_err(EditError::Invalid)?;
        let done = store::replace_period(&self.inner.db, &p).await?;
        self.reload().await?;
        Ok(done)
    }

    pub async fn delete_period(&self, id: i64) -> Result<bool, StorageError> {
        let done = store::delete_period(&self.inner.db, id).await?;
        self.reload().await?;
        Ok(done)
    }

    /// Snoozes a DVR (`None`: every DVR), a kind (`None`: every kind), or both, for
    /// `hours` from now.
    pub async fn snooze(
        &self,
        dvr_id: Option<String>,
        kind: Option<String>,
        hours: f64,
        digest: bool,
        source: &str,
    ) -> Result<Snooze, EditError> {
        if !(hours > 0.0 && hours <= quiet::MAX_SNOOZE_HOURS) {
            return Err(EditError::Invalid(format!(
                "hours: more than 0 and at most {}",
                quiet::MAX_SNOOZE_HOURS
            )));
        }
        let now = Utc::now();
        let s = Snooze {
            id: 0,
            dvr_id,
            kind,
            until: now + chrono::Duration::seconds((hours * 3600.0).round() as i64),
            digest,
            source: source.to_string(),
            created_at: now,
        };
        s.validate().map_err(EditError::Invalid)?;
        let saved = store::insert_snooze(&self.inner.db, &s).await?;
        self.reload().await?;
        info!(
            snooze_id = saved.id,
            dvr_id = saved.dvr_id.as_deref().unwrap_or("every DVR"),
            kind = saved.kind.as_deref().unwrap_or("every kind"),
            until = %saved.until,
            source,
            "alerts snoozed"
        );
        Ok(saved)
    }

    /// Ends a snooze now (its held deliveries' digest goes out); false when there is none.
    pub async fn end_snooze(&self, id: i64) -> Result<bool, StorageError> {
        let done = store::delete_snooze(&self.inner.db, id).await?;
        self.reload().await?;
        if done {
            info!(snooze_id = id, "snooze ended");
        }
        Ok(done)
    }

    /// A token for a notification's snooze link: `target` sealed (encrypted and
    /// authenticated) with the data directory's key, so it cannot be forged or
    /// changed, and it stops working after [`LINK_DAYS`] or when the key is rotated
    /// twice.
    pub fn link_token(&self, dvr_id: &str, kind: Option<&str>, now: DateTime<Utc>) -> String {
        let target = LinkTarget {
            dvr_id: dvr_id.to_string(),
            kind: kind.map(str::to_string),
            expires: (now + chrono::Duration::days(LINK_DAYS)).timestamp(),
        };
        let plain = serde_json::to_string(&target).expect("a link target serialises");
        let sealed = self.inner.db.vault.seal(&plain, LINK_COLUMN, "");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)
    }

    /// What a link's token names, when it is genuine and not expired.
    pub fn open_link(&self, token: &str, now: DateTime<Utc>) -> Result<LinkTarget, String> {
        let bad = || "this snooze link is not valid (was it cut short?)".to_string();
        if token.len() > 1024 {
            return Err(bad());
        }
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(bad)?;
        // Only a sealed value: `open` answers plain text as it is.
        if !sealed.starts_with("cw") {
            return Err(bad());
        }
        let plain = self
            .inner
            .db
            .vault
            .open(&sealed, LINK_COLUMN, "")
            .map_err(|_| bad())?;
        let t: LinkTarget = serde_json::from_str(&plain).map_err(|_| bad())?;
        if t.expires <= now.timestamp() {
            return Err(format!(
                "this snooze link has expired (links work for {LINK_DAYS} days)"
            ));
        }
        Ok(t)
    }

    /// Sends digests until `cancel`: at every edit, and every 15 s.
    pub async fn run(self, dispatcher: Dispatcher, cancel: CancellationToken) {
        let mut tick = engine::cadence::aligned_interval(DIGEST_EVERY, DIGEST_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.inner.wake.notified() => {}
                _ = cancel.cancelled() => return,
            }
            match self.digest_due(Utc::now()).await {
                Ok(0) => {}
                Ok(n) => {
                    info!(digests = n, "quiet-time digests recorded");
                    dispatcher.wake();
                }
                Err(e) => {
                    warn!(error = %e, "cannot send the quiet-time digests; trying again shortly")
                }
            }
        }
    }

    /// Records a digest for every DVR and destination whose held deliveries nothing
    /// holds back at `now`; answers how many.
    pub async fn digest_due(&self, now: DateTime<Utc>) -> Result<usize, StorageError> {
        let held = store::held(&self.inner.db).await?;
        if held.is_empty() {
            return Ok(0);
        }
        let providers = storage::providers::list(&self.inner.db).await?;
        let zone = self.inner.zone.zone();
        let moment = self.at(now);
        // By DVR, then by destination: the deliveries it held.
        let mut due: BTreeMap<String, BTreeMap<i64, Vec<&store::HeldRow>>> = BTreeMap::new();
        for h in &held {
            let still = AlertKind::parse(&h.alert_type)
                .and_then(|k| moment.hush(&h.dvr_id, k))
                .is_some();
            if !still {
                due.entry(h.dvr_id.clone())
                    .or_default()
                    .entry(h.provider_id)
                    .or_default()
                    .push(h);
            }
        }
        let mut count = 0;
        for (dvr_id, by_provider) in due {
            // Destinations that held the same alerts share one digest: its text from
            // the first one's rows, every one's rows summed up.
            type Shared<'a> = (Vec<&'a store::HeldRow>, Vec<i64>, Vec<i64>);
            let mut digests: BTreeMap<Vec<i64>, Shared> = BTreeMap::new();
            for (provider_id, rows) in by_provider {
                let alerts: Vec<i64> = rows.iter().map(|r| r.alert_id).collect();
                let d = digests
                    .entry(alerts)
                    .or_insert_with(|| (rows.clone(), Vec::new(), Vec::new()));
                d.1.push(provider_id);
                d.2.extend(rows.iter().map(|r| r.outbox_id));
            }
            for (_, (rows, provider_ids, summed)) in digests {
                let dvr_name = rows.last().map(|r| r.dvr_name.clone()).unwrap_or_default();
                let items: Vec<Held> = rows
                    .iter()
                    .map(|r| Held {
                        at: zone.short(r.created_at),
                        title: r.title.clone(),
                        message: r.message.clone(),
                    })
                    .collect();
                let (title, message) = quiet::digest(&dvr_name, &items);
                // A destination since removed or switched off gets no digest.
                let to: Vec<ProviderRef> = provider_ids
                    .iter()
                    .filter_map(|id| providers.iter().find(|p| p.id == *id && p.enabled))
                    .map(|p| ProviderRef {
                        provider_id: p.id,
                        provider_type: p.kind.clone(),
                        hold: None,
                    })
                    .collect();
                let digest = NewAlert {
                    dvr_id: dvr_id.clone(),
                    dvr_name,
                    alert_type: DIGEST_TYPE.to_string(),
                    title,
                    message,
                    image_url: None,
                    dedup_key: None,
                    status: if to.is_empty() { "suppressed" } else { "sent" },
                    created_at: now,
                    send_at: now,
                    route: None,
                };
                let id = store::record_digest(&self.inner.db, &digest, &to, &summed).await?;
                info!(
                    dvr_id,
                    alert_id = id,
                    alerts = items.len(),
                    deliveries = to.len(),
                    "quiet-time digest recorded"
                );
                count += 1;
            }
        }
        Ok(count)
    }
}
