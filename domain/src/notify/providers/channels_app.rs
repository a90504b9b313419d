//! The Channels app on a TV (Apple TV, Android TV, Fire TV): `POST
//! http://CLIENT:57000/api/notify {title, message, icon}` shows the alert over what is
//! playing. The app answers with its status; one that is not playing may not show it,
//! and on Apple TV the app answers only while it is open in the foreground. One
//! provider per TV; the Settings form offers the clients the DVRs have seen and those
//! found by mDNS (`_channels_app._tcp`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::notify::apprise::Parts;
use crate::notify::checks::check_url;
use crate::notify::delivery::{Body, HttpRequest, Outgoing, Plan};

use super::{Address, Provider, ProviderConfig, ProviderInfo};

/// The port the Channels app's API listens on.
pub const PORT: u16 = 57000;

/// Said when the app does not answer at all.
const UNANSWERED: &str = "The Channels app did not answer: on Apple TV it answers only while it is open in the foreground; on Android TV and Fire TV it must have been opened once since the device started";

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsApp {
    /// The TV's address: `192.168.1.50`, `living-room.local:57000` or a whole
    /// `http://` URL.
    pub client: String,
}

impl Provider for ChannelsApp {
    const INFO: &'static ProviderInfo = &ProviderInfo {
        ty: &wire::providers::CHANNELS_APP,
        tag: "channels_app",
        secret_fields: &[],
        viewer_hidden: &[],
        address: Address::Url {
            field: "client",
            default: "",
        },
        schemes: &[],
        webhook_url_field: None,
        from_apprise,
    };

    fn validate(&self) -> Result<(), String> {
        if self.client.trim().is_empty() {
            return Err("client: give the TV's address, like 192.168.1.50".into());
        }
        check_url("client", &self.base())
    }

    fn plan(&self, out: &Outgoing) -> Plan {
        Plan::Http(self.request(out), judge)
    }
}

impl ChannelsApp {
    /// `http://HOST:57000` from what was given.
    pub fn base(&self) -> String {
        let c = self.client.trim().trim_end_matches('/');
        if c.contains("://") {
            return c.to_string();
        }
        // `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address.
        let has_port = match c.rsplit_once(':') {
            Some((h, p)) => {
                p.bytes().all(|b| b.is_ascii_digit())
                    && !p.is_empty()
                    && (!h.contains(':') || h.ends_with(']'))
            }
            None => false,
        };
        if has_port {
            format!("http://{c}")
        } else if c.contains(':') && !c.starts_with('[') {
            format!("http://[{c}]:{PORT}")
        } else {
            format!("http://{c}:{PORT}")
        }
    }

    pub fn request(&self, out: &Outgoing) -> HttpRequest {
        let mut body = json!({"title": out.title, "message": out.message});
        if let Some(img) = &out.image_url {
            body["icon"] = json!(img);
        }
        let mut r = HttpRequest::post(format!("{}/api/notify", self.base()), Body::Json(body));
        r.unanswered = Some(UNANSWERED);
        r
    }
}

/// The app answers with its status model: shown over a playing or paused video;
/// delivered but perhaps not shown when nothing plays.
pub fn judge(status: u16, body: &str) -> Result<String, String> {
    if !(200..300).contains(&status) {
        return Err(crate::text::outside_text(body, 300));
    }
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    match v["status"].as_str() {
        Some(s @ ("playing" | "paused")) => {
            let what = v["channel"]["name"]
                .as_str()
                .or(v["now_playing"]["title"].as_str())
                .map(|t| format!(" over {}", crate::text::outside_text(t, 80)))
                .unwrap_or_default();
            Ok(format!("shown on screen{what} ({s})"))
        }
        Some("stopped") => Ok(
            "delivered, but nothing is playing on this TV, so the Channels app may not show it"
                .into(),
        ),
        _ => Ok("delivered".into()),
    }
}

/// The Channels app has no Apprise scheme.
fn from_apprise(_: &Parts) -> Result<ProviderConfig, String> {
    Err("url: the Channels app has no Apprise URL; add it with type channels_app".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::delivery::tests_support::outgoing;

    fn app(client: &str) -> ChannelsApp {
        ChannelsApp {
            client: client.into(),
        }
    }

    #[test]
    fn addresses_get_the_apps_port_unless_they_give_one() {
        assert_eq!(app("192.168.1.50").base(), "http://192.168.1.50:57000");
        assert_eq!(app(" tv.local:57001 ").base(), "http://tv.local:57001");
        assert_eq!(app("fd00::5").base(), "http://[fd00::5]:57000");
        assert_eq!(app("[fd00::5]:1234").base(), "http://[fd00::5]:1234");
        assert_eq!(
            app("http://10.0.0.9:57000/").base(),
            "http://10.0.0.9:57000"
        );
        assert!(app("192.168.1.50").validate().is_ok());
        assert!(app(" ").validate().unwrap_err().starts_with("client: give"));
        assert!(app("169.254.1.1")
            .validate()
            .unwrap_err()
            .starts_with("client: "));
    }

    #[test]
    fn the_notice_carries_title_message_and_icon() {
        let out = outgoing();
        let r = app("10.0.0.9").request(&out);
        assert_eq!(r.url, "http://10.0.0.9:57000/api/notify");
        let Body::Json(b) = &r.body else {
            panic!("json")
        };
        assert_eq!(b["title"], out.title.as_str());
        assert_eq!(b["message"], out.message.as_str());
        assert_eq!(b["icon"].as_str(), out.image_url.as_deref());
        assert!(r.unanswered.unwrap().contains("foreground"));
    }

    #[test]
    fn the_apps_status_says_whether_it_showed() {
        let playing = r#"{"status":"playing","channel":{"number":"7","name":"ABC"}}"#;
        assert_eq!(
            judge(200, playing).unwrap(),
            "shown on screen over ABC (playing)"
        );
        assert!(judge(200, r#"{"status":"stopped"}"#)
            .unwrap()
            .contains("nothing is playing"));
        assert_eq!(judge(200, "").unwrap(), "delivered");
        assert_eq!(
            judge(404, "404 page not found").unwrap_err(),
            "404 page not found"
        );
    }
}
