//! Scenario scripts: the background task that makes a simulated DVR look alive.
//!
//! Scripts are deterministic given the seed: the order and content of what they emit
//! depends only on `StdRng::seed_from_u64(seed)` and on simulated time, never on how
//! fast the machine is. (Wall-clock values — job ids `<unix>-ch<n>`, "until 7:00 PM" —
//! are the only exception, as on a real DVR.) All delays are in simulated seconds and
//! are divided by `time_scale`; every sleep ends early on shutdown.
//!
//! `family-evening` is a small discrete-event simulation: a few devices (viewers) and
//! a recorder each have a "due" time; a pacing loop wakes every 0.5–3 s and lets the
//! most overdue actor take one step. The other scenarios reuse it and add a second,
//! independent actor (stream dropper, garbage injector) with its own derived seed.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::fixtures::Job;
use super::state::Shared;
use super::{FailMode, Scenario};

/// Longest single real sleep; keeps `Instant` arithmetic far from overflow.
const MAX_REAL_SLEEP: f64 = 86_400.0 * 365.0;
/// Floor between two paced steps, so a huge time_scale cannot spin a core.
const MIN_REAL_GAP: Duration = Duration::from_millis(1);

/// The script task for one simulator; returns once shutdown is requested.
pub(crate) async fn run(shared: Arc<Shared>) {
    let ctx = Ctx::new(shared);
    let seed = ctx.shared.config.seed;
    let mut rng = StdRng::seed_from_u64(seed);
    match ctx.shared.config.scenario {
        Scenario::Quiet => ctx.shared.shutdown.cancelled().await,
        Scenario::FamilyEvening => {
            run_family(&ctx, &mut rng, None).await;
        }
        Scenario::DiskFilling => run_disk_filling(&ctx, &mut rng).await,
        Scenario::Flapping => {
            let mut flap_rng = StdRng::seed_from_u64(derive_seed(seed, 1));
            tokio::join!(
                run_family(&ctx, &mut rng, None),
                run_flapper(&ctx, &mut flap_rng)
            );
        }
        Scenario::Garbage => {
            let mut junk_rng = StdRng::seed_from_u64(derive_seed(seed, 2));
            tokio::join!(
                run_family(&ctx, &mut rng, None),
                run_garbage(&ctx, &mut junk_rng)
            );
        }
        Scenario::Stall => run_stall(&ctx, &mut rng).await,
    }
}

/// A second, independent stream of randomness for a concurrent actor.
fn derive_seed(seed: u64, salt: u64) -> u64 {
    seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Timing helpers shared by the scripts.
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    scale: f64,
    origin: Instant,
}

impl Ctx {
    pub fn new(shared: Arc<Shared>) -> Ctx {
        let s = shared.config.time_scale;
        let scale = if s.is_finite() && s > 0.0 { s } else { 1.0 };
        Ctx {
            shared,
            scale,
            origin: Instant::now(),
        }
    }

    /// Real duration of `sim_secs` simulated seconds (never panics on odd input).
    fn real(&self, sim_secs: f64) -> Duration {
        let secs = sim_secs / self.scale;
        if secs.is_finite() && secs > 0.0 {
            Duration::from_secs_f64(secs.min(MAX_REAL_SLEEP))
        } else {
            Duration::ZERO
        }
    }

    /// Sleeps `sim_secs` (scaled); false means shutdown was requested.
    async fn sleep(&self, sim_secs: f64) -> bool {
        let d = self.real(sim_secs).max(MIN_REAL_GAP);
        tokio::select! {
            _ = self.shared.shutdown.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    /// Sleeps until simulated time `t` (from the script's start); drift-free pacing.
    async fn sleep_until_sim(&self, t: f64) -> bool {
        let floor = Instant::now() + MIN_REAL_GAP;
        let target = self.origin.checked_add(self.real(t)).unwrap_or(floor);
        let deadline = target.max(floor);
        tokio::select! {
            _ = self.shared.shutdown.cancelled() => false,
            _ = tokio::time::sleep_until(deadline) => true,
        }
    }

    fn emit(&self, ty: &str, name: &str, value: &str) {
        self.shared.emit(ty, name, value);
    }
}

// ---------------------------------------------------------------------------------
// Family evening: viewers and a recorder.

/// A household device; an empty label means the DVR only knows its IP.
#[derive(Clone, Copy, Debug)]
struct Device {
    label: &'static str,
    ip: &'static str,
    vod: bool,
}

impl Device {
    /// "Living Room (192.168.1.50)", or just the IP for an unnamed client.
    fn described(&self) -> String {
        if self.label.is_empty() {
            self.ip.to_owned()
        } else {
            format!("{} ({})", self.label, self.ip)
        }
    }
}

/// What each household device's app tells the DVR about itself: (hostname, device
/// model, platform, app version).
const CLIENT_APPS: [(&str, &str, &str, &str); 5] = [
    ("Living Room", "AppleTV14,1", "tvOS", "2026.11.20"),
    ("Kitchen", "AFTKRT", "android", "2026.11.18"),
    ("Bedroom", "AppleTV11,1", "tvOS", "2026.11.20"),
    ("Office", "Mac14,2", "macOS", "2026.10.30"),
    ("Garage Fire TV", "AFTMM", "android", "2026.09.02"),
];

/// The `/dvr/clients/info` list: one entry per household device, seen `now`.
pub(crate) fn clients_info(now: i64) -> serde_json::Value {
    let list: Vec<serde_json::Value> = DEVICES
        .iter()
        .zip(CLIENT_APPS)
        .enumerate()
        .map(|(i, (dev, (hostname, device, platform, version)))| {
            serde_json::json!({
                "id": format!("client-{i:02}"),
                "hostname": hostname,
                "device": device,
                "platform": platform,
                "app_version": version,
                "app_build": version.replace('.', ""),
                "app_bundle": "com.getchannels.app",
                "machine_id": format!("machine-{i:02}"),
                "remote_ip": dev.ip,
                "connected": true,
                "seen_at": now * 1000,
                "seen_from": "local",
            })
        })
        .collect();
    serde_json::Value::Array(list)
}

const DEVICES: [Device; 5] = [
    Device {
        label: "Living Room",
        ip: "192.168.1.50",
        vod: false,
    },
    Device {
        label: "Kitchen",
        ip: "192.168.1.51",
        vod: false,
    },
    Device {
        label: "Bedroom",
        ip: "192.168.1.100",
        vod: true,
    },
    Device {
        label: "Office",
        ip: "fe80::1c2:3ff:fe44:5566",
        vod: false,
    },
    Device {
        label: "",
        ip: "192.168.1.77",
        vod: false,
    },
];

/// Over-the-air channels (fixture channels listed twice: they are watched more).
const OTA_CHANNELS: [(&str, &str); 10] = [
    ("7", "ABC"),
    ("9", "KCAL"),
    ("5.1", "KTLA"),
    ("7", "ABC"),
    ("9", "KCAL"),
    ("5.1", "KTLA"),
    ("13.1", "KCOP"),
    ("2.1", "KCBS"),
    ("4.1", "KNBC"),
    ("11.1", "KTTV"),
];
const TUNERS: [&str; 2] = ["10811DF5", "1053C0CA"];
const TVE_SOURCES: [&str; 3] = ["5_fox", "7_abc", "11_nbc"];
/// M3U sources: (source name, channel number, channel name).
const M3U_CHANNELS: [(&str, &str, &str); 3] = [
    ("Pluto", "6001", "Pluto TV News"),
    ("Pluto", "6002", "Pluto TV Crime"),
    ("Samsung", "6101", "Samsung TV Plus Movies"),
];
const RESOLUTIONS: [&str; 2] = ["1080i", "720p"];

/// Library files a viewer may play: (file id, title as shown, duration s).
const VOD_ITEMS: [(&str, &str, u64); 2] = [
    ("12345", "Crank: High Voltage (2009)", 6131),
    ("12260", "The Evening News", 3600),
];

/// Programmes the recorder schedules: (channel, channel name, title, summary, image).
const PROGRAMS: [(&str, &str, &str, &str, &str); 4] = [
    ("5.1", "KTLA", "The Evening News", "Local news.", "news.jpg"),
    (
        "7",
        "ABC",
        "World News Tonight",
        "National and international news.",
        "wnt.jpg",
    ),
    (
        "9",
        "KCAL",
        "KCAL News at 6",
        "Southern California news, weather and sports.",
        "kcal.jpg",
    ),
    (
        "13.1",
        "KCOP",
        "The Simpsons",
        "Homer's latest scheme backfires.",
        "simpsons.jpg",
    ),
];

fn pick<T: Copy, const N: usize>(rng: &mut StdRng, items: &[T; N]) -> T {
    items[rng.random_range(0..N)]
}

/// Playback position the way Channels prints it (Go duration style): `1h2m3s`,
/// `58m46s`, `12s`.
pub(crate) fn format_position(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// "7:00 PM" in the DVR's local time.
fn clock_text(unix: i64) -> String {
    match chrono::DateTime::from_timestamp(unix, 0) {
        Some(t) => t
            .with_timezone(&chrono::Local)
            .format("%-I:%M %p")
            .to_string(),
        None => "12:00 AM".to_owned(),
    }
}

enum ViewState {
    Idle,
    Live {
        name: String,
        value: String,
    },
    /// "Streaming …" shown before playback starts (no position yet).
    VodPreroll {
        name: String,
        item: (&'static str, &'static str, u64),
        pos: f64,
    },
    Vod {
        name: String,
        item: (&'static str, &'static str, u64),
        pos: f64,
        last: f64,
    },
}

struct Viewer {
    dev: Device,
    due: f64,
    state: ViewState,
}

const BUF_SUFFIX: &str = ": buf=0% drop=0%";

impl Viewer {
    fn vod_value(&self, title: &str, pos: f64) -> String {
        format!(
            "Watching {title} from {} at {}",
            self.dev.described(),
            format_position(pos.max(0.0) as u64)
        )
    }

    /// Tunes a live channel: picks a source, emits the start, returns the state.
    fn tune(&self, ctx: &Ctx, rng: &mut StdRng, session: &mut u32) -> ViewState {
        *session = *session % 9 + 1;
        let roll: f64 = rng.random();
        let (source, number, cname) = if roll < 0.6 {
            let (n, c) = pick(rng, &OTA_CHANNELS);
            (pick(rng, &TUNERS).to_owned(), n, c)
        } else if roll < 0.8 {
            let (n, c) = pick(rng, &OTA_CHANNELS);
            (format!("TVE-{}", pick(rng, &TVE_SOURCES)), n, c)
        } else {
            let (src, n, c) = pick(rng, &M3U_CHANNELS);
            (format!("M3U-{src}"), n, c)
        };
        let resolution = if rng.random_bool(0.35) {
            format!(" {}", pick(rng, &RESOLUTIONS))
        } else {
            String::new()
        };
        let name = format!("{session}-stream-{source}-{}", self.dev.ip);
        let value = format!(
            "Watching ch{number} {cname}{resolution} from {}",
            self.dev.described()
        );
        ctx.emit("activities.set", &name, &value);
        ViewState::Live { name, value }
    }

    fn step(&mut self, ctx: &Ctx, rng: &mut StdRng, now: f64, session: &mut u32) {
        let state = std::mem::replace(&mut self.state, ViewState::Idle);
        let (next, delay) = match state {
            ViewState::Idle => {
                if self.dev.vod && rng.random_bool(0.6) {
                    let item = pick(rng, &VOD_ITEMS);
                    let pos = if rng.random_bool(0.5) {
                        rng.random_range(0.0..0.75) * item.2 as f64
                    } else {
                        0.0
                    };
                    // Monitors recognise playback by the `6-file-` prefix (as upstream does).
                    let name = format!("6-file-{}-{}", item.0, self.dev.ip);
                    if rng.random_bool(0.3) {
                        let value = format!("Streaming {} from {}", item.1, self.dev.described());
                        ctx.emit("activities.set", &name, &value);
                        (
                            ViewState::VodPreroll { name, item, pos },
                            rng.random_range(2.0..5.0),
                        )
                    } else {
                        ctx.emit("activities.set", &name, &self.vod_value(item.1, pos));
                        (
                            ViewState::Vod {
                                name,
                                item,
                                pos,
                                last: now,
                            },
                            rng.random_range(5.0..15.0),
                        )
                    }
                } else {
                    (self.tune(ctx, rng, session), rng.random_range(3.0..10.0))
                }
            }
            ViewState::Live { name, value } => {
                let roll: f64 = rng.random();
                if roll < 0.55 {
                    // The DVR re-sends the activity with buffer statistics appended.
                    ctx.emit("activities.set", &name, &format!("{value}{BUF_SUFFIX}"));
                    (ViewState::Live { name, value }, rng.random_range(4.0..12.0))
                } else if roll < 0.8 {
                    // Channel switch: the old activity ends, a new one starts.
                    ctx.emit("activities.set", &name, "");
                    (self.tune(ctx, rng, session), rng.random_range(3.0..10.0))
                } else {
                    ctx.emit("activities.set", &name, "");
                    (ViewState::Idle, rng.random_range(8.0..30.0))
                }
            }
            ViewState::VodPreroll { name, item, pos } => {
                ctx.emit("activities.set", &name, &self.vod_value(item.1, pos));
                (
                    ViewState::Vod {
                        name,
                        item,
                        pos,
                        last: now,
                    },
                    rng.random_range(5.0..15.0),
                )
            }
            ViewState::Vod {
                name,
                item,
                pos,
                last,
            } => {
                let pos = pos + (now - last).max(0.0);
                if pos >= item.2 as f64 || rng.random_bool(0.12) {
                    ctx.emit("activities.set", &name, "");
                    (ViewState::Idle, rng.random_range(10.0..40.0))
                } else {
                    ctx.emit("activities.set", &name, &self.vod_value(item.1, pos));
                    (
                        ViewState::Vod {
                            name,
                            item,
                            pos,
                            last: now,
                        },
                        rng.random_range(5.0..15.0),
                    )
                }
            }
        };
        self.state = next;
        self.due = now + delay;
    }
}

enum RecState {
    Idle,
    /// Job created; `cancel` means it will be deleted before it starts.
    Scheduled {
        job: Job,
        cname: &'static str,
        cancel: bool,
    },
    Starting {
        job: Job,
        cname: &'static str,
    },
    Recording {
        job: Job,
        name: String,
        value: String,
        end: f64,
    },
    Finishing {
        job: Job,
    },
}

struct Recorder {
    due: f64,
    state: RecState,
}

impl Recorder {
    fn step(&mut self, ctx: &Ctx, rng: &mut StdRng, now: f64) {
        let state = std::mem::replace(&mut self.state, RecState::Idle);
        let (next, due) = match state {
            RecState::Idle => {
                let (number, cname, title, summary, image) = pick(rng, &PROGRAMS);
                let lead: f64 = rng.random_range(60.0..240.0);
                let length: i64 = rng.random_range(120..=420);
                let unix = chrono::Utc::now().timestamp();
                let mut start = unix.saturating_add(lead as i64);
                let mut id = format!("{start}-ch{number}");
                while ctx.shared.data.lock().has_job(&id) {
                    start = start.saturating_add(60);
                    id = format!("{start}-ch{number}");
                }
                let job = Job {
                    id,
                    name: title.to_owned(),
                    start_time: start,
                    duration: length,
                    channels: vec![number.to_owned()],
                    summary: summary.to_owned(),
                    image_url: format!(
                        "http://{}/dvr/uploads/{image}",
                        ctx.shared.fixtures.public_host
                    ),
                };
                // Richer than what `emit` would synthesise, so store it first.
                ctx.shared.data.lock().add_job(job.clone());
                ctx.emit("jobs.created", &job.id, "");
                if rng.random_bool(0.2) {
                    let wait = rng.random_range(5.0..30.0);
                    (
                        RecState::Scheduled {
                            job,
                            cname,
                            cancel: true,
                        },
                        now + wait,
                    )
                } else {
                    (
                        RecState::Scheduled {
                            job,
                            cname,
                            cancel: false,
                        },
                        now + lead,
                    )
                }
            }
            RecState::Scheduled {
                job, cancel: true, ..
            } => {
                ctx.emit("jobs.deleted", &job.id, "");
                (RecState::Idle, now + rng.random_range(30.0..90.0))
            }
            RecState::Scheduled {
                job,
                cname,
                cancel: false,
            } => {
                ctx.emit(
                    "programs.set",
                    "recording",
                    &format!("recording-{}", job.id),
                );
                (RecState::Starting { job, cname }, now)
            }
            RecState::Starting { job, cname } => {
                let tuner = pick(rng, &TUNERS);
                let name = format!("1-stream-{tuner}-recording");
                let channel = job.channels.first().cloned().unwrap_or_default();
                let until = clock_text(job.start_time.saturating_add(job.duration));
                let value = format!(
                    "Recording ch{channel} {cname} for {} until {until}{BUF_SUFFIX}",
                    job.name
                );
                ctx.emit("activities.set", &name, &value);
                let end = now + job.duration as f64;
                let next = (now + rng.random_range(10.0..30.0)).min(end);
                (
                    RecState::Recording {
                        job,
                        name,
                        value,
                        end,
                    },
                    next,
                )
            }
            RecState::Recording {
                job,
                name,
                value,
                end,
            } => {
                if now >= end {
                    ctx.emit("activities.set", &name, "");
                    (RecState::Finishing { job }, now)
                } else {
                    ctx.emit("activities.set", &name, &value);
                    let next = (now + rng.random_range(10.0..30.0)).min(end);
                    (
                        RecState::Recording {
                            job,
                            name,
                            value,
                            end,
                        },
                        next,
                    )
                }
            }
            RecState::Finishing { job } => {
                let file_id = {
                    let mut d = ctx.shared.data.lock();
                    let file_id = d.alloc_file_id();
                    d.insert_recording(&file_id, &job);
                    file_id
                };
                // Applying `recorded-<id>` also retires the job, as a real DVR does.
                ctx.emit("programs.set", "recorded", &format!("recorded-{file_id}"));
                (RecState::Idle, now + rng.random_range(30.0..120.0))
            }
        };
        self.state = next;
        self.due = due;
    }
}

/// The household: every actor plus the session counter for activity names.
pub(crate) struct Family {
    viewers: Vec<Viewer>,
    recorder: Recorder,
    session: u32,
}

impl Family {
    pub fn new(rng: &mut StdRng) -> Family {
        let viewers = DEVICES
            .iter()
            .enumerate()
            .map(|(i, dev)| Viewer {
                dev: *dev,
                // The living room is on at once; the others join over the first minute.
                due: if i == 0 {
                    0.0
                } else {
                    rng.random_range(2.0..60.0)
                },
                state: ViewState::Idle,
            })
            .collect();
        Family {
            viewers,
            recorder: Recorder {
                due: rng.random_range(10.0..40.0),
                state: RecState::Idle,
            },
            session: 0,
        }
    }

    /// One paced step at simulated time `now`: the most overdue actor acts. If none is
    /// due, the next viewer is pulled forward so the stream keeps its pace; the
    /// recorder is never hurried (its times are real schedule times).
    pub fn tick(&mut self, ctx: &Ctx, rng: &mut StdRng, now: f64) {
        let mut best: Option<(usize, f64)> = None;
        for (i, v) in self.viewers.iter().enumerate() {
            if best.is_none_or(|(_, due)| v.due < due) {
                best = Some((i, v.due));
            }
        }
        let recorder_first =
            self.recorder.due <= now && best.is_none_or(|(_, due)| self.recorder.due <= due);
        if recorder_first {
            self.recorder.step(ctx, rng, now);
        } else if let Some((i, _)) = best {
            if let Some(v) = self.viewers.get_mut(i) {
                v.step(ctx, rng, now, &mut self.session);
            }
        }
    }
}

/// Runs the household; with `max_steps`, stops after that many paced steps.
async fn run_family(ctx: &Ctx, rng: &mut StdRng, max_steps: Option<usize>) {
    let mut family = Family::new(rng);
    let mut now = 0.0_f64;
    let mut steps = 0usize;
    loop {
        if max_steps.is_some_and(|max| steps >= max) {
            return;
        }
        now += rng.random_range(0.5..3.0);
        if !ctx.sleep_until_sim(now).await {
            return;
        }
        family.tick(ctx, rng, now);
        steps += 1;
    }
}

// ---------------------------------------------------------------------------------
// Flapping: connections dropped every few seconds, sometimes refused for a moment.

async fn run_flapper(ctx: &Ctx, rng: &mut StdRng) {
    loop {
        if !ctx.sleep(rng.random_range(2.0..8.0)).await {
            return;
        }
        ctx.shared.drop_streams();
        if rng.random_bool(0.4) {
            let mode = if rng.random_bool(0.5) {
                FailMode::Status(500)
            } else {
                FailMode::TooManyRequests {
                    retry_after_secs: 1,
                }
            };
            ctx.shared.set_fail_mode(mode);
            let alive = ctx.sleep(rng.random_range(1.0..3.0)).await;
            ctx.shared.set_fail_mode(FailMode::None);
            if !alive {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Disk filling: free space shrinks through warning and critical, holds, recovers.

const GIB: u64 = 1 << 30;
const DISK_STEP_SECS: f64 = 5.0;

async fn run_disk_filling(ctx: &Ctx, rng: &mut StdRng) {
    let (base_free, total) = (
        ctx.shared.fixtures.disk_free,
        ctx.shared.fixtures.disk_total,
    );
    // Near-full: 1 % of the disk (below both critical thresholds on the fixture disk),
    // never above the starting figure.
    let near_full = (total / 100).max(2 * GIB);
    let floor = near_full.min(base_free);
    loop {
        // Start each cycle from the captured figure.
        let mut free = base_free;
        ctx.shared.set_disk(free, total);
        if !ctx.sleep(DISK_STEP_SECS).await {
            return;
        }
        // Shrink 3–5 GiB per step: through warning (<10 % / 50 GiB) into critical.
        while free > floor {
            let step = GIB * rng.random_range(3..=5);
            free = free.saturating_sub(step).max(floor);
            ctx.shared.set_disk(free, total);
            if !ctx.sleep(DISK_STEP_SECS).await {
                return;
            }
        }
        // Hold near-full, wobbling a little as recordings come and go.
        for _ in 0..12 {
            let wobble = rng.random_range(0..=GIB / 2);
            ctx.shared
                .set_disk(floor.saturating_add(wobble).min(total), total);
            if !ctx.sleep(DISK_STEP_SECS).await {
                return;
            }
        }
        // Someone deletes old recordings: back to normal in four steps.
        let quarter = base_free.saturating_sub(floor) / 4;
        for i in 1..=4u64 {
            let free = if i == 4 {
                base_free
            } else {
                floor.saturating_add(quarter.saturating_mul(i))
            };
            ctx.shared.set_disk(free, total);
            if !ctx.sleep(DISK_STEP_SECS).await {
                return;
            }
        }
        // A calm spell before the next cycle.
        for _ in 0..6 {
            if !ctx.sleep(DISK_STEP_SECS).await {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Garbage: malformed lines between good events.

/// Just over the 1 MiB line cap monitors apply.
const HUGE_LINE_BYTES: usize = 1024 * 1024 + 512 * 1024;
const GARBAGE_KINDS: usize = 22;

fn garbage_line(kind: usize, ctx: &Ctx, rng: &mut StdRng) -> String {
    match kind {
        0 => "not json at all".to_owned(),
        1 => r#"{"Type":"activities.set","Name":"7-stream-10811DF5-192.168.1.50","Val"#.to_owned(),
        2 => r#"{"Type":"activities.set" "Name":"missing-comma","Value":""}"#.to_owned(),
        3 => "[1,2,3]".to_owned(),
        4 => "42".to_owned(),
        5 => r#"{"Name":"7-stream-10811DF5-192.168.1.50","Value":"no type"}"#.to_owned(),
        6 => r#"{"Type":7,"Name":"x","Value":"y"}"#.to_owned(),
        7 => r#"{"Type":"activities.set","Name":null,"Value":["a","b"]}"#.to_owned(),
        8 => r#""just a string""#.to_owned(),
        9 => "null".to_owned(),
        10 => {
            "\u{FFFD}\u{FFFD}\u{0}\u{1}\u{7}\u{1b}[31m\u{7f} control \t chars \u{FFFD}".to_owned()
        }
        11 => ": ping".to_owned(),
        12 => "event: foo".to_owned(),
        13 => "id: 7".to_owned(),
        14 => "data:".to_owned(),
        15 => {
            // A valid event in SSE framing: re-sends a current activity unchanged, so
            // clients that accept `data:` lines stay consistent with `/dvr`.
            let current = {
                let d = ctx.shared.data.lock();
                let n = d.activity.len();
                if n == 0 {
                    None
                } else {
                    d.activity
                        .iter()
                        .nth(rng.random_range(0..n))
                        .map(|(k, v)| (k.clone(), v.clone()))
                }
            };
            let (name, value) = current.unwrap_or_default();
            let frame = ctx.shared.frame_event(
                if name.is_empty() {
                    "programs.set"
                } else {
                    "activities.set"
                },
                &name,
                &value,
            );
            let json = String::from_utf8_lossy(&frame);
            let json = json.trim_start_matches("data: ").trim_end();
            format!("data: {json}")
        }
        16 => r#"{"Type":"x.unknown","Name":"n","Value":"v","Extra":{"a":[1,2,{"b":null}]}}"#
            .to_owned(),
        17 => "   ".to_owned(),
        18 => String::new(),
        19 => format!("{}{}", "[".repeat(600), "]".repeat(600)),
        20 => r#"{"Type":"activities.set","Name":1e999,"Value":""}"#.to_owned(),
        _ => r#"{"Type":"activities.set","Name":"\ud800","Value":"lone surrogate"}"#.to_owned(),
    }
}

fn huge_line() -> String {
    let prefix = r#"{"Type":"activities.set","Name":"huge-line","Value":""#;
    let suffix = r#""}"#;
    let mut s = String::with_capacity(HUGE_LINE_BYTES + prefix.len() + suffix.len());
    s.push_str(prefix);
    s.extend(std::iter::repeat_n('A', HUGE_LINE_BYTES));
    s.push_str(suffix);
    s
}

async fn run_garbage(ctx: &Ctx, rng: &mut StdRng) {
    let huge = huge_line();
    let mut kinds: Vec<usize> = (0..GARBAGE_KINDS).collect();
    loop {
        kinds.shuffle(rng);
        for &kind in &kinds {
            if !ctx.sleep(rng.random_range(1.0..4.0)).await {
                return;
            }
            let line = garbage_line(kind, ctx, rng);
            ctx.shared.emit_raw(&line);
        }
        // Rarely: one line over the monitors' 1 MiB cap.
        if !ctx.sleep(rng.random_range(1.0..4.0)).await {
            return;
        }
        ctx.shared.emit_raw(&huge);
    }
}

// ---------------------------------------------------------------------------------
// Stall: a few events for the first client, then silence with the socket open.

async fn run_stall(ctx: &Ctx, rng: &mut StdRng) {
    // Wait for a client, so the few live events are actually seen by someone.
    let mut open = ctx.shared.open.subscribe();
    loop {
        let n = *open.borrow_and_update();
        if n > 0 {
            break;
        }
        tokio::select! {
            _ = ctx.shared.shutdown.cancelled() => return,
            changed = open.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
    let steps = rng.random_range(3..=5);
    run_family(ctx, rng, Some(steps)).await;
    // Let the last event reach the wire before going silent.
    if !ctx.sleep(1.0).await {
        return;
    }
    ctx.shared.set_stall(true);
    ctx.shared.shutdown.cancelled().await;
}

/// Scripted activity without a server or real time, for the monitor's own tests.
#[cfg(feature = "testing")]
pub mod testing {
    use std::sync::Arc;

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::{Ctx, Family};
    use crate::state::Shared;
    use crate::{Scenario, SimConfig};

    /// What `steps` of the family-evening script sent, and what it left playing.
    pub struct FamilyRun {
        /// Every event-stream line, in order.
        pub lines: Vec<String>,
        /// Entries in the DVR's activity map at the end (what `/dvr` reports).
        pub activity: usize,
    }

    /// Runs `steps` family-evening steps from `seed`, as fast as they compute.
    pub fn family_run(seed: u64, steps: usize) -> FamilyRun {
        let cfg = SimConfig {
            scenario: Scenario::FamilyEvening,
            seed,
            ..SimConfig::default()
        };
        let ctx = Ctx::new(Arc::new(Shared::new(([127, 0, 0, 1], 8089).into(), cfg)));
        let mut rx = ctx.shared.subscribe();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut family = Family::new(&mut rng);
        let mut now = 0.0;
        let mut lines = Vec::new();
        for _ in 0..steps {
            now += rng.random_range(0.5..3.0);
            family.tick(&ctx, &mut rng, now);
            while let Ok(bytes) = rx.try_recv() {
                lines.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        let activity = ctx.shared.data.lock().activity.len();
        FamilyRun { lines, activity }
    }
}

#[cfg(test)]
mod tests {
    use super::super::SimConfig;
    use super::*;
    use serde_json::Value;

    fn ctx(seed: u64) -> Ctx {
        let cfg = SimConfig {
            scenario: Scenario::FamilyEvening,
            seed,
            ..SimConfig::default()
        };
        Ctx::new(Arc::new(Shared::new(([127, 0, 0, 1], 8089).into(), cfg)))
    }

    /// Runs `n` family steps without real time and returns the emitted lines.
    fn family_lines(seed: u64, n: usize) -> Vec<Value> {
        let ctx = ctx(seed);
        let mut rx = ctx.shared.subscribe();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut family = Family::new(&mut rng);
        let mut now = 0.0;
        let mut out = Vec::new();
        for _ in 0..n {
            now += rng.random_range(0.5..3.0);
            family.tick(&ctx, &mut rng, now);
            while let Ok(bytes) = rx.try_recv() {
                let v: Value = serde_json::from_slice(&bytes).expect("family emits JSON lines");
                out.push(v);
            }
        }
        out
    }

    #[test]
    fn position_format_matches_channels() {
        assert_eq!(format_position(4542), "1h15m42s");
        assert_eq!(format_position(3723), "1h2m3s");
        assert_eq!(format_position(3526), "58m46s");
        assert_eq!(format_position(12), "12s");
        assert_eq!(format_position(3600), "1h0m0s");
    }

    #[test]
    fn family_is_deterministic_for_a_seed() {
        let strip = |v: &Value| {
            let ty = v["Type"].as_str().unwrap_or_default().to_owned();
            // Job ids carry the wall clock; compare the rest.
            let name = if ty.starts_with("jobs.") || ty == "programs.set" {
                String::new()
            } else {
                v["Name"].as_str().unwrap_or_default().to_owned()
            };
            (ty, name)
        };
        let a: Vec<_> = family_lines(42, 400).iter().map(strip).collect();
        let b: Vec<_> = family_lines(42, 400).iter().map(strip).collect();
        let c: Vec<_> = family_lines(43, 400).iter().map(strip).collect();
        assert!(a.len() >= 300, "nearly one event per step, got {}", a.len());
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn family_covers_the_event_shapes() {
        let lines = family_lines(7, 20_000);
        let has = |pred: &dyn Fn(&Value) -> bool| lines.iter().any(pred);
        let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
        assert!(has(&|v| s(v, "Type") == "jobs.created"));
        assert!(has(&|v| s(v, "Type") == "jobs.deleted"));
        assert!(has(&|v| s(v, "Value").starts_with("recording-")));
        assert!(has(&|v| s(v, "Value").starts_with("recorded-")));
        assert!(has(&|v| s(v, "Value").starts_with("Recording ch")));
        assert!(has(&|v| s(v, "Value").ends_with(BUF_SUFFIX)));
        assert!(has(
            &|v| s(v, "Name").contains("-file-") && s(v, "Value").contains(" at ")
        ));
        assert!(has(&|v| s(v, "Value").starts_with("Streaming ")));
        assert!(has(&|v| s(v, "Name").contains("-stream-TVE-")));
        assert!(has(&|v| s(v, "Name").contains("-stream-M3U-")));
        assert!(has(&|v| s(v, "Value").contains("(fe80::1c2:3ff:fe44:5566)")));
        assert!(has(
            &|v| s(v, "Type") == "activities.set" && s(v, "Value").is_empty()
        ));
        // Every started activity name is well-formed `<n>-<kind>-…`.
        for v in &lines {
            if s(v, "Type") == "activities.set" {
                let name = s(v, "Name");
                assert!(
                    name.contains("-stream-") || name.contains("-file-"),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn family_recordings_become_fetchable() {
        let ctx = ctx(11);
        let mut rng = StdRng::seed_from_u64(11);
        let mut family = Family::new(&mut rng);
        let mut rx = ctx.shared.subscribe();
        let mut now = 0.0;
        let mut recorded = Vec::new();
        for _ in 0..3000 {
            now += rng.random_range(0.5..3.0);
            family.tick(&ctx, &mut rng, now);
            while let Ok(bytes) = rx.try_recv() {
                let v: Value = serde_json::from_slice(&bytes).expect("JSON line");
                if let Some(id) = v["Value"]
                    .as_str()
                    .and_then(|s| s.strip_prefix("recorded-"))
                {
                    recorded.push(id.to_owned());
                }
            }
        }
        assert!(!recorded.is_empty());
        let d = ctx.shared.data.lock();
        for id in recorded {
            let rec = d
                .recordings
                .iter()
                .find(|r| r["id"].as_str() == Some(id.as_str()))
                .expect("recorded file is in /api/v1/recordings");
            assert_eq!(rec["completed"], true);
            assert!(rec["job_id"].as_str().is_some_and(|j| j.contains("-ch")));
        }
    }

    #[test]
    fn garbage_lines_are_single_lines() {
        let ctx = ctx(3);
        let mut rng = StdRng::seed_from_u64(3);
        ctx.shared.emit(
            "activities.set",
            "a-stream-x-1.2.3.4",
            "Watching ch7 ABC from X",
        );
        for kind in 0..GARBAGE_KINDS + 2 {
            let line = garbage_line(kind, &ctx, &mut rng);
            assert!(!line.contains('\n'), "kind {kind} must stay one line");
        }
        let data = garbage_line(15, &ctx, &mut rng);
        let json = data.strip_prefix("data: ").expect("data line");
        assert!(serde_json::from_str::<Value>(json).is_ok(), "{data}");
        assert!(huge_line().len() > 1024 * 1024);
    }
}
