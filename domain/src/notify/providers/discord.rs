//! Discord (`discord://ID/TOKEN`, or the webhook URL itself): one embed per alert.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::notify::apprise::Parts;
use crate::notify::checks::check_url;
use crate::notify::delivery::{truncate, Body, HttpRequest, Outgoing, Plan};

use super::{Address, Provider, ProviderConfig, ProviderInfo};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discord {
    /// `https://discord.com/api/webhooks/<id>/<token>` (or any server's equivalent).
    pub webhook_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl Provider for Discord {
    const INFO: &'static ProviderInfo = &ProviderInfo {
        ty: &wire::providers::DISCORD,
        tag: "discord",
        secret_fields: &["webhook_url"],
        viewer_hidden: &[],
        address: Address::Url {
            field: "webhook_url",
            default: "",
        },
        schemes: &["discord"],
        webhook_url_field: Some("webhook_url"),
        from_apprise,
    };

    fn validate(&self) -> Result<(), String> {
        check_url("webhook_url", &self.webhook_url)
    }

    fn plan(&self, out: &Outgoing) -> Plan {
        Plan::Http(self.request(out), judge)
    }
}

impl Discord {
    pub fn request(&self, out: &Outgoing) -> HttpRequest {
        let mut embed = json!({
            "title": truncate(&out.title, 256),
            "description": truncate(&out.message, 4096),
            "color": 3447003,
            "timestamp": out.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "footer": {"text": truncate(&out.dvr_name, 2048)},
        });
        if let Some(img) = &out.image_url {
            embed["image"] = json!({ "url": img });
        }
        let body = json!({
            "username": self.username.as_deref().unwrap_or("ChannelWatch"),
            "content": "",
            "embeds": [embed],
        });
        HttpRequest::post(self.webhook_url.clone(), Body::Json(body))
    }
}

/// 204 (or 200) on success; `{"message", "code"}` otherwise.
pub fn judge(status: u16, body: &str) -> Result<String, String> {
    match status {
        204 | 200 => Ok("delivered".to_string()),
        _ => Err(serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| {
                v["message"]
                    .as_str()
                    .map(|m| format!("{m} (code {})", v["code"]))
            })
            .unwrap_or_else(|| body.to_string())),
    }
}

/// `discord://WEBHOOK_ID/WEBHOOK_TOKEN` (`discord://BOTNAME@ID/TOKEN` names the bot).
fn from_apprise(p: &Parts) -> Result<ProviderConfig, String> {
    let mut segs = vec![p.host.clone()];
    segs.extend(p.path.iter().cloned());
    from_segments(&segs, p.user.clone().or(p.query.get("botname").cloned()))
}

/// The provider for a webhook's id and token (the segments after `/api/webhooks/`).
pub(crate) fn from_segments(
    segs: &[String],
    username: Option<String>,
) -> Result<ProviderConfig, String> {
    match segs {
        [id, token, ..] if !id.is_empty() && !token.is_empty() => {
            Ok(ProviderConfig::Discord(Discord {
                webhook_url: format!("https://discord.com/api/webhooks/{id}/{token}"),
                username,
            }))
        }
        _ => Err("url: discord needs WEBHOOK_ID/WEBHOOK_TOKEN".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::delivery::tests_support::outgoing;

    #[test]
    fn one_embed_with_the_image() {
        let d = Discord {
            webhook_url: "http://127.0.0.1:9/api/webhooks/1/t".into(),
            username: None,
        };
        let r = d.request(&outgoing());
        let Body::Json(b) = &r.body else { panic!() };
        assert_eq!(b["username"], "ChannelWatch");
        assert_eq!(b["embeds"][0]["title"], "Now watching");
        assert_eq!(b["embeds"][0]["image"]["url"], "https://img.example/p.png");
        assert_eq!(judge(204, ""), Ok("delivered".into()));
        assert_eq!(
            judge(404, r#"{"message":"Unknown Webhook","code":10015}"#),
            Err("Unknown Webhook (code 10015)".into())
        );
    }
}
