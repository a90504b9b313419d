//! A DVR's tuners and sources from `/devices`: HDHomeRun tuners, TV Everywhere and
//! M3U sources, each with its name and, for tuners, how many it has. Field names vary
//! between DVR versions, so each is looked up under the names seen in the wild; an
//! entry without an id or name is skipped.

use serde_json::Value;

use crate::text::outside_text;

/// One tuner device or source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    pub id: String,
    pub name: String,
    /// `tuner`, `tve`, `m3u`, … lower-cased, when the DVR says.
    pub kind: Option<String>,
    pub tuners: Option<u32>,
}

/// Sources shown at most (a DVR with hundreds of M3U sources lists the first).
pub const MAX_SOURCES: usize = 100;

fn text(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| v.get(*k))
        .and_then(|x| match x {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .map(|s| outside_text(&s, 120).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The sources of a `/devices` answer (an array of objects), in the DVR's order.
pub fn parse_sources(v: &Value) -> Vec<SourceInfo> {
    let Some(list) = v.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|d| {
            let id = text(d, &["DeviceID", "device_id", "id", "ID"]);
            let name = text(d, &["FriendlyName", "Name", "name", "friendly_name"]);
            let (id, name) = match (id, name) {
                (Some(id), Some(name)) => (id, name),
                (Some(id), None) => (id.clone(), id),
                (None, Some(name)) => (name.clone(), name),
                (None, None) => return None,
            };
            let kind = text(d, &["Provider", "Source", "Type", "source", "provider"])
                .map(|k| k.to_lowercase());
            let tuners = ["TunerCount", "tuner_count", "Tuners", "tuners"]
                .iter()
                .find_map(|k| d.get(*k).and_then(Value::as_u64))
                .and_then(|n| u32::try_from(n).ok());
            Some(SourceInfo {
                id,
                name,
                kind,
                tuners,
            })
        })
        .take(MAX_SOURCES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tuners_and_sources_are_read_under_any_known_name() {
        let v = json!([
            {"DeviceID": "10811DF5", "FriendlyName": "HDHomeRun PRIME", "Provider": "Tuner", "TunerCount": 3},
            {"id": "M3U-Pluto", "name": "Pluto", "source": "m3u"},
            {"DeviceID": 1234},
            {"Lineup": []},
            "junk"
        ]);
        let s = parse_sources(&v);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0],
            SourceInfo {
                id: "10811DF5".into(),
                name: "HDHomeRun PRIME".into(),
                kind: Some("tuner".into()),
                tuners: Some(3)
            }
        );
        assert_eq!(
            (s[1].name.as_str(), s[1].kind.as_deref()),
            ("Pluto", Some("m3u"))
        );
        assert_eq!((s[2].id.as_str(), s[2].name.as_str()), ("1234", "1234"));
        assert!(parse_sources(&json!({"not": "a list"})).is_empty());
    }
}
