//! Parsing of Channels DVR event-stream lines into typed events.
//!
//! Pure code: no IO, no clocks. Every input, however malformed, yields a value or an
//! error; nothing here panics (property-tested below), because one bad line must never
//! stop a DVR's stream.

use std::net::IpAddr;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

/// What one line of the event stream turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// Blank line, SSE comment (`: keepalive`) or an SSE field we do not use (`event:`, `id:`…).
    Skip,
    /// A well-formed event.
    Event(DvrEvent),
}

/// Why a line could not be understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("unexpected event shape: {0}")]
    Shape(&'static str),
}

/// Where a live-TV stream comes from, derived from the activity name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum StreamSource {
    /// An HDHomeRun tuner, by device id (`10811DF5`).
    Tuner(String),
    /// TV Everywhere, by provider.
    Tve(String),
    /// An M3U source, by its name.
    M3u(String),
    /// Something else the name carried.
    Other(String),
    /// The name did not say.
    Unknown,
}

impl std::fmt::Display for StreamSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamSource::Tuner(id) => write!(f, "Tuner ({id})"),
            StreamSource::Tve(p) => write!(f, "TVE ({p})"),
            StreamSource::M3u(n) => f.write_str(n),
            StreamSource::Other(s) => f.write_str(s),
            StreamSource::Unknown => f.write_str("Unknown"),
        }
    }
}

/// Someone watching a live channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveTv {
    /// The activity name: the session's key on the DVR.
    pub name: String,
    /// As written by the DVR: `7`, `13.1`.
    pub channel_number: String,
    pub channel_name: Option<String>,
    /// `1080i`, `720p` when the DVR says so.
    pub resolution: Option<String>,
    /// The client's display name, without any `(ip)` suffix.
    pub device_name: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub source: StreamSource,
}

/// Someone playing a library file (recording or movie).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vod {
    pub name: String,
    pub file_id: String,
    /// Client identifier from the activity name (an IP or a client id).
    pub client: String,
    pub title: Option<String>,
    pub device_name: Option<String>,
    pub client_ip: Option<IpAddr>,
    /// Playback position in seconds, when the value carries one.
    pub position_seconds: Option<u64>,
    /// A "Streaming …" placeholder sent before playback really starts.
    pub preroll: bool,
}

/// A recording in progress as shown in the activity map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingActivity {
    pub name: String,
    pub channel_number: Option<String>,
    pub channel_name: Option<String>,
    pub title: Option<String>,
    pub until: Option<String>,
}

/// A typed Channels DVR event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DvrEvent {
    Hello,
    LiveTv(LiveTv),
    Vod(Vod),
    Recording(RecordingActivity),
    /// An activity we do not classify (still tracked so the stream count is right).
    OtherActivity {
        name: String,
        value: String,
    },
    /// `activities.set` with an empty value: the activity with this name ended.
    ActivityEnded {
        name: String,
    },
    JobCreated {
        job_id: String,
    },
    JobDeleted {
        job_id: String,
    },
    /// `programs.set` `recording-<jobId>`.
    RecordingStarted {
        job_id: String,
    },
    /// `programs.set` `recorded-<fileId>`.
    RecordingCompleted {
        file_id: String,
    },
    /// A known event type whose content we do not act on.
    Ignored {
        event_type: String,
    },
    /// An event type this version does not know; counted and ignored.
    Unknown {
        event_type: String,
    },
}

impl DvrEvent {
    /// A short label for metrics (`channelwatch_events_total{type}`).
    pub fn kind(&self) -> &'static str {
        match self {
            DvrEvent::Hello => "hello",
            DvrEvent::LiveTv(_) => "live_tv",
            DvrEvent::Vod(_) => "vod",
            DvrEvent::Recording(_) => "recording_activity",
            DvrEvent::OtherActivity { .. } => "other_activity",
            DvrEvent::ActivityEnded { .. } => "activity_ended",
            DvrEvent::JobCreated { .. } => "job_created",
            DvrEvent::JobDeleted { .. } => "job_deleted",
            DvrEvent::RecordingStarted { .. } => "recording_started",
            DvrEvent::RecordingCompleted { .. } => "recording_completed",
            DvrEvent::Ignored { .. } => "ignored",
            DvrEvent::Unknown { .. } => "unknown",
        }
    }
}

/// An activity or job name longer than this is no real DVR's: the line is refused.
pub(crate) const MAX_NAME_BYTES: usize = 512;
/// An activity's text is kept per session and shown: a longer one is cut.
pub(crate) const MAX_VALUE_BYTES: usize = 4096;

/// `s` cut to at most `max` bytes, at a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Parses one line of the event stream: bare JSON (what a Channels DVR sends) or an SSE
/// `data:` line (what proxies and mocks send). Comments and other SSE fields are skipped.
pub fn parse_line(line: &str) -> Result<Line, ParseError> {
    let line = line.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if line.is_empty() || line.starts_with(':') {
        return Ok(Line::Skip);
    }
    let json = if line.starts_with('{') {
        line
    } else if let Some(rest) = line.strip_prefix("data:") {
        let rest = rest.trim();
        if rest.is_empty() {
            return Ok(Line::Skip);
        }
        rest
    } else if is_sse_field(line) {
        return Ok(Line::Skip);
    } else {
        line
    };
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or(ParseError::Shape("not a JSON object"))?;
    let event_type = str_field(obj, &["Type", "type"])?.ok_or(ParseError::Shape("no Type"))?;
    let name = str_field(obj, &["Name", "name"])?.unwrap_or_default();
    if name.len() > MAX_NAME_BYTES {
        return Err(ParseError::Shape("Name is longer than 512 bytes"));
    }
    let value = prefix(
        str_field(obj, &["Value", "value"])?.unwrap_or_default(),
        MAX_VALUE_BYTES,
    );
    Ok(Line::Event(classify(event_type, name, value, obj)))
}

/// SSE field lines we accept and ignore (`event: x`, `id: 7`, `retry: 1000`).
fn is_sse_field(line: &str) -> bool {
    ["event:", "id:", "retry:"]
        .iter()
        .any(|f| line.starts_with(f))
        || matches!(line, "event" | "id" | "retry" | "data")
}

/// Reads a string field by any of its spellings; null counts as absent.
fn str_field<'a>(
    obj: &'a serde_json::Map<String, serde_json::Value>,
    keys: &[&str],
) -> Result<Option<&'a str>, ParseError> {
    for key in keys {
        match obj.get(*key) {
            None | Some(serde_json::Value::Null) => continue,
            Some(serde_json::Value::String(s)) => return Ok(Some(s)),
            Some(_) => return Err(ParseError::Shape("a Type/Name/Value field is not a string")),
        }
    }
    Ok(None)
}

fn classify(
    event_type: &str,
    name: &str,
    value: &str,
    obj: &serde_json::Map<String, serde_json::Value>,
) -> DvrEvent {
    match event_type {
        "hello" => DvrEvent::Hello,
        "activities.set" => classify_activity(name, value),
        "jobs.created" => DvrEvent::JobCreated {
            job_id: name.to_string(),
        },
        "jobs.deleted" => {
            let id = if name.is_empty() {
                str_field(obj, &["ID", "id"]).ok().flatten().unwrap_or("")
            } else {
                name
            };
            DvrEvent::JobDeleted {
                job_id: id.to_string(),
            }
        }
        "programs.set" => {
            if let Some(job) = value.strip_prefix("recording-").filter(|s| !s.is_empty()) {
                DvrEvent::RecordingStarted {
                    job_id: job.to_string(),
                }
            } else if let Some(file) = value.strip_prefix("recorded-").filter(|s| !s.is_empty()) {
                DvrEvent::RecordingCompleted {
                    file_id: file.to_string(),
                }
            } else {
                DvrEvent::Ignored {
                    event_type: event_type.to_string(),
                }
            }
        }
        other => DvrEvent::Unknown {
            event_type: truncate(other, 64),
        },
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn classify_activity(name: &str, value: &str) -> DvrEvent {
    if value.trim().is_empty() {
        return DvrEvent::ActivityEnded {
            name: name.to_string(),
        };
    }
    if is_vod_name(name) {
        if let Some(vod) = parse_vod(name, value) {
            return DvrEvent::Vod(vod);
        }
    }
    let lower = value.to_ascii_lowercase();
    if lower.contains("watching ch") || (lower.contains("channel") && lower.contains("watching")) {
        if let Some(live) = parse_live(name, value) {
            return DvrEvent::LiveTv(live);
        }
    }
    if value.starts_with("Recording") {
        return DvrEvent::Recording(parse_recording(name, value));
    }
    DvrEvent::OtherActivity {
        name: name.to_string(),
        value: value.to_string(),
    }
}

/// `6-file-<id>-<client>`, `7-file…`, or `7-…file…`.
fn is_vod_name(name: &str) -> bool {
    name.starts_with("6-file-")
        || name.starts_with("7-file")
        || (name.starts_with("7-") && name.contains("file"))
}

fn channel_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\b(?:ch|channel)\s?(\d+(?:\.\d+)?)").expect("static regex is valid")
    })
}

fn resolution_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^\d{3,4}[pi]$").expect("static regex is valid"))
}

fn parse_live(name: &str, value: &str) -> Option<LiveTv> {
    let caps = channel_re().captures(value)?;
    let number = caps.get(1)?;
    let after_number = &value[number.end()..];
    let (channel_part, device_part) = match after_number.find(" from ") {
        Some(i) => (
            &after_number[..i],
            Some(&after_number[i + " from ".len()..]),
        ),
        None => (strip_stats(after_number), None),
    };
    let mut resolution = None;
    let mut words = Vec::new();
    for word in channel_part.split_whitespace() {
        if resolution.is_none() && resolution_re().is_match(word) {
            resolution = Some(word.to_string());
        } else {
            words.push(word);
        }
    }
    let channel_name = (!words.is_empty()).then(|| words.join(" "));
    let (device_name, mut client_ip) = device_part.map(parse_device).unwrap_or((None, None));
    if client_ip.is_none() {
        client_ip = name.rsplit('-').next().and_then(|s| s.parse().ok());
    }
    Some(LiveTv {
        name: name.to_string(),
        channel_number: number.as_str().to_string(),
        channel_name,
        resolution,
        device_name,
        client_ip,
        source: stream_source(name),
    })
}

/// Drops a trailing status suffix such as `: buf=0% drop=0%` (only a suffix made of
/// `key=value` stats, so titles with colons survive).
fn strip_stats(s: &str) -> &str {
    match s.rfind(": ") {
        Some(i) if s[i + 2..].contains('=') => &s[..i],
        _ => s.strip_suffix(':').unwrap_or(s),
    }
}

/// `Living Room (192.168.1.50): buf=…` → name and address; a bare address is no name.
/// IPv6 literals contain colons but never `": "`, so the stats suffix splits cleanly.
fn parse_device(text: &str) -> (Option<String>, Option<IpAddr>) {
    let head = strip_stats(text).trim();
    if let Some(open) = head
        .rfind(" (")
        .or_else(|| head.starts_with('(').then_some(0))
    {
        let inner = head[open..]
            .trim_start_matches([' ', '('])
            .trim_end_matches(')');
        let ip = inner.parse::<IpAddr>().ok();
        let name = head[..open].trim();
        if ip.is_some() {
            return ((!name.is_empty()).then(|| name.to_string()), ip);
        }
    }
    if let Ok(ip) = head.parse::<IpAddr>() {
        return (None, Some(ip));
    }
    ((!head.is_empty()).then(|| head.to_string()), None)
}

fn stream_source(name: &str) -> StreamSource {
    let parts: Vec<&str> = name.split('-').collect();
    if parts.len() < 3 || !parts[1].contains("stream") {
        return StreamSource::Unknown;
    }
    let kind = parts[2];
    if kind.starts_with("M3U") {
        return StreamSource::M3u(
            parts
                .get(3)
                .filter(|s| !s.is_empty())
                .map(|s| s.to_string())
                .unwrap_or_else(|| "M3U".to_string()),
        );
    }
    if kind.starts_with("TVE") {
        let provider = parts
            .get(3)
            .map(|p| p.split('_').next().unwrap_or(""))
            .unwrap_or("");
        return StreamSource::Tve(capitalise(provider));
    }
    if !kind.is_empty() && kind.chars().all(|c| c.is_ascii_hexdigit()) {
        return StreamSource::Tuner(kind.to_string());
    }
    if kind.is_empty() {
        StreamSource::Unknown
    } else {
        StreamSource::Other(kind.to_string())
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn parse_vod(name: &str, value: &str) -> Option<Vod> {
    let parts: Vec<&str> = name.split('-').collect();
    let (file_id, client) = if parts.get(1) == Some(&"file") {
        (
            parts.get(2).copied().unwrap_or("").to_string(),
            parts.get(3..).map(|p| p.join("-")).unwrap_or_default(),
        )
    } else {
        // `7-…file…` variants: the id is the first all-digit part after "file".
        let idx = parts.iter().position(|p| p.contains("file"))?;
        (
            parts.get(idx + 1).copied().unwrap_or("").to_string(),
            parts
                .get(idx + 2..)
                .map(|p| p.join("-"))
                .unwrap_or_default(),
        )
    };
    let verb = if value.starts_with("Watching ") {
        "Watching "
    } else if value.starts_with("Streaming ") {
        "Streaming "
    } else {
        return None;
    };
    let body = &value[verb.len()..];
    // Split at the last " at " only when a position follows ("Breakfast at Tiffany's").
    let at = body
        .rfind(" at ")
        .and_then(|i| parse_position(body[i + 4..].trim()).map(|p| (i, p)));
    let (before_at, position) = match at {
        Some((i, p)) => (&body[..i], Some(p)),
        None => (strip_stats(body), None),
    };
    let preroll = verb == "Streaming " && position.is_none();
    let (title, device_name, mut client_ip) = match before_at.rfind(" from ") {
        Some(i) => {
            let (dev, ip) = parse_device(&before_at[i + 6..]);
            (Some(before_at[..i].trim().to_string()), dev, ip)
        }
        None => (Some(before_at.trim().to_string()), None, None),
    };
    if client_ip.is_none() {
        client_ip = client.parse().ok();
    }
    Some(Vod {
        name: name.to_string(),
        file_id,
        client,
        title: title.filter(|t| !t.is_empty()),
        device_name,
        client_ip,
        position_seconds: position,
        preroll,
    })
}

/// `1h15m42s`, `58m46s`, `42s`, `1:02:03`, `58:46` → seconds.
pub fn parse_position(s: &str) -> Option<u64> {
    let s = strip_stats(s).trim();
    if s.is_empty() {
        return None;
    }
    if s.contains(':') {
        let mut total: u64 = 0;
        let fields: Vec<&str> = s.split(':').collect();
        if fields.len() > 3 {
            return None;
        }
        for f in fields {
            let n: u64 = f.parse().ok()?;
            total = total.checked_mul(60)?.checked_add(n)?;
        }
        return Some(total);
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut seen_unit = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mult = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(mult)?)?;
        num.clear();
        seen_unit = true;
    }
    if !num.is_empty() || !seen_unit {
        return None;
    }
    Some(total)
}

fn parse_recording(name: &str, value: &str) -> RecordingActivity {
    let body = strip_stats(value.strip_prefix("Recording").unwrap_or(value)).trim();
    let (channel_number, rest) = match channel_re().captures(body).and_then(|c| c.get(1)) {
        Some(m) => (Some(m.as_str().to_string()), &body[m.end()..]),
        None => (None, body),
    };
    let (channel_part, after_for) = match rest.find(" for ") {
        Some(i) => (&rest[..i], Some(&rest[i + 5..])),
        None => (rest, None),
    };
    let channel_name = Some(channel_part.trim().to_string()).filter(|s| !s.is_empty());
    let (title, until) = match after_for {
        Some(t) => match t.rfind(" until ") {
            Some(i) => (
                Some(t[..i].trim().to_string()),
                Some(t[i + 7..].trim().to_string()),
            ),
            None => (Some(t.trim().to_string()), None),
        },
        None => (None, None),
    };
    RecordingActivity {
        name: name.to_string(),
        channel_number,
        channel_name,
        title,
        until,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn long_names_are_refused_and_long_values_cut() {
        let long = "n".repeat(MAX_NAME_BYTES + 1);
        assert!(parse_line(&format!(
            r#"{{"Type":"activities.set","Name":"{long}","Value":"x"}}"#
        ))
        .is_err());
        let value = "é".repeat(MAX_VALUE_BYTES);
        match parse_line(&format!(
            r#"{{"Type":"activities.set","Name":"a","Value":"{value}"}}"#
        ))
        .unwrap()
        {
            Line::Event(DvrEvent::OtherActivity { value, .. }) => {
                assert!(value.len() <= MAX_VALUE_BYTES)
            }
            other => panic!("{other:?}"),
        }
    }

    fn event(line: &str) -> DvrEvent {
        match parse_line(line) {
            Ok(Line::Event(e)) => e,
            other => panic!("expected an event from {line:?}, got {other:?}"),
        }
    }

    fn live(line: &str) -> LiveTv {
        match event(line) {
            DvrEvent::LiveTv(l) => l,
            other => panic!("expected live TV, got {other:?}"),
        }
    }

    fn vod(line: &str) -> Vod {
        match event(line) {
            DvrEvent::Vod(v) => v,
            other => panic!("expected VOD, got {other:?}"),
        }
    }

    #[test]
    fn every_fixture_line_parses_to_the_expected_kind() {
        let kinds: Vec<&str> = include_str!("../../../sim/src/fixtures/events-session.jsonl")
            .lines()
            .map(|l| event(l).kind())
            .collect();
        assert_eq!(
            kinds,
            [
                "hello",
                "live_tv",
                "live_tv",
                "activity_ended",
                "live_tv",
                "activity_ended",
                "vod",
                "vod",
                "activity_ended",
                "job_created",
                "recording_started",
                "recording_activity",
                "activity_ended",
                "recording_completed",
                "job_created",
                "job_deleted"
            ]
        );
    }

    #[test]
    fn live_tv_with_ipv4_and_tuner() {
        let l = live(
            r#"{"Type":"activities.set","Name":"7-stream-10811DF5-192.168.1.50","Value":"Watching ch7 ABC from Living Room (192.168.1.50): buf=0% drop=0%"}"#,
        );
        assert_eq!(l.channel_number, "7");
        assert_eq!(l.channel_name.as_deref(), Some("ABC"));
        assert_eq!(l.device_name.as_deref(), Some("Living Room"));
        assert_eq!(l.client_ip, Some("192.168.1.50".parse().unwrap()));
        assert_eq!(l.source, StreamSource::Tuner("10811DF5".into()));
        assert_eq!(l.resolution, None);
    }

    #[test]
    fn live_tv_decimal_channel_resolution_and_ipv6() {
        let l = live(
            r#"{"Type":"activities.set","Name":"13-stream-10811DF5-fe80::1c2:3ff:fe44:5566","Value":"Watching ch13.1 KCAL 1080i from Den (fe80::1c2:3ff:fe44:5566): buf=0% drop=0%"}"#,
        );
        assert_eq!(l.channel_number, "13.1");
        assert_eq!(l.channel_name.as_deref(), Some("KCAL"));
        assert_eq!(l.resolution.as_deref(), Some("1080i"));
        assert_eq!(l.device_name.as_deref(), Some("Den"));
        assert_eq!(
            l.client_ip,
            Some("fe80::1c2:3ff:fe44:5566".parse().unwrap())
        );
    }

    #[test]
    fn live_tv_tve_and_m3u_sources() {
        let tve = live(
            r#"{"Type":"activities.set","Name":"1-stream-TVE-fox_east-client-a","Value":"Watching ch5 FOX from Living Room (192.0.2.10)"}"#,
        );
        assert_eq!(tve.source, StreamSource::Tve("Fox".into()));
        assert_eq!(tve.source.to_string(), "TVE (Fox)");
        let m3u = live(
            r#"{"Type":"activities.set","Name":"2-stream-M3U-Pluto-192.168.1.51","Value":"Watching ch2001 Pluto News from Kitchen (192.168.1.51)"}"#,
        );
        assert_eq!(m3u.source, StreamSource::M3u("Pluto".into()));
        let bare = live(
            r#"{"Type":"activities.set","Name":"2-stream-M3U","Value":"Watching channel 4 from Kitchen"}"#,
        );
        assert_eq!(bare.source, StreamSource::M3u("M3U".into()));
        assert_eq!(bare.channel_number, "4");
        assert_eq!(bare.device_name.as_deref(), Some("Kitchen"));
        assert_eq!(bare.client_ip, None);
    }

    #[test]
    fn live_tv_device_that_is_only_an_address() {
        let l = live(
            r#"{"Type":"activities.set","Name":"7-stream-AB12-x","Value":"Watching ch7 ABC from 192.168.1.77: buf=1% drop=0%"}"#,
        );
        assert_eq!(l.device_name, None);
        assert_eq!(l.client_ip, Some("192.168.1.77".parse().unwrap()));
        let l = live(
            r#"{"Type":"activities.set","Name":"7-stream-AB12-::1","Value":"Watching ch7 ABC from Somewhere"}"#,
        );
        assert_eq!(
            l.client_ip,
            Some("::1".parse().unwrap()),
            "falls back to the name"
        );
    }

    #[test]
    fn vod_positions_in_every_form() {
        let v = vod(
            r#"{"Type":"activities.set","Name":"6-file-12345-192.168.1.100","Value":"Watching Crank: High Voltage (2009) from Bedroom (192.168.1.100) at 1h15m42s"}"#,
        );
        assert_eq!(v.file_id, "12345");
        assert_eq!(v.client, "192.168.1.100");
        assert_eq!(v.title.as_deref(), Some("Crank: High Voltage (2009)"));
        assert_eq!(v.device_name.as_deref(), Some("Bedroom"), "no (ip) suffix");
        assert_eq!(v.client_ip, Some("192.168.1.100".parse().unwrap()));
        assert_eq!(v.position_seconds, Some(4542));
        assert!(!v.preroll);
        assert_eq!(parse_position("58m46s"), Some(3526));
        assert_eq!(parse_position("1:02:03"), Some(3723));
        assert_eq!(parse_position("58:46"), Some(3526));
        assert_eq!(parse_position("42s"), Some(42));
        assert_eq!(parse_position("abc"), None);
        assert_eq!(parse_position("12"), None);
        let v = vod(
            r#"{"Type":"activities.set","Name":"6-file-123-client-a","Value":"Watching Escape from New York from Living Room at 1m2s"}"#,
        );
        assert_eq!(v.client, "client-a");
        assert_eq!(v.title.as_deref(), Some("Escape from New York"));
        assert_eq!(v.device_name.as_deref(), Some("Living Room"));
        assert_eq!(v.client_ip, None);
        assert_eq!(v.position_seconds, Some(62));
    }

    #[test]
    fn vod_titles_containing_at() {
        let v = vod(
            r#"{"Type":"activities.set","Name":"6-file-5-c","Value":"Streaming Breakfast at Tiffany's from Den"}"#,
        );
        assert_eq!(v.title.as_deref(), Some("Breakfast at Tiffany's"));
        assert_eq!(v.device_name.as_deref(), Some("Den"));
        assert!(v.preroll);
        let v = vod(
            r#"{"Type":"activities.set","Name":"6-file-5-c","Value":"Watching Breakfast at Tiffany's from Den at 12m3s"}"#,
        );
        assert_eq!(v.title.as_deref(), Some("Breakfast at Tiffany's"));
        assert_eq!(v.position_seconds, Some(723));
    }

    #[test]
    fn vod_preroll_placeholder() {
        let v = vod(
            r#"{"Type":"activities.set","Name":"6-file-12345-192.168.1.100","Value":"Streaming Crank: High Voltage (2009) from Bedroom (192.168.1.100)"}"#,
        );
        assert!(v.preroll);
        assert_eq!(v.position_seconds, None);
        assert_eq!(v.device_name.as_deref(), Some("Bedroom"));
    }

    #[test]
    fn recording_events() {
        assert_eq!(
            event(r#"{"Type":"programs.set","Name":"x","Value":"recording-1776630000-ch5.1"}"#),
            DvrEvent::RecordingStarted {
                job_id: "1776630000-ch5.1".into()
            }
        );
        assert_eq!(
            event(r#"{"Type":"programs.set","Name":"x","Value":"recorded-12260"}"#),
            DvrEvent::RecordingCompleted {
                file_id: "12260".into()
            }
        );
        assert_eq!(
            event(r#"{"Type":"jobs.deleted","ID":"1688223633-ch5.1"}"#),
            DvrEvent::JobDeleted {
                job_id: "1688223633-ch5.1".into()
            }
        );
        match event(
            r#"{"Type":"activities.set","Name":"1-stream-10811DF5-recording","Value":"Recording ch5.1 KTLA for The Evening News until 7:00 PM: buf=0% drop=0%"}"#,
        ) {
            DvrEvent::Recording(r) => {
                assert_eq!(r.channel_number.as_deref(), Some("5.1"));
                assert_eq!(r.channel_name.as_deref(), Some("KTLA"));
                assert_eq!(r.title.as_deref(), Some("The Evening News"));
                assert_eq!(r.until.as_deref(), Some("7:00 PM"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sse_framing_and_comments() {
        assert_eq!(parse_line(": keepalive"), Ok(Line::Skip));
        assert_eq!(parse_line(""), Ok(Line::Skip));
        assert_eq!(parse_line("event: message"), Ok(Line::Skip));
        assert_eq!(parse_line("id: 7"), Ok(Line::Skip));
        assert_eq!(parse_line("data:"), Ok(Line::Skip));
        assert_eq!(
            parse_line(r#"data: {"Type":"hello","Name":"","Value":""}"#),
            Ok(Line::Event(DvrEvent::Hello))
        );
        assert_eq!(
            parse_line("data:{\"Type\":\"hello\"}\r"),
            Ok(Line::Event(DvrEvent::Hello))
        );
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        assert!(matches!(
            parse_line("{not json"),
            Err(ParseError::InvalidJson(_))
        ));
        assert!(matches!(parse_line("[1,2]"), Err(ParseError::Shape(_))));
        assert!(matches!(parse_line("42"), Err(ParseError::Shape(_))));
        assert!(matches!(
            parse_line(r#"{"Type":5}"#),
            Err(ParseError::Shape(_))
        ));
        assert!(matches!(
            parse_line(r#"{"Name":"x"}"#),
            Err(ParseError::Shape(_))
        ));
    }

    #[test]
    fn unknown_types_are_reported_as_unknown() {
        assert_eq!(
            event(r#"{"Type":"devices.set","Name":"x","Value":"y","Extra":1}"#),
            DvrEvent::Unknown {
                event_type: "devices.set".into()
            }
        );
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(s in "\\PC*") {
            let _ = parse_line(&s);
        }

        #[test]
        fn never_panics_on_event_shaped_values(
            ty in prop::sample::select(vec!["activities.set", "programs.set", "jobs.created", "jobs.deleted", "hello", "x"]),
            name in "[0-9a-zA-Z:.\\- ]{0,40}",
            value in ".{0,120}",
        ) {
            let line = serde_json::json!({"Type": ty, "Name": name, "Value": value}).to_string();
            prop_assert!(parse_line(&line).is_ok());
            let sse = format!("data: {line}");
            prop_assert!(parse_line(&sse).is_ok());
        }

        #[test]
        fn live_values_with_structure_keep_their_channel(
            num in "[1-9][0-9]{0,3}(\\.[1-9])?",
            chan in "[A-Z]{2,5}",
            dev in "[A-Za-z][A-Za-z ]{0,15}[a-z]",
            a in 1u8..255, b in 0u8..255,
        ) {
            let value = format!("Watching ch{num} {chan} from {dev} (10.0.{a}.{b}): buf=0% drop=0%");
            let line = serde_json::json!({"Type":"activities.set","Name":format!("{num}-stream-ABCD-x"),"Value":value}).to_string();
            let l = live(&line);
            prop_assert_eq!(l.channel_number, num);
            prop_assert_eq!(l.channel_name, Some(chan));
            prop_assert_eq!(l.device_name, Some(dev.trim().to_string()));
            prop_assert_eq!(l.client_ip, Some(IpAddr::from([10, 0, a, b])));
        }
    }
}
