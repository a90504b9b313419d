//! A provider's settings from an API body (or the YAML file's entry): its type's
//! fields, or `url` with an Apprise URL (or the service's own webhook URL). Secrets
//! echoed masked keep their stored values, for the destination they were given for.

use serde_json::{Map, Value};

use super::{from_apprise_url, provider, ProviderConfig, MASK};

/// Whether a `url` value is an Apprise-style URL rather than an http(s) field.
pub fn is_apprise_url(kind: &str, url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let http = lower.starts_with("http://") || lower.starts_with("https://");
    let own_webhook = provider(kind).is_some_and(|p| p.webhook_url_field.is_some());
    !http || (own_webhook && from_apprise_url(url).is_ok())
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
    let masked_alone = |u: &str| u == MASK && fields.len() == 1;
    let apprise =
        |u: &str| kind == "apprise" || masked_alone(u) || (u != MASK && is_apprise_url(kind, u));
    if let Some(url) = url.filter(|u| apprise(u)) {
        if url == MASK {
            return previous
                .cloned()
                .ok_or_else(|| "url: must be set".to_string());
        }
        if fields.len() > 1 {
            return Err("url: give either an Apprise URL or the type's fields, not both".into());
        }
        let t = from_apprise_url(&url)?;
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
    if let Some(field) = provider(kind).and_then(|p| p.webhook_url_field) {
        if let Some(u) = fields.remove("url") {
            fields.insert(field.into(), u);
        }
    }
    let prev = previous.filter(|p| p.provider_type() == kind);
    ProviderConfig::from_fields(kind, fields, prev)
}
