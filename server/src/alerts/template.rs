//! Alert texts: the default title and body of every alert type (the reference layouts,
//! with its quirks fixed: no "Unknown resolution" line, "Total Streams" on its own, the
//! DVR's name on every alert), and optional user templates in a sandboxed minijinja
//! environment with a documented variable list per type and a preview.

use std::time::Duration;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{json, Map, Value};

use super::kind::{AlertKind, Category};
use super::settings::Template;

/// Variables every alert carries.
pub const SHARED_VARS: &[&str] = &[
    "dvr_id",
    "dvr_name",
    "alert_type",
    "alert_type_friendly",
    "timestamp",
    "channelwatch_version",
];

/// Variables per module, on top of [`SHARED_VARS`] (null when unknown).
pub fn variables(cat: Category) -> &'static [&'static str] {
    match cat {
        Category::Channel => &[
            "channel_number",
            "channel_name",
            "channel_logo",
            "program_title",
            "program_summary",
            "program_image",
            "resolution",
            "device_name",
            "client_ip",
            "stream_source",
            "stream_count",
            "image_url",
        ],
        Category::Vod => &[
            "title",
            "year",
            "episode_title",
            "summary",
            "duration",
            "position",
            "device_name",
            "client_ip",
            "rating",
            "genres",
            "cast",
            "image_url",
        ],
        Category::Recording => &[
            "status",
            "job_id",
            "program_title",
            "program_summary",
            "channel_number",
            "channel_name",
            "scheduled_time",
            "start_time",
            "duration",
            "stream_count",
            "image_url",
        ],
        Category::Disk => &[
            "level",
            "disk_free",
            "disk_total",
            "disk_used",
            "disk_percent",
            "dvr_path",
        ],
        Category::Health => &[
            "outage_start",
            "outage_end",
            "outage_duration",
            "detail",
            "dvr_host",
        ],
    }
}

/// A minijinja environment with no file access, bounded work, and plain-text output.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(50_000));
    env.set_recursion_limit(32);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    // An unknown value (null) prints as nothing, not "none".
    env.set_formatter(|out, state, value| {
        if value.is_none() {
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env
}

/// Compiles a template: `Ok` when its syntax is valid.
pub fn check(source: &str) -> Result<(), String> {
    environment()
        .template_from_str(source)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn render_one(source: &str, vars: &Value) -> Result<String, String> {
    let env = environment();
    let t = env.template_from_str(source).map_err(|e| e.to_string())?;
    let out = t.render(vars).map_err(|e| e.to_string())?;
    let out = out.trim().to_string();
    if out.is_empty() {
        Err("the template rendered nothing".into())
    } else {
        Ok(out)
    }
}

/// The rendered title and body; a user template that fails (unknown variable, blank
/// result) falls back to the default text, and says why.
pub fn render(
    kind: AlertKind,
    vars: &Value,
    user: Option<&Template>,
) -> (String, String, Option<String>) {
    let (dt, db) = default_text(kind, vars);
    let mut problem = None;
    let mut pick = |src: &Option<String>, fallback: String, part: &str| match src {
        Some(s) if !s.trim().is_empty() => render_one(s, vars).unwrap_or_else(|e| {
            problem = Some(format!("{part} template: {e}"));
            fallback
        }),
        _ => fallback,
    };
    let (title, body) = match user {
        Some(t) => (pick(&t.title, dt, "title"), pick(&t.body, db, "body")),
        None => (dt, db),
    };
    (title, body, problem)
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn line(out: &mut Vec<String>, label: &str, v: Option<impl std::fmt::Display>) {
    if let Some(v) = v {
        out.push(format!("{label}{v}"));
    }
}

/// The reference layouts (upstream-reference §3), quirks fixed.
pub fn default_text(kind: AlertKind, v: &Value) -> (String, String) {
    use AlertKind::*;
    let mut b: Vec<String> = Vec::new();
    let title = match kind {
        ChannelWatching => {
            line(&mut b, "📺 ", s(v, "channel_name"));
            line(&mut b, "Channel: ", s(v, "channel_number"));
            line(&mut b, "Program: ", s(v, "program_title"));
            line(&mut b, "Resolution: ", s(v, "resolution"));
            line(&mut b, "Device: ", s(v, "device_name"));
            line(&mut b, "Device IP: ", s(v, "client_ip"));
            line(&mut b, "Source: ", s(v, "stream_source"));
            line(
                &mut b,
                "Total Streams: ",
                v.get("stream_count").and_then(Value::as_u64),
            );
            "Channels DVR - Watching TV".to_string()
        }
        VodPlayback => {
            let mut head = s(v, "title").unwrap_or("Unknown title").to_string();
            if let Some(y) = v.get("year").and_then(Value::as_u64) {
                head.push_str(&format!(" ({y})"));
            }
            if let Some(e) = s(v, "episode_title") {
                head.push_str(&format!(" - {e}"));
            }
            b.push(head);
            match (s(v, "position"), s(v, "duration")) {
                (Some(p), Some(d)) => b.push(format!("Duration: {p} / {d}")),
                (None, Some(d)) => b.push(format!("Duration: {d}")),
                _ => {}
            }
            line(&mut b, "Device Name: ", s(v, "device_name"));
            line(&mut b, "Device IP: ", s(v, "client_ip"));
            if let Some(sum) = s(v, "summary") {
                b.push(String::new());
                b.push(sum.to_string());
            }
            let rating = s(v, "rating").map(|r| format!("Rating: {r}"));
            let genres = v["genres"].as_array().filter(|g| !g.is_empty()).map(|g| {
                let names: Vec<&str> = g.iter().filter_map(Value::as_str).collect();
                format!("Genres: {}", names.join(", "))
            });
            let meta: Vec<String> = rating.into_iter().chain(genres).collect();
            if !meta.is_empty() {
                b.push(String::new());
                b.push(meta.join(" · "));
            }
            if let Some(cast) = v["cast"].as_array().filter(|c| !c.is_empty()) {
                let names: Vec<&str> = cast.iter().filter_map(Value::as_str).take(3).collect();
                let more = if cast.len() > 3 { ", ..." } else { "" };
                b.push(format!("Cast: {}{more}", names.join(", ")));
            }
            "🎬 Channels DVR - Watching DVR Content".to_string()
        }
        RecordingScheduled | RecordingStarted | RecordingCompleted | RecordingStopped
        | RecordingCancelled | RecordingFailed | RecordingSkipped | RecordingMissed
        | RecordingInterrupted => {
            line(&mut b, "📺 ", s(v, "channel_name"));
            line(&mut b, "Channel: ", s(v, "channel_number"));
            line(&mut b, "Status: ", s(v, "status"));
            line(&mut b, "Program: ", s(v, "program_title"));
            line(&mut b, "", s(v, "program_summary"));
            b.push("-----------------------".into());
            line(&mut b, "Scheduled: ", s(v, "scheduled_time"));
            line(&mut b, "Recording: ", s(v, "start_time"));
            line(&mut b, "Duration: ", s(v, "duration"));
            line(
                &mut b,
                "Total Streams: ",
                v.get("stream_count").and_then(Value::as_u64),
            );
            "Channels DVR - Recording Event".to_string()
        }
        DiskWarning | DiskCritical => {
            b.push(format!(
                "Free Space: {} / {} ({})",
                s(v, "disk_free").unwrap_or("?"),
                s(v, "disk_total").unwrap_or("?"),
                s(v, "disk_percent").unwrap_or("?")
            ));
            line(&mut b, "Used Space: ", s(v, "disk_used"));
            line(&mut b, "DVR Path: ", s(v, "dvr_path"));
            if kind == DiskCritical {
                "🚨 Low Disk Space Critical".to_string()
            } else {
                "⚠️ Low Disk Space Warning".to_string()
            }
        }
        DvrUnreachable => {
            b.push(format!(
                "No events or answers since {} ({} ago).",
                s(v, "outage_start").unwrap_or("?"),
                s(v, "outage_duration").unwrap_or("?")
            ));
            line(&mut b, "Last error: ", s(v, "detail"));
            format!("🔌 DVR unreachable: {}", s(v, "dvr_name").unwrap_or("?"))
        }
        DvrRecovered => {
            b.push(format!(
                "Back after {}: down from {} to {}.",
                s(v, "outage_duration").unwrap_or("?"),
                s(v, "outage_start").unwrap_or("?"),
                s(v, "outage_end").unwrap_or("?")
            ));
            format!("✅ DVR recovered: {}", s(v, "dvr_name").unwrap_or("?"))
        }
        DvrReloadFailed => {
            line(&mut b, "", s(v, "detail"));
            format!(
                "⚠️ DVR did not come back after a reload: {}",
                s(v, "dvr_name").unwrap_or("?")
            )
        }
        Test => {
            b.push("This is a test notification from ChannelWatch.".into());
            "[TEST] ChannelWatch notification".to_string()
        }
    };
    if let Some(name) = s(v, "dvr_name") {
        b.push(format!("DVR: {name}"));
    }
    (title, b.join("\n"))
}

/// 1024-based sizes with two decimals: `200.59 GB`, `1.82 TB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.2} {}", UNITS[u])
}

/// `1h 15m 42s` / `58m 46s`.
pub fn clock_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else {
        format!("{m}m {s:02}s")
    }
}

/// `2 hours 16 minutes`.
pub fn words_duration(d: Duration) -> String {
    let mins = d.as_secs() / 60;
    let (h, m) = (mins / 60, mins % 60);
    let plural = |n: u64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match (h, m) {
        (0, m) => plural(m, "minute"),
        (h, 0) => plural(h, "hour"),
        (h, m) => format!("{} {}", plural(h, "hour"), plural(m, "minute")),
    }
}

/// Sample variables per alert type, for previews and tests.
pub fn sample(kind: AlertKind) -> Value {
    let mut m = Map::new();
    m.insert("dvr_id".into(), json!("aef6d698"));
    m.insert("dvr_name".into(), json!("Living Room"));
    m.insert("alert_type".into(), json!(kind.event_type()));
    m.insert("alert_type_friendly".into(), json!(kind.friendly()));
    m.insert("timestamp".into(), json!("2026-04-19T14:32:01Z"));
    m.insert("channelwatch_version".into(), json!(crate::VERSION));
    let extra = match kind.category() {
        Some(Category::Channel) => json!({
            "channel_number": "7", "channel_name": "ABC", "channel_logo": "https://example.com/abc.png",
            "program_title": "Good Morning America", "program_summary": "News and talk.",
            "program_image": "https://example.com/gma.jpg", "resolution": "1080i",
            "device_name": "Living Room TV", "client_ip": "192.168.1.50",
            "stream_source": "Tuner (10811DF5)", "stream_count": 1, "image_url": "https://example.com/gma.jpg"
        }),
        Some(Category::Vod) => json!({
            "title": "The Matrix", "year": 1999, "episode_title": null, "summary": "A hacker learns the truth.",
            "duration": "2h 16m 17s", "position": "1h 02m 03s", "device_name": "Bedroom",
            "client_ip": "192.168.1.100", "rating": "R", "genres": ["Action", "Sci-Fi"],
            "cast": ["Keanu Reeves", "Laurence Fishburne", "Carrie-Anne Moss", "Hugo Weaving"],
            "image_url": "https://example.com/matrix.jpg"
        }),
        Some(Category::Recording) => json!({
            "status": "🔴 Recording (Scheduled)", "job_id": "1776700800-7",
            "program_title": "The Evening News", "program_summary": "Headlines.",
            "channel_number": "7", "channel_name": "ABC", "scheduled_time": "Today at 6:30 PM",
            "start_time": "6:30 PM", "duration": "30 minutes", "stream_count": 2,
            "image_url": "https://example.com/news.jpg"
        }),
        Some(Category::Disk) => json!({
            "level": if kind == AlertKind::DiskCritical { "critical" } else { "warning" },
            "disk_free": "200.59 GB", "disk_total": "1.82 TB", "disk_used": "1.62 TB",
            "disk_percent": "10.8%", "dvr_path": "/shares/DVR"
        }),
        Some(Category::Health) => json!({
            "outage_start": "2026-04-19 14:30:00", "outage_end": "2026-04-19 14:45:00",
            "outage_duration": "15m 0s", "detail": "disconnected: connection refused",
            "dvr_host": "192.168.1.10:8089"
        }),
        None => json!({}),
    };
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_default_layout_fixes_the_quirks() {
        let mut v = sample(AlertKind::ChannelWatching);
        v["resolution"] = Value::Null;
        v["stream_source"] = Value::Null;
        let (title, body) = default_text(AlertKind::ChannelWatching, &v);
        assert_eq!(title, "Channels DVR - Watching TV");
        assert!(!body.contains("Resolution"), "no 'Unknown resolution' line");
        assert!(
            body.contains("Total Streams: 1"),
            "stream count without Source"
        );
        assert!(body.starts_with("📺 ABC\nChannel: 7\nProgram: Good Morning America"));
        assert!(body.ends_with("DVR: Living Room"));
    }

    #[test]
    fn every_kind_has_a_default_naming_the_dvr() {
        for k in AlertKind::ALL {
            let (t, b) = default_text(k, &sample(k));
            assert!(!t.is_empty());
            if k != AlertKind::Test {
                assert!(b.contains("Living Room"), "{k:?}: {b}");
            }
        }
        let (t, b) = default_text(AlertKind::VodPlayback, &sample(AlertKind::VodPlayback));
        assert_eq!(t, "🎬 Channels DVR - Watching DVR Content");
        assert!(b.starts_with("The Matrix (1999)\nDuration: 1h 02m 03s / 2h 16m 17s"));
        assert!(b.contains("Rating: R · Genres: Action, Sci-Fi"));
        assert!(b.contains("Cast: Keanu Reeves, Laurence Fishburne, Carrie-Anne Moss, ..."));
        let (t, b) = default_text(AlertKind::DiskWarning, &sample(AlertKind::DiskWarning));
        assert_eq!(t, "⚠️ Low Disk Space Warning");
        assert!(b.starts_with("Free Space: 200.59 GB / 1.82 TB (10.8%)\nUsed Space: 1.62 TB"));
    }

    #[test]
    fn user_templates_render_or_fall_back_with_a_reason() {
        let v = sample(AlertKind::ChannelWatching);
        let t = Template {
            title: Some("{{ dvr_name }}: {{ channel_name }} on {{ device_name }}".into()),
            body: Some("{% if program_title %}Now: {{ program_title }}{% endif %}".into()),
        };
        let (title, body, problem) = render(AlertKind::ChannelWatching, &v, Some(&t));
        assert_eq!(title, "Living Room: ABC on Living Room TV");
        assert_eq!(body, "Now: Good Morning America");
        assert_eq!(problem, None);
        let mut v2 = v.clone();
        v2["program_title"] = Value::Null;
        let t2 = Template {
            title: Some("[{{ program_title }}]".into()),
            body: None,
        };
        assert_eq!(render(AlertKind::ChannelWatching, &v2, Some(&t2)).0, "[]");
        let bad = Template {
            title: Some("{{ no_such_var }}".into()),
            body: None,
        };
        let (title, _, problem) = render(AlertKind::ChannelWatching, &v, Some(&bad));
        assert_eq!(title, "Channels DVR - Watching TV");
        assert!(problem.unwrap().contains("title template"));
        assert!(check("{% for %}").is_err());
        assert!(check("{{ a }}").is_ok());
    }

    #[test]
    fn templates_cannot_run_away() {
        let v = sample(AlertKind::ChannelWatching);
        let t = Template {
            title: Some(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
                    .into(),
            ),
            body: None,
        };
        let (title, _, problem) = render(AlertKind::ChannelWatching, &v, Some(&t));
        assert_eq!(title, "Channels DVR - Watching TV");
        assert!(problem.is_some());
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(human_size(215_383_064_576), "200.59 GB");
        assert_eq!(human_size(2_001_111_162_880), "1.82 TB");
        assert_eq!(clock_duration(Duration::from_secs(4542)), "1h 15m 42s");
        assert_eq!(clock_duration(Duration::from_secs(3526)), "58m 46s");
        assert_eq!(
            words_duration(Duration::from_secs(8160)),
            "2 hours 16 minutes"
        );
        assert_eq!(words_duration(Duration::from_secs(3600)), "1 hour");
    }

    #[test]
    fn every_documented_variable_is_in_the_sample() {
        for k in AlertKind::ALL {
            let Some(cat) = k.category() else { continue };
            let v = sample(k);
            for name in SHARED_VARS.iter().chain(variables(cat)) {
                assert!(v.get(*name).is_some(), "{k:?} sample lacks {name}");
            }
        }
    }
}
