//! What a DVR's own API says about channels, the guide, library items, jobs and
//! recordings, parsed from its JSON. The alert rules read these as facts; the server
//! fetches and caches them (`alerts::enrich`).

use std::collections::HashMap;

use serde_json::Value;

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
    /// Why the DVR failed or skipped the job, in its words (`error`), when it says.
    pub error: Option<String>,
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
    /// The DVR's reason for a failure (`error`), when it gives one.
    pub error: Option<String>,
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
                            error: reason(j),
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
        error: reason(v),
    }
}

/// A failure reason from the DVR: one line of at most 300 characters (it goes into
/// alert texts).
fn reason(v: &Value) -> Option<String> {
    text(v, &["error", "Error"]).map(|e| crate::text::outside_text(&e, 300))
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
        assert_eq!(r.error.as_deref(), Some("tuner lost"));
    }

    #[test]
    fn a_jobs_failure_reason_is_kept_on_one_bounded_line() {
        let long = "x".repeat(1000);
        let jobs = parse_jobs(&serde_json::json!([
            {"id": "a", "name": "News", "error": "No tuners\navailable"},
            {"id": "b", "name": "Film", "Error": long},
            {"id": "c", "name": "Fine"}
        ]));
        assert_eq!(jobs["a"].error.as_deref(), Some("No tuners available"));
        assert!(jobs["b"].error.as_ref().unwrap().chars().count() <= 300);
        assert_eq!(jobs["c"].error, None);
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
