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
use tracing::debug;

use domain::dvr::ApiKey;
use engine::dvr::client::{DvrClient, MAX_LIST_BODY, MAX_OBJECT_BODY};

const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
const CHANNELS_TTL: Duration = Duration::from_secs(86_400);
const GUIDE_TTL: Duration = Duration::from_secs(600);
const LIBRARY_TTL: Duration = Duration::from_secs(86_400);
const JOBS_TTL: Duration = Duration::from_secs(3600);
/// A miss refetches a list at most this often.
const MISS_REFRESH: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelInfo {
    pub name: Option<String>,
    pub logo: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Airing {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub image: Option<String>,
    pub start: i64,
    pub duration: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LibraryItem {
    pub title: Option<String>,
    pub episode_title: Option<String>,
    pub summary: Option<String>,
    pub duration: Option<u64>,
    pub image: Option<String>,
    pub rating: Option<String>,
    pub genres: Vec<String>,
    pub cast: Vec<String>,
    pub year: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobInfo {
    pub name: Option<String>,
    pub start_time: Option<i64>,
    pub duration: Option<u64>,
    pub channel: Option<String>,
    pub summary: Option<String>,
    pub image: Option<String>,
}

/// What a recording ended as (`/api/v1/recordings/{id}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordingOutcome {
    pub title: Option<String>,
    pub channel: Option<String>,
    pub summary: Option<String>,
    pub image: Option<String>,
    pub duration: Option<u64>,
    pub completed: bool,
    pub cancelled: bool,
    pub failed: bool,
    pub skipped: bool,
    pub delayed: bool,
    pub start_time: Option<i64>,
}

fn text(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn num(v: &Value, keys: &[&str]) -> Option<i64> {
    keys.iter().find_map(|k| {
        let x = v.get(*k)?;
        x.as_i64()
            .or_else(|| x.as_f64().map(|f| f as i64))
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
    })
}

/// A Unix time in seconds, only within years 1970 to 9999: a DVR's nonsense time
/// would otherwise reach local-time formatting, which panics out of chrono's range.
fn unix_time(v: &Value, keys: &[&str]) -> Option<i64> {
    num(v, keys).filter(|t| (0..=253_402_300_799).contains(t))
}

/// Booleans arrive as `true` or `"true"`.
fn flag(v: &Value, keys: &[&str]) -> bool {
    keys.iter().any(|k| match v.get(*k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    })
}

fn strings(v: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_array))
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub fn parse_channels(v: &Value) -> HashMap<String, ChannelInfo> {
    v.as_array()
        .map(|list| {
            list.iter()
                .filter_map(|c| {
                    let number = text(c, &["number", "Number"])?;
                    Some((
                        number,
                        ChannelInfo {
                            name: text(c, &["name", "Name"]),
                            logo: text(c, &["logo_url", "image_url", "image", "Image", "ImageURL"]),
                        },
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn parse_guide(v: &Value) -> HashMap<String, Vec<Airing>> {
    let mut out: HashMap<String, Vec<Airing>> = HashMap::new();
    for entry in v.as_array().into_iter().flatten() {
        let number = entry
            .get("Channel")
            .and_then(|c| text(c, &["Number", "number"]));
        for a in entry
            .get("Airings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ch = text(a, &["Channel"]).or(number.clone());
            if let Some(ch) = ch {
                out.entry(ch).or_default().push(Airing {
                    title: text(a, &["Title", "title"]),
                    summary: text(a, &["Summary", "summary"]),
                    image: text(a, &["Image", "image_url"]),
                    start: unix_time(a, &["Time", "start_time"]).unwrap_or(0),
                    duration: num(a, &["Duration", "duration"]).unwrap_or(0),
                });
            }
        }
    }
    out
}

/// The library item with this id (`?id=` may be ignored by a DVR: never take another).
pub fn parse_library_item(v: &Value, id: &str) -> Option<LibraryItem> {
    let item = match v.as_array() {
        Some(list) => list
            .iter()
            .find(|i| text(i, &["id", "ID"]).as_deref() == Some(id))?,
        None => v,
    };
    if !item.is_object() {
        return None;
    }
    Some(LibraryItem {
        title: text(item, &["title", "Title"]),
        episode_title: text(item, &["episode_title", "EpisodeTitle"]),
        summary: text(item, &["summary", "Summary"]),
        duration: num(item, &["duration", "Duration"]).and_then(|d| u64::try_from(d).ok()),
        image: text(item, &["image_url", "Image", "ImageURL"]),
        rating: text(item, &["content_rating", "ContentRating"]),
        genres: strings(item, &["genres", "Genres"]),
        cast: strings(item, &["cast", "Cast"]),
        year: num(item, &["year", "Year"]).and_then(|y| u64::try_from(y).ok()),
    })
}

pub fn parse_jobs(v: &Value) -> HashMap<String, JobInfo> {
    v.as_array()
        .map(|list| {
            list.iter()
                .filter_map(|j| {
                    let id = text(j, &["id", "ID"])?;
                    let item = j.get("item").or(j.get("Item")).unwrap_or(&Value::Null);
                    Some((
                        id,
                        JobInfo {
                            name: text(j, &["name", "Name"]),
                            start_time: unix_time(j, &["start_time", "Time"]),
                            duration: num(j, &["duration", "Duration"])
                                .and_then(|d| u64::try_from(d).ok()),
                            channel: j
                                .get("channels")
                                .or(j.get("Channels"))
                                .and_then(Value::as_array)
                                .and_then(|c| c.first())
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .or_else(|| text(j, &["channel", "Channel"])),
                            summary: text(item, &["summary", "Summary"]),
                            image: text(item, &["image_url", "ImageURL"])
                                .or_else(|| text(j, &["image_url", "ImageURL"])),
                        },
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn parse_recording(v: &Value) -> RecordingOutcome {
    RecordingOutcome {
        title: text(v, &["title", "Title"]),
        channel: text(v, &["channel", "Channel"]),
        summary: text(v, &["summary", "Summary"]),
        image: text(v, &["image_url", "Image"]),
        duration: num(v, &["duration", "Duration"]).and_then(|d| u64::try_from(d).ok()),
        completed: flag(v, &["completed", "processed"]),
        cancelled: flag(v, &["cancelled"]),
        failed: flag(v, &["failed", "dead"]) || text(v, &["error"]).is_some(),
        skipped: flag(v, &["skipped"]),
        delayed: flag(v, &["delayed"]),
        start_time: v.get("job").and_then(|j| unix_time(j, &["start_time"])),
    }
}

struct Timed<T> {
    value: T,
    at: Instant,
}

/// One DVR's caches.
pub struct Enricher {
    /// For log lines.
    dvr_id: String,
    client: DvrClient,
    channels: Option<Timed<HashMap<String, ChannelInfo>>>,
    guide: Option<Timed<HashMap<String, Vec<Airing>>>>,
    library: HashMap<String, Timed<Option<LibraryItem>>>,
    jobs: Option<Timed<HashMap<String, JobInfo>>>,
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

    /// One library item by id: a miss fetches that item only.
    pub async fn library_item(&mut self, id: &str) -> Option<LibraryItem> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sim/src/fixtures")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    #[test]
    fn parses_the_fixture_shapes() {
        let ch = parse_channels(&fixture("channels.json"));
        assert_eq!(ch["7"].name.as_deref(), Some("ABC"));
        assert!(ch["5.1"].logo.as_deref().unwrap().ends_with("ch5.png"));
        let g = parse_guide(&fixture("guide-now.json"));
        assert_eq!(g["7"][0].title.as_deref(), Some("Good Morning America"));
        let item = parse_library_item(&fixture("all.json"), "12345").unwrap();
        assert!(parse_library_item(&fixture("all.json"), "nope").is_none());
        assert_eq!(item.title.as_deref(), Some("Crank: High Voltage"));
        assert_eq!(item.year, Some(2009));
        assert_eq!(item.cast.len(), 4);
        let jobs = parse_jobs(&fixture("jobs.json"));
        assert_eq!(jobs["1776716400-ch7"].channel.as_deref(), Some("7"));
        let r = parse_recording(&fixture("recording-12260.json"));
        assert!(r.completed && !r.cancelled && !r.failed);
        assert_eq!(r.start_time, Some(1776630000));
    }

    #[test]
    fn string_booleans_and_errors_count() {
        let r = parse_recording(
            &serde_json::json!({"completed": "true", "cancelled": "TRUE", "error": "tuner lost"}),
        );
        assert!(r.completed && r.cancelled && r.failed);
    }

    #[test]
    fn job_times_outside_years_1970_to_9999_are_dropped() {
        let jobs = parse_jobs(&serde_json::json!([
            {"id": "a", "Name": "Far", "start_time": 8_210_266_876_799_i64},
            {"id": "b", "Name": "Before", "Time": -8_334_601_315_200_i64},
            {"id": "c", "Name": "Fine", "start_time": 1_776_630_000}
        ]));
        assert_eq!(jobs["a"].start_time, None);
        assert_eq!(jobs["b"].start_time, None);
        assert_eq!(jobs["c"].start_time, Some(1_776_630_000));
    }
}

/// A DVR's enricher, shared: lookups run one at a time per DVR.
pub type SharedEnricher = std::sync::Arc<tokio::sync::Mutex<Enricher>>;

/// One enricher per DVR for the whole process, shared by the alert pipeline and the
/// dashboard, so a DVR's channel list, guide and jobs are fetched and held once.
#[derive(Default)]
pub struct Enrichers {
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
