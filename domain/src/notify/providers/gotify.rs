//! Gotify (`gotify(s)://HOST[/PATH]/TOKEN`): `POST /message` with the app token.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::notify::apprise::{authority, need, Parts};
use crate::notify::checks::{blank, check_url};
use crate::notify::delivery::{Body, HttpRequest, Outgoing, Plan};

use super::{Address, Provider, ProviderConfig, ProviderInfo};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gotify {
    /// The server's base URL, e.g. `https://gotify.example.com/sub`.
    pub url: String,
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

impl Provider for Gotify {
    const INFO: &'static ProviderInfo = &ProviderInfo {
        ty: &wire::providers::GOTIFY,
        tag: "gotify",
        secret_fields: &["token"],
        viewer_hidden: &[],
        address: Address::Url {
            field: "url",
            default: "",
        },
        schemes: &["gotify", "gotifys"],
        webhook_url_field: None,
        from_apprise,
    };

    fn validate(&self) -> Result<(), String> {
        blank("token", &self.token)?;
        check_url("url", &self.url)
    }

    fn plan(&self, out: &Outgoing) -> Plan {
        Plan::Http(self.request(out), judge)
    }
}

impl Gotify {
    pub fn request(&self, out: &Outgoing) -> HttpRequest {
        let mut body = json!({
            "title": out.title,
            "message": out.message,
            "priority": self.priority.unwrap_or(5),
        });
        if let Some(img) = &out.image_url {
            body["extras"] = json!({"client::notification": {"bigImageUrl": img}});
        }
        HttpRequest::post(
            format!("{}/message", self.url.trim_end_matches('/')),
            Body::Json(body),
        )
        .header("X-Gotify-Key", self.token.clone())
    }
}

/// The message's `id` on success; `error: errorDescription` otherwise.
pub fn judge(status: u16, body: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if status == 200 {
        Ok(format!("message {}", v["id"]))
    } else {
        Err(v["errorDescription"]
            .as_str()
            .map(|d| format!("{}: {d}", v["error"].as_str().unwrap_or("error")))
            .unwrap_or_else(|| body.to_string()))
    }
}

/// `gotify://HOST[:PORT][/PATH]/TOKEN[?priority=…]`; `gotifys` for https.
fn from_apprise(p: &Parts) -> Result<ProviderConfig, String> {
    let mut path = p.path.clone();
    let token = need(path.pop(), "the application token (last path segment)")?;
    let scheme = if p.scheme == "gotifys" {
        "https"
    } else {
        "http"
    };
    let base = format!("{scheme}://{}", authority(&p.host, p.port));
    let url = if path.is_empty() {
        base
    } else {
        format!("{base}/{}", path.join("/"))
    };
    let priority = match p.query.get("priority").map(String::as_str) {
        None => None,
        Some("low") => Some(0),
        Some("moderate") => Some(3),
        Some("normal") => Some(5),
        Some("high") => Some(8),
        Some("emergency") => Some(10),
        Some(n) => Some(
            n.parse::<u8>()
                .map_err(|_| format!("url: priority '{n}' is not a Gotify priority"))?
                .min(10),
        ),
    };
    Ok(ProviderConfig::Gotify(Gotify {
        url,
        token,
        priority,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::delivery::tests_support::outgoing;

    #[test]
    fn the_token_goes_in_its_header() {
        let g = Gotify {
            url: "http://127.0.0.1:9/sub/".into(),
            token: "AbC".into(),
            priority: None,
        };
        let r = g.request(&outgoing());
        assert_eq!(r.url, "http://127.0.0.1:9/sub/message");
        assert_eq!(r.header_value("x-gotify-key"), Some("AbC"));
        let Body::Json(b) = &r.body else { panic!() };
        assert_eq!(b["priority"], 5);
        assert_eq!(judge(200, r#"{"id":7}"#), Ok("message 7".into()));
        assert_eq!(
            judge(
                401,
                r#"{"error":"Unauthorized","errorDescription":"bad token"}"#
            ),
            Err("Unauthorized: bad token".into())
        );
    }
}
