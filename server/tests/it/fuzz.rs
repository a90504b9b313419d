//! Fuzz-style property tests: every parser that reads outside input is fed random bytes
//! and structured near-misses, and must return (a value or an error), never panic.
//!
//! Covered, by the input's origin:
//! - the DVR's event stream: `domain::dvr::framing::LineSplitter` on arbitrary byte chunks, then
//!   `parse_line` and `domain::session::DvrState::apply` (and `resync`), as
//!   the engine task runs them, with the state's caps as invariants;
//! - the DVR's JSON answers: `/status`, `/dvr` (disk levels, the disk alert rule, the
//!   activity map through `resync`), `/api/v1/recordings/{id}`, and the enrichment
//!   parsers (channels, guide, library item, jobs, recording outcome);
//! - Apprise URLs (`notify::providers::from_apprise_url`) and provider fields (`ProviderConfig::from_fields`,
//!   `config_from_body`, `validate`, masking, the URL and address checks);
//! - the YAML file (`config::read_file`, `declared::resolve` inside it, `line_of`,
//!   `interpolate`, `merged_alerts`), the environment (`Config::load`,
//!   `CHANNELS_DVR_SERVERS`, `CHANNELWATCH_TRUSTED_PROXIES`) and DVR hosts;
//! - backup files (`backup::parse`, then the checks `import` makes before writing);
//! - `Retry-After` (`domain::backoff::parse_retry_after`, `secs_f64`) and the backoff;
//! - user templates (syntax check, the sample render, the default texts on any vars),
//!   forwarding headers from proxies (`http::forwarded`), and the texts cut for logs
//!   (`domain::text::clip`, `outside_text`, `bundle::redact`).
//!
//! Provider answers (status, headers, body) are judged by private code: their properties
//! are in `notify/send.rs`'s tests. Case counts are kept small enough for the whole file
//! to stay fast in a debug build.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use channelwatch::backup;
use channelwatch::bundle::redact;
use channelwatch::config::declared::{interpolate, line_of};
use channelwatch::config::net::TrustedProxies;
use channelwatch::config::{parse_dvr_servers, read_file, Config, Flags};
use channelwatch::http::forwarded::{all_forwarded_hosts, Client};
use channelwatch::notify::providers::{config_from_body, is_apprise_url};
use channelwatch::registry::{record_from, validate_host, NewDvr};
use domain::alerts::disk::{DiskAlertOptions, DiskRule};
use domain::alerts::facts::{
    parse_channels, parse_guide, parse_jobs, parse_library_item, parse_recording,
};
use domain::alerts::kind::{AlertKind, Category};
use domain::alerts::settings::AlertRules;
use domain::alerts::settings::{AlertSettings, Template};
use domain::alerts::template;
use domain::backoff::{parse_retry_after, secs_f64, Backoff};
use domain::disk::ThresholdRules;
use domain::disk::{DiskSample, DiskThresholds};
use domain::dvr::event::{parse_line, parse_position, Line};
use domain::dvr::framing::{Frame, LineSplitter};
use domain::dvr::id::{base_url, dvr_id, normalize_host};

use domain::notify::checks::{check_destination_host, check_url, is_forbidden_ip, is_public_url};
use domain::notify::providers::*;
use domain::notify::secrets::{mask_url, MASK};
use domain::session::{Change, DvrState, MAX_ACTIVITIES, MAX_JOBS};
use domain::settings::merged_alerts;
use domain::text::{clip, outside_text};
use engine::dvr::client::{DvrInfo, DvrStatus, RecordingInfo};
use storage::dvrs::ManagedBy;
use storage::Db;

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// Up to 4 KiB of anything.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..4096)
}

/// Text as a reader of `bytes` would see it (invalid UTF-8 replaced).
fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Text made of up to `max` tokens of `alphabet`, more likely than random text to reach
/// past a parser's first checks.
fn tokens(alphabet: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(alphabet), 0..max).prop_map(|parts| parts.concat())
}

/// Any string, control characters included.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(|c| c.into_iter().collect::<String>())
}

/// Numbers as text, at and past the edges of every integer type.
const NUMERIC: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "1.5",
    "1e400",
    "-1e400",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "8210298412799",
    "NaN",
    "inf",
    " 7 ",
    "",
];

/// A JSON object key: mostly one the parsers look for.
fn key(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(keys).prop_map(|k| k.to_string()),
        1 => "[a-zA-Z_]{0,6}",
    ]
}

/// Any JSON value, nested a few levels, with object keys (and some strings) taken from
/// `keys` so the documents reach past the first lookup.
fn json(keys: &'static [&'static str]) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::num::f64::ANY.prop_map(Value::from),
        prop::sample::select(NUMERIC).prop_map(|s| Value::String(s.to_string())),
        prop::sample::select(keys).prop_map(|s| Value::String(s.to_string())),
        "\\PC{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(keys), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
    .boxed()
}

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).expect("in range")
}

// ---------------------------------------------------------------------------------------
// The event stream: framing, lines, state
// ---------------------------------------------------------------------------------------

const EVENT_TYPES: &[&str] = &[
    "activities.set",
    "activities.set",
    "programs.set",
    "jobs.created",
    "jobs.deleted",
    "hello",
    "devices.set",
    "",
];

/// Pieces of real activity names (VOD, live streams, tuners, TVE, M3U, addresses).
const NAME_TOKENS: &[&str] = &[
    "6-file-",
    "7-file",
    "7-",
    "1-stream-",
    "stream",
    "-",
    "-",
    "TVE",
    "M3U",
    "10811DF5",
    "192.168.1.5",
    "::1",
    "fe80::1",
    "file",
    "12345",
    "recording",
    "_",
    "fox_east",
    "x",
    "é",
];

/// Pieces of real activity values ("Watching ch7 ABC from Den (10.0.0.5): buf=0%").
const VALUE_TOKENS: &[&str] = &[
    "Watching ",
    "Streaming ",
    "Recording ",
    "Recording",
    "ch",
    "channel ",
    "7",
    "13.1",
    ".",
    " ",
    " ",
    "from ",
    " from ",
    "(",
    ")",
    " (",
    "192.168.1.50",
    "::1",
    ": ",
    ":",
    "buf=0%",
    "=",
    " at ",
    "1h",
    "2m",
    "3s",
    "1080i",
    "720p",
    " for ",
    " until ",
    "7:00 PM",
    "recording-",
    "recorded-",
    "ABC",
    "é",
    "٣",
    "🎬",
    "\t",
    "99999999999999999999",
    "h",
    "m",
    "s",
];

/// One event line, as a Channels DVR or a proxy would send it (or nearly).
fn event_line() -> impl Strategy<Value = String> {
    (
        prop::sample::select(EVENT_TYPES),
        tokens(NAME_TOKENS, 6),
        tokens(VALUE_TOKENS, 14),
        0u8..4,
        0u8..3,
    )
        .prop_map(|(ty, name, value, shape, framing)| {
            let obj = match shape {
                0 => json!({"Type": ty, "Name": name, "Value": value}),
                1 => json!({"type": ty, "name": name, "value": value, "ID": name}),
                2 => json!({"Type": ty, "Name": null, "Value": value, "Extra": [1, {"a": null}]}),
                _ => json!({"Type": ty, "ID": name, "Value": value}),
            };
            match framing {
                0 => obj.to_string(),
                1 => format!("data: {obj}"),
                _ => format!("\u{feff} data:{obj}\r"),
            }
        })
}

/// Pieces of a playback position (`1h15m42s`, `1:02:03`, `58m46s: buf=0%`).
const POSITION_TOKENS: &[&str] = &[
    "1",
    "0",
    "9",
    "h",
    "m",
    "s",
    ":",
    "99999999999999999999",
    " ",
    "=",
    ": ",
    "buf=0%",
    "-",
    "+",
];

/// What `DvrState` promises whatever it is fed.
fn caps(st: &DvrState, changes: Option<&[Change]>) -> Result<(), TestCaseError> {
    prop_assert!(st.stream_count() <= MAX_ACTIVITIES);
    prop_assert!(st.session_count() <= st.stream_count());
    prop_assert!(st.recordings().count() + st.scheduled_jobs().count() <= MAX_JOBS);
    // One apply reports the stream count it leaves.
    for c in changes.unwrap_or_default() {
        if let Change::StreamCount { count } = c {
            prop_assert_eq!(*count, st.stream_count());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every newline ends exactly one frame; a kept line is never longer than the cap
    /// (in characters: invalid bytes become U+FFFD), a dropped one always is.
    #[test]
    fn framing_one_frame_per_newline_within_the_cap(
        chunks in prop::collection::vec(
            prop::collection::vec(
                prop_oneof![6 => any::<u8>(), 1 => Just(b'\n'), 1 => Just(b'\r')],
                0..512,
            ),
            0..16,
        ),
        max in 1usize..300,
    ) {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in &chunks {
            s.push(c, &mut out);
            prop_assert!(s.pending() <= max);
        }
        let newlines = chunks.iter().flatten().filter(|&&b| b == b'\n').count();
        prop_assert_eq!(out.len(), newlines);
        for f in &out {
            match f {
                Frame::Line(text) => prop_assert!(text.chars().count() <= max, "{text:?}"),
                Frame::Oversized(n) => prop_assert!(*n > max, "{n} <= {max}"),
            }
        }
    }

    /// On valid UTF-8, however it is chunked (even inside a character), the frames are
    /// exactly the text's lines: `\r` stripped, over-long ones reported by length.
    #[test]
    fn framing_matches_a_line_model(
        pieces in prop::collection::vec(
            prop_oneof![
                4 => "\\PC{0,40}",
                1 => Just("\n".to_string()),
                1 => Just("\r\n".to_string()),
            ],
            0..40,
        ),
        cuts in prop::collection::vec(0usize..4096, 0..8),
        max in 1usize..120,
    ) {
        let text = pieces.concat();
        let data = text.as_bytes();
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        points.sort_unstable();
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        let mut last = 0;
        for p in points {
            s.push(&data[last..p], &mut out);
            last = p;
        }
        s.push(&data[last..], &mut out);
        let lines: Vec<&str> = text.split('\n').collect();
        let expected: Vec<Frame> = lines[..lines.len() - 1]
            .iter()
            .map(|l| {
                if l.len() > max {
                    Frame::Oversized(l.len())
                } else {
                    Frame::Line(l.strip_suffix('\r').unwrap_or(l).to_string())
                }
            })
            .collect();
        prop_assert_eq!(out, expected);
    }

    /// The default (1 MiB) splitter and the line parser on arbitrary bytes.
    #[test]
    fn event_lines_from_arbitrary_bytes(data in bytes()) {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        s.push(&data, &mut out);
        s.push(b"\n", &mut out);
        let mut st = DvrState::new();
        for f in out {
            if let Frame::Line(l) = f {
                if let Ok(Line::Event(ev)) = parse_line(&l) {
                    let _ = ev.kind();
                    let changes = st.apply(&ev, at(0));
                    caps(&st, Some(changes.as_slice()))?;
                }
            }
        }
        let _ = parse_line(&lossy(&data));
    }

    /// Playback positions, as the activity text carries them.
    #[test]
    fn positions_parse_or_not(s in prop_oneof![tokens(POSITION_TOKENS, 12), "\\PC{0,24}"]) {
        let _ = parse_position(&s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Bytes as the engine task reads them: event lines (and garbage) cut into chunks
    /// anywhere, split into frames, parsed, applied; then a resync from a `/dvr` answer.
    #[test]
    fn event_stream_through_framing_parsing_and_state(
        lines in prop::collection::vec(
            prop_oneof![4 => event_line(), 1 => "\\PC{0,80}"],
            0..48,
        ),
        crlf in any::<bool>(),
        cuts in prop::collection::vec(0usize..16_384, 0..8),
        step in 0i64..100_000,
        activity in prop::collection::btree_map(
            tokens(NAME_TOKENS, 5),
            tokens(VALUE_TOKENS, 10),
            0..8,
        ),
    ) {
        let sep = if crlf { "\r\n" } else { "\n" };
        let mut stream = lines.join(sep);
        stream.push_str(sep);
        let data = stream.as_bytes();
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        points.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&data[last..p]);
            last = p;
        }
        chunks.push(&data[last..]);

        let mut splitter = LineSplitter::new(1024);
        let mut st = DvrState::new();
        let mut now = at(0);
        for chunk in chunks {
            let mut frames = Vec::new();
            splitter.push(chunk, &mut frames);
            for f in frames {
                let Frame::Line(l) = f else { continue };
                match parse_line(&l) {
                    Ok(Line::Event(ev)) => {
                        let changes = st.apply(&ev, now);
                        caps(&st, Some(changes.as_slice()))?;
                    }
                    Ok(Line::Skip) => {}
                    Err(e) => {
                        let _ = e.to_string();
                    }
                }
                now += chrono::TimeDelta::seconds(step);
            }
        }
        let _ = st.sole_recording();
        let _ = st.resync(&activity, now);
        caps(&st, None)?;
        // Everything the DVR no longer lists has ended.
        let _ = st.resync(&BTreeMap::new(), now);
        prop_assert_eq!(st.stream_count(), 0);
        caps(&st, None)?;
    }
}

// ---------------------------------------------------------------------------------------
// The DVR's JSON answers
// ---------------------------------------------------------------------------------------

/// Keys of the enrichment endpoints (channels, guide, library, jobs, recordings).
const ENRICH_KEYS: &[&str] = &[
    "number",
    "Number",
    "name",
    "Name",
    "logo_url",
    "image_url",
    "image",
    "Image",
    "ImageURL",
    "Channel",
    "Airings",
    "Title",
    "title",
    "Summary",
    "summary",
    "Time",
    "start_time",
    "Duration",
    "duration",
    "id",
    "ID",
    "episode_title",
    "EpisodeTitle",
    "content_rating",
    "ContentRating",
    "genres",
    "Genres",
    "cast",
    "Cast",
    "year",
    "Year",
    "item",
    "Item",
    "channels",
    "Channels",
    "channel",
    "completed",
    "processed",
    "cancelled",
    "failed",
    "dead",
    "error",
    "skipped",
    "delayed",
    "job",
    "true",
    "TRUE",
    "12345",
];

/// Keys of `/status`, `/dvr` and `/api/v1/recordings/{id}`.
const DVR_KEYS: &[&str] = &[
    "path",
    "disk",
    "free",
    "total",
    "used",
    "activity",
    "name",
    "version",
    "start_time",
    "job_id",
    "title",
];

const LIBRARY_IDS: &[&str] = &["12345", "", " 12345 ", "nope", "é"];

/// A `/dvr` answer: disk figures and an activity map made of real-looking pieces, with
/// random keys laid over it.
fn dvr_answer() -> impl Strategy<Value = Value> {
    (
        prop::option::of((any::<u64>(), any::<u64>(), prop::option::of(any::<u64>()))),
        prop::collection::btree_map(tokens(NAME_TOKENS, 5), tokens(VALUE_TOKENS, 10), 0..6),
        json(DVR_KEYS),
    )
        .prop_map(|(disk, activity, extra)| {
            let mut v = json!({"path": "/shares/DVR", "activity": activity});
            if let Some((free, total, used)) = disk {
                let mut d = json!({"free": free, "total": total});
                if let Some(u) = used {
                    d["used"] = json!(u);
                }
                v["disk"] = d;
            }
            if let Value::Object(m) = extra {
                for (k, x) in m {
                    v[k.as_str()] = x;
                }
            }
            v
        })
}

/// Percentages and sizes at the thresholds' edges.
const THRESHOLD_VALUES: &[f64] = &[0.0, -0.0, 5.0, 10.0, 25.0, 50.0, 100.0];

fn thresholds() -> impl Strategy<Value = DiskThresholds> {
    let f = || {
        prop_oneof![
            prop::num::f64::ANY,
            0.0f64..100.0,
            prop::sample::select(THRESHOLD_VALUES)
        ]
    };
    (f(), f(), f(), f()).prop_map(|(wp, wg, cp, cg)| DiskThresholds {
        warning_percent: wp,
        warning_gib: wg,
        critical_percent: cp,
        critical_gib: cg,
    })
}

fn disk_options() -> impl Strategy<Value = DiskAlertOptions> {
    (
        any::<u64>(),
        any::<u64>(),
        prop::num::f64::ANY,
        prop::num::f64::ANY,
    )
        .prop_map(|(c, g, dg, dp)| DiskAlertOptions {
            cooldown_seconds: c,
            startup_grace_seconds: g,
            worsening_delta_gib: dg,
            worsening_delta_percent: dp,
        })
}

/// The parsers `engine` and `alerts` apply to one JSON answer.
fn all_answer_parsers(v: &Value, id: &str) -> Result<(), TestCaseError> {
    let channels = parse_channels(v);
    for number in channels.keys() {
        prop_assert!(!number.is_empty() && number.trim() == number);
    }
    let _ = parse_guide(v);
    let item = parse_library_item(v, id);
    // `?id=` may be ignored by a DVR: a list never yields another item.
    if let (Some(_), Some(list)) = (&item, v.as_array()) {
        let named = |i: &Value| {
            ["id", "ID"]
                .iter()
                .find_map(|k| i.get(*k).and_then(Value::as_str))
                .map(str::trim)
                == Some(id)
        };
        prop_assert!(list.iter().any(named));
    }
    let _ = parse_jobs(v);
    let _ = parse_recording(v);
    let text = v.to_string();
    let _ = serde_json::from_str::<DvrStatus>(&text);
    let _ = serde_json::from_str::<DvrInfo>(&text);
    let _ = serde_json::from_str::<RecordingInfo>(&text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Raw bytes as any DVR endpoint's body.
    #[test]
    fn dvr_bodies_from_arbitrary_bytes(data in bytes(), id in prop::sample::select(LIBRARY_IDS)) {
        let _ = serde_json::from_slice::<DvrStatus>(&data);
        let _ = serde_json::from_slice::<DvrInfo>(&data);
        let _ = serde_json::from_slice::<RecordingInfo>(&data);
        if let Ok(v) = serde_json::from_slice::<Value>(&data) {
            all_answer_parsers(&v, id)?;
        }
    }

    /// JSON of the right vocabulary in the wrong shapes, alone and as a list.
    #[test]
    fn enrichment_parsers_take_any_json(
        v in json(ENRICH_KEYS),
        list in prop::collection::vec(json(ENRICH_KEYS), 0..6),
        id in prop::sample::select(LIBRARY_IDS),
    ) {
        all_answer_parsers(&v, id)?;
        all_answer_parsers(&Value::Array(list), id)?;
    }

    /// `/dvr`: disk levels (any thresholds, any figures), the disk alert rule, and the
    /// activity map through `resync`.
    #[test]
    fn dvr_answers_feed_disk_levels_and_resync(
        v in dvr_answer(),
        t in thresholds(),
        o in disk_options(),
        later in any::<i32>(),
    ) {
        let text = v.to_string();
        let Ok(info) = serde_json::from_str::<DvrInfo>(&text) else { return Ok(()) };
        if let Some(d) = info.disk {
            let sample = DiskSample { free_bytes: d.free, total_bytes: d.total };
            let pct = sample.free_percent();
            prop_assert!(pct.is_finite() && pct >= 0.0, "{pct}");
            let level = sample.level(&t);
            let _ = level.as_str();
            let _ = t.validate();
            let mut rule = DiskRule::new(at(0));
            let _ = rule.on_sample(sample, level, at(i64::from(later)), &o);
            let _ = rule.on_sample(sample, level, at(i64::from(later) * 2), &o);
        }
        let mut st = DvrState::new();
        let changes = st.resync(&info.activity, at(0));
        prop_assert!(changes.len() <= 4 * info.activity.len());
        caps(&st, None)?;
    }
}

// ---------------------------------------------------------------------------------------
// Apprise URLs and provider fields
// ---------------------------------------------------------------------------------------

const SCHEMES: &[&str] = &[
    "pover", "discord", "tgram", "slack", "mailto", "mailtos", "gotify", "gotifys", "matrix",
    "matrixs", "ntfy", "ntfys", "json", "jsons", "https", "http", "PoVeR", "x", "",
];

const URL_TOKENS: &[&str] = &[
    "://",
    "@",
    "@",
    ":",
    ":",
    "/",
    "/",
    "?",
    "=",
    "&",
    "%",
    "%2",
    "%zz",
    "%C3%A9",
    "%23",
    "%40",
    "%3A",
    "[",
    "]",
    "::1",
    "#",
    "/#",
    "+",
    "-",
    "0",
    "1",
    "65535",
    "65536",
    "99999999999",
    "user",
    "pass",
    "password",
    "token",
    "to",
    "from",
    "smtp",
    "mode",
    "ssl",
    "starttls",
    "insecure",
    "priority",
    "high",
    "emergency",
    "11",
    "-2",
    "port",
    "botname",
    "sound",
    "tk_",
    "bot",
    "é",
    "a",
    "b",
    "c",
    "example.com",
    "169.254.169.254",
    "metadata",
    "_",
    ",",
    " ",
    "api/webhooks/",
    "discord.com",
    "https://discord.com/api/webhooks/",
    "https://hooks.slack.com/services/",
    "HTTPS://DISCORDAPP.COM/API/WEBHOOKS/",
    "****",
];

fn apprise_url() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (prop::sample::select(SCHEMES), tokens(URL_TOKENS, 24))
            .prop_map(|(scheme, rest)| format!("{scheme}://{rest}")),
        1 => tokens(URL_TOKENS, 24),
        1 => "\\PC{0,64}",
    ]
}

/// Destinations from the unit tests' URLs, one per kind, plus a webhook.
static SAMPLE_TARGETS: LazyLock<Vec<ProviderConfig>> = LazyLock::new(|| {
    let mut out: Vec<ProviderConfig> = [
        "pover://uKEY@aTOKEN/phone?priority=high&sound=magic",
        "discord://123/abc-DEF",
        "tgram://123456789:AAHabc/-1001234",
        "slack://T1/B2/C3",
        "mailtos://me%40example.com:s3cret@smtp.example.com?to=a@x.org,b@y.org",
        "gotifys://push.example.com:8443/sub/AppTok?priority=high",
        "matrixs://bot:pw@matrix.example.com/#alerts:example.com",
        "ntfys://tk_abc@ntfy.lan:8080/dvr?priority=max",
        "jsons://u:p@hooks.example.com:8443/notify?+X-Token=abc&-ver=2",
    ]
    .iter()
    .filter_map(|u| from_apprise_url(u).ok())
    .collect();
    out.push(ProviderConfig::Webhook(Webhook {
        url: "http://127.0.0.1:9/hook?token=abc".into(),
        secret: "s3cret".into(),
    }));
    out
});

/// The addresses as `send_email` hands them to lettre.
fn email_addresses(t: &ProviderConfig) {
    if let ProviderConfig::Email(Email { from, to, .. }) = t {
        let _ = format!("ChannelWatch <{from}>").parse::<lettre::message::Mailbox>();
        for addr in to {
            let _ = addr.parse::<lettre::message::Mailbox>();
        }
    }
}

/// Whatever a URL parses to behaves: it serialises and reads back the same, masks, and
/// (when valid) a PATCH echoing its masked answer rebuilds it exactly.
fn check_apprise(url: &str) -> Result<(), TestCaseError> {
    for kind in ["discord", "slack", "apprise", "webhook"] {
        let _ = is_apprise_url(kind, url);
    }
    let _ = mask_url(url);
    let _ = check_url("url", url);
    let _ = is_public_url(url);
    let Ok(t) = from_apprise_url(url) else {
        return Ok(());
    };
    let _ = format!("{t:?}");
    let _ = t.viewer_masked();
    email_addresses(&t);
    let v = serde_json::to_value(&t).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: ProviderConfig =
        serde_json::from_value(v.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, &t);
    if t.validate().is_ok() {
        let kind = v["kind"].as_str().unwrap_or_default().to_string();
        let masked = t.masked();
        prop_assert!(t.carried_secrets(&kind, &masked).is_none());
        let echoed = ProviderConfig::from_fields(&kind, masked, Some(&t));
        prop_assert_eq!(echoed, Ok(t.clone()));
    }
    Ok(())
}

/// Field names of every destination kind, and what the API also accepts.
const TARGET_KEYS: &[&str] = &[
    "user_key",
    "token",
    "device",
    "priority",
    "sound",
    "base_url",
    "webhook_url",
    "username",
    "bot_token",
    "chat_id",
    "smtp_host",
    "smtp_port",
    "security",
    "password",
    "from",
    "to",
    "ca_certificate",
    "url",
    "homeserver",
    "room",
    "access_token",
    "user",
    "topic",
    "secret",
    "headers",
    "kind",
];

/// Field values: URLs, masks, forbidden addresses, addresses.
const FIELD_STRINGS: &[&str] = &[
    "****",
    "http://127.0.0.1:9/h",
    "https://u:****@hooks.example.com/x?token=****",
    "https://u:p@hooks.example.com/x?token=abc&sig=1",
    "http://169.254.169.254/latest",
    "http://[fe80::1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://2852039166/",
    "http://metadata.google.internal./",
    "https://discord.com/api/webhooks/1/a",
    "pover://u@t",
    "json://h/p",
    "ntfy://topic",
    "!room:server",
    "#alias:server",
    "a@b",
    "a@b, c@d,,",
    "-----BEGIN CERTIFICATE-----",
    "starttls",
    "tls",
    "plain",
    "",
    " ",
    "é",
];

fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(FIELD_STRINGS).prop_map(|s| Value::String(s.to_string())),
        2 => apprise_url().prop_map(Value::String),
        2 => json(TARGET_KEYS),
    ]
}

/// Kinds no provider type has (`json` is the Apprise target's own tag).
const OTHER_KINDS: &[&str] = &["json", "JSON", "", "nope"];

fn provider_kind() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(wire::providers::PROVIDER_TYPES.iter().map(|t| t.name).collect::<Vec<_>>()).prop_map(|k| k.to_string()),
        1 => prop::sample::select(OTHER_KINDS).prop_map(|k| k.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn apprise_urls_from_tokens(url in apprise_url()) {
        check_apprise(&url)?;
    }

    #[test]
    fn apprise_urls_from_arbitrary_bytes(data in bytes()) {
        check_apprise(&lossy(&data))?;
    }

    /// Addresses as a destination check sees them.
    #[test]
    fn destination_checks_never_panic(
        v4 in any::<[u8; 4]>(),
        v6 in any::<[u8; 16]>(),
        host in prop_oneof![tokens(URL_TOKENS, 8), "\\PC{0,32}"],
    ) {
        let _ = is_forbidden_ip(IpAddr::from(v4));
        let _ = is_forbidden_ip(IpAddr::from(v6));
        let _ = check_destination_host("host", &host);
        let _ = check_destination_host("host", &IpAddr::from(v6).to_string());
        let _ = check_url("url", &format!("http://{host}/"));
        let _ = is_public_url(&format!("https://{host}/x.png"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// An API body or a file's provider entry: any kind, any fields, with and without a
    /// stored destination whose masked secrets the fields may echo.
    #[test]
    fn provider_fields_never_panic(
        kind in provider_kind(),
        fields in prop::collection::vec((key(TARGET_KEYS), field_value()), 0..8),
        previous in prop::option::of(0usize..16),
    ) {
        let fields: Map<String, Value> = fields.into_iter().collect();
        let previous = previous.and_then(|i| SAMPLE_TARGETS.get(i));
        if let Some(p) = previous {
            let _ = p.carried_secrets(&kind, &fields);
            // The stored destination's own masked answer, edited by the random fields.
            let mut echo = p.masked();
            echo.extend(fields.clone());
            let _ = ProviderConfig::from_fields(&kind, echo.clone(), Some(p));
            let _ = config_from_body(&kind, echo, Some(p));
        }
        let _ = ProviderConfig::has_masked(&fields);
        let _ = ProviderConfig::from_fields(&kind, fields.clone(), previous);
        if let Ok(t) = config_from_body(&kind, fields.clone(), previous) {
            prop_assert!(t.validate().is_ok());
            let _ = t.masked();
            email_addresses(&t);
        }
        let mut tagged = fields;
        tagged.insert("kind".into(), Value::String(kind));
        if let Ok(t) = serde_json::from_value::<ProviderConfig>(Value::Object(tagged)) {
            let _ = t.validate();
            let _ = format!("{t:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The YAML file, the environment, hosts
// ---------------------------------------------------------------------------------------

const INDENTS: &[&str] = &["", "", "  ", "    ", "  - ", "- ", "      ", "\t", "   "];

const YAML_KEYS: &[&str] = &[
    "bind",
    "port",
    "log",
    "dvr_soft_limit",
    "disk_thresholds",
    "warning_percent",
    "critical_gib",
    "dvrs",
    "providers",
    "routing",
    "retention_days",
    "alerts",
    "name",
    "host",
    "type",
    "enabled",
    "url",
    "token",
    "token_file",
    "api_key",
    "api_key_file",
    "user_key",
    "secret",
    "secret_file",
    "staleness_threshold_seconds",
    "channel",
    "vod",
    "pushover",
    "webhook",
    "cooldown_seconds",
    "template",
    "title",
    "body",
    "rate_limit",
    "count",
    "Living Room",
    "\"quoted key\"",
    "? complex",
];

const SEPARATORS: &[&str] = &[
    ": ",
    ": ",
    ":",
    " ",
    ": [",
    ": {",
    "_file: ",
    ": |\n  ",
    ": >-\n    ",
];

const YAML_VALUES: &[&str] = &[
    "8501",
    "0",
    "-1",
    "65536",
    "4294967296",
    "true",
    "null",
    "~",
    "127.0.0.1",
    "::1",
    "dvr.local",
    "'quoted'",
    "\"dq\\u00e9\"",
    "${A}",
    "${MISSING}",
    "$${A}",
    "${",
    "}",
    "x",
    "[]",
    "{}",
    "[1, 2]",
    "{a: b}",
    "&anchor x",
    "*anchor",
    "!!str 5",
    "!!binary aGk=",
    "1e400",
    ".nan",
    ".inf",
    "http://127.0.0.1:9/h",
    "pover://u@t",
    "pushover",
    "webhook",
    "{{ dvr_name }}",
    "{% for x in y %}",
    "é",
    "\t",
    "",
];

const YAML_TOKENS: &[&str] = &[
    ":",
    "-",
    "\n",
    "  ",
    "${",
    "}",
    "_file",
    "#",
    "---",
    "...",
    "? ",
    "'",
    "\"",
    "[",
    "]",
    "{",
    ",",
    "&a",
    "*a",
    "!",
    "|",
    ">",
    "%YAML 1.2",
    "x",
    "port",
    "dvrs",
    "providers",
    "routing",
    "alerts",
    "host",
    "name",
    "type",
    "8501",
    "\r",
    "\t",
    "é",
    "\u{feff}",
];

fn yaml_line() -> impl Strategy<Value = String> {
    (
        prop::sample::select(INDENTS),
        prop::sample::select(YAML_KEYS),
        prop::sample::select(SEPARATORS),
        prop::sample::select(YAML_VALUES),
    )
        .prop_map(|(indent, key, sep, value)| format!("{indent}{key}{sep}{value}\n"))
}

fn yaml_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(yaml_line(), 0..24).prop_map(|l| l.concat()),
        1 => tokens(YAML_TOKENS, 64),
    ]
}

/// The environment the YAML tests interpolate from (`B` and `C` are not set; `C_FILE`
/// names a file that does not exist).
fn yaml_env() -> Vec<(&'static str, &'static str)> {
    vec![("A", "alpha"), ("C_FILE", "missing-secret")]
}

/// Writes `content` as a configuration file in a fresh folder and reads it.
fn read_yaml(content: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let path = dir.path().join("channelwatch.yaml");
    std::fs::write(&path, content).map_err(|e| TestCaseError::fail(e.to_string()))?;
    match read_file(&path, true, &yaml_env()) {
        Ok(f) => {
            let _ = f.file_dvrs_list();
            let _ = format!("{f:?}");
            for d in &f.declared_providers {
                let _ = d.config.validate();
            }
            if let Some(first) = f.dvrs.first() {
                let _ = f.error("dvrs[0].host", first.host.clone());
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    Ok(())
}

const PATH_TOKENS: &[&str] = &[
    "providers",
    "dvrs",
    "routing",
    "alerts",
    "channel",
    "token",
    "name",
    "host",
    "Living Room",
    "[0]",
    "[1]",
    "[7]",
    "[99999999999999999999]",
    "[",
    "]",
    ".",
    ".",
    "_file",
    "é",
];

const INTERPOLATION_TOKENS: &[&str] = &[
    "$", "$", "${", "}", "$${", "A", "B", "C", "MISSING", "_", "1", "x", "é", "{", "$$", " ",
];

const ALERT_KEYS: &[&str] = &[
    "channel",
    "vod",
    "recording",
    "disk",
    "health",
    "rate_limit",
    "delivery",
    "per_dvr",
    "enabled",
    "cooldown_seconds",
    "image_source",
    "template",
    "title",
    "body",
    "count",
    "window_seconds",
    "max_age_seconds",
    "unreachable_delay_seconds",
    "worsening_delta_gib",
    "startup_grace_seconds",
    "missed_grace_seconds",
    "program",
    "{{ dvr_name }}",
    "{{ nope }}",
    "{% set x = 1 %}",
];

const ENV_KEYS: &[&str] = &[
    "CHANNELWATCH_BIND",
    "CHANNELWATCH_PORT",
    "CHANNELS_DVR_SERVERS",
    "CHANNELWATCH_LOG_FORMAT",
    "CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS",
    "CHANNELWATCH_LIVE_RECHECK_SECONDS",
    "CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS",
    "CHANNELWATCH_SECURE_COOKIES",
    "CHANNELWATCH_TRUSTED_PROXIES",
    "CHANNELWATCH_LOG",
    "CHANNELWATCH_INSTANCE_URL",
    "CHANNELWATCH_API_KEY",
];

const ENV_TOKENS: &[&str] = &[
    "0",
    "1",
    "8501",
    "65535",
    "65536",
    "-1",
    "3600",
    "30",
    "60",
    "86400",
    "true",
    "auto",
    "json",
    "text",
    "::1",
    "[::1]",
    "[",
    "]",
    "localhost",
    "127.0.0.1",
    "10.0.0.0/8",
    "/33",
    "fd00::/8",
    ",",
    "@",
    ":",
    "Den",
    "dvr.local",
    "/",
    "%",
    " ",
    "é",
    "99999999999999999999",
];

const HOST_TOKENS: &[&str] = &[
    "dvr",
    ".",
    "local",
    "-",
    "_",
    "[",
    "]",
    "::1",
    "fe80::1",
    "%eth0",
    ":",
    "8089",
    "0",
    "65536",
    "@",
    ",",
    " ",
    "Den",
    "http://",
    "/",
    "é",
    "192.168.1.10",
    "\t",
    "::ffff:1.2.3.4",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The YAML file, line by line from real keys and values (and token soup).
    #[test]
    fn yaml_files_from_tokens(text in yaml_text()) {
        read_yaml(text.as_bytes())?;
    }

    #[test]
    fn yaml_files_from_arbitrary_bytes(data in bytes()) {
        read_yaml(&data)?;
    }

    /// The whole start-up configuration: environment variables over a file.
    #[test]
    fn configuration_from_environment_and_file(
        vars in prop::collection::vec(
            (prop::sample::select(ENV_KEYS), tokens(ENV_TOKENS, 8)),
            0..6,
        ),
        file in prop::option::of(yaml_text()),
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Some(text) = file {
            std::fs::write(dir.path().join("channelwatch.yaml"), text)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let flags = Flags {
            data_dir: Some(dir.path().to_path_buf()),
            ..Flags::default()
        };
        let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Ok(c) = Config::load(&flags, &env) {
            let _ = c.file_dvrs();
            let _ = format!("{c:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Error lines point into the text (or nowhere).
    #[test]
    fn line_of_stays_inside_the_text(
        text in prop_oneof![yaml_text(), "\\PC{0,200}"],
        path in tokens(PATH_TOKENS, 8),
    ) {
        if let Some(line) = line_of(&text, &path) {
            prop_assert!((1..=text.lines().count()).contains(&line), "{line}");
        }
    }

    /// `${VAR}` / `VAR_FILE` / `$${`: text without `$` is left alone.
    #[test]
    fn interpolation_never_panics(
        text in prop_oneof![tokens(INTERPOLATION_TOKENS, 16), "\\PC{0,64}"],
    ) {
        let base = Path::new("/nonexistent/channelwatch-fuzz");
        match interpolate(&text, &yaml_env(), base) {
            Ok(out) => {
                if !text.contains('$') {
                    prop_assert_eq!(out, text);
                }
            }
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    /// The `alerts:` section of the file (and of `PUT /settings`).
    #[test]
    fn alert_settings_patches(patch in json(ALERT_KEYS)) {
        if let Ok(a) = merged_alerts(&AlertSettings::default(), &patch) {
            prop_assert!(a.validate().is_ok());
        }
    }

    /// `CHANNELS_DVR_SERVERS`, `CHANNELWATCH_TRUSTED_PROXIES` and DVR hosts from the API.
    #[test]
    fn hosts_and_address_lists(
        host in prop_oneof![tokens(HOST_TOKENS, 10), "\\PC{0,40}"],
        port in any::<u16>(),
        list in tokens(HOST_TOKENS, 24),
        proxies in prop_oneof![tokens(ENV_TOKENS, 12), "\\PC{0,40}"],
    ) {
        let _ = validate_host(&host);
        prop_assert_eq!(dvr_id(&host, port).len(), 8);
        let _ = base_url(&host, port);
        let _ = normalize_host(&host);
        let _ = record_from(
            &NewDvr {
                name: host.clone(),
                host: host.clone(),
                port: Some(port),
                enabled: None,
                staleness_threshold_seconds: None,
                api_key: Some(host.clone()),
            },
            ManagedBy::Ui,
        );
        if let Ok(dvrs) = parse_dvr_servers(&list) {
            for d in dvrs {
                prop_assert!(validate_host(&d.host).is_ok(), "{}", d.host);
            }
        }
        if let Ok(t) = TrustedProxies::parse(&proxies) {
            let _ = t.contains(IpAddr::from([10, 0, 0, 1]));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Backup files
// ---------------------------------------------------------------------------------------

/// A valid backup, to be damaged.
fn backup_skeleton() -> Value {
    json!({
        "format": backup::FORMAT,
        "schema_version": 1,
        "app_version": "0.0.0",
        "created_at": "2026-01-01T00:00:00Z",
        "settings": {"dvr_soft_limit": 10, "retention_days": 30, "disk_thresholds": null, "alerts": {}},
        "dvrs": [{"name": "Den", "host": "127.0.0.1", "port": 8089, "enabled": true,
                  "staleness_threshold_seconds": 300, "api_key": "****"}],
        "providers": [
            {"type": "webhook", "target_kind": "webhook", "name": "Hook", "enabled": true,
             "fields": {"url": "http://127.0.0.1:9/h", "secret": "****"}},
            {"type": "apprise", "target_kind": "json", "name": "J", "enabled": true,
             "fields": {"url": "****", "headers": "****"}}
        ],
        "routing": {},
        "sealed_secrets": null
    })
}

/// Where the damage goes.
const BACKUP_POINTERS: &[&str] = &[
    "/format",
    "/schema_version",
    "/app_version",
    "/settings",
    "/settings/alerts",
    "/settings/disk_thresholds",
    "/settings/dvr_soft_limit",
    "/dvrs",
    "/dvrs/0",
    "/dvrs/0/host",
    "/dvrs/0/port",
    "/providers",
    "/providers/0",
    "/providers/0/target_kind",
    "/providers/0/fields",
    "/providers/0/fields/url",
    "/providers/1/fields",
    "/routing",
    "/sealed_secrets",
];

/// Values worth putting there (as JSON text).
const BACKUP_VALUES: &[&str] = &[
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "-1",
    "0",
    "\"****\"",
    "\"channelwatch-backup\"",
    "{\"kdf\":\"argon2id\",\"memory_kib\":19456,\"iterations\":2,\"parallelism\":1,\"salt\":\"AAAA\",\"ciphertext\":\"cw1:x\"}",
    "{\"kdf\":\"x\",\"memory_kib\":4294967295,\"iterations\":0,\"parallelism\":0,\"salt\":\"\",\"ciphertext\":\"\"}",
    "{\"6e2b5c1d\":{\"channel\":{\"pushover\":true}}}",
    "{\"6e2b5c1d\":{\"bogus\":{\"x\":true}}}",
    "{\"6e2b5c1d\":{\"disk\":{\"carrier-pigeon\":false}}}",
    "[{\"type\":\"apprise\",\"target_kind\":\"json\",\"name\":\"J\",\"enabled\":true,\"fields\":{\"url\":\"****\",\"headers\":\"****\"}}]",
    "{\"type\":\"pushover\",\"target_kind\":\"discord\",\"name\":\"P\",\"enabled\":true,\"fields\":{\"webhook_url\":\"****\"}}",
    "{\"warning_percent\":-1,\"warning_gib\":1e308,\"critical_percent\":200,\"critical_gib\":0}",
    "{\"channel\":{\"template\":{\"title\":\"{{ dvr_name }}\"}}}",
    "{\"rate_limit\":{\"count\":0}}",
    "{\"name\":\"Den\",\"host\":\"[fe80::1%eth0]\",\"port\":0,\"enabled\":true,\"staleness_threshold_seconds\":1}",
    "\"http://169.254.169.254/\"",
    "{\"url\":\"https://u:****@hooks.example.com/x?token=****\",\"secret\":\"****\"}",
    "[]",
    "{}",
    "null",
];

fn backup_text() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        2 => prop::sample::select(BACKUP_VALUES)
            .prop_map(|s| serde_json::from_str::<Value>(s).unwrap_or(Value::Null)),
        1 => json(TARGET_KEYS),
    ];
    prop::collection::vec((prop::sample::select(BACKUP_POINTERS), value), 0..4).prop_map(|edits| {
        let mut v = backup_skeleton();
        for (pointer, x) in edits {
            if let Some(slot) = v.pointer_mut(pointer) {
                *slot = x;
            }
        }
        v.to_string()
    })
}

/// What `backup::import` checks before it writes anything, minus the database.
fn import_checks(b: &backup::Backup) -> Result<(), TestCaseError> {
    prop_assert_eq!(b.format.as_str(), backup::FORMAT);
    prop_assert!(b.schema_version <= Db::schema_version());
    let _ = b.settings.alerts.validate();
    if let Some(t) = &b.settings.disk_thresholds {
        let _ = t.validate();
    }
    let _ = b.routing.validate(|_| true);
    let _ = b.routing.rows();
    for d in &b.dvrs {
        let _ = record_from(
            &NewDvr {
                name: d.name.clone(),
                host: d.host.clone(),
                port: Some(d.port),
                enabled: Some(d.enabled),
                staleness_threshold_seconds: Some(d.staleness_threshold_seconds),
                api_key: d.api_key.clone(),
            },
            ManagedBy::Ui,
        );
    }
    for p in &b.providers {
        let mut fields = p.fields.clone();
        fields.retain(|k, v| !(k == "headers" && v.as_str() == Some(MASK)));
        fields.insert("kind".into(), Value::String(p.target_kind.clone()));
        if let Ok(t) = serde_json::from_value::<ProviderConfig>(Value::Object(fields)) {
            let _ = t.validate();
            let _ = ProviderConfig::has_masked(&p.fields);
            let _ = t.carried_secrets(&p.target_kind, &p.fields);
        }
    }
    // What was read writes back out as a file that reads again.
    let text = serde_json::to_string(b).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(backup::parse(&text).is_ok());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn backups_from_arbitrary_bytes(data in bytes()) {
        match backup::parse(&lossy(&data)) {
            Ok(b) => import_checks(&b)?,
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }

    /// A valid backup with up to four parts replaced by odd values.
    #[test]
    fn damaged_backups(text in backup_text()) {
        match backup::parse(&text) {
            Ok(b) => import_checks(&b)?,
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Retry-After and the backoff
// ---------------------------------------------------------------------------------------

const RETRY_TOKENS: &[&str] = &[
    "0",
    "1",
    "7",
    "9",
    ".",
    "e",
    "E",
    "-",
    "+",
    "inf",
    "NaN",
    "nan",
    "infinity",
    " ",
    "\t",
    "1e20",
    "1e-300",
    "18446744073709551615",
    "18446744073709551616",
    "0x10",
    "_",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "GMT",
    ",",
    ":",
];

/// Floats at the edges `Duration::from_secs_f64` panics on.
const SPECIAL_F64: &[f64] = &[
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -0.0,
    f64::MAX,
    f64::MIN,
    f64::MIN_POSITIVE,
    f64::EPSILON,
    1e20,
    1e-300,
    3600.5,
];

/// An HTTP date anywhere from 1970 to 9999 (what `httpdate` can write).
fn http_date() -> impl Strategy<Value = String> {
    (0u64..253_402_300_800)
        .prop_map(|s| httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(s)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Never a panic, never more than the cap, whatever the cap and the clock.
    #[test]
    fn retry_after_is_capped(
        value in prop_oneof![tokens(RETRY_TOKENS, 8), "\\PC{0,40}", http_date()],
        now_secs in 0u64..(1u64 << 40),
        max_secs in any::<u64>(),
        max_nanos in 0u32..1_000_000_000,
    ) {
        let now = UNIX_EPOCH + Duration::from_secs(now_secs);
        let max = Duration::new(max_secs, max_nanos);
        let got = parse_retry_after(&value, now, max);
        prop_assert!(got.is_none_or(|d| d <= max), "{value:?} {got:?} > {max:?}");
    }

    #[test]
    fn fractional_seconds_are_capped(
        secs in prop_oneof![prop::num::f64::ANY, prop::sample::select(SPECIAL_F64)],
        max_secs in any::<u64>(),
        max_nanos in 0u32..1_000_000_000,
    ) {
        let max = Duration::new(max_secs, max_nanos);
        let got = secs_f64(secs, max);
        prop_assert!(got.is_none_or(|d| d <= max), "{secs} {got:?} > {max:?}");
        if !secs.is_finite() || secs < 0.0 {
            prop_assert!(got.is_none());
        }
    }

    /// Reconnect delays stay under their cap (caps up to about 30 years).
    #[test]
    fn backoff_stays_under_its_cap(
        base_ms in 0u64..10_000_000,
        max_ms in 0u64..1_000_000_000_000,
        steps in 0usize..40,
    ) {
        let max = Duration::from_millis(max_ms);
        let mut b = Backoff::new(Duration::from_millis(base_ms), max);
        for _ in 0..steps {
            prop_assert!(b.next_delay() <= max);
        }
        prop_assert!(b.next_base() <= max);
    }
}

// ---------------------------------------------------------------------------------------
// Templates, forwarding headers, texts for logs
// ---------------------------------------------------------------------------------------

const TEMPLATE_TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{%-",
    "-%}",
    " ",
    "\n",
    "dvr_name",
    "channel_name",
    "title",
    "genres",
    "cast",
    "x",
    "|",
    "upper",
    "lower",
    "replace",
    "join",
    "split",
    "lines",
    "string",
    "length",
    "(",
    ")",
    "'",
    "\"",
    ",",
    "~",
    "for",
    "in",
    "endfor",
    "if",
    "endif",
    "else",
    "set",
    "macro",
    "recursive",
    "raw",
    "endraw",
    "loop",
    "range",
    "1",
    "99999",
    "[",
    "]",
    ".",
    "-",
    "+",
    "*",
    "**",
    "//",
    "%",
    "é",
    "🎬",
    "\\",
];

/// Keys of the alert variables (`template::variables`).
const TEMPLATE_VAR_KEYS: &[&str] = &[
    "dvr_name",
    "channel_name",
    "channel_number",
    "program_title",
    "program_summary",
    "resolution",
    "device_name",
    "client_ip",
    "stream_source",
    "stream_count",
    "title",
    "year",
    "episode_title",
    "position",
    "duration",
    "summary",
    "rating",
    "genres",
    "cast",
    "status",
    "scheduled_time",
    "start_time",
    "disk_free",
    "disk_total",
    "disk_percent",
    "disk_used",
    "dvr_path",
    "outage_start",
    "outage_end",
    "outage_duration",
    "detail",
];

const FORWARD_HEADERS: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-for",
    "forwarded",
    "forwarded",
    "x-forwarded-host",
    "x-forwarded-proto",
];

const FORWARD_TOKENS: &[&str] = &[
    "1.2.3.4",
    "10.0.0.1",
    "10.0.0.2",
    "192.0.2.7",
    "::1",
    "2001:db8::1",
    "::ffff:10.0.0.1",
    "[",
    "]",
    ":4711",
    ",",
    ", ",
    ";",
    "for=",
    "FOR=",
    "by=",
    "proto=https",
    "host=x",
    "\"",
    "\\",
    "unknown",
    "_hidden",
    "=",
    " ",
    "\t",
    "https",
    "http",
];

const TRUSTED: &[&str] = &[
    "",
    "10.0.0.0/8",
    "10.0.0.1",
    "::1, 127.0.0.1",
    "0.0.0.0/0, ::/0",
    "192.0.2.0/24,[2001:db8::1]",
    "10.0.0.0/33",
    "x",
];

const PEERS: &[&str] = &["10.0.0.1", "::ffff:10.0.0.1", "127.0.0.1", "::1"];

fn peer_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
        prop::sample::select(PEERS).prop_map(|s| s.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A user template (from the API or the file): the syntax check, the check on every
    /// sample, and a real render; a broken one falls back to the default title.
    #[test]
    fn templates_are_checked_without_panicking(
        source in prop_oneof![tokens(TEMPLATE_TOKENS, 40), "\\PC{0,80}"],
        cat in prop::sample::select(Category::ALL.to_vec()),
        kind in prop::sample::select(AlertKind::ALL.to_vec()),
    ) {
        let _ = template::check_syntax(&source);
        let _ = template::check(&source, cat);
        let user = Template { title: Some(source.clone()), body: Some(source) };
        let (title, _, _) = template::render(kind, &template::sample(kind), Some(&user));
        prop_assert!(!title.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The default texts on variables of any shape (they come from the DVR).
    #[test]
    fn default_texts_take_any_variables(
        vars in json(TEMPLATE_VAR_KEYS),
        bytes_n in any::<u64>(),
        secs in any::<u64>(),
    ) {
        for kind in AlertKind::ALL {
            let (title, _) = template::default_text(kind, &vars);
            prop_assert!(!title.is_empty());
            let _ = template::render(kind, &vars, None);
        }
        let _ = template::human_size(bytes_n);
        let _ = template::clock_duration(Duration::from_secs(secs));
        let _ = template::words_duration(Duration::from_secs(secs));
    }

    /// Forwarding headers from anyone: believed only from a trusted peer.
    #[test]
    fn forwarding_headers_never_panic(
        peer in prop::option::of(peer_ip()),
        trusted in prop_oneof![
            prop::sample::select(TRUSTED).prop_map(|s| s.to_string()),
            tokens(FORWARD_TOKENS, 8),
        ],
        headers in prop::collection::vec(
            (
                prop::sample::select(FORWARD_HEADERS),
                prop_oneof![
                    3 => tokens(FORWARD_TOKENS, 12).prop_map(String::into_bytes),
                    1 => prop::collection::vec(any::<u8>(), 0..64),
                ],
            ),
            0..6,
        ),
    ) {
        let mut h = HeaderMap::new();
        for (name, value) in headers {
            if let Ok(v) = HeaderValue::from_bytes(&value) {
                h.append(name, v);
            }
        }
        let _ = all_forwarded_hosts(&h);
        if let Ok(t) = TrustedProxies::parse(&trusted) {
            let c = Client::resolve(peer, &h, &t);
            let p = peer.map_or(IpAddr::from([127, 0, 0, 1]), |p| p.to_canonical());
            prop_assert_eq!(c.peer, p);
            prop_assert_eq!(c.via_proxy, peer.is_some_and(|x| t.contains(x)));
            if !c.via_proxy {
                prop_assert_eq!(c.ip, c.peer);
            }
            let _ = c.forwarded_hosts(&h);
            let _ = c.https(&h);
        }
    }

    /// Someone else's text on its way to a log line: cut to size, one line.
    #[test]
    fn outside_text_is_clipped(s in any_text(300), max in 0usize..400) {
        prop_assert!(clip(&s, max).len() <= max);
        let t = outside_text(&s, max);
        prop_assert!(t.len() <= max);
        prop_assert!(!t.chars().any(char::is_control), "{t:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Debug-bundle redaction of log text with any secrets and hosts.
    #[test]
    fn redaction_never_panics(
        text in prop_oneof![tokens(HOST_TOKENS, 40), tokens(URL_TOKENS, 40), any_text(200)],
        secrets in prop::collection::vec(tokens(URL_TOKENS, 3), 0..4),
        hosts in prop::collection::vec(tokens(HOST_TOKENS, 3), 0..3),
    ) {
        let _ = redact(&text, &secrets, &hosts);
    }
}
