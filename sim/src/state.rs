//! The simulator's shared state: what the polled endpoints report, the broadcast that
//! feeds every open event stream, and the switches tests flip (stall, failures, disk).
//!
//! Every emitted event is applied to this state *before* it is broadcast, so a client
//! that reacts to an event by polling (`/dvr`, `/api/v1/jobs`, a recording) already sees
//! its effect, as with a real DVR.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::fixtures::{Fixtures, Job};
use super::{FailMode, Framing, SimConfig};

/// Broadcast capacity: a slow subscriber only loses events after this many queue up.
const BROADCAST_CAPACITY: usize = 4096;
/// Bounds on remembered scenario output, so a demo running for days stays small.
const MAX_JOBS: usize = 1000;
const MAX_SYNTH_RECORDINGS: usize = 500;
const MAX_IN_PROGRESS: usize = 100;

/// Mutable figures behind the polled endpoints.
#[derive(Debug)]
pub(crate) struct SimData {
    pub disk_free: u64,
    pub disk_total: u64,
    /// `/dvr` "activity": activity Name → Value. Ordered for stable output.
    pub activity: BTreeMap<String, String>,
    pub jobs: Vec<Job>,
    /// Jobs announced by `programs.set recording-<job>` and not yet finished.
    pub in_progress: Vec<String>,
    /// `/api/v1/recordings`: the fixture recording first, then synthesised ones.
    pub recordings: Vec<Value>,
    /// Library items for synthesised recordings, appended to `/api/v1/all`.
    pub library_extra: Vec<Value>,
    pub next_file_id: u64,
}

impl SimData {
    fn new(fx: &Fixtures) -> SimData {
        SimData {
            disk_free: fx.disk_free,
            disk_total: fx.disk_total,
            activity: BTreeMap::new(),
            jobs: fx.jobs.clone(),
            in_progress: Vec::new(),
            recordings: vec![fx.recording.clone()],
            library_extra: Vec::new(),
            next_file_id: fx.max_file_id().saturating_add(1),
        }
    }

    pub(crate) fn has_job(&self, id: &str) -> bool {
        self.jobs.iter().any(|j| j.id == id)
    }

    pub(crate) fn add_job(&mut self, job: Job) {
        if self.has_job(&job.id) {
            return;
        }
        if self.jobs.len() >= MAX_JOBS {
            self.jobs.remove(0);
        }
        self.jobs.push(job);
    }

    fn remove_job(&mut self, id: &str) {
        self.jobs.retain(|j| j.id != id);
        self.in_progress.retain(|j| j != id);
    }

    pub(crate) fn alloc_file_id(&mut self) -> String {
        let id = self.next_file_id;
        self.next_file_id = self.next_file_id.saturating_add(1);
        id.to_string()
    }

    fn recording(&self, file_id: &str) -> Option<&Value> {
        self.recordings
            .iter()
            .find(|r| r.get("id").and_then(Value::as_str) == Some(file_id))
    }

    /// Stores a completed, processed recording of `job` under `file_id`.
    pub(crate) fn insert_recording(&mut self, file_id: &str, job: &Job) {
        if self.recording(file_id).is_some() {
            return;
        }
        if let Ok(n) = file_id.parse::<u64>() {
            self.next_file_id = self.next_file_id.max(n.saturating_add(1));
        }
        let channel = job.channels.first().cloned().unwrap_or_default();
        self.recordings.push(json!({
            "id": file_id,
            "job_id": job.id,
            "title": job.name,
            "episode_title": "",
            "channel": channel,
            "duration": job.duration,
            "completed": true,
            "cancelled": false,
            "processed": true,
            "delayed": false,
            "summary": job.summary,
            "image_url": job.image_url,
            "job": {"start_time": job.start_time},
        }));
        self.library_extra.push(json!({
            "id": file_id,
            "title": job.name,
            "episode_title": "",
            "summary": job.summary,
            "duration": job.duration,
            "image_url": job.image_url,
            "content_rating": "TV-PG",
            "genres": [],
            "cast": [],
        }));
        // Index 0 is the fixture recording; only synthesised ones are dropped.
        if self.recordings.len() > MAX_SYNTH_RECORDINGS + 1 {
            self.recordings.remove(1);
        }
        if self.library_extra.len() > MAX_SYNTH_RECORDINGS {
            self.library_extra.remove(0);
        }
    }
}

/// Everything one simulator shares between its handle, routes, streams and script.
pub(crate) struct Shared {
    pub config: SimConfig,
    pub addr: SocketAddr,
    pub fixtures: Fixtures,
    /// Cancelled once by `shutdown`: ends the server, every stream and the script.
    pub shutdown: CancellationToken,
    /// The token current streams watch; `drop_streams` cancels it and installs a fresh
    /// child of `shutdown`, so later connections are unaffected.
    generation: Mutex<CancellationToken>,
    tx: broadcast::Sender<Bytes>,
    pub stall: watch::Sender<bool>,
    fail_mode: Mutex<FailMode>,
    status_fail: AtomicBool,
    pub data: Mutex<SimData>,
    /// Open event-stream count; a watch so the script (and tests) can wait for a client.
    pub open: watch::Sender<usize>,
    connections_total: AtomicU64,
    /// TCP connections accepted (streams and requests alike).
    tcp_accepted: AtomicU64,
    events_sent: AtomicU64,
    /// DVR API requests by path.
    requests: Mutex<std::collections::HashMap<String, u64>>,
}

/// One event on the wire, with the field order a real DVR uses.
#[derive(Serialize)]
struct WireEvent<'a> {
    #[serde(rename = "Type")]
    ty: &'a str,
    #[serde(rename = "Name")]
    name: &'a str,
    #[serde(rename = "Value")]
    value: &'a str,
}

impl Shared {
    pub fn new(addr: SocketAddr, config: SimConfig) -> Shared {
        let fixtures = Fixtures::load(&public_host(addr));
        let data = SimData::new(&fixtures);
        let shutdown = CancellationToken::new();
        let generation = shutdown.child_token();
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Shared {
            config,
            addr,
            fixtures,
            shutdown,
            generation: Mutex::new(generation),
            tx,
            stall: watch::Sender::new(false),
            fail_mode: Mutex::new(FailMode::None),
            status_fail: AtomicBool::new(false),
            data: Mutex::new(data),
            open: watch::Sender::new(0),
            connections_total: AtomicU64::new(0),
            tcp_accepted: AtomicU64::new(0),
            events_sent: AtomicU64::new(0),
            requests: Mutex::new(Default::default()),
        }
    }

    /// Serialises an event in the configured framing.
    pub(crate) fn frame_event(&self, ty: &str, name: &str, value: &str) -> Bytes {
        // Serialising three strings cannot fail; keep the stream well-formed anyway.
        let json = serde_json::to_string(&WireEvent { ty, name, value })
            .unwrap_or_else(|_| String::from(r#"{"Type":"","Name":"","Value":""}"#));
        match self.config.framing {
            Framing::Bare => Bytes::from(format!("{json}\n")),
            Framing::Sse => Bytes::from(format!("data: {json}\n\n")),
        }
    }

    pub fn hello(&self) -> Bytes {
        self.frame_event("hello", "", "")
    }

    pub fn emit(&self, ty: &str, name: &str, value: &str) {
        self.apply(ty, name, value);
        let frame = self.frame_event(ty, name, value);
        // No subscribers is normal (nobody connected yet).
        let _ = self.tx.send(frame);
    }

    pub fn emit_raw(&self, line: &str) {
        let mut buf = String::with_capacity(line.len() + 1);
        buf.push_str(line);
        buf.push('\n');
        let _ = self.tx.send(Bytes::from(buf));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Bytes> {
        self.tx.subscribe()
    }

    pub(crate) fn stream_token(&self) -> CancellationToken {
        self.generation.lock().clone()
    }

    pub fn drop_streams(&self) {
        let fresh = self.shutdown.child_token();
        let old = std::mem::replace(&mut *self.generation.lock(), fresh);
        old.cancel();
    }

    pub fn set_stall(&self, stalled: bool) {
        self.stall.send_replace(stalled);
    }

    #[cfg(test)]
    pub fn stalled(&self) -> bool {
        *self.stall.borrow()
    }

    pub fn set_fail_mode(&self, mode: FailMode) {
        *self.fail_mode.lock() = mode;
    }

    pub(crate) fn fail_mode(&self) -> FailMode {
        *self.fail_mode.lock()
    }

    pub(crate) fn count_request(&self, path: &str) {
        let mut all = self.requests.lock();
        // Bounded: a client inventing paths cannot grow the map past this.
        if all.len() < 1024 || all.contains_key(path) {
            *all.entry(path.to_string()).or_default() += 1;
        }
    }

    pub fn requests(&self, path: &str) -> u64 {
        self.requests.lock().get(path).copied().unwrap_or(0)
    }

    pub fn set_status_fail(&self, fail: bool) {
        self.status_fail.store(fail, Ordering::Relaxed);
    }

    pub(crate) fn status_fail(&self) -> bool {
        self.status_fail.load(Ordering::Relaxed)
    }

    pub fn set_disk(&self, free: u64, total: u64) {
        let mut d = self.data.lock();
        d.disk_free = free;
        d.disk_total = total;
    }

    pub fn disk(&self) -> (u64, u64) {
        let d = self.data.lock();
        (d.disk_free, d.disk_total)
    }

    pub fn open_streams(&self) -> usize {
        *self.open.borrow()
    }

    pub(crate) fn stream_opened(&self) {
        self.open.send_modify(|n| *n += 1);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_closed(&self) {
        self.open.send_modify(|n| *n = n.saturating_sub(1));
    }

    pub fn connections_total(&self) -> u64 {
        self.connections_total.load(Ordering::Relaxed)
    }

    pub(crate) fn count_accepted(&self) {
        self.tcp_accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn tcp_accepted(&self) -> u64 {
        self.tcp_accepted.load(Ordering::Relaxed)
    }

    pub(crate) fn count_sent(&self) {
        self.events_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn events_sent(&self) -> u64 {
        self.events_sent.load(Ordering::Relaxed)
    }

    /// Mirrors an event into the polled state, the way a real DVR's own state
    /// would already reflect it.
    fn apply(&self, ty: &str, name: &str, value: &str) {
        let mut d = self.data.lock();
        match ty {
            "activities.set" => {
                if value.is_empty() {
                    d.activity.remove(name);
                } else {
                    d.activity.insert(name.to_owned(), value.to_owned());
                }
            }
            "jobs.created" if !name.is_empty() && !d.has_job(name) => {
                let job = self.synthesise_job(name);
                d.add_job(job);
            }
            "jobs.deleted" => d.remove_job(name),
            "programs.set" => {
                if let Some(job_id) = value.strip_prefix("recording-") {
                    if !job_id.is_empty() && !d.in_progress.iter().any(|j| j == job_id) {
                        if d.in_progress.len() >= MAX_IN_PROGRESS {
                            d.in_progress.remove(0);
                        }
                        d.in_progress.push(job_id.to_owned());
                    }
                } else if let Some(file_id) = value.strip_prefix("recorded-") {
                    self.complete_recording(&mut d, file_id);
                }
            }
            _ => {}
        }
    }

    /// `recorded-<file>`: the recording exists from now on (synthesised if unknown)
    /// and the job that produced it leaves the job list, as on a real DVR.
    fn complete_recording(&self, d: &mut SimData, file_id: &str) {
        if file_id.is_empty() {
            return;
        }
        let known_job = d
            .recording(file_id)
            .map(|r| r.get("job_id").and_then(Value::as_str).map(str::to_owned));
        match known_job {
            Some(job_id) => {
                let finished = job_id
                    .filter(|j| d.in_progress.contains(j))
                    .or_else(|| d.in_progress.first().cloned());
                if let Some(id) = finished {
                    d.remove_job(&id);
                }
            }
            None => {
                let job = match d.in_progress.first().cloned() {
                    Some(id) => match d.jobs.iter().find(|j| j.id == id) {
                        Some(j) => j.clone(),
                        None => self.synthesise_job(&id),
                    },
                    None => self.placeholder_job(file_id),
                };
                d.insert_recording(file_id, &job);
                d.remove_job(&job.id);
            }
        }
    }

    /// A plausible job for an id of the form `<unix>-ch<channel>`: fixture data if the
    /// id is a fixture job, else the guide's airing on that channel, else generic text.
    pub(crate) fn synthesise_job(&self, id: &str) -> Job {
        if let Some(j) = self.fixtures.jobs.iter().find(|j| j.id == id) {
            return j.clone();
        }
        let (start, channel) = match id.split_once("-ch") {
            Some((unix, ch)) => (unix.parse::<i64>().ok(), ch.to_owned()),
            None => (None, String::new()),
        };
        let start = start.unwrap_or_else(|| chrono::Utc::now().timestamp());
        let airing = self.fixtures.airing(&channel);
        let chan = self.fixtures.channel(&channel);
        let name = match (airing, chan) {
            (Some(a), _) if !a.title.is_empty() => a.title.clone(),
            (_, Some(c)) if !c.name.is_empty() => format!("{} Programming", c.name),
            _ if !channel.is_empty() => format!("Recording on ch{channel}"),
            _ => format!("Recording {id}"),
        };
        let image_url = match (airing, chan) {
            (Some(a), _) if !a.image.is_empty() => a.image.clone(),
            (_, Some(c)) => c.logo.clone(),
            _ => String::new(),
        };
        Job {
            id: id.to_owned(),
            name,
            start_time: start,
            duration: airing
                .map(|a| a.duration)
                .filter(|d| *d > 0)
                .unwrap_or(3600),
            channels: if channel.is_empty() {
                Vec::new()
            } else {
                vec![channel]
            },
            summary: airing.map(|a| a.summary.clone()).unwrap_or_default(),
            image_url,
        }
    }

    /// Stand-in for a `recorded-<file>` that no known job explains.
    fn placeholder_job(&self, file_id: &str) -> Job {
        let now = chrono::Utc::now().timestamp();
        Job {
            id: String::new(),
            name: format!("Recording {file_id}"),
            start_time: now.saturating_sub(3600),
            duration: 3600,
            channels: Vec::new(),
            summary: String::new(),
            image_url: String::new(),
        }
    }
}

/// `host:port` for URLs we hand out: a wildcard bind is reachable via loopback.
fn public_host(addr: SocketAddr) -> String {
    let ip = addr.ip();
    if ip.is_unspecified() {
        let loopback: std::net::IpAddr = if ip.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        SocketAddr::new(loopback, addr.port()).to_string()
    } else {
        addr.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared::new(([127, 0, 0, 1], 8089).into(), SimConfig::default())
    }

    #[test]
    fn activities_set_and_clear() {
        let s = shared();
        s.emit("activities.set", "a", "Watching ch7 ABC from X");
        assert_eq!(
            s.data.lock().activity.get("a").map(String::as_str),
            Some("Watching ch7 ABC from X")
        );
        s.emit("activities.set", "a", "");
        assert!(s.data.lock().activity.is_empty());
    }

    #[test]
    fn jobs_created_synthesises_and_deleted_removes() {
        let s = shared();
        let before = s.data.lock().jobs.len();
        s.emit("jobs.created", "1800000000-ch5.1", "");
        {
            let d = s.data.lock();
            assert_eq!(d.jobs.len(), before + 1);
            let j = d.jobs.iter().find(|j| j.id == "1800000000-ch5.1").cloned();
            let j = j.expect("job synthesised");
            assert_eq!(j.start_time, 1_800_000_000);
            assert_eq!(j.channels, vec!["5.1".to_owned()]);
            assert_eq!(j.name, "The Evening News");
        }
        // Present already: no duplicate.
        s.emit("jobs.created", "1800000000-ch5.1", "");
        assert_eq!(s.data.lock().jobs.len(), before + 1);
        s.emit("jobs.deleted", "1800000000-ch5.1", "");
        assert_eq!(s.data.lock().jobs.len(), before);
        // Garbage ids never panic.
        s.emit("jobs.created", "nonsense", "");
        s.emit("jobs.created", "-ch", "");
        s.emit("jobs.created", "99999999999999999999999-ch", "");
        s.emit("programs.set", "x", "recorded-");
        s.emit("programs.set", "x", "recording-");
    }

    #[test]
    fn recording_lifecycle_synthesises_recording() {
        let s = shared();
        s.emit("jobs.created", "1800000000-ch9", "");
        s.emit("programs.set", "recording", "recording-1800000000-ch9");
        s.emit("programs.set", "recorded", "recorded-20001");
        let d = s.data.lock();
        assert!(!d.has_job("1800000000-ch9"));
        let rec = d.recording("20001").expect("recording synthesised");
        assert_eq!(rec["job_id"], "1800000000-ch9");
        assert_eq!(rec["completed"], true);
        assert_eq!(rec["processed"], true);
        assert!(d.next_file_id > 20001);
    }

    #[test]
    fn fixture_session_replay_leaves_consistent_state() {
        let s = shared();
        for line in include_str!("fixtures/events-session.jsonl").lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let f = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            s.emit(&f("Type"), &f("Name"), &f("Value"));
        }
        let d = s.data.lock();
        assert!(d.activity.is_empty());
        assert!(
            d.jobs.is_empty(),
            "both fixture jobs finished or were deleted"
        );
        assert_eq!(d.recordings.len(), 1, "12260 was already known");
    }

    #[test]
    fn framing() {
        let s = shared();
        assert_eq!(
            &s.hello()[..],
            b"{\"Type\":\"hello\",\"Name\":\"\",\"Value\":\"\"}\n"
        );
        let cfg = SimConfig {
            framing: Framing::Sse,
            ..SimConfig::default()
        };
        let s = Shared::new(([127, 0, 0, 1], 1).into(), cfg);
        assert_eq!(
            &s.hello()[..],
            b"data: {\"Type\":\"hello\",\"Name\":\"\",\"Value\":\"\"}\n\n"
        );
    }

    #[test]
    fn public_host_replaces_wildcards() {
        assert_eq!(public_host(([0, 0, 0, 0], 80).into()), "127.0.0.1:80");
        assert_eq!(
            public_host(SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), 81)),
            "[::1]:81"
        );
        assert_eq!(public_host(([10, 1, 2, 3], 82).into()), "10.1.2.3:82");
    }
}
