//! Telegram (`tgram://BOT_TOKEN/CHAT_ID`): `sendPhoto` with a caption when the image
//! is public and the text fits a caption, `sendMessage` otherwise or when Telegram
//! cannot fetch the photo.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::notify::apprise::{need, Parts};
use crate::notify::checks::{blank, is_public_url, opt_url};
use crate::notify::delivery::{html_escape, truncate, Body, HttpRequest, Outgoing, Plan};

use super::{Address, Provider, ProviderConfig, ProviderInfo};

/// Where Telegram is when `base_url` is not set.
pub(crate) const TELEGRAM_URL: &str = "https://api.telegram.org";

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telegram {
    pub bot_token: String,
    pub chat_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

impl Provider for Telegram {
    const INFO: &'static ProviderInfo = &ProviderInfo {
        ty: &wire::providers::TELEGRAM,
        tag: "telegram",
        secret_fields: &["bot_token"],
        viewer_hidden: &[],
        address: Address::Url {
            field: "base_url",
            default: TELEGRAM_URL,
        },
        schemes: &["tgram"],
        webhook_url_field: None,
        from_apprise,
    };

    fn validate(&self) -> Result<(), String> {
        blank("bot_token", &self.bot_token)?;
        blank("chat_id", &self.chat_id)?;
        opt_url("base_url", self.base_url.as_deref())
    }

    fn plan(&self, out: &Outgoing) -> Plan {
        let message = (self.message_request(out), judge as _);
        match self.photo_request(out) {
            Some(photo) => Plan::Fallback {
                first: (photo, judge),
                instead: message,
            },
            None => Plan::Http(message.0, message.1),
        }
    }
}

impl Telegram {
    fn text(out: &Outgoing) -> String {
        format!(
            "<b>{}</b>\n{}",
            html_escape(&out.title),
            html_escape(&out.message)
        )
    }

    fn method_url(&self, method: &str) -> String {
        let base = self.base_url.as_deref().unwrap_or(TELEGRAM_URL);
        format!(
            "{}/bot{}/{method}",
            base.trim_end_matches('/'),
            self.bot_token
        )
    }

    /// The text message.
    pub(crate) fn message_request(&self, out: &Outgoing) -> HttpRequest {
        let body = json!({"chat_id": self.chat_id, "text": truncate(&Self::text(out), 4096), "parse_mode": "HTML"});
        HttpRequest::post(self.method_url("sendMessage"), Body::Json(body))
    }

    /// The photo with the text as its caption: only when Telegram can fetch the image
    /// (a public URL) and the text fits a caption's 1024 characters.
    pub(crate) fn photo_request(&self, out: &Outgoing) -> Option<HttpRequest> {
        let text = Self::text(out);
        let img = out
            .image_url
            .as_deref()
            .filter(|u| is_public_url(u))
            .filter(|_| text.chars().count() <= 1024)?;
        let body =
            json!({"chat_id": self.chat_id, "photo": img, "caption": text, "parse_mode": "HTML"});
        Some(HttpRequest::post(
            self.method_url("sendPhoto"),
            Body::Json(body),
        ))
    }
}

/// `{"ok": true, "result": {"message_id"}}` on success; `description` otherwise.
pub fn judge(status: u16, body: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if status == 200 && v["ok"] == true {
        Ok(format!("message {}", v["result"]["message_id"]))
    } else {
        Err(v["description"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string()))
    }
}

/// `tgram://123456789:AAH…/CHAT_ID` (or `?to=CHAT_ID`).
fn from_apprise(p: &Parts) -> Result<ProviderConfig, String> {
    let bot_token = need(Some(p.host.clone()), "the bot token")?;
    let bot_token = bot_token
        .strip_prefix("bot")
        .unwrap_or(&bot_token)
        .to_string();
    let chat_id = p.path.first().cloned().or(p.query.get("to").cloned());
    Ok(ProviderConfig::Telegram(Telegram {
        bot_token,
        chat_id: need(chat_id, "the chat id (tgram://TOKEN/CHAT_ID)")?,
        base_url: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::delivery::tests_support::outgoing;

    #[test]
    fn a_public_image_goes_as_a_photo_and_a_private_one_as_text() {
        let t = Telegram {
            bot_token: "123:ABC".into(),
            chat_id: "42".into(),
            base_url: Some("http://127.0.0.1:9".into()),
        };
        let mut out = outgoing();
        let photo = t.photo_request(&out).unwrap();
        assert_eq!(photo.url, "http://127.0.0.1:9/bot123:ABC/sendPhoto");
        out.image_url = Some("http://192.168.1.5/x.png".into());
        assert!(t.photo_request(&out).is_none());
        assert!(matches!(t.plan(&out), Plan::Http(r, _) if r.url.ends_with("/sendMessage")));
        let Body::Json(b) = t.message_request(&out).body else {
            panic!()
        };
        assert_eq!(b["text"], "<b>Now watching</b>\nKitchen &amp; den");
        assert_eq!(
            judge(200, r#"{"ok":true,"result":{"message_id":5}}"#),
            Ok("message 5".into())
        );
        assert_eq!(
            judge(400, r#"{"ok":false,"description":"chat not found"}"#),
            Err("chat not found".into())
        );
    }
}
