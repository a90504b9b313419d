//! Where a provider sends: one variant per destination API, with its fields as the API
//! accepts them (`POST /api/v1/providers`), which secrets they hold, and masking.
//!
//! Every variant can point at a self-hosted server or a test fake: the fixed public
//! hosts are only defaults (`base_url`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the API answers in place of a secret; sending it back keeps the stored value.
pub const MASK: &str = "****";

/// Where Pushover, Telegram and ntfy send when `base_url` / `url` is not set.
pub const PUSHOVER_URL: &str = "https://api.pushover.net";
pub const TELEGRAM_URL: &str = "https://api.telegram.org";
pub const NTFY_URL: &str = "https://ntfy.sh";

/// SMTP connection security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmailSecurity {
    /// Plain connect, then STARTTLS (submission, 587).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, 465).
    Tls,
    /// No TLS at all (a relay on the local network, or a test listener).
    Plain,
}

impl EmailSecurity {
    /// The port used when `smtp_port` is not set.
    pub fn default_port(self) -> u16 {
        match self {
            EmailSecurity::Starttls => 587,
            EmailSecurity::Tls => 465,
            EmailSecurity::Plain => 25,
        }
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Target {
    Pushover {
        user_key: String,
        token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<i8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sound: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_url: Option<String>,
    },
    Discord {
        /// `https://discord.com/api/webhooks/<id>/<token>` (or any server's equivalent).
        webhook_url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
    },
    Telegram {
        bot_token: String,
        chat_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_url: Option<String>,
    },
    Slack {
        /// `https://hooks.slack.com/services/A/B/C`.
        webhook_url: String,
    },
    Email {
        smtp_host: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        smtp_port: Option<u16>,
        #[serde(default)]
        security: EmailSecurity,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        from: String,
        to: Vec<String>,
        /// PEM of an extra trusted root, for an SMTP server with a private CA.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_certificate: Option<String>,
    },
    Gotify {
        /// The server's base URL, e.g. `https://gotify.example.com/sub`.
        url: String,
        token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<u8>,
    },
    Matrix {
        /// The homeserver's base URL, e.g. `https://matrix.example.com`.
        homeserver: String,
        /// `!roomid:server` or `#alias:server`.
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
    Ntfy {
        /// The server's base URL (default `https://ntfy.sh`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        topic: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<u8>,
    },
    /// The native signed webhook (contract §3).
    Webhook { url: String, secret: String },
    /// Apprise's `json://` / `jsons://`: `{version, title, message, type}` to any URL.
    Json {
        url: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        headers: Vec<(String, String)>,
    },
}

/// Secrets an edit would carry to another destination: left masked (so the stored
/// values would be filled in) while the address they are sent to changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedSecrets {
    /// The masked secret fields whose stored values would be sent elsewhere.
    pub secrets: Vec<&'static str>,
    /// The destination field that changed (`type` for another kind of target).
    pub changed: &'static str,
}

impl std::fmt::Display for CarriedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let one = self.secrets.len() == 1;
        write!(
            f,
            "{}: {} to the destination {} given for, and {} changed; enter {} again",
            self.secrets.join(", "),
            if one {
                "a stored secret only goes"
            } else {
                "stored secrets only go"
            },
            if one { "it was" } else { "they were" },
            self.changed,
            if one { "it" } else { "them" },
        )
    }
}

/// A URL's address as far as a secret is concerned: `scheme://host:port` (the default
/// port written out, the host as the URL parser normalises it); other text as it is.
fn origin(url: &str) -> String {
    let url = url.trim();
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port_or_known_default()
                .map_or_else(String::new, |p| p.to_string())
        ),
        Err(_) => url.to_string(),
    }
}

/// Query parameters whose values are credentials.
const SECRET_PARAMS: [&str; 11] = [
    "token",
    "access_token",
    "auth",
    "key",
    "apikey",
    "api_key",
    "secret",
    "password",
    "pass",
    "sig",
    "signature",
];

/// A URL with its password and credential-like query values replaced by [`MASK`] (the
/// address stays readable); `None` when it holds none, or is not a URL.
pub fn mask_url(text: &str) -> Option<String> {
    let mut u = url::Url::parse(text).ok()?;
    let mut changed = false;
    if u.password().is_some() {
        u.set_password(Some(MASK)).ok()?;
        changed = true;
    }
    let secret = |k: &str| SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str());
    let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    if pairs.iter().any(|(k, _)| secret(k)) {
        let masked: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| {
                if secret(&k) {
                    (k, MASK.to_string())
                } else {
                    (k, v)
                }
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(masked);
        changed = true;
    }
    changed.then(|| u.to_string())
}

/// Debug output is masked like the API's answer, so a `{:?}` in a log line or a panic
/// message cannot print a secret.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Target::{}({})",
            self.provider_type(),
            Value::Object(self.masked())
        )
    }
}

impl Target {
    /// The provider type this destination belongs to (`json` belongs to `apprise`).
    pub fn provider_type(&self) -> &'static str {
        match self {
            Target::Pushover { .. } => "pushover",
            Target::Discord { .. } => "discord",
            Target::Telegram { .. } => "telegram",
            Target::Slack { .. } => "slack",
            Target::Email { .. } => "email",
            Target::Gotify { .. } => "gotify",
            Target::Matrix { .. } => "matrix",
            Target::Ntfy { .. } => "ntfy",
            Target::Webhook { .. } => "webhook",
            Target::Json { .. } => "apprise",
        }
    }

    /// Field names that hold secrets (whole URLs that embed credentials included).
    pub fn secret_fields(&self) -> &'static [&'static str] {
        match self {
            Target::Pushover { .. } => &["user_key", "token"],
            Target::Discord { .. } => &["webhook_url"],
            Target::Telegram { .. } => &["bot_token"],
            Target::Slack { .. } => &["webhook_url"],
            Target::Email { .. } => &["password"],
            Target::Gotify { .. } => &["token"],
            Target::Matrix { .. } => &["access_token", "password"],
            Target::Ntfy { .. } => &["token", "password"],
            Target::Webhook { .. } => &["secret"],
            // The URL may carry a login or tokens in its query.
            Target::Json { .. } => &["url", "headers"],
        }
    }

    /// The fields as a JSON object, secrets replaced by [`MASK`]; no `kind`. Other URL
    /// fields keep their address but lose an embedded password or token ([`mask_url`]).
    pub fn masked(&self) -> Map<String, Value> {
        let mut v = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        v.remove("kind");
        for (name, x) in v.iter_mut() {
            if self.secret_fields().contains(&name.as_str()) {
                if !x.is_null() {
                    *x = Value::String(MASK.into());
                }
            } else if let Some(m) = x.as_str().and_then(mask_url) {
                *x = Value::String(m);
            }
        }
        v
    }

    /// [`Target::masked`] for a viewer: also the fields that work as credentials
    /// without being called secrets (a webhook URL carries its own token, as a Home
    /// Assistant webhook id does; an ntfy topic is readable by whoever knows its name).
    pub fn viewer_masked(&self) -> Map<String, Value> {
        let mut v = self.masked();
        let hidden: &[&str] = match self {
            Target::Webhook { .. } => &["url"],
            Target::Ntfy { .. } => &["topic"],
            _ => &[],
        };
        for f in hidden {
            if let Some(x) = v.get_mut(*f) {
                if !x.is_null() {
                    *x = Value::String(MASK.into());
                }
            }
        }
        v
    }

    /// Whether `fields` (an answer or a backup's entry) still hold masked values, which
    /// only the stored secrets can fill in.
    pub fn has_masked(fields: &Map<String, Value>) -> bool {
        fields.values().any(|v| {
            v.as_str()
                .is_some_and(|s| s == MASK || mask_url(s).as_deref() == Some(s))
        })
    }

    /// The `kind` tag of the variant (`json` for Apprise's JSON target).
    fn kind_tag(&self) -> &'static str {
        match self {
            Target::Json { .. } => "json",
            other => other.provider_type(),
        }
    }

    /// Where fields of this target's kind send their secrets, one address per
    /// destination field: a URL field's `scheme://host:port` ([`origin`]; the built-in
    /// server when an optional one is not set), or the SMTP server's host, security and
    /// port in use. Other fields (paths, rooms, topics, recipients, user names) do not
    /// move a secret to another server.
    fn addresses(&self, fields: &Map<String, Value>) -> Vec<(&'static str, String)> {
        let text = |f: &str| -> String {
            fields
                .get(f)
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let url_at = |f: &'static str, default: &str| -> (&'static str, String) {
            let given = text(f);
            (
                f,
                origin(if given.is_empty() {
                    default
                } else {
                    given.as_str()
                }),
            )
        };
        match self {
            Target::Pushover { .. } => vec![url_at("base_url", PUSHOVER_URL)],
            Target::Telegram { .. } => vec![url_at("base_url", TELEGRAM_URL)],
            Target::Ntfy { .. } => vec![url_at("url", NTFY_URL)],
            Target::Discord { .. } | Target::Slack { .. } => vec![url_at("webhook_url", "")],
            Target::Gotify { .. } | Target::Webhook { .. } | Target::Json { .. } => {
                vec![url_at("url", "")]
            }
            Target::Matrix { .. } => vec![url_at("homeserver", "")],
            Target::Email { .. } => {
                let security: EmailSecurity = fields
                    .get("security")
                    .cloned()
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default();
                let port = fields
                    .get("smtp_port")
                    .and_then(Value::as_u64)
                    .unwrap_or(u64::from(security.default_port()));
                vec![
                    (
                        "smtp_host",
                        text("smtp_host").trim_end_matches('.').to_ascii_lowercase(),
                    ),
                    ("security", format!("{security:?}")),
                    ("smtp_port", port.to_string()),
                ]
            }
        }
    }

    /// Whether an edit of this stored target would carry a stored secret to another
    /// destination. `edited` holds the fields as given (a PATCH's merged answer, a
    /// backup's entry), before [`Target::from_fields`] fills the masked secrets in: a
    /// secret left as [`MASK`] is only filled in for the destination it was given for —
    /// the scheme, host and port of its URL field, or the SMTP host, security and port.
    /// Answers the masked secrets and the destination field that changed; `None` when
    /// nothing stored would go anywhere new. Pure: no I/O, no name resolution.
    pub fn carried_secrets(
        &self,
        kind: &str,
        edited: &Map<String, Value>,
    ) -> Option<CarriedSecrets> {
        let stored = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let secrets: Vec<&'static str> = self
            .secret_fields()
            .iter()
            .copied()
            .filter(|f| edited.get(*f).and_then(Value::as_str) == Some(MASK))
            .filter(|f| stored.get(*f).is_some_and(|v| !v.is_null()))
            .collect();
        if secrets.is_empty() {
            return None;
        }
        if kind != self.kind_tag() {
            return Some(CarriedSecrets {
                secrets,
                changed: "type",
            });
        }
        let before = self.addresses(&stored);
        // A masked destination (a webhook URL that is itself the secret) or the echo of
        // a URL whose credentials are masked stands for the stored one, as in
        // `from_fields`.
        let masked = self.masked();
        let mut resolved = edited.clone();
        for (f, _) in &before {
            let Some(given) = edited.get(*f) else {
                continue;
            };
            if given.as_str() == Some(MASK) || masked.get(*f) == Some(given) {
                match stored.get(*f) {
                    Some(v) => {
                        resolved.insert((*f).to_string(), v.clone());
                    }
                    None => {
                        resolved.remove(*f);
                    }
                }
            }
        }
        let after = self.addresses(&resolved);
        before
            .into_iter()
            .zip(after)
            .find(|(b, a)| b != a)
            .map(|((changed, _), _)| CarriedSecrets { secrets, changed })
    }

    /// Builds a target of `kind` from API fields. Secrets given as [`MASK`] are taken
    /// from `previous` (a PATCH that echoes the masked answer keeps the stored secret),
    /// but only for the destination they were given for: with a new address they must
    /// be given again ([`Target::carried_secrets`]; the error names them).
    pub fn from_fields(
        kind: &str,
        mut fields: Map<String, Value>,
        previous: Option<&Target>,
    ) -> Result<Target, String> {
        // Judged on the fields as given, before the stored secrets are filled in; told
        // after the fields' own errors.
        let carried = previous.and_then(|p| p.carried_secrets(kind, &fields));
        if let Some(prev) = previous {
            let stored = match serde_json::to_value(prev) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            // A URL echoed with its credentials masked is the stored URL.
            for (f, m) in prev.masked() {
                if prev.secret_fields().contains(&f.as_str()) {
                    continue;
                }
                if let (Some(given), Some(s)) = (fields.get(&f), stored.get(&f)) {
                    if given == &m && &m != s {
                        fields.insert(f, s.clone());
                    }
                }
            }
            for f in prev.secret_fields() {
                let masked = fields.get(*f).and_then(Value::as_str) == Some(MASK);
                if masked {
                    match stored.get(*f) {
                        Some(v) => {
                            fields.insert((*f).to_string(), v.clone());
                        }
                        None => {
                            fields.remove(*f);
                        }
                    }
                }
            }
        }
        fields.insert("kind".into(), Value::String(kind.into()));
        let mut de_input = Value::Object(fields);
        normalize_email_to(&mut de_input);
        let t: Target = serde_path_to_error::deserialize(de_input).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            if path == "." {
                inner
            } else {
                format!("{path}: {inner}")
            }
        })?;
        t.validate()?;
        if let Some(c) = carried {
            return Err(c.to_string());
        }
        Ok(t)
    }

    /// Checks what serde cannot: URLs parse and point somewhere allowed, required text
    /// is not blank.
    pub fn validate(&self) -> Result<(), String> {
        let blank = |name: &str, v: &str| {
            if v.trim().is_empty() {
                Err(format!("{name}: must not be empty"))
            } else {
                Ok(())
            }
        };
        match self {
            Target::Pushover {
                user_key,
                token,
                base_url,
                priority,
                ..
            } => {
                blank("user_key", user_key)?;
                blank("token", token)?;
                if let Some(p) = priority {
                    if !(-2..=2).contains(p) {
                        return Err("priority: must be between -2 and 2".into());
                    }
                }
                opt_url("base_url", base_url.as_deref())
            }
            Target::Discord { webhook_url, .. } => check_url("webhook_url", webhook_url),
            Target::Telegram {
                bot_token,
                chat_id,
                base_url,
            } => {
                blank("bot_token", bot_token)?;
                blank("chat_id", chat_id)?;
                opt_url("base_url", base_url.as_deref())
            }
            Target::Slack { webhook_url } => check_url("webhook_url", webhook_url),
            Target::Email {
                smtp_host,
                from,
                to,
                ca_certificate,
                ..
            } => {
                blank("smtp_host", smtp_host)?;
                if ca_certificate
                    .as_deref()
                    .is_some_and(|c| !c.contains("BEGIN CERTIFICATE"))
                {
                    return Err("ca_certificate: must be a PEM certificate".into());
                }
                check_destination_host("smtp_host", smtp_host)?;
                if !from.contains('@') {
                    return Err("from: must be an email address".into());
                }
                if to.is_empty() || to.iter().any(|a| !a.contains('@')) {
                    return Err("to: must list at least one email address".into());
                }
                Ok(())
            }
            Target::Gotify { url, token, .. } => {
                blank("token", token)?;
                check_url("url", url)
            }
            Target::Matrix {
                homeserver,
                room,
                access_token,
                user,
                password,
            } => {
                check_url("homeserver", homeserver)?;
                if !(room.starts_with('!') || room.starts_with('#')) {
                    return Err(
                        "room: must be a room id (!id:server) or alias (#alias:server)".into(),
                    );
                }
                match (access_token, user, password) {
                    (Some(_), _, _) | (None, Some(_), Some(_)) => Ok(()),
                    _ => Err("access_token: give an access token, or user and password".into()),
                }
            }
            Target::Ntfy {
                url,
                topic,
                priority,
                ..
            } => {
                let ok = !topic.is_empty()
                    && topic.len() <= 64
                    && topic
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    return Err("topic: 1–64 letters, digits, '-' or '_'".into());
                }
                if let Some(p) = priority {
                    if !(1..=5).contains(p) {
                        return Err("priority: must be between 1 and 5".into());
                    }
                }
                opt_url("url", url.as_deref())
            }
            Target::Webhook { url, secret } => {
                check_url("url", url)?;
                if secret.is_empty() || secret == MASK {
                    return Err("secret: must be set (it signs every delivery)".into());
                }
                Ok(())
            }
            Target::Json { url, .. } => check_url("url", url),
        }
    }
}

/// `to` may be given as one comma-separated string.
fn normalize_email_to(v: &mut Value) {
    if let Some(Value::String(s)) = v.get("to").cloned() {
        let list: Vec<Value> = s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| Value::String(x.into()))
            .collect();
        v["to"] = Value::Array(list);
    }
}

fn opt_url(name: &str, url: Option<&str>) -> Result<(), String> {
    url.map_or(Ok(()), |u| check_url(name, u))
}

/// An http(s) URL whose host is allowed as a destination.
pub fn check_url(name: &str, url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{name}: not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{name}: must be an http or https URL"));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("{name}: the URL has no host"))?;
    check_destination_host(name, host)
}

/// Link-local and cloud-metadata addresses, also written as IPv4-mapped or NAT64.
pub fn is_forbidden_ip(ip: std::net::IpAddr) -> bool {
    use std::net::{IpAddr, Ipv4Addr};
    let v4_bad = |v4: Ipv4Addr| v4.is_link_local() || v4.octets() == [100, 100, 100, 200];
    match ip {
        IpAddr::V4(v4) => v4_bad(v4),
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let nat64 = seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0];
            let embedded = Ipv4Addr::new(
                (seg[6] >> 8) as u8,
                seg[6] as u8,
                (seg[7] >> 8) as u8,
                seg[7] as u8,
            );
            (seg[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(v4_bad)
                || (nat64 && v4_bad(embedded))
                || v6
                    == "fd00:ec2::254"
                        .parse::<std::net::Ipv6Addr>()
                        .expect("literal")
        }
    }
}

/// Loopback and private networks are fine (self-hosted Gotify, ntfy, Matrix);
/// link-local and cloud-metadata addresses never are. Names are checked again when
/// they are resolved (see `notify::http_client`).
pub fn check_destination_host(name: &str, host: &str) -> Result<(), String> {
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.');
    let refused = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => is_forbidden_ip(ip),
        Err(_) => {
            let h = bare.to_ascii_lowercase();
            // A bare number is an IPv4 address to many resolvers (2852039166).
            let numeric = h.parse::<u32>().ok().map(std::net::Ipv4Addr::from);
            h == "metadata.google.internal"
                || h == "metadata"
                || h.ends_with(".metadata.google.internal")
                || numeric.is_some_and(|v4| is_forbidden_ip(v4.into()))
        }
    };
    if refused {
        Err(format!(
            "{name}: {host} is a link-local or cloud-metadata address, which is never a notification destination"
        ))
    } else {
        Ok(())
    }
}

/// Whether an image URL can be fetched by a provider on the internet (a public host),
/// as opposed to one only the DVR's own network can reach.
pub fn is_public_url(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    match u.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            d.contains('.')
                && !d.ends_with(".local")
                && !d.ends_with(".lan")
                && !d.ends_with(".internal")
        }
        Some(url::Host::Ipv4(v4)) => {
            !(v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified())
        }
        Some(url::Host::Ipv6(v6)) => {
            !(v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn secrets_are_masked_and_kept_on_a_masked_patch() {
        let t = Target::from_fields(
            "pushover",
            fields(json!({"user_key": "u123", "token": "t456", "sound": "magic"})),
            None,
        )
        .unwrap();
        let m = t.masked();
        assert_eq!(m["user_key"], MASK);
        assert_eq!(m["token"], MASK);
        assert_eq!(m["sound"], "magic");
        assert!(!m.contains_key("kind"));
        let mut echoed = m.clone();
        echoed.insert("sound".into(), json!("bugle"));
        let t2 = Target::from_fields("pushover", echoed, Some(&t)).unwrap();
        let Target::Pushover {
            user_key,
            token,
            sound,
            ..
        } = t2
        else {
            panic!()
        };
        assert_eq!((user_key.as_str(), token.as_str()), ("u123", "t456"));
        assert_eq!(sound.as_deref(), Some("bugle"));
    }

    #[test]
    fn credentials_inside_urls_are_masked_and_kept_on_an_echo() {
        assert_eq!(
            mask_url("https://bob:hunter2@gotify.example.com/sub").as_deref(),
            Some("https://bob:****@gotify.example.com/sub")
        );
        assert_eq!(
            mask_url("http://127.0.0.1:9/hook?Token=abc&room=1").as_deref(),
            Some("http://127.0.0.1:9/hook?Token=****&room=1")
        );
        assert_eq!(mask_url("https://ntfy.sh"), None);
        assert_eq!(mask_url("not a url"), None);

        let t = Target::from_fields(
            "webhook",
            fields(json!({"url": "http://user:pw-in-url@127.0.0.1:9/h?token=tk-in-url", "secret": "s"})),
            None,
        )
        .unwrap();
        let m = t.masked();
        let shown = Value::Object(m.clone()).to_string();
        assert!(
            !shown.contains("pw-in-url") && !shown.contains("tk-in-url"),
            "{shown}"
        );
        assert!(Target::has_masked(&m));
        assert!(!format!("{t:?}").contains("pw-in-url"));
        // The form sends the masked answer back: the stored URL stays.
        let t2 = Target::from_fields("webhook", m, Some(&t)).unwrap();
        assert_eq!(t2, t);
        // A new URL replaces it.
        let mut edited = t.masked();
        edited.insert("url".into(), json!("http://127.0.0.1:9/new"));
        let t3 = Target::from_fields("webhook", edited, Some(&t)).unwrap();
        assert!(matches!(t3, Target::Webhook { url, .. } if url == "http://127.0.0.1:9/new"));
        assert!(!Target::has_masked(&fields(
            json!({"url": "http://127.0.0.1:9/h", "secret": "s"})
        )));
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            Target::from_fields("pushover", fields(json!({"user_key": "u"})), None).unwrap_err();
        assert!(e.contains("token"), "{e}");
        let e = Target::from_fields(
            "pushover",
            fields(json!({"user_key": "u", "token": "t", "priority": 7})),
            None,
        )
        .unwrap_err();
        assert!(e.starts_with("priority"), "{e}");
        let e = Target::from_fields(
            "webhook",
            fields(json!({"url": "http://169.254.169.254/latest", "secret": "s"})),
            None,
        )
        .unwrap_err();
        assert!(e.contains("link-local"), "{e}");
        let e = Target::from_fields(
            "gotify",
            fields(json!({"url": "ftp://x", "token": "t"})),
            None,
        )
        .unwrap_err();
        assert!(e.starts_with("url"), "{e}");
        let e = Target::from_fields(
            "slack",
            fields(json!({"webhook_url": "https://x", "extra": 1})),
            None,
        )
        .unwrap_err();
        assert!(e.contains("extra"), "{e}");
    }

    /// What `carried_secrets` says of a PATCH-like edit: the stored target's masked
    /// answer with `edit` laid over it (as `PATCH /api/v1/providers/{id}` builds it).
    fn carried(stored: &Target, edit: Value) -> Option<(Vec<&'static str>, &'static str)> {
        let mut edited = stored.masked();
        edited.extend(fields(edit));
        stored
            .carried_secrets(stored.kind_tag(), &edited)
            .map(|c| (c.secrets, c.changed))
    }

    fn some(
        secrets: &[&'static str],
        changed: &'static str,
    ) -> Option<(Vec<&'static str>, &'static str)> {
        Some((secrets.to_vec(), changed))
    }

    #[test]
    fn a_masked_secret_only_goes_to_the_destination_it_was_given_for() {
        let hook = Target::Webhook {
            url: "http://127.0.0.1:9/h".into(),
            secret: "s3cret".into(),
        };
        // The same server: another path or query, the default port written out, the
        // host in another case.
        assert_eq!(
            carried(&hook, json!({"url": "http://127.0.0.1:9/other?x=1"})),
            None
        );
        let named = Target::Webhook {
            url: "http://Hooks.Example.com/h".into(),
            secret: "s3cret".into(),
        };
        assert_eq!(
            carried(&named, json!({"url": "http://hooks.example.com:80/x"})),
            None
        );
        // Another host, port or scheme with the secret masked, or left out (a PATCH
        // fills the rest in from the masked answer).
        for url in [
            "http://127.0.0.2:9/h",
            "http://127.0.0.1:10/h",
            "https://127.0.0.1:9/h",
            "http://localhost:9/h",
        ] {
            assert_eq!(
                carried(&hook, json!({"url": url, "secret": MASK})),
                some(&["secret"], "url"),
                "{url}"
            );
            assert_eq!(
                carried(&hook, json!({"url": url})),
                some(&["secret"], "url"),
                "{url}"
            );
            // Given again, it goes wherever it was given for.
            assert_eq!(
                carried(&hook, json!({"url": url, "secret": "new"})),
                None,
                "{url}"
            );
        }
        // Another kind of target is another destination.
        assert_eq!(
            hook.carried_secrets("gotify", &hook.masked()),
            Some(CarriedSecrets {
                secrets: vec!["secret"],
                changed: "type"
            })
        );

        // Optional server URLs: not set means the public service.
        let pushover = Target::Pushover {
            user_key: "u".into(),
            token: "t".into(),
            device: None,
            priority: None,
            sound: None,
            base_url: None,
        };
        assert_eq!(carried(&pushover, json!({"sound": "bugle"})), None);
        assert_eq!(
            carried(&pushover, json!({"base_url": "https://api.pushover.net/"})),
            None
        );
        assert_eq!(
            carried(&pushover, json!({"base_url": "http://127.0.0.1:9"})),
            some(&["user_key", "token"], "base_url")
        );
        let telegram = Target::Telegram {
            bot_token: "1:abc".into(),
            chat_id: "42".into(),
            base_url: Some("http://127.0.0.1:9".into()),
        };
        assert_eq!(carried(&telegram, json!({"chat_id": "43"})), None);
        assert_eq!(
            carried(&telegram, json!({"base_url": null})),
            some(&["bot_token"], "base_url")
        );
        let ntfy = |token: Option<&str>| Target::Ntfy {
            url: None,
            topic: "cw".into(),
            token: token.map(str::to_string),
            user: None,
            password: None,
            priority: None,
        };
        assert_eq!(
            carried(
                &ntfy(Some("tk")),
                json!({"url": "https://ntfy.sh", "topic": "other"})
            ),
            None
        );
        assert_eq!(
            carried(
                &ntfy(Some("tk")),
                json!({"url": "https://ntfy.example.com"})
            ),
            some(&["token"], "url")
        );
        // No secret stored, none carried.
        assert_eq!(
            carried(&ntfy(None), json!({"url": "https://ntfy.example.com"})),
            None
        );

        // Credentials inside a URL: the masked echo is the stored URL.
        let gotify = Target::Gotify {
            url: "https://bob:pw@gotify.example.com/sub".into(),
            token: "tok".into(),
            priority: None,
        };
        assert_eq!(carried(&gotify, json!({"priority": 8})), None);
        assert_eq!(
            carried(
                &gotify,
                json!({"url": "https://bob:****@other.example.com/sub"})
            ),
            some(&["token"], "url")
        );

        let matrix = Target::Matrix {
            homeserver: "http://127.0.0.1:8008".into(),
            room: "!r:example.org".into(),
            access_token: Some("mx".into()),
            user: Some("cw".into()),
            password: Some("pw".into()),
        };
        assert_eq!(
            carried(&matrix, json!({"room": "#other:example.org"})),
            None
        );
        assert_eq!(
            carried(&matrix, json!({"homeserver": "http://127.0.0.1:8008/"})),
            None
        );
        assert_eq!(
            carried(&matrix, json!({"homeserver": "http://127.0.0.1:8448"})),
            some(&["access_token", "password"], "homeserver")
        );

        let mail = |password: Option<&str>| Target::Email {
            smtp_host: "smtp.example.com".into(),
            smtp_port: None,
            security: EmailSecurity::Starttls,
            username: Some("cw".into()),
            password: password.map(str::to_string),
            from: "cw@example.com".into(),
            to: vec!["ops@example.com".into()],
            ca_certificate: None,
        };
        let m = mail(Some("pw"));
        assert_eq!(
            carried(
                &m,
                json!({"smtp_port": 587, "smtp_host": "SMTP.example.com"})
            ),
            None
        );
        assert_eq!(
            carried(&m, json!({"to": "b@example.org", "username": "other"})),
            None
        );
        assert_eq!(
            carried(&m, json!({"smtp_host": "smtp.other.example"})),
            some(&["password"], "smtp_host")
        );
        assert_eq!(
            carried(&m, json!({"smtp_port": 2525})),
            some(&["password"], "smtp_port")
        );
        assert_eq!(
            carried(&m, json!({"security": "plain"})),
            some(&["password"], "security")
        );
        assert_eq!(
            carried(&mail(None), json!({"smtp_host": "smtp.other.example"})),
            None
        );

        // Where the URL is the secret, a new URL is a secret given again; the masked one
        // stays where it was. A json:// target's masked headers do not follow a new URL.
        let discord = Target::Discord {
            webhook_url: "https://discord.com/api/webhooks/1/tok".into(),
            username: None,
        };
        assert_eq!(carried(&discord, json!({"username": "cw"})), None);
        assert_eq!(
            carried(
                &discord,
                json!({"webhook_url": "https://example.com/api/webhooks/2/x"})
            ),
            None
        );
        let apprise = Target::Json {
            url: "http://127.0.0.1:9/x".into(),
            headers: vec![("Authorization".into(), "Bearer k".into())],
        };
        assert_eq!(carried(&apprise, json!({})), None);
        assert_eq!(
            carried(&apprise, json!({"url": "http://127.0.0.2:9/x"})),
            some(&["headers"], "url")
        );
    }

    #[test]
    fn from_fields_refuses_to_carry_a_masked_secret_elsewhere() {
        let hook = Target::Webhook {
            url: "http://127.0.0.1:9/h".into(),
            secret: "s3cret".into(),
        };
        let e = Target::from_fields(
            "webhook",
            fields(json!({"url": "http://127.0.0.2:9/h", "secret": MASK})),
            Some(&hook),
        )
        .unwrap_err();
        assert!(e.starts_with("secret: "), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        // The field's own error comes first.
        let e = Target::from_fields(
            "webhook",
            fields(json!({"url": "ftp://127.0.0.2/h", "secret": MASK})),
            Some(&hook),
        )
        .unwrap_err();
        assert!(e.starts_with("url: "), "{e}");
        let t = Target::from_fields(
            "webhook",
            fields(json!({"url": "http://127.0.0.2:9/h", "secret": "n3w"})),
            Some(&hook),
        )
        .unwrap();
        assert_eq!(
            t,
            Target::Webhook {
                url: "http://127.0.0.2:9/h".into(),
                secret: "n3w".into()
            }
        );
        let t = Target::from_fields(
            "webhook",
            fields(json!({"url": "http://127.0.0.1:9/moved", "secret": MASK})),
            Some(&hook),
        )
        .unwrap();
        assert!(matches!(t, Target::Webhook { secret, .. } if secret == "s3cret"));
        let mail = Target::Email {
            smtp_host: "127.0.0.1".into(),
            smtp_port: Some(2525),
            security: EmailSecurity::Plain,
            username: Some("cw".into()),
            password: Some("pw".into()),
            from: "cw@example.com".into(),
            to: vec!["ops@example.com".into()],
            ca_certificate: None,
        };
        let mut edited = mail.masked();
        edited.insert("smtp_host".into(), json!("127.0.0.2"));
        let e = Target::from_fields("email", edited, Some(&mail)).unwrap_err();
        assert_eq!(
            e,
            "password: a stored secret only goes to the destination it was given for, and smtp_host changed; enter it again"
        );
    }

    #[test]
    fn email_to_accepts_a_comma_list_and_private_hosts_are_fine() {
        let t = Target::from_fields(
            "email",
            fields(json!({"smtp_host": "192.168.1.5", "from": "cw@example.com", "to": "a@x.org, b@y.org"})),
            None,
        )
        .unwrap();
        let Target::Email { to, security, .. } = &t else {
            panic!()
        };
        assert_eq!(to, &["a@x.org", "b@y.org"]);
        assert_eq!(*security, EmailSecurity::Starttls);
        assert!(check_url("url", "http://127.0.0.1:8080/x").is_ok());
        assert!(check_url("url", "http://[fe80::1]/x").is_err());
        assert!(check_url("url", "http://metadata.google.internal/").is_err());
        assert!(check_url("url", "http://[::ffff:169.254.169.254]/").is_err());
        assert!(check_url("url", "http://[64:ff9b::a9fe:a9fe]/").is_err());
        assert!(check_destination_host("smtp_host", "2852039166").is_err());
        assert!(check_destination_host("smtp_host", "169.254.169.254.").is_err());
        assert!(is_public_url("https://images.example.com/a.png"));
        assert!(!is_public_url("http://127.0.0.1:8089/dvr/uploads/x.png"));
        assert!(!is_public_url("http://192.168.1.10/x.png"));
        assert!(!is_public_url("http://dvr.local/x.png"));
    }
}
