//! Providers as the API and CLI see them: building a destination from a request body
//! (its fields, or an Apprise URL), the masked answer object, and the test message.

use chrono::Utc;
use serde_json::{Map, Value};

use super::send::Outgoing;
use storage::providers::ProviderRecord;
use wire::providers::ProviderView;

pub use domain::notify::providers::body::{config_from_body, is_apprise_url};

/// The API's provider object: `{id, type, name, enabled, managed_by, …fields}`,
/// secrets masked.
pub(crate) fn api_object(r: &ProviderRecord) -> ProviderView {
    view(r, r.config.masked())
}

/// [`api_object`] for a viewer: credential-like fields masked too
/// ([`ProviderConfig::viewer_masked`]).
pub(crate) fn viewer_object(r: &ProviderRecord) -> ProviderView {
    view(r, r.config.viewer_masked())
}

fn view(r: &ProviderRecord, mut fields: Map<String, Value>) -> ProviderView {
    // The object's own keys win over a field of the same name.
    for own in ["id", "type", "name", "enabled", "managed_by", "scheme"] {
        fields.remove(own);
    }
    ProviderView {
        id: r.id,
        provider_type: r.kind.clone(),
        name: r.name.clone(),
        enabled: r.enabled,
        managed_by: r.managed_by.as_str().to_string(),
        scheme: (r.kind == "apprise").then(|| r.config.kind_tag().to_string()),
        fields,
    }
}

/// The test notification for one provider.
pub fn test_message(r: &ProviderRecord, instance_url: &str) -> Outgoing {
    Outgoing {
        title: "[TEST] ChannelWatch notification".into(),
        message: format!(
            "If you can read this, ChannelWatch can reach the provider '{}'.",
            r.name
        ),
        image_url: None,
        event_type: "test".into(),
        dvr_id: String::new(),
        dvr_name: "ChannelWatch".into(),
        delivery_id: uuid::Uuid::new_v4().to_string(),
        timestamp: Utc::now(),
        instance_name: "ChannelWatch".into(),
        instance_url: instance_url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::notify::providers::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn url_or_fields() {
        let t = config_from_body("pushover", body(json!({"url": "pover://u@t"})), None).unwrap();
        assert_eq!(t.provider_type(), "pushover");
        let e =
            config_from_body("pushover", body(json!({"url": "discord://1/2"})), None).unwrap_err();
        assert!(e.contains("discord"), "{e}");
        let t = config_from_body(
            "discord",
            body(json!({"url": "https://discord.com/api/webhooks/1/abc"})),
            None,
        )
        .unwrap();
        assert!(matches!(t, ProviderConfig::Discord(Discord { .. })));
        // Gotify's own `url` field is the server, not an Apprise URL.
        let t = config_from_body(
            "gotify",
            body(json!({"url": "http://127.0.0.1:8080", "token": "tok"})),
            None,
        )
        .unwrap();
        assert!(matches!(t, ProviderConfig::Gotify(Gotify { .. })));
        let t = config_from_body(
            "apprise",
            body(json!({"url": "json://127.0.0.1:9/x"})),
            None,
        )
        .unwrap();
        assert_eq!(t.provider_type(), "apprise");
        assert!(config_from_body("carrier-pigeon", Map::new(), None)
            .unwrap_err()
            .starts_with("type"));
    }

    #[test]
    fn the_api_object_never_shows_a_secret() {
        let r = ProviderRecord {
            id: 3,
            kind: "telegram".into(),
            name: "Phone".into(),
            enabled: true,
            config: ProviderConfig::Telegram(Telegram {
                bot_token: "123:SECRET".into(),
                chat_id: "42".into(),
                base_url: None,
            }),
            managed_by: storage::dvrs::ManagedBy::Ui,
        };
        let v = serde_json::to_value(api_object(&r)).unwrap();
        assert_eq!(v["bot_token"], "****");
        assert_eq!(v["chat_id"], "42");
        assert_eq!(v["type"], "telegram");
        assert!(!v.to_string().contains("SECRET"));
    }

    #[test]
    fn a_masked_url_beside_other_fields_does_not_drop_them() {
        let stored = ProviderConfig::Webhook(Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            secret: "old".into(),
        });
        // Alone, the masked URL keeps the stored target (an Apprise URL echoed back).
        let kept = config_from_body("webhook", body(json!({"url": "****"})), Some(&stored));
        assert!(kept.is_ok_and(|t| t == stored));
        // Beside a new secret it is not silently kept with the secret dropped.
        let e = config_from_body(
            "webhook",
            body(json!({"url": "****", "secret": "new"})),
            Some(&stored),
        )
        .unwrap_err();
        assert!(e.starts_with("url"), "{e}");
    }
}
