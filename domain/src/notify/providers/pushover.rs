//! Pushover (`pover://USER@TOKEN`): a form POST to `/1/messages.json`. Pushover never
//! fetches URLs, so the image travels inline.

use serde::{Deserialize, Serialize};

use crate::notify::apprise::{need, Parts};
use crate::notify::checks::{blank, opt_url};
use crate::notify::delivery::{json_errors, truncate, Body, HttpRequest, Image, Outgoing, Plan};

use super::{Address, Provider, ProviderConfig, ProviderInfo};

/// Where Pushover is when `base_url` is not set.
pub(crate) const PUSHOVER_URL: &str = "https://api.pushover.net";

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pushover {
    pub user_key: String,
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

impl Provider for Pushover {
    const INFO: &'static ProviderInfo = &ProviderInfo {
        ty: &wire::providers::PUSHOVER,
        tag: "pushover",
        secret_fields: &["user_key", "token"],
        viewer_hidden: &[],
        address: Address::Url {
            field: "base_url",
            default: PUSHOVER_URL,
        },
        schemes: &["pover"],
        webhook_url_field: None,
        from_apprise,
    };

    fn validate(&self) -> Result<(), String> {
        blank("user_key", &self.user_key)?;
        blank("token", &self.token)?;
        if let Some(p) = self.priority {
            if !(-2..=2).contains(&p) {
                return Err("priority: must be between -2 and 2".into());
            }
        }
        opt_url("base_url", self.base_url.as_deref())
    }

    fn plan(&self, out: &Outgoing) -> Plan {
        let me = self.clone();
        let out_ = out.clone();
        Plan::WithImage {
            image_url: out.image_url.clone(),
            build: Box::new(move |image| me.request(&out_, image)),
            judge,
        }
    }
}

impl Pushover {
    /// The message, with the image's bytes when they could be had.
    pub fn request(&self, out: &Outgoing, image: Option<Image>) -> HttpRequest {
        let base = self.base_url.as_deref().unwrap_or(PUSHOVER_URL);
        let mut form: Vec<(String, String)> = vec![
            ("token".into(), self.token.clone()),
            ("user".into(), self.user_key.clone()),
            ("title".into(), truncate(&out.title, 250)),
            ("message".into(), truncate(&out.message, 1024)),
            ("timestamp".into(), out.timestamp.timestamp().to_string()),
        ];
        if let Some(d) = &self.device {
            form.push(("device".into(), d.clone()));
        }
        if let Some(p) = self.priority {
            form.push(("priority".into(), p.to_string()));
            // Emergency priority is refused without its repeat settings.
            if p == 2 {
                form.push(("retry".into(), "60".into()));
                form.push(("expire".into(), "3600".into()));
            }
        }
        if let Some(s) = &self.sound {
            form.push(("sound".into(), s.clone()));
        }
        if let Some((bytes, mime)) = image {
            use base64::Engine as _;
            form.push((
                "attachment_base64".into(),
                base64::engine::general_purpose::STANDARD.encode(bytes),
            ));
            form.push(("attachment_type".into(), mime));
        }
        HttpRequest::post(
            format!("{}/1/messages.json", base.trim_end_matches('/')),
            Body::Form(form),
        )
    }
}

/// `{"status": 1, "request": …}` on success, `errors` otherwise.
pub fn judge(status: u16, body: &str) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    if status == 200 && v["status"] == 1 {
        Ok(format!("request {}", v["request"].as_str().unwrap_or("")))
    } else {
        Err(json_errors(&v).unwrap_or_else(|| body.to_string()))
    }
}

/// `pover://USER_KEY@TOKEN[/DEVICE…][?priority=…&sound=…]`.
fn from_apprise(p: &Parts) -> Result<ProviderConfig, String> {
    let user_key = need(p.user.clone(), "the user key (pover://USER@TOKEN)")?;
    let token = need(Some(p.host.clone()), "the application token")?;
    let priority = match p.query.get("priority").map(String::as_str) {
        None => None,
        Some("l" | "low" | "-2") => Some(-2),
        Some("m" | "moderate" | "-1") => Some(-1),
        Some("n" | "normal" | "0") => Some(0),
        Some("h" | "high" | "1") => Some(1),
        Some("e" | "emergency" | "2") => Some(2),
        Some(other) => {
            return Err(format!(
                "url: priority '{other}' is not a Pushover priority"
            ))
        }
    };
    Ok(ProviderConfig::Pushover(Pushover {
        user_key,
        token,
        device: (!p.path.is_empty()).then(|| p.path.join(",")),
        priority,
        sound: p.query.get("sound").cloned(),
        base_url: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::delivery::tests_support::outgoing;

    #[test]
    fn the_message_is_a_form_with_the_image_inline() {
        let p = Pushover {
            user_key: "u1".into(),
            token: "t1".into(),
            device: None,
            priority: Some(2),
            sound: None,
            base_url: Some("http://127.0.0.1:9/".into()),
        };
        let r = p.request(&outgoing(), Some((vec![1, 2, 3], "image/png".into())));
        assert_eq!(r.url, "http://127.0.0.1:9/1/messages.json");
        assert_eq!(r.form_value("token"), Some("t1"));
        assert_eq!(r.form_value("user"), Some("u1"));
        assert_eq!(r.form_value("retry"), Some("60"));
        assert_eq!(r.form_value("attachment_base64"), Some("AQID"));
        assert_eq!(r.form_value("attachment_type"), Some("image/png"));
        assert_eq!(
            judge(200, r#"{"status":1,"request":"abc"}"#),
            Ok("request abc".into())
        );
        assert_eq!(
            judge(400, r#"{"status":0,"errors":["user key is invalid"]}"#),
            Err("user key is invalid".into())
        );
    }
}
