//! Alert texts: the default title and body of every alert type (the reference layouts,
//! with its quirks fixed: no "Unknown resolution" line, "Total Streams" on its own, the
//! DVR's name on every alert), and optional user templates in a sandboxed minijinja
//! environment with a documented variable list per type and a preview.
//!
//! User templates run in a sandbox whose memory and time are bounded: no assignments,
//! macros, recursive loops or `*` (nothing can feed a value back into itself), only
//! filters whose results are capped, variables cut to size, the output capped, fuel for
//! the instruction count, and the render on the blocking pool with a time limit.

use std::sync::OnceLock;
use std::time::Duration;

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use serde_json::{json, Map, Value};

use crate::alerts::kind::{AlertKind, Category};
use wire::settings::Template;

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
            "error",
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

/// The longest template source (a title or a body), in bytes.
pub const MAX_SOURCE: usize = 4 * 1024;
/// The longest rendered text; a render that writes more stops with an error.
pub(crate) const MAX_OUTPUT: usize = 16 * 1024;
/// The largest result a filter may produce: bytes of a string, items of a list.
const MAX_VALUE: usize = 16 * 1024;
/// A variable's text (from the DVR) is cut to this many bytes, a list to this many items.
const MAX_VAR_BYTES: usize = 2 * 1024;
const MAX_VAR_ITEMS: usize = 16;
/// Past this the render is abandoned and the default texts are used (the fuel ends a
/// render long before, unless the machine is starved).
pub const RENDER_TIMEOUT: Duration = Duration::from_secs(2);

/// The sandbox: no loader (no include/import), no globals (no `range`, `namespace`),
/// the tests, and an allowlist of filters whose results are capped.
fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        use minijinja::{filters as f, tests as t};
        let mut env = Environment::empty();
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
        // Results no larger than their input.
        env.add_filter("length", f::length);
        env.add_filter("count", f::length);
        env.add_filter("default", f::default);
        env.add_filter("d", f::default);
        env.add_filter("first", f::first);
        env.add_filter("last", f::last);
        env.add_filter("trim", f::trim);
        env.add_filter("int", f::int);
        env.add_filter("float", f::float);
        env.add_filter("round", f::round);
        env.add_filter("abs", f::abs);
        env.add_filter("reverse", f::reverse);
        env.add_filter("sort", f::sort);
        env.add_filter("unique", f::unique);
        env.add_filter("min", f::min);
        env.add_filter("max", f::max);
        env.add_filter("sum", f::sum);
        env.add_filter("bool", f::bool);
        // Results that can grow: capped.
        env.add_filter("upper", capped_filters::upper);
        env.add_filter("lower", capped_filters::lower);
        env.add_filter("title", capped_filters::title);
        env.add_filter("capitalize", capped_filters::capitalize);
        env.add_filter("replace", capped_filters::replace);
        env.add_filter("join", capped_filters::join);
        env.add_filter("string", capped_filters::string);
        env.add_filter("split", capped_filters::split);
        env.add_filter("lines", capped_filters::lines);
        // Tests answer true or false.
        env.add_test("defined", t::is_defined);
        env.add_test("undefined", t::is_undefined);
        env.add_test("none", t::is_none);
        env.add_test("true", t::is_true);
        env.add_test("false", t::is_false);
        env.add_test("boolean", t::is_boolean);
        env.add_test("number", t::is_number);
        env.add_test("integer", t::is_integer);
        env.add_test("float", t::is_float);
        env.add_test("string", t::is_string);
        env.add_test("sequence", t::is_sequence);
        env.add_test("mapping", t::is_mapping);
        env.add_test("odd", t::is_odd);
        env.add_test("even", t::is_even);
        env.add_test("eq", t::is_eq);
        env.add_test("ne", t::is_ne);
        env.add_test("lt", t::is_lt);
        env.add_test("le", t::is_le);
        env.add_test("gt", t::is_gt);
        env.add_test("ge", t::is_ge);
        env.add_test("in", t::is_in);
        env.add_test("startingwith", t::is_startingwith);
        env.add_test("endingwith", t::is_endingwith);
        env.add_test("lower", t::is_lower);
        env.add_test("upper", t::is_upper);
        env
    })
}

fn too_large() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("a value over {MAX_VALUE} bytes or items"),
    )
}

/// Refuses sizes over [`MAX_VALUE`]: a filter's input, or the result it would make.
fn small(size: usize) -> Result<(), Error> {
    if size > MAX_VALUE {
        Err(too_large())
    } else {
        Ok(())
    }
}

/// A filter's result, refused when it is larger than [`MAX_VALUE`].
fn capped(v: minijinja::Value) -> Result<minijinja::Value, Error> {
    small(match v.as_str() {
        Some(s) => s.len(),
        None => v.len().unwrap_or(0),
    })?;
    Ok(v)
}

/// The builtin filters that can make a result larger than their input. Each checks
/// its input first (a case mapping may triple a text; a split makes an item per
/// character), and `join` and `replace` the size they would produce, before any of it
/// is allocated: a result can be the product of two inputs.
mod capped_filters {
    use std::borrow::Cow;
    use std::sync::Arc;

    use minijinja::value::StringInput;
    use minijinja::{filters as f, Error, State, Value};

    use super::{capped, small};

    pub fn upper(v: StringInput<'_>) -> Result<Value, Error> {
        small(v.as_str().len())?;
        Ok(f::upper(v))
    }
    pub fn lower(v: StringInput<'_>) -> Result<Value, Error> {
        small(v.as_str().len())?;
        Ok(f::lower(v))
    }
    pub fn title(v: Cow<'_, str>) -> Result<Value, Error> {
        small(v.len())?;
        Ok(Value::from(f::title(v)))
    }
    pub(crate) fn capitalize(v: StringInput<'_>) -> Result<Value, Error> {
        small(v.as_str().len())?;
        Ok(f::capitalize(v))
    }
    pub fn replace(
        state: &State,
        v: StringInput<'_>,
        from: StringInput<'_>,
        to: StringInput<'_>,
    ) -> Result<Value, Error> {
        let (text, pattern) = (v.as_str(), from.as_str());
        small(text.len())?;
        let hits = if pattern.is_empty() {
            text.chars().count() + 1
        } else {
            text.matches(pattern).count()
        };
        small(
            text.len()
                .saturating_add(hits.saturating_mul(to.as_str().len())),
        )?;
        capped(f::replace(state, v, from, to)?)
    }
    pub fn join(state: &State, v: &Value, sep: Option<StringInput<'_>>) -> Result<Value, Error> {
        let items = v.len().unwrap_or(0);
        small(items)?;
        small(items.saturating_mul(sep.as_ref().map_or(0, |s| s.as_str().len())))?;
        capped(f::join(state, v, sep)?)
    }
    pub fn string(state: &State, v: &Value) -> Result<Value, Error> {
        capped(f::string(state, v)?)
    }
    pub fn split(v: &Value, sep: Option<Arc<str>>, max: Option<i64>) -> Result<Value, Error> {
        small(v.as_str().map_or(0, str::len))?;
        capped(f::split(v, sep, max)?)
    }
    pub fn lines(v: &Value) -> Result<Value, Error> {
        small(v.as_str().map_or(0, str::len))?;
        capped(f::lines(v)?)
    }
}

/// Refuses what could build a value without bound: assignments, macros and call
/// blocks (a value fed back into itself doubles on every pass), recursive loops (the
/// same through `loop()`), `*` (repetition: 100 MB per use in minijinja), and the
/// statements that need a loader. Read with minijinja's own lexer, so a string or a
/// `{% raw %}` block that merely contains these words is fine.
fn refuse_unbounded(source: &str) -> Result<(), String> {
    use minijinja::machinery::{tokenize, Token, WhitespaceConfig};
    let mut statement_start = false;
    for token in tokenize(
        source,
        false,
        Default::default(),
        WhitespaceConfig::default(),
    ) {
        let (token, _) = token.map_err(|e| e.to_string())?;
        match token {
            Token::Ident(
                w @ ("set" | "with" | "macro" | "call" | "filter" | "do" | "block" | "extends"
                | "include" | "import" | "from"),
            ) if statement_start => {
                return Err(format!("'{{% {w} %}}' is not allowed in alert templates"));
            }
            Token::Ident("recursive") => {
                return Err("recursive loops are not allowed in alert templates".into());
            }
            Token::Mul => {
                return Err("'*' is not allowed in alert templates".into());
            }
            _ => {}
        }
        statement_start = matches!(token, Token::BlockStart);
    }
    Ok(())
}

/// A template's syntax and the sandbox's rules, without rendering it.
pub fn check_syntax(source: &str) -> Result<(), String> {
    if source.len() > MAX_SOURCE {
        return Err(format!("longer than {MAX_SOURCE} bytes"));
    }
    refuse_unbounded(source)?;
    environment()
        .template_from_str(source)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Refuses a template that cannot work: [`check_syntax`], then a render on the sample
/// variables of every alert type of `cat` (an unknown variable, an error, nothing
/// rendered). Blank is fine: it means the default layout.
pub fn check(source: &str, cat: Category) -> Result<(), String> {
    if source.trim().is_empty() {
        return Ok(());
    }
    check_syntax(source)?;
    for kind in AlertKind::ALL
        .into_iter()
        .filter(|k| k.category() == Some(cat))
    {
        render_one(source, &sample(kind))
            .map_err(|e| format!("on the {} sample: {e}", kind.event_type()))?;
    }
    Ok(())
}

/// The render's output, refused once it passes [`MAX_OUTPUT`].
#[derive(Default)]
struct CappedOutput {
    buf: Vec<u8>,
    over: bool,
}

impl std::io::Write for CappedOutput {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + b.len() > MAX_OUTPUT {
            self.over = true;
            return Err(std::io::Error::other("output too long"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The variables as a template sees them: texts cut to [`MAX_VAR_BYTES`], lists to
/// [`MAX_VAR_ITEMS`] (the DVR's data is outside input; a notification needs no more).
fn clipped_vars(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(crate::text::clip(s, MAX_VAR_BYTES)),
        Value::Array(a) => Value::Array(a.iter().take(MAX_VAR_ITEMS).map(clipped_vars).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), clipped_vars(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn render_one(source: &str, vars: &Value) -> Result<String, String> {
    check_syntax(source)?;
    let t = environment()
        .template_from_str(source)
        .map_err(|e| e.to_string())?;
    let mut out = CappedOutput::default();
    if let Err(e) = t.render_captured_to(clipped_vars(vars), &mut out) {
        return Err(if out.over {
            format!("the text is longer than {MAX_OUTPUT} bytes")
        } else {
            e.to_string()
        });
    }
    let out = String::from_utf8_lossy(&out.buf).trim().to_string();
    if out.is_empty() {
        Err("the template rendered nothing".into())
    } else {
        Ok(out)
    }
}

/// The rendered title and body; a user template that fails (unknown variable, blank
/// result, a sandbox limit) falls back to the default text, and says why. Blocking:
/// async code renders on the blocking pool, within [`RENDER_TIMEOUT`].
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
            line(&mut b, "Reason: ", s(v, "error"));
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
            "image_url": "https://example.com/news.jpg",
            "error": match kind {
                AlertKind::RecordingFailed | AlertKind::RecordingMissed => Some("No tuners available"),
                _ => None,
            }
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
        assert!(check_syntax("{% for %}").is_err());
        assert!(check_syntax("{{ a }}").is_ok());
        assert!(check("{{ no_such_var }}", Category::Channel).is_err());
        assert!(check("{{ channel_name }}", Category::Channel).is_ok());
        assert!(
            check("   ", Category::Channel).is_ok(),
            "blank is the default layout"
        );
    }

    #[test]
    fn unbounded_constructs_are_refused() {
        for src in [
            "{% set a = 'x' %}{% set a = a ~ a %}{{ a }}",
            "{%- set a = 'x' -%}{{ a }}",
            "{% with a = 'x' %}{{ a }}{% endwith %}",
            "{% macro m(s) %}{{ m(s ~ s) }}{% endmacro %}{{ m('x') }}",
            "{% for x in ['a'] recursive %}{{ loop([x ~ x]) }}{% endfor %}",
            "{{ 'x' * 99999999 }}",
            "{{ (cast * 1000000)|join }}",
            "{% filter upper %}x{% endfilter %}",
            "{% include 'x' %}",
        ] {
            assert!(check_syntax(src).is_err(), "{src}");
        }
        // The same words as text, in strings or raw blocks, are fine.
        for src in [
            "set * with {{ '*' }} {{ \"recursive\" }}",
            "{% raw %}{% set a = 1 %}{{ a * 2 }}{% endraw %}",
            "*{{ channel_name }}* on {{ device_name|upper }}",
        ] {
            assert!(check_syntax(src).is_ok(), "{src}");
        }
        assert!(check_syntax(&"x".repeat(MAX_SOURCE + 1)).is_err());
    }

    #[test]
    fn sandbox_caps_values_and_output() {
        let v = sample(AlertKind::ChannelWatching);
        let user = |title: &str| Template {
            title: Some(title.into()),
            body: None,
        };
        for src in [
            // Filters that grow are capped...
            "{{ channel_name|replace('', program_summary)|replace('', program_summary)|replace('', program_summary)|replace('', program_summary) }}",
            "{{ [program_summary, program_summary]|join(program_summary ~ program_summary) }}x{{ channel_name|replace('', channel_name|replace('', program_summary)|replace('', program_summary)|replace('', program_summary)) }}",
            // ...and so is the output.
            "{% for a in 'abcdefghijklmnopqrstuvwxyz' %}{% for b in 'abcdefghijklmnopqrstuvwxyz' %}{{ program_summary ~ program_summary ~ program_summary ~ program_summary }}{% endfor %}{% endfor %}",
            // No globals: range, namespace, dict, debug are gone.
            "{{ range(10)|join }}",
            "{{ namespace() }}",
            // Filters outside the allowlist.
            "{{ channel_name|indent(10000000000000) }}",
            "{{ '%99999999999999d'|format(1) }}",
            "{{ channel_name|batch(10000000000000) }}",
        ] {
            let (title, _, problem) = render(AlertKind::ChannelWatching, &v, Some(&user(src)));
            assert_eq!(title, "Channels DVR - Watching TV", "{src}");
            assert!(problem.is_some(), "{src}");
        }
        let mut big = v.clone();
        big["program_title"] = json!("y".repeat(1 << 20));
        let (title, _, _) = render(
            AlertKind::ChannelWatching,
            &big,
            Some(&user("{{ program_title }}")),
        );
        assert!(title.len() <= MAX_VAR_BYTES, "variables are cut");
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
