//! ntfy (`ntfy(s)://[USER:PASS@]HOST/TOPIC`, or `ntfy://TOPIC` on ntfy.sh): a JSON
//! publish to the server's root.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::notify::apprise::{authority, Parts};
use crate::notify::checks::opt_url;
use crate::notify::delivery::{Body, HttpRequest, Outgoing, Plan};

use super::{Address, Provider, ProviderConfig, ProviderInfo};

/// Where ntfy is when `url` is not set.
pub(crate) const NTFY_URL: &str = "https://ntfy.sh";

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ntfy {
    /// The server's base URL (default `https://ntfy.sh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub topic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

impl Provider for Ntfy {
    const INFO: &'static ProviderInfo = &ProviderInfo {
        ty: &wire::providers::NTFY,
        tag: "ntfy",
        secret_fields: &["token", "password"],
        // A topic is readable by whoever knows its name.
        viewer_hidden: &["topic"],
        address: Address::Url {
            field: "url",
            default: NTFY_URL,
        },
        schemes: &["ntfy", "ntfys"],
        webhook_url_field: None,
        from_apprise,
    };

    fn validate(&self) -> Result<(), String> {
        let topic = &self.topic;
        let ok = !topic.is_empty()
            && topic.len() <= 64
            && topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err("topic: 1–64 letters, digits, '-' or '_'".into());
        }
        if let Some(p) = self.priority {
            if !(1..=5).contains(&p) {
                return Err("priority: must be between 1 and 5".into());
            }
        }
        opt_url("url", self.url.as_deref())
    }

    fn plan(&self, out: &Outgoing) -> Plan {
        Plan::Http(self.request(out), judge)
    }
}

impl Ntfy {
    pub fn request(&self, out: &Outgoing) -> HttpRequest {
        let base = self.url.as_deref().unwrap_or(NTFY_URL);
        let mut body = json!({
            "topic": self.topic,
            "title": out.title,
            "message": out.message,
            "tags": ["tv"],
        });
        if let Some(p) = self.priority {
            body["priority"] = json!(p);
        }
        if let Some(img) = &out.image_url {
            body["attach"] = json!(img);
        }
        let req = HttpRequest::post(format!("{}/", base.trim_end_matches('/')), Body::Json(body));
        match (&self.token, &self.user) {
            (Some(t), _) => req.bearer(t),
            (None, Some(u)) => req.basic(u, self.password.as_deref()),
            (None, None) => req,
        }
    }
}

/// The message's `id` on success; `error (code)` otherwise.
pub fn judge(status: u16, body: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if status == 200 {
        Ok(format!("message {}", v["id"].as_str().unwrap_or("")))
    } else {
        Err(v["error"]
            .as_str()
            .map(|e| format!("{e} (code {})", v["code"]))
            .unwrap_or_else(|| body.to_string()))
    }
}

/// `ntfy://TOPIC` (ntfy.sh), `ntfy(s)://[USER:PASS@|TOKEN@]HOST[:PORT]/TOPIC[?priority=…]`.
fn from_apprise(p: &Parts) -> Result<ProviderConfig, String> {
    let (url, topic) = if p.path.is_empty() {
        // Cloud mode: the "host" is the topic.
        (None, p.host.clone())
    } else {
        let scheme = if p.scheme == "ntfys" { "https" } else { "http" };
        (
            Some(format!("{scheme}://{}", authority(&p.host, p.port))),
            p.path[0].clone(),
        )
    };
    let (token, user, password) = match (p.query.get("token"), p.user.clone(), p.password.clone()) {
        (Some(t), _, _) => (Some(t.clone()), None, None),
        (None, Some(u), None) if u.starts_with("tk_") => (Some(u), None, None),
        (None, u, pw) => (None, u, pw),
    };
    let priority = match p.query.get("priority").map(String::as_str) {
        None => None,
        Some("min") => Some(1),
        Some("low") => Some(2),
        Some("default") => Some(3),
        Some("high") => Some(4),
        Some("max" | "urgent") => Some(5),
        Some(n) => Some(
            n.parse::<u8>()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| format!("url: priority '{n}' is not an ntfy priority"))?,
        ),
    };
    Ok(ProviderConfig::Ntfy(Ntfy {
        url,
        topic,
        token,
        user,
        password,
        priority,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::delivery::tests_support::outgoing;

    #[test]
    fn a_token_is_a_bearer_and_a_login_is_basic() {
        let mut n = Ntfy {
            url: None,
            topic: "cw".into(),
            token: Some("tk_1".into()),
            user: None,
            password: None,
            priority: Some(4),
        };
        let r = n.request(&outgoing());
        assert_eq!(r.url, "https://ntfy.sh/");
        assert_eq!(r.header_value("authorization"), Some("Bearer tk_1"));
        n.token = None;
        n.user = Some("u".into());
        n.password = Some("p".into());
        assert_eq!(
            n.request(&outgoing()).header_value("authorization"),
            Some("Basic dTpw")
        );
        assert_eq!(judge(200, r#"{"id":"x1"}"#), Ok("message x1".into()));
    }
}
