//! Providers as the API and CLI see them: building a destination from a request body
//! (its fields, or an Apprise URL), the masked answer object, and the test message.

use chrono::Utc;
use serde_json::{Map, Value};

use super::send::Outgoing;
use domain::notify::providers::ProviderConfig;
use storage::providers::ProviderRecord;
use wire::providers::ProviderView;

/// Whether a `url` value is an Apprise-style URL rather than an http(s) field.
pub fn is_apprise_url(kind: &str, url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let http = lower.starts_with("http://") || lower.starts_with("https://");
    !http
        || (matches!(kind, "discord" | "slack")
            && domain::notify::providers::from_apprise_url(url).is_ok())
}

/// Builds the destination of a provider of `kind` from the body's fields (without
/// `type`, `name`, `enabled`). A masked secret keeps `previous`'s value.
pub fn config_from_body(
    kind: &str,
    mut fields: Map<String, Value>,
    previous: Option<&ProviderConfig>,
) -> Result<ProviderConfig, String> {
    if wire::providers::provider_type(kind).is_none() {
        return Err(format!(
            "type: '{kind}' is not a provider type; use one of {}",
            wire::providers::provider_type_names()
        ));
    }
    let url = fields
        .get("url")
        .and_then(Value::as_str)
        .map(str::to_string);
    // `"url": "****"` alone is the masked Apprise URL echoed back (keep it); beside
    // other fields it is not an Apprise URL, and those fields must not be dropped.
    let masked_alone = |u: &str| u == domain::notify::secrets::MASK && fields.len() == 1;
    let apprise = |u: &str| {
        kind == "apprise"
            || masked_alone(u)
            || (u != domain::notify::secrets::MASK && is_apprise_url(kind, u))
    };
    if let Some(url) = url.filter(|u| apprise(u)) {
        if url == domain::notify::secrets::MASK {
            return previous
                .cloned()
                .ok_or_else(|| "url: must be set".to_string());
        }
        if fields.len() > 1 {
            return Err("url: give either an Apprise URL or the type's fields, not both".into());
        }
        let t = domain::notify::providers::from_apprise_url(&url)?;
        if kind != "apprise" && t.provider_type() != kind {
            return Err(format!(
                "url: this is a {} URL, not a {kind} one",
                t.provider_type()
            ));
        }
        t.validate()?;
        return Ok(t);
    }
    if kind == "apprise" {
        return Err("url: an Apprise URL (e.g. json://host/path) is required".into());
    }
    // Discord and Slack take their webhook URL as `url` too.
    if matches!(kind, "discord" | "slack") {
        if let Some(u) = fields.remove("url") {
            fields.insert("webhook_url".into(), u);
        }
    }
    let prev = previous.filter(|p| p.provider_type() == kind);
    ProviderConfig::from_fields(kind, fields, prev)
}

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
