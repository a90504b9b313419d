//! The captured Channels DVR responses the simulator serves, and views derived from them.
//!
//! The fixtures are embedded so the simulator works from any working directory and in
//! the installed binary. They are parsed once per simulator, after the image host
//! `127.0.0.1:8089` has been rewritten to the simulator's own address, so image URLs a
//! monitor follows point back at something that answers.

use serde_json::{json, Value};

const STATUS: &str = include_str!("fixtures/status.json");
/// The version `/status` reports (also announced over mDNS).
pub const VERSION: &str = "2026.04.20.0213";
const DVR: &str = include_str!("fixtures/dvr.json");
const CHANNELS: &str = include_str!("fixtures/channels.json");
const GUIDE_NOW: &str = include_str!("fixtures/guide-now.json");
const ALL: &str = include_str!("fixtures/all.json");
const RECORDING_12260: &str = include_str!("fixtures/recording-12260.json");
const JOBS: &str = include_str!("fixtures/jobs.json");

/// The address the captured fixtures use for images; replaced by ours when loading.
const FIXTURE_HOST: &str = "127.0.0.1:8089";

/// Channels the scenario tunes that the captured channel list lacks:
/// (number, call sign or name, logo file). M3U channels have no logo, KTTV's is gone.
pub(crate) const EXTRA_CHANNELS: [(&str, &str, Option<&str>); 7] = [
    ("13.1", "KCOP", Some("ch13.png")),
    ("2.1", "KCBS", Some("ch2.png")),
    ("4.1", "KNBC", Some("ch4.png")),
    ("11.1", "KTTV", Some("ch11-missing.png")),
    ("6001", "Pluto TV News", None),
    ("6002", "Pluto TV Crime", None),
    ("6101", "Samsung TV Plus Movies", None),
];

/// Disk figures used when `dvr.json` lacks them (same values as the capture).
const FALLBACK_FREE: u64 = 215_383_064_576;
const FALLBACK_TOTAL: u64 = 2_001_111_162_880;

/// One entry of the channel list, as far as the simulator needs it.
#[derive(Clone, Debug)]
pub(crate) struct ChannelInfo {
    pub number: String,
    pub name: String,
    pub logo: String,
}

/// One guide airing, flattened (channel number/name plus the programme).
#[derive(Clone, Debug)]
pub(crate) struct AiringInfo {
    pub channel_number: String,
    pub title: String,
    pub summary: String,
    pub duration: i64,
    pub image: String,
}

/// Everything loaded from the fixtures for one simulator.
#[derive(Debug)]
pub(crate) struct Fixtures {
    /// `host:port` that image URLs now point at.
    pub public_host: String,
    pub status: Value,
    pub dvr_path: String,
    pub disk_free: u64,
    pub disk_total: u64,
    /// `/api/v1/channels` body: the captured list (after the host rewrite) and the
    /// scenario's other channels.
    pub channels_text: String,
    pub channels: Vec<ChannelInfo>,
    /// `/devices/ANY/guide/now` body; airing times are shifted per request.
    pub guide_now: Value,
    pub airings: Vec<AiringInfo>,
    pub all: Vec<Value>,
    pub recording: Value,
    pub jobs: Vec<Job>,
}

/// Parses an embedded fixture; a broken fixture is a build-time mistake, so it is
/// logged and replaced by `null` rather than taking the process down.
fn parse(name: &str, text: &str) -> Value {
    match serde_json::from_str(text) {
        Ok(v) => v,
        Err(err) => {
            tracing::error!(fixture = name, %err, "embedded simulator fixture is not valid JSON");
            Value::Null
        }
    }
}

fn str_field(v: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

fn array(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

impl Fixtures {
    /// Loads every fixture with image URLs pointing at `public_host`.
    pub fn load(public_host: &str) -> Fixtures {
        let rewrite = |text: &str| text.replace(FIXTURE_HOST, public_host);

        let status = parse("status.json", STATUS);
        let dvr = parse("dvr.json", DVR);
        let disk = dvr.get("disk");
        let disk_free = disk
            .and_then(|d| d.get("free"))
            .and_then(Value::as_u64)
            .unwrap_or(FALLBACK_FREE);
        let disk_total = disk
            .and_then(|d| d.get("total"))
            .and_then(Value::as_u64)
            .unwrap_or(FALLBACK_TOTAL);
        let dvr_path = dvr
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("/shares/DVR")
            .to_owned();

        // The captured list, then the channels the scenario also tunes.
        let mut channel_list = array(parse("channels.json", &rewrite(CHANNELS)));
        for (number, name, logo) in EXTRA_CHANNELS {
            let mut c = serde_json::json!({"id": number, "number": number, "name": name});
            if let Some(file) = logo {
                c["logo_url"] = format!("http://{public_host}/dvr/uploads/{file}").into();
            }
            channel_list.push(c);
        }
        let channels_text = serde_json::to_string(&channel_list).unwrap_or_default();
        let channels = channel_list
            .iter()
            .map(|c| ChannelInfo {
                number: str_field(c, &["number", "id"]),
                name: str_field(c, &["name"]),
                logo: str_field(c, &["logo_url", "image_url", "image"]),
            })
            .collect();

        let guide_now = parse("guide-now.json", &rewrite(GUIDE_NOW));
        let mut airings = Vec::new();
        if let Some(rows) = guide_now.as_array() {
            for row in rows {
                let channel_number = row
                    .get("Channel")
                    .map(|c| str_field(c, &["Number"]))
                    .unwrap_or_default();
                let Some(list) = row.get("Airings").and_then(Value::as_array) else {
                    continue;
                };
                for a in list {
                    let number = match str_field(a, &["Channel"]) {
                        n if n.is_empty() => channel_number.clone(),
                        n => n,
                    };
                    airings.push(AiringInfo {
                        channel_number: number,
                        title: str_field(a, &["Title"]),
                        summary: str_field(a, &["Summary"]),
                        duration: a.get("Duration").and_then(Value::as_i64).unwrap_or(3600),
                        image: str_field(a, &["Image"]),
                    });
                }
            }
        }

        let all = array(parse("all.json", &rewrite(ALL)));
        let recording = parse("recording-12260.json", &rewrite(RECORDING_12260));
        let jobs = array(parse("jobs.json", &rewrite(JOBS)))
            .iter()
            .filter_map(Job::from_fixture)
            .collect();

        Fixtures {
            public_host: public_host.to_owned(),
            status,
            dvr_path,
            disk_free,
            disk_total,
            channels_text,
            channels,
            guide_now,
            airings,
            all,
            recording,
            jobs,
        }
    }

    pub fn channel(&self, number: &str) -> Option<&ChannelInfo> {
        self.channels.iter().find(|c| c.number == number)
    }

    pub fn airing(&self, channel_number: &str) -> Option<&AiringInfo> {
        self.airings
            .iter()
            .find(|a| a.channel_number == channel_number)
    }

    /// Highest numeric id in the library, so synthesised recordings never collide.
    pub(crate) fn max_file_id(&self) -> u64 {
        self.all
            .iter()
            .chain(std::iter::once(&self.recording))
            .filter_map(|v| v.get("id").and_then(Value::as_str))
            .filter_map(|id| id.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
    }

    /// The guide-now document with every airing moved so that it covers `now`
    /// (monitors pick "the airing on now"; captured times are long past).
    pub(crate) fn guide_now_at(&self, now: i64) -> Value {
        let mut doc = self.guide_now.clone();
        if let Some(rows) = doc.as_array_mut() {
            for row in rows {
                let Some(list) = row.get_mut("Airings").and_then(Value::as_array_mut) else {
                    continue;
                };
                for airing in list {
                    let duration = airing
                        .get("Duration")
                        .and_then(Value::as_i64)
                        .unwrap_or(3600);
                    if let Some(obj) = airing.as_object_mut() {
                        obj.insert("Time".to_owned(), Value::from(slot_start(now, duration)));
                    }
                }
            }
        }
        doc
    }

    /// A small XMLTV document: every channel, its current airing (from the guide
    /// fixture, or a filler), and the following slot, so "what is on now" always hits.
    pub(crate) fn xmltv_at(&self, now: i64) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str("<!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n");
        out.push_str("<tv generator-info-name=\"ChannelWatch simulator\">\n");
        for ch in &self.channels {
            out.push_str(&format!(
                "  <channel id=\"{id}\">\n    <display-name>{name}</display-name>\n    <display-name>{num}</display-name>\n    <lcn>{num}</lcn>\n",
                id = xml_escape(&ch.number),
                name = xml_escape(&ch.name),
                num = xml_escape(&ch.number),
            ));
            if !ch.logo.is_empty() {
                out.push_str(&format!("    <icon src=\"{}\"/>\n", xml_escape(&ch.logo)));
            }
            out.push_str("  </channel>\n");
        }
        for ch in &self.channels {
            let (title, summary, duration, image) = match self.airing(&ch.number) {
                Some(a) => (
                    a.title.as_str(),
                    a.summary.as_str(),
                    a.duration,
                    a.image.as_str(),
                ),
                None => (
                    "Local Programming",
                    "Programming from the local station.",
                    3600,
                    "",
                ),
            };
            let duration = if duration > 0 { duration } else { 3600 };
            let start = slot_start(now, duration);
            let stop = start.saturating_add(duration);
            push_programme(&mut out, &ch.number, start, stop, title, summary, image);
            let next_stop = stop.saturating_add(3600);
            push_programme(
                &mut out,
                &ch.number,
                stop,
                next_stop,
                "Local Programming",
                "Programming from the local station.",
                "",
            );
        }
        out.push_str("</tv>\n");
        out
    }
}

/// Start of the `duration`-long slot containing `now` (aligned to the epoch).
fn slot_start(now: i64, duration: i64) -> i64 {
    if duration > 0 {
        now - now.rem_euclid(duration)
    } else {
        now
    }
}

fn xmltv_time(unix: i64) -> String {
    match chrono::DateTime::from_timestamp(unix, 0) {
        Some(t) => t.format("%Y%m%d%H%M%S +0000").to_string(),
        None => "19700101000000 +0000".to_owned(),
    }
}

fn push_programme(
    out: &mut String,
    channel: &str,
    start: i64,
    stop: i64,
    title: &str,
    desc: &str,
    icon: &str,
) {
    out.push_str(&format!(
        "  <programme channel=\"{}\" start=\"{}\" stop=\"{}\">\n    <title lang=\"en\">{}</title>\n",
        xml_escape(channel),
        xmltv_time(start),
        xmltv_time(stop),
        xml_escape(title),
    ));
    if !desc.is_empty() {
        out.push_str(&format!(
            "    <desc lang=\"en\">{}</desc>\n",
            xml_escape(desc)
        ));
    }
    if !icon.is_empty() {
        out.push_str(&format!("    <icon src=\"{}\"/>\n", xml_escape(icon)));
    }
    out.push_str("  </programme>\n");
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_parses() {
        for (name, text) in [
            ("status", STATUS),
            ("dvr", DVR),
            ("channels", CHANNELS),
            ("guide-now", GUIDE_NOW),
            ("all", ALL),
            ("recording", RECORDING_12260),
            ("jobs", JOBS),
        ] {
            assert!(
                serde_json::from_str::<Value>(text).is_ok(),
                "fixture {name} must be valid JSON"
            );
        }
    }

    #[test]
    fn load_rewrites_image_host_and_extracts_catalog() {
        let fx = Fixtures::load("10.0.0.9:1234");
        assert!(!fx.channels_text.contains(FIXTURE_HOST));
        assert!(fx.channels_text.contains("10.0.0.9:1234"));
        assert_eq!(
            fx.channels.len(),
            3 + EXTRA_CHANNELS.len(),
            "captured and extra"
        );
        assert_eq!(fx.channel("5.1").map(|c| c.name.as_str()), Some("KTLA"));
        assert_eq!(
            fx.airing("5.1").map(|a| a.title.as_str()),
            Some("The Evening News")
        );
        assert_eq!(fx.jobs.len(), 2);
        assert_eq!(fx.disk_free, FALLBACK_FREE);
        assert_eq!(fx.disk_total, FALLBACK_TOTAL);
        assert_eq!(fx.max_file_id(), 12345);
        let rec = fx.recording.to_string();
        assert!(rec.contains("10.0.0.9:1234") && !rec.contains(FIXTURE_HOST));
    }

    #[test]
    fn guide_now_airings_cover_now() {
        let fx = Fixtures::load("127.0.0.1:1");
        let now = 1_800_000_123;
        let doc = fx.guide_now_at(now);
        let mut seen = 0;
        for row in doc.as_array().into_iter().flatten() {
            for a in row["Airings"].as_array().into_iter().flatten() {
                let t = a["Time"].as_i64().unwrap_or(i64::MAX);
                let d = a["Duration"].as_i64().unwrap_or(0);
                assert!(t <= now && now < t + d, "airing {a} must cover now");
                seen += 1;
            }
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn xmltv_lists_channels_and_current_programmes() {
        let fx = Fixtures::load("127.0.0.1:1");
        let xml = fx.xmltv_at(1_800_000_123);
        assert!(xml.starts_with("<?xml"));
        assert!(xml.contains("<channel id=\"5.1\">"));
        assert!(xml.contains("<lcn>5.1</lcn>"));
        assert!(xml.contains("<title lang=\"en\">The Evening News</title>"));
        assert!(xml.trim_end().ends_with("</tv>"));
        assert_eq!(xml_escape("a&b<\"'>"), "a&amp;b&lt;&quot;&apos;&gt;");
    }
}

/// A recording job, rendered as `/api/v1/jobs` (lower-case) or `/dvr/jobs` (capitalised).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Job {
    pub id: String,
    pub name: String,
    pub start_time: i64,
    pub duration: i64,
    pub channels: Vec<String>,
    pub summary: String,
    pub image_url: String,
}

impl Job {
    /// Reads one entry of `jobs.json`; entries without an id are skipped.
    pub(crate) fn from_fixture(v: &Value) -> Option<Job> {
        let id = v.get("id")?.as_str()?.to_owned();
        let item = v.get("item");
        let item_str = |k: &str| {
            item.and_then(|i| i.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Some(Job {
            name: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            start_time: v.get("start_time").and_then(Value::as_i64).unwrap_or(0),
            duration: v.get("duration").and_then(Value::as_i64).unwrap_or(0),
            channels: v
                .get("channels")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            summary: item_str("summary"),
            image_url: item_str("image_url"),
            id,
        })
    }

    /// `GET /api/v1/jobs` shape.
    pub(crate) fn api_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "start_time": self.start_time,
            "duration": self.duration,
            "channels": self.channels,
            "item": {"summary": self.summary, "image_url": self.image_url},
        })
    }

    /// `GET /dvr/jobs` shape (the older, capitalised API the upstream UI reads).
    pub(crate) fn dvr_json(&self) -> Value {
        let channel = self.channels.first().cloned().unwrap_or_default();
        json!({
            "ID": self.id,
            "Name": self.name,
            "Time": self.start_time,
            "Duration": self.duration,
            "Channels": self.channels,
            "Airing": {
                "Channel": channel,
                "Title": self.name,
                "Summary": self.summary,
                "Time": self.start_time,
                "Duration": self.duration,
                "Image": self.image_url,
            },
        })
    }
}
