//! An Apprise API server (`apprise-api`), so every Apprise service works (Pushbullet,
//! Teams, Signal, ...): `POST {url}/notify` with the Apprise URLs in the body
//! (stateless), or `POST {url}/notify/{key}` for a configuration saved on that server
//! under `key`, optionally narrowed to a `tag`. Apprise's own `apprise://HOST/KEY` and
//! `apprises://` URLs name the same thing.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::notify::apprise::{authority, Parts};
use crate::notify::checks::check_url;
use crate::notify::delivery::{plain_judge, Body, HttpRequest, Outgoing, Plan};

use super::{Address, Provider, ProviderConfig, ProviderInfo};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppriseApi {
    /// The Apprise API server's base URL, e.g. `http://apprise:8000`.
    pub url: String,
    /// Apprise URLs, comma or space separated (stateless `/notify`). They carry the
    /// services' credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<String>,
    /// A configuration key saved on the server (`/notify/{key}`), instead of `urls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Only the key's URLs with this tag (`,` for or, space for and).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl Provider for AppriseApi {
    const INFO: &'static ProviderInfo = &ProviderInfo {
        ty: &wire::providers::APPRISE_API,
        tag: "apprise_api",
        // The Apprise URLs hold every service's tokens; a key names a stored config.
        secret_fields: &["urls", "key"],
        viewer_hidden: &[],
        address: Address::Url {
            field: "url",
            default: "",
        },
        schemes: &["apprise", "apprises"],
        webhook_url_field: None,
        from_apprise,
    };

    fn validate(&self) -> Result<(), String> {
        check_url("url", &self.url)?;
        let urls = self
            .urls
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let key = self.key.as_deref().map(str::trim).filter(|k| !k.is_empty());
        match (urls, key) {
            (None, None) => Err(
                "urls: give the Apprise URLs to notify, or the key of a configuration saved on the Apprise API server"
                    .into(),
            ),
            (Some(_), Some(_)) => Err("key: give either urls or a key, not both".into()),
            (Some(u), None) if u.len() > 8192 => Err("urls: at most 8192 characters".into()),
            (Some(u), None) if !u.contains("://") => {
                Err("urls: not Apprise URLs (like pbul://token or msteams://...)".into())
            }
            (None, Some(k)) if !valid_key(k) => {
                Err("key: 1 to 64 letters, digits, '_' or '-', as Apprise API keys are".into())
            }
            _ if self.tag.as_deref().is_some_and(|t| t.len() > 256) => {
                Err("tag: at most 256 characters".into())
            }
            _ => Ok(()),
        }
    }

    fn plan(&self, out: &Outgoing) -> Plan {
        Plan::Http(self.request(out), judge)
    }
}

/// Apprise API's rule for keys.
fn valid_key(k: &str) -> bool {
    (1..=64).contains(&k.len())
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Apprise's message type for an event: how the services colour or mark it.
pub fn notify_type(event_type: &str) -> &'static str {
    match event_type {
        "recording.failed"
        | "recording.missed"
        | "recording.interrupted"
        | "disk.space.critical"
        | "dvr.unreachable"
        | "dvr.reload_failed" => "failure",
        "disk.space.warning" | "recording.skipped" => "warning",
        "recording.completed" | "dvr.recovered" => "success",
        _ => "info",
    }
}

impl AppriseApi {
    pub fn request(&self, out: &Outgoing) -> HttpRequest {
        let base = self.url.trim_end_matches('/');
        let mut body = json!({
            "title": out.title,
            "body": out.message,
            "type": notify_type(&out.event_type),
            "format": "text",
        });
        let key = self.key.as_deref().map(str::trim).filter(|k| !k.is_empty());
        let url = match key {
            Some(k) => {
                if let Some(tag) = self.tag.as_deref().filter(|t| !t.trim().is_empty()) {
                    body["tag"] = json!(tag);
                }
                format!("{base}/notify/{k}")
            }
            None => {
                body["urls"] = json!(self.urls.as_deref().unwrap_or_default().trim());
                format!("{base}/notify")
            }
        };
        HttpRequest::post(url, Body::Json(body)).header("Accept", "application/json")
    }
}

/// 200 is sent. 204 means the server has no configuration under the key (or none
/// with the tag), so nothing went anywhere; 424 that a service refused. The server's
/// `error` text is kept.
pub fn judge(status: u16, body: &str) -> Result<String, String> {
    let error = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string));
    match status {
        204 => Err(
            "the Apprise API server has no configuration under this key (or none with this tag)"
                .into(),
        ),
        424 => Err(format!(
            "a service did not take it: {}",
            error.unwrap_or_else(|| body.trim().to_string())
        )),
        _ => match error {
            Some(e) if !(200..300).contains(&status) => Err(e),
            _ => plain_judge(status, body),
        },
    }
}

/// `apprise://HOST[:PORT][/PATH]/KEY[?tags=…]` (`apprises` for https), Apprise's own
/// way to name a configuration on an Apprise API server.
fn from_apprise(p: &Parts) -> Result<ProviderConfig, String> {
    if p.user.is_some() {
        return Err("url: a login in an apprise:// URL is not supported".into());
    }
    let mut path = p.path.clone();
    let key = path
        .pop()
        .filter(|k| !k.is_empty())
        .ok_or("url: expected apprise://host/KEY (the configuration key)")?;
    let scheme = if p.scheme == "apprises" {
        "https"
    } else {
        "http"
    };
    let mut url = format!("{scheme}://{}", authority(&p.host, p.port));
    if !path.is_empty() {
        url = format!("{url}/{}", path.join("/"));
    }
    let tag = p.query.get("tags").or(p.query.get("tag")).cloned();
    Ok(ProviderConfig::AppriseApi(AppriseApi {
        url,
        urls: None,
        key: Some(key),
        tag,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::delivery::tests_support::outgoing;

    fn stateless(urls: &str) -> AppriseApi {
        AppriseApi {
            url: "http://apprise.lan:8000/".into(),
            urls: Some(urls.into()),
            key: None,
            tag: None,
        }
    }

    #[test]
    fn stateless_sends_the_urls_and_a_key_names_the_stored_config() {
        let out = outgoing();
        let r = stateless(" pbul://token msteams://a/b/c ").request(&out);
        assert_eq!(r.url, "http://apprise.lan:8000/notify");
        let Body::Json(b) = &r.body else {
            panic!("json")
        };
        assert_eq!(b["urls"], "pbul://token msteams://a/b/c");
        assert_eq!(b["body"], out.message.as_str());
        assert_eq!(b["title"], out.title.as_str());
        assert_eq!(b["format"], "text");
        assert!(b.get("tag").is_none());

        let keyed = AppriseApi {
            urls: None,
            key: Some("channelwatch".into()),
            tag: Some("tv family".into()),
            ..stateless("")
        };
        let r = keyed.request(&out);
        assert_eq!(r.url, "http://apprise.lan:8000/notify/channelwatch");
        let Body::Json(b) = &r.body else {
            panic!("json")
        };
        assert_eq!(b["tag"], "tv family");
        assert!(b.get("urls").is_none());
    }

    #[test]
    fn answers_are_judged_as_the_apprise_api_gives_them() {
        assert!(judge(200, "{\"message\": \"Notification(s) sent\"}").is_ok());
        assert!(judge(204, "")
            .unwrap_err()
            .contains("no configuration under this key"));
        let e = judge(
            424,
            "{\"error\": \"One or more notification could not be sent\"}",
        );
        assert_eq!(
            e.unwrap_err(),
            "a service did not take it: One or more notification could not be sent"
        );
        assert_eq!(judge(400, "{\"error\": \"bad\"}").unwrap_err(), "bad");
        assert_eq!(judge(500, "oops").unwrap_err(), "oops");
    }

    #[test]
    fn types_follow_the_event() {
        assert_eq!(notify_type("recording.failed"), "failure");
        assert_eq!(notify_type("disk.space.warning"), "warning");
        assert_eq!(notify_type("dvr.recovered"), "success");
        assert_eq!(notify_type("channel.watching.start"), "info");
    }

    #[test]
    fn checks_name_the_field() {
        let e = |a: AppriseApi| a.validate().unwrap_err();
        assert!(stateless("pbul://t").validate().is_ok());
        assert!(e(stateless("  ")).starts_with("urls: give"));
        assert!(e(stateless("just words")).starts_with("urls: not Apprise URLs"));
        assert!(e(AppriseApi {
            key: Some("k".into()),
            ..stateless("pbul://t")
        })
        .starts_with("key: give either"));
        assert!(e(AppriseApi {
            urls: None,
            key: Some("bad key!".into()),
            ..stateless("")
        })
        .starts_with("key: 1 to 64"));
        assert!(e(AppriseApi {
            url: "http://169.254.169.254".into(),
            ..stateless("pbul://t")
        })
        .starts_with("url: "));
    }

    #[test]
    fn apprise_urls_name_a_key_on_a_server() {
        let p = crate::notify::apprise::split("apprises://apprise.lan:8443/sub/abc123?tags=tv")
            .unwrap();
        let ProviderConfig::AppriseApi(a) = from_apprise(&p).unwrap() else {
            panic!("apprise_api")
        };
        assert_eq!(a.url, "https://apprise.lan:8443/sub");
        assert_eq!(a.key.as_deref(), Some("abc123"));
        assert_eq!(a.tag.as_deref(), Some("tv"));
        assert!(a.validate().is_ok());
        let p = crate::notify::apprise::split("apprise://apprise.lan").unwrap();
        assert!(from_apprise(&p).unwrap_err().contains("KEY"));
    }
}
