//! Slack (`slack://A/B/C`, or the incoming-webhook URL itself): a mrkdwn section, and
//! the image as a block when Slack can fetch it.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::notify::apprise::Parts;
use crate::notify::checks::{check_url, is_public_url};
use crate::notify::delivery::{slack_escape, Body, HttpRequest, Outgoing, Plan};

use super::{Address, Provider, ProviderConfig, ProviderInfo};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slack {
    /// `https://hooks.slack.com/services/A/B/C`.
    pub webhook_url: String,
}

impl Provider for Slack {
    const INFO: &'static ProviderInfo = &ProviderInfo {
        ty: &wire::providers::SLACK,
        tag: "slack",
        secret_fields: &["webhook_url"],
        viewer_hidden: &[],
        address: Address::Url {
            field: "webhook_url",
            default: "",
        },
        schemes: &["slack"],
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

impl Slack {
    pub fn request(&self, out: &Outgoing) -> HttpRequest {
        let mut blocks = vec![json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("*{}*\n{}", slack_escape(&out.title), slack_escape(&out.message))}
        })];
        // Slack fetches the image itself: only a public URL can work.
        if let Some(img) = out.image_url.as_deref().filter(|u| is_public_url(u)) {
            blocks.push(json!({"type": "image", "image_url": img, "alt_text": out.title}));
        }
        let body = json!({
            "text": format!("{}: {}", out.title, out.message),
            "blocks": blocks,
        });
        HttpRequest::post(self.webhook_url.clone(), Body::Json(body))
    }
}

/// Slack answers `ok` in plain text.
pub fn judge(status: u16, body: &str) -> Result<String, String> {
    if status == 200 && body.trim() == "ok" {
        Ok("ok".into())
    } else {
        Err(body.trim().to_string())
    }
}

/// `slack://TOKEN_A/TOKEN_B/TOKEN_C`.
fn from_apprise(p: &Parts) -> Result<ProviderConfig, String> {
    let mut segs = vec![p.host.clone()];
    segs.extend(p.path.iter().cloned());
    if segs.len() < 3 || segs[..3].iter().any(String::is_empty) {
        return Err("url: slack:// needs TokenA/TokenB/TokenC".into());
    }
    Ok(ProviderConfig::Slack(Slack {
        webhook_url: format!(
            "https://hooks.slack.com/services/{}/{}/{}",
            segs[0], segs[1], segs[2]
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::delivery::tests_support::outgoing;

    #[test]
    fn text_is_escaped_and_a_public_image_is_a_block() {
        let s = Slack {
            webhook_url: "http://127.0.0.1:9/services/A/B/C".into(),
        };
        let Body::Json(b) = s.request(&outgoing()).body else {
            panic!()
        };
        assert_eq!(
            b["blocks"][0]["text"]["text"],
            "*Now watching*\nKitchen &amp; den"
        );
        assert_eq!(b["blocks"][1]["type"], "image");
        assert_eq!(judge(200, "ok\n"), Ok("ok".into()));
        assert_eq!(judge(404, "no_team"), Err("no_team".into()));
    }
}
