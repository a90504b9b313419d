//! The native signed webhook (contract §3): a compact JSON body, signed with
//! HMAC-SHA256 under the provider's secret.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::notify::apprise::Parts;
use crate::notify::checks::check_url;
use crate::notify::delivery::{plain_judge, sign, Body, HttpRequest, Outgoing, Plan};

use super::{Address, Provider, ProviderConfig, ProviderInfo, MASK};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
}

impl Provider for Webhook {
    const INFO: &'static ProviderInfo = &ProviderInfo {
        ty: &wire::providers::WEBHOOK,
        tag: "webhook",
        secret_fields: &["secret"],
        // The URL may carry its own token (a Home Assistant webhook id does).
        viewer_hidden: &["url"],
        address: Address::Url {
            field: "url",
            default: "",
        },
        schemes: &[],
        webhook_url_field: None,
        from_apprise: no_scheme,
    };

    fn validate(&self) -> Result<(), String> {
        check_url("url", &self.url)?;
        if self.secret.is_empty() || self.secret == MASK {
            return Err("secret: must be set (it signs every delivery)".into());
        }
        Ok(())
    }

    fn plan(&self, out: &Outgoing) -> Plan {
        Plan::Http(self.request(out), plain_judge)
    }
}

impl Webhook {
    pub fn request(&self, out: &Outgoing) -> HttpRequest {
        let body = body(out);
        let signature = sign(&self.secret, body.as_bytes());
        HttpRequest::post(self.url.clone(), Body::Raw(body))
            .header("Content-Type", "application/json")
            .header("X-ChannelWatch-Signature", format!("sha256={signature}"))
            .header("X-ChannelWatch-Delivery", out.delivery_id.clone())
            .header("X-ChannelWatch-Event", out.event_type.clone())
    }
}

/// The compact JSON body (contract §3).
pub fn body(out: &Outgoing) -> String {
    json!({
        "eventType": out.event_type,
        "timestamp": out.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "instanceName": out.instance_name,
        "instanceUrl": out.instance_url,
        "version": crate::VERSION,
        "deliveryId": out.delivery_id,
        "dvr_id": out.dvr_id,
        "dvr_name": out.dvr_name,
        "data": {"title": out.title, "message": out.message, "imageUrl": out.image_url},
    })
    .to_string()
}

/// The webhook has no Apprise scheme: it is ChannelWatch's own.
fn no_scheme(_: &Parts) -> Result<ProviderConfig, String> {
    Err("url: the webhook has no Apprise URL; give url and secret".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::delivery::tests_support::outgoing;

    #[test]
    fn the_signature_covers_the_exact_body() {
        let w = Webhook {
            url: "http://127.0.0.1:9/h".into(),
            secret: "s3".into(),
        };
        let r = w.request(&outgoing());
        let Body::Raw(b) = &r.body else { panic!() };
        assert_eq!(
            r.header_value("x-channelwatch-signature").unwrap(),
            format!("sha256={}", sign("s3", b.as_bytes()))
        );
        assert_eq!(r.header_value("x-channelwatch-delivery"), Some("d-1"));
        let v: serde_json::Value = serde_json::from_str(b).unwrap();
        assert_eq!(v["eventType"], "channel_watching");
        assert_eq!(v["data"]["imageUrl"], "https://img.example/p.png");
    }
}
