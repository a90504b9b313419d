//! Enrichment from the DVR's own API, with per-DVR caches and TTLs: channel names and
//! logos (`/api/v1/channels`), what is on now (`/devices/ANY/guide/now`), library items
//! (`/api/v1/all?id=…`, one item per miss, never the whole library), jobs
//! (`/api/v1/jobs`) and recordings (`/api/v1/recordings/{id}`).
//!
//! A failed lookup never blocks an alert: it goes out with what is known.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use domain::alerts::facts::{
    parse_channels, parse_guide, parse_jobs, parse_library_item, parse_recording, Airing,
    ChannelInfo, JobInfo, LibraryItem, RecordingOutcome,
};
use tracing::debug;

use domain::dvr::clients::{at_address, parse_clients, ClientApp};
use domain::dvr::sources::{parse_sources, SourceInfo};
use domain::dvr::ApiKey;
use engine::dvr::client::{DvrClient, MAX_LIST_BODY, MAX_OBJECT_BODY};

const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
const CHANNELS_TTL: Duration = Duration::from_secs(86_400);
const GUIDE_TTL: Duration = Duration::from_secs(600);
const LIBRARY_TTL: Duration = Duration::from_secs(86_400);
const JOBS_TTL: Duration = Duration::from_secs(3600);
/// Apps are renamed or added rarely; a new address refetches sooner (a miss).
const CLIENTS_TTL: Duration = Duration::from_secs(600);
/// Tuners and sources change when the owner adds hardware.
const SOURCES_TTL: Duration = Duration::from_secs(600);
/// A miss refetches a list at most this often.
const MISS_REFRESH: Duration = Duration::from_secs(30);

struct Timed<T> {
    value: T,
    at: Instant,
}

/// One DVR's caches.
pub(crate) struct Enricher {
    /// For log lines.
    dvr_id: String,
    client: DvrClient,
    channels: Option<Timed<HashMap<String, ChannelInfo>>>,
    guide: Option<Timed<HashMap<String, Vec<Airing>>>>,
    library: HashMap<String, Timed<Option<LibraryItem>>>,
    jobs: Option<Timed<HashMap<String, JobInfo>>>,
    /// `/dvr/clients/info`; empty when the DVR does not offer it.
    clients: Option<Timed<Vec<ClientApp>>>,
    /// `/devices`; `None` inside when the DVR does not offer it.
    sources: Option<Timed<Option<Vec<SourceInfo>>>>,
    /// When the cached job list was requested (wall clock, to compare with events).
    jobs_requested: Option<DateTime<Utc>>,
}

impl Enricher {
    pub fn new(dvr_id: &str, client: DvrClient) -> Self {
        Self {
            dvr_id: dvr_id.to_string(),
            client,
            channels: None,
            guide: None,
            library: HashMap::new(),
            jobs: None,
            clients: None,
            sources: None,
            jobs_requested: None,
        }
    }

    async fn fetch(&self, path: &str, max: usize) -> Option<Value> {
        match self.client.get_value(path, LOOKUP_TIMEOUT, max).await {
            Ok(v) => Some(v),
            Err(e) => {
                debug!(dvr_id = %self.dvr_id, path, error = %e, "enrichment lookup failed");
                None
            }
        }
    }

    /// Refreshes a list cache when it is older than `ttl`, or on a miss when older than
    /// the miss interval.
    fn stale<T>(c: &Option<Timed<T>>, ttl: Duration, missed: bool) -> bool {
        match c {
            None => true,
            Some(t) => t.at.elapsed() >= ttl || (missed && t.at.elapsed() >= MISS_REFRESH),
        }
    }

    /// Fetches the channel list and the guide together, when the DVR connects, so its
    /// first channel alert finds them cached instead of waiting on two lookups.
    pub async fn prefetch(&mut self) {
        let need_channels = Self::stale(&self.channels, CHANNELS_TTL, false);
        let need_guide = Self::stale(&self.guide, GUIDE_TTL, false);
        let (channels, guide) = tokio::join!(
            async {
                if need_channels {
                    self.fetch("/api/v1/channels", MAX_LIST_BODY).await
                } else {
                    None
                }
            },
            async {
                if need_guide {
                    self.fetch("/devices/ANY/guide/now", MAX_LIST_BODY).await
                } else {
                    None
                }
            }
        );
        let at = Instant::now();
        if let Some(v) = channels {
            self.channels = Some(Timed {
                value: parse_channels(&v),
                at,
            });
        }
        if let Some(v) = guide {
            self.guide = Some(Timed {
                value: parse_guide(&v),
                at,
            });
        }
    }

    pub async fn channel(&mut self, number: &str) -> ChannelInfo {
        let missed = self
            .channels
            .as_ref()
            .is_some_and(|c| !c.value.contains_key(number));
        if Self::stale(&self.channels, CHANNELS_TTL, missed) {
            if let Some(v) = self.fetch("/api/v1/channels", MAX_LIST_BODY).await {
                self.channels = Some(Timed {
                    value: parse_channels(&v),
                    at: Instant::now(),
                });
            }
        }
        self.channels
            .as_ref()
            .and_then(|c| c.value.get(number).cloned())
            .unwrap_or_default()
    }

    /// What airs on `number` at `now` (unix seconds).
    pub async fn airing(&mut self, number: &str, now: i64) -> Option<Airing> {
        let current = |g: &HashMap<String, Vec<Airing>>| {
            g.get(number).and_then(|list| {
                list.iter()
                    .find(|a| a.start <= now && now < a.start.saturating_add(a.duration.max(1)))
                    .cloned()
            })
        };
        let missed = self
            .guide
            .as_ref()
            .is_some_and(|g| current(&g.value).is_none());
        if Self::stale(&self.guide, GUIDE_TTL, missed) {
            if let Some(v) = self.fetch("/devices/ANY/guide/now", MAX_LIST_BODY).await {
                self.guide = Some(Timed {
                    value: parse_guide(&v),
                    at: Instant::now(),
                });
            }
        }
        self.guide.as_ref().and_then(|g| current(&g.value))
    }

    /// The DVR's client list, read again when `stale` or its time is up.
    async fn client_list(&mut self, missed: bool) -> &[ClientApp] {
        if Self::stale(&self.clients, CLIENTS_TTL, missed) {
            // An older DVR without the list answers an error: remembered as empty, so
            // each play does not ask again.
            let list = self
                .fetch("/dvr/clients/info", MAX_LIST_BODY)
                .await
                .map(|v| parse_clients(&v))
                .unwrap_or_default();
            self.clients = Some(Timed {
                value: list,
                at: Instant::now(),
            });
        }
        self.clients.as_ref().map_or(&[], |c| c.value.as_slice())
    }

    /// The Channels app at `ip`, from the DVR's client list (where the DVR offers one).
    pub(crate) async fn client_at(&mut self, ip: std::net::IpAddr) -> Option<ClientApp> {
        let missed = self
            .clients
            .as_ref()
            .is_some_and(|c| at_address(&c.value, ip).is_none());
        at_address(self.client_list(missed).await, ip).cloned()
    }

    /// Every Channels app the DVR knows (`/dvr/clients/info`), for picking a TV to
    /// show alerts on; empty when the DVR does not offer the list.
    pub(crate) async fn clients(&mut self) -> Vec<ClientApp> {
        self.client_list(false).await.to_vec()
    }

    /// The DVR's tuners and sources (`/devices`), `None` when it does not list them.
    pub(crate) async fn sources(&mut self) -> Option<Vec<SourceInfo>> {
        if Self::stale(&self.sources, SOURCES_TTL, false) {
            let list = self
                .fetch("/devices", MAX_LIST_BODY)
                .await
                .map(|v| parse_sources(&v));
            self.sources = Some(Timed {
                value: list,
                at: Instant::now(),
            });
        }
        self.sources.as_ref().and_then(|s| s.value.clone())
    }

    /// One library item by id: a miss fetches that item only.
    pub(crate) async fn library_item(&mut self, id: &str) -> Option<LibraryItem> {
        if let Some(t) = self.library.get(id) {
            if t.at.elapsed() < LIBRARY_TTL && t.value.is_some() {
                return t.value.clone();
            }
        }
        let clean: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let item = self
            .fetch(&format!("/api/v1/all?id={clean}"), MAX_OBJECT_BODY)
            .await
            .and_then(|v| parse_library_item(&v, id));
        self.library.insert(
            id.to_string(),
            Timed {
                value: item.clone(),
                at: Instant::now(),
            },
        );
        item
    }

    /// Every job the DVR has, refreshed when older than `max_age` (the dashboard's
    /// upcoming recordings).
    pub async fn jobs(&mut self, max_age: Duration) -> HashMap<String, JobInfo> {
        if Self::stale(&self.jobs, max_age, false) {
            self.fetch_jobs().await;
        }
        self.jobs
            .as_ref()
            .map(|j| j.value.clone())
            .unwrap_or_default()
    }

    /// One job by id, for an event the engine saw at `seen`. A job the list lacks is
    /// fetched again when the list was requested before `seen`: a job announced by
    /// `jobs.created` is new, and a list read moments earlier (by the dashboard, on
    /// connect) cannot hold it. Otherwise a miss refetches after [`MISS_REFRESH`].
    pub async fn job(&mut self, id: &str, seen: DateTime<Utc>) -> Option<JobInfo> {
        let missed = self
            .jobs
            .as_ref()
            .is_some_and(|j| !j.value.contains_key(id));
        let older_than_event = self.jobs_requested.is_none_or(|at| at < seen);
        if Self::stale(&self.jobs, JOBS_TTL, missed) || (missed && older_than_event) {
            self.fetch_jobs().await;
        }
        self.jobs.as_ref().and_then(|j| j.value.get(id).cloned())
    }

    /// Reads the job list, stamped with when the request started: the list holds
    /// every job created before that.
    async fn fetch_jobs(&mut self) {
        let (at, requested) = (Instant::now(), Utc::now());
        if let Some(v) = self.fetch("/api/v1/jobs", MAX_LIST_BODY).await {
            self.jobs = Some(Timed {
                value: parse_jobs(&v),
                at,
            });
            self.jobs_requested = Some(requested);
        }
    }

    pub async fn recording(&self, file_id: &str) -> Option<RecordingOutcome> {
        let clean: String = file_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        self.fetch(&format!("/api/v1/recordings/{clean}"), MAX_OBJECT_BODY)
            .await
            .map(|v| parse_recording(&v))
    }
}

/// A DVR's enricher, shared: lookups run one at a time per DVR.
pub(crate) type SharedEnricher = std::sync::Arc<tokio::sync::Mutex<Enricher>>;

/// One enricher per DVR for the whole process, shared by the alert pipeline and the
/// dashboard, so a DVR's channel list, guide and jobs are fetched and held once.
#[derive(Default)]
pub(crate) struct Enrichers {
    /// Per DVR, with the address and key its client was built for (a change rebuilds it).
    all: parking_lot::Mutex<HashMap<String, (String, ApiKey, SharedEnricher)>>,
}

impl Enrichers {
    /// The DVR's enricher; `None` when the engine does not run it.
    pub fn get(&self, engine: &engine::Engine, dvr_id: &str) -> Option<SharedEnricher> {
        let spec = engine.slot(dvr_id)?.spec();
        let addr = format!("{}:{}", spec.host, spec.port);
        let mut all = self.all.lock();
        if let Some((a, k, e)) = all.get(dvr_id) {
            if *a == addr && *k == spec.api_key {
                return Some(e.clone());
            }
        }
        let client = DvrClient::new(engine.http().clone(), &spec.host, spec.port)
            .with_api_key(&spec.api_key);
        let e = std::sync::Arc::new(tokio::sync::Mutex::new(Enricher::new(dvr_id, client)));
        all.insert(dvr_id.to_string(), (addr, spec.api_key.clone(), e.clone()));
        Some(e)
    }

    /// Drops the caches of DVRs no longer running.
    pub fn retain(&self, running: impl Fn(&str) -> bool) {
        self.all.lock().retain(|id, _| running(id));
    }
}
