//! Home Assistant over MQTT, the pure part: the setting and its checks, and every
//! message the monitor publishes (discovery configs, states, alert events) as topic and
//! payload, so the shapes are tested without a broker.
//!
//! Per DVR, Home Assistant gets a device with: `connected` (binary sensor), active
//! streams, recordings in progress, disk free % and the last alert (sensors), and an
//! `alert` event entity fired with each alert. `<prefix>/status` is the availability
//! topic (`online`, and `offline` as the connection's last will).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::notify::providers::MASK;

/// The broker connection and topic names. `password` is a secret: sealed at rest and
/// answered masked.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttSettings {
    pub enabled: bool,
    /// `mqtt://HOST[:PORT]` (port 1883 unless given).
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Topics the monitor publishes under (`channelwatch/<dvr_id>/…`).
    pub topic_prefix: String,
    /// Home Assistant's discovery prefix.
    pub discovery_prefix: String,
    /// Publish Home Assistant discovery configs.
    pub discovery: bool,
}

impl Default for MqttSettings {
    fn default() -> Self {
        MqttSettings {
            enabled: false,
            url: String::new(),
            username: None,
            password: None,
            topic_prefix: "channelwatch".into(),
            discovery_prefix: "homeassistant".into(),
            discovery: true,
        }
    }
}

impl std::fmt::Debug for MqttSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSettings")
            .field("enabled", &self.enabled)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| MASK))
            .field("topic_prefix", &self.topic_prefix)
            .finish_non_exhaustive()
    }
}

impl MqttSettings {
    /// Host and port of the broker.
    pub fn broker(&self) -> Result<(String, u16), String> {
        let u = url::Url::parse(self.url.trim()).map_err(|e| format!("url: not a URL ({e})"))?;
        match u.scheme() {
            "mqtt" | "tcp" => {}
            "mqtts" | "ssl" => {
                return Err("url: mqtts:// is not supported; use mqtt:// on your network".into())
            }
            _ => return Err("url: must be mqtt://HOST[:PORT]".into()),
        }
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("url: the URL has no host")?;
        crate::notify::checks::check_destination_host("url", host)?;
        Ok((
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            u.port().unwrap_or(1883),
        ))
    }

    /// Checks the whole setting; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.enabled || !self.url.trim().is_empty() {
            self.broker()?;
        }
        for (name, v) in [
            ("topic_prefix", &self.topic_prefix),
            ("discovery_prefix", &self.discovery_prefix),
        ] {
            let ok = !v.is_empty()
                && v.len() <= 100
                && !v.contains(['#', '+', '\0'])
                && !v.starts_with('/')
                && !v.ends_with('/');
            if !ok {
                return Err(format!(
                    "{name}: 1 to 100 characters, without #, + or a leading or trailing /"
                ));
            }
        }
        if self.password.is_some() && self.username.as_deref().is_none_or(str::is_empty) {
            return Err("username: a password needs a username".into());
        }
        Ok(())
    }

    /// As answered: the password masked.
    pub fn masked(&self) -> MqttSettings {
        MqttSettings {
            password: self.password.as_ref().map(|_| MASK.to_string()),
            ..self.clone()
        }
    }

    /// `edit` with a masked password taken from `stored`, checked. A password kept
    /// this way only goes to the broker it was given for.
    pub fn merged(stored: Option<&MqttSettings>, mut edit: MqttSettings) -> Result<Self, String> {
        if edit.password.as_deref() == Some(MASK) {
            let kept = stored.filter(|s| s.broker().ok() == edit.broker().ok());
            edit.password = match kept {
                Some(s) => s.password.clone(),
                None => return Err("password: the broker changed; give its password again".into()),
            };
        }
        edit.validate()?;
        Ok(edit)
    }

    /// `<prefix>/status`: `online`, or `offline` (the last will).
    pub fn availability_topic(&self) -> String {
        format!("{}/status", self.topic_prefix)
    }
}

/// What one DVR shows right now.
#[derive(Debug, Clone, PartialEq)]
pub struct DvrState {
    pub dvr_id: String,
    pub name: String,
    pub connected: bool,
    pub streams: u64,
    pub recordings: u64,
    pub disk_free_percent: Option<f64>,
    pub last_alert: Option<String>,
}

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

fn msg(topic: String, payload: String, retain: bool) -> Message {
    Message {
        topic,
        payload,
        retain,
    }
}

/// The entities of one DVR: `(component, object id, name, state key, extra config)`.
fn entities() -> [(&'static str, &'static str, &'static str, Value); 6] {
    [
        (
            "binary_sensor",
            "connected",
            "Connected",
            json!({"device_class": "connectivity", "payload_on": "ON", "payload_off": "OFF"}),
        ),
        (
            "sensor",
            "streams",
            "Active streams",
            json!({"state_class": "measurement", "icon": "mdi:television-play"}),
        ),
        (
            "sensor",
            "recordings",
            "Recordings in progress",
            json!({"state_class": "measurement", "icon": "mdi:record-rec"}),
        ),
        (
            "sensor",
            "disk_free_percent",
            "Disk free",
            json!({"unit_of_measurement": "%", "state_class": "measurement", "icon": "mdi:harddisk"}),
        ),
        (
            "sensor",
            "last_alert",
            "Last alert",
            json!({"icon": "mdi:bell-ring"}),
        ),
        (
            "event",
            "alert",
            "Alert",
            json!({"event_types": crate::alerts::kind::AlertKind::ALL
                .iter()
                .map(|k| k.event_type())
                .collect::<Vec<_>>()}),
        ),
    ]
}

/// The retained discovery configs of one DVR (empty payloads remove them: `removed`).
pub fn discovery(s: &MqttSettings, dvr_id: &str, name: &str, removed: bool) -> Vec<Message> {
    entities()
        .into_iter()
        .map(|(component, object, label, extra)| {
            let topic = format!(
                "{}/{component}/channelwatch_{dvr_id}/{object}/config",
                s.discovery_prefix
            );
            if removed {
                return msg(topic, String::new(), true);
            }
            let mut config = json!({
                "name": label,
                "unique_id": format!("channelwatch_{dvr_id}_{object}"),
                "object_id": format!("channelwatch_{dvr_id}_{object}"),
                "state_topic": format!("{}/{dvr_id}/{object}", s.topic_prefix),
                "availability_topic": s.availability_topic(),
                "device": {
                    "identifiers": [format!("channelwatch_{dvr_id}")],
                    "name": name,
                    "manufacturer": "Fancy Bits (Channels)",
                    "model": "Channels DVR",
                    "via_device": "channelwatch",
                },
                "origin": {"name": "ChannelWatch", "sw_version": crate::VERSION},
            });
            if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
                c.extend(e);
            }
            msg(topic, config.to_string(), true)
        })
        .collect()
}

/// The retained states of one DVR.
pub fn states(s: &MqttSettings, d: &DvrState) -> Vec<Message> {
    let t = |object: &str| format!("{}/{}/{object}", s.topic_prefix, d.dvr_id);
    vec![
        msg(
            t("connected"),
            if d.connected { "ON" } else { "OFF" }.into(),
            true,
        ),
        msg(t("streams"), d.streams.to_string(), true),
        msg(t("recordings"), d.recordings.to_string(), true),
        msg(
            t("disk_free_percent"),
            d.disk_free_percent
                .map(|p| format!("{p:.1}"))
                .unwrap_or_else(|| "unknown".into()),
            true,
        ),
        msg(
            t("last_alert"),
            d.last_alert
                .as_deref()
                .map(|a| crate::text::clip(a, 255))
                .unwrap_or_default(),
            true,
        ),
    ]
}

/// One alert as the DVR's event (not retained: it happened once).
pub fn alert_event(
    s: &MqttSettings,
    dvr_id: &str,
    alert_type: &str,
    title: &str,
    message: &str,
    at: &str,
) -> Message {
    msg(
        format!("{}/{dvr_id}/alert", s.topic_prefix),
        json!({
            "event_type": alert_type, "title": title, "message": message,
            "dvr_id": dvr_id, "created_at": at,
        })
        .to_string(),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MqttSettings {
        MqttSettings {
            enabled: true,
            url: "mqtt://broker.lan".into(),
            ..MqttSettings::default()
        }
    }

    #[test]
    fn the_broker_is_read_and_checked() {
        assert_eq!(settings().broker().unwrap(), ("broker.lan".into(), 1883));
        let mut s = settings();
        s.url = "mqtt://10.0.0.2:1884".into();
        assert_eq!(s.broker().unwrap(), ("10.0.0.2".into(), 1884));
        for (url, want) in [
            ("mqtts://b.lan", "url: mqtts:// is not supported"),
            ("http://b.lan", "url: must be mqtt://"),
            (
                "mqtt://169.254.169.254",
                "url: 169.254.169.254 is a link-local",
            ),
            ("nonsense", "url: not a URL"),
        ] {
            s.url = url.into();
            assert!(s.validate().unwrap_err().starts_with(want), "{url}");
        }
        let mut s = settings();
        s.topic_prefix = "cw/#".into();
        assert!(s.validate().unwrap_err().starts_with("topic_prefix"));
        let mut s = settings();
        s.password = Some("x".into());
        assert!(s.validate().unwrap_err().starts_with("username"));
        assert!(MqttSettings::default().validate().is_ok(), "off and empty");
    }

    #[test]
    fn a_masked_password_stays_with_its_broker() {
        let stored = MqttSettings {
            username: Some("ha".into()),
            password: Some("pw".into()),
            ..settings()
        };
        assert_eq!(stored.masked().password.as_deref(), Some(MASK));
        assert!(!format!("{stored:?}").contains("pw\""));
        let same = MqttSettings::merged(Some(&stored), stored.masked()).unwrap();
        assert_eq!(same.password.as_deref(), Some("pw"));
        let moved = MqttSettings {
            url: "mqtt://elsewhere.example".into(),
            ..stored.masked()
        };
        assert!(MqttSettings::merged(Some(&stored), moved)
            .unwrap_err()
            .starts_with("password: the broker changed"));
    }

    #[test]
    fn discovery_makes_one_device_per_dvr_with_its_entities() {
        let s = settings();
        let d = discovery(&s, "aef6d698", "Living Room", false);
        assert_eq!(d.len(), 6);
        let connected = &d[0];
        assert_eq!(
            connected.topic,
            "homeassistant/binary_sensor/channelwatch_aef6d698/connected/config"
        );
        assert!(connected.retain);
        let c: Value = serde_json::from_str(&connected.payload).unwrap();
        assert_eq!(c["state_topic"], "channelwatch/aef6d698/connected");
        assert_eq!(c["availability_topic"], "channelwatch/status");
        assert_eq!(c["device_class"], "connectivity");
        assert_eq!(c["device"]["identifiers"][0], "channelwatch_aef6d698");
        assert_eq!(c["device"]["name"], "Living Room");
        let event: Value = serde_json::from_str(&d[5].payload).unwrap();
        assert!(event["event_types"]
            .as_array()
            .unwrap()
            .contains(&json!("recording.failed")));
        assert!(discovery(&s, "aef6d698", "x", true)
            .iter()
            .all(|m| m.payload.is_empty() && m.retain));
    }

    #[test]
    fn states_and_events_have_their_topics() {
        let s = settings();
        let st = states(
            &s,
            &DvrState {
                dvr_id: "aef6d698".into(),
                name: "Den".into(),
                connected: true,
                streams: 2,
                recordings: 1,
                disk_free_percent: Some(42.345),
                last_alert: None,
            },
        );
        let shown: Vec<(&str, &str)> = st
            .iter()
            .map(|m| (m.topic.as_str(), m.payload.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("channelwatch/aef6d698/connected", "ON"),
                ("channelwatch/aef6d698/streams", "2"),
                ("channelwatch/aef6d698/recordings", "1"),
                ("channelwatch/aef6d698/disk_free_percent", "42.3"),
                ("channelwatch/aef6d698/last_alert", ""),
            ]
        );
        let e = alert_event(
            &s,
            "aef6d698",
            "recording.failed",
            "T",
            "M",
            "2026-12-05T18:04:00Z",
        );
        assert_eq!(e.topic, "channelwatch/aef6d698/alert");
        assert!(!e.retain);
        let v: Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(v["event_type"], "recording.failed");
    }
}
