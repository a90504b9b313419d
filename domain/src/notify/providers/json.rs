//! Apprise's `json://` / `jsons://`: `{version, title, message, type}` to any URL, with
//! the URL's `+Header=value` entries as headers. Its provider type is `apprise`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::notify::apprise::{authority, Parts};
use crate::notify::checks::check_url;
use crate::notify::delivery::{plain_judge, Body, HttpRequest, Outgoing, Plan};

use super::{Address, Provider, ProviderConfig, ProviderInfo};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Json {
    pub url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

impl Provider for Json {
    const INFO: &'static ProviderInfo = &ProviderInfo {
        ty: &wire::providers::APPRISE,
        tag: "json",
        // The URL may carry a login or tokens in its query.
        secret_fields: &["url", "headers"],
        viewer_hidden: &[],
        address: Address::Url {
            field: "url",
            default: "",
        },
        schemes: &["json", "jsons"],
        webhook_url_field: None,
        from_apprise,
    };

    fn validate(&self) -> Result<(), String> {
        check_url("url", &self.url)
    }

    fn plan(&self, out: &Outgoing) -> Plan {
        Plan::Http(self.request(out), plain_judge)
    }
}

impl Json {
    pub fn request(&self, out: &Outgoing) -> HttpRequest {
        let body = json!({
            "version": "1.0",
            "title": out.title,
            "message": out.message,
            "type": "info",
            "attachments": [],
        });
        let mut req = HttpRequest::post(self.url.clone(), Body::Json(body));
        for (k, v) in &self.headers {
            req = req.header(k, v.clone());
        }
        req
    }
}

/// `json(s)://[USER[:PASS]@]HOST[:PORT][/PATH][?+Header=v&-param=v]`.
fn from_apprise(p: &Parts) -> Result<ProviderConfig, String> {
    let scheme = if p.scheme == "jsons" { "https" } else { "http" };
    let enc = |x: &str| {
        percent_encoding::utf8_percent_encode(x, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let userinfo = match (&p.user, &p.password) {
        (Some(u), Some(pw)) => format!("{}:{}@", enc(u), enc(pw)),
        (Some(u), None) => format!("{}@", enc(u)),
        _ => String::new(),
    };
    let mut url = format!(
        "{scheme}://{userinfo}{}/{}",
        authority(&p.host, p.port),
        p.path.join("/")
    );
    if !p.extra_query.is_empty() {
        let q: Vec<String> = p
            .extra_query
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        url = format!("{url}?{}", q.join("&"));
    }
    Ok(ProviderConfig::Json(Json {
        url,
        headers: p.headers.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::delivery::tests_support::outgoing;

    #[test]
    fn headers_travel_with_the_apprise_body() {
        let j = Json {
            url: "http://127.0.0.1:9/notify".into(),
            headers: vec![("X-Token".into(), "abc".into())],
        };
        let r = j.request(&outgoing());
        assert_eq!(r.header_value("x-token"), Some("abc"));
        let Body::Json(b) = &r.body else { panic!() };
        assert_eq!(
            (b["version"].as_str(), b["type"].as_str()),
            (Some("1.0"), Some("info"))
        );
    }
}
