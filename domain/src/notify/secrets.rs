//! Secrets in provider settings: answers mask them ([`MASK`]), an edit that echoes
//! the mask keeps the stored value, but only for the destination it was given for
//! ([`CarriedSecrets`]), and `{:?}` never prints one.

use serde_json::{Map, Value};

use super::providers::email::EmailSecurity;
use super::providers::{Address, ProviderConfig};

pub use super::providers::MASK;

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
impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ProviderConfig::{}({})",
            self.provider_type(),
            Value::Object(self.masked())
        )
    }
}

impl ProviderConfig {
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

    /// [`ProviderConfig::masked`] for a viewer: also the fields that work as credentials
    /// without being called secrets (a webhook URL carries its own token, as a Home
    /// Assistant webhook id does; an ntfy topic is readable by whoever knows its name).
    pub fn viewer_masked(&self) -> Map<String, Value> {
        let mut v = self.masked();
        let hidden = self.info().viewer_hidden;
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
        match self.info().address {
            Address::Url { field, default } => vec![url_at(field, default)],
            Address::Smtp => {
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
    /// backup's entry), before [`ProviderConfig::from_fields`] fills the masked secrets in: a
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
    /// be given again ([`ProviderConfig::carried_secrets`]; the error names them).
    pub fn from_fields(
        kind: &str,
        mut fields: Map<String, Value>,
        previous: Option<&ProviderConfig>,
    ) -> Result<ProviderConfig, String> {
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
        let t: ProviderConfig = serde_path_to_error::deserialize(de_input).map_err(|e| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::providers::*;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn secrets_are_masked_and_kept_on_a_masked_patch() {
        let t = ProviderConfig::from_fields(
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
        let t2 = ProviderConfig::from_fields("pushover", echoed, Some(&t)).unwrap();
        let ProviderConfig::Pushover(Pushover {
            user_key,
            token,
            sound,
            ..
        }) = t2
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

        let t = ProviderConfig::from_fields(
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
        assert!(ProviderConfig::has_masked(&m));
        assert!(!format!("{t:?}").contains("pw-in-url"));
        // The form sends the masked answer back: the stored URL stays.
        let t2 = ProviderConfig::from_fields("webhook", m, Some(&t)).unwrap();
        assert_eq!(t2, t);
        // A new URL replaces it.
        let mut edited = t.masked();
        edited.insert("url".into(), json!("http://127.0.0.1:9/new"));
        let t3 = ProviderConfig::from_fields("webhook", edited, Some(&t)).unwrap();
        assert!(
            matches!(t3, ProviderConfig::Webhook(Webhook { url, .. }) if url == "http://127.0.0.1:9/new")
        );
        assert!(!ProviderConfig::has_masked(&fields(
            json!({"url": "http://127.0.0.1:9/h", "secret": "s"})
        )));
    }

    #[test]
    fn errors_name_the_field() {
        let e = ProviderConfig::from_fields("pushover", fields(json!({"user_key": "u"})), None)
            .unwrap_err();
        assert!(e.contains("token"), "{e}");
        let e = ProviderConfig::from_fields(
            "pushover",
            fields(json!({"user_key": "u", "token": "t", "priority": 7})),
            None,
        )
        .unwrap_err();
        assert!(e.starts_with("priority"), "{e}");
        let e = ProviderConfig::from_fields(
            "webhook",
            fields(json!({"url": "http://169.254.169.254/latest", "secret": "s"})),
            None,
        )
        .unwrap_err();
        assert!(e.contains("link-local"), "{e}");
        let e = ProviderConfig::from_fields(
            "gotify",
            fields(json!({"url": "ftp://x", "token": "t"})),
            None,
        )
        .unwrap_err();
        assert!(e.starts_with("url"), "{e}");
        let e = ProviderConfig::from_fields(
            "slack",
            fields(json!({"webhook_url": "https://x", "extra": 1})),
            None,
        )
        .unwrap_err();
        assert!(e.contains("extra"), "{e}");
    }

    /// What `carried_secrets` says of a PATCH-like edit: the stored target's masked
    /// answer with `edit` laid over it (as `PATCH /api/v1/providers/{id}` builds it).
    fn carried(stored: &ProviderConfig, edit: Value) -> Option<(Vec<&'static str>, &'static str)> {
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
        let hook = ProviderConfig::Webhook(Webhook {
            url: "http://127.0.0.1:9/h".into(),
            secret: "s3cret".into(),
        });
        // The same server: another path or query, the default port written out, the
        // host in another case.
        assert_eq!(
            carried(&hook, json!({"url": "http://127.0.0.1:9/other?x=1"})),
            None
        );
        let named = ProviderConfig::Webhook(Webhook {
            url: "http://Hooks.Example.com/h".into(),
            secret: "s3cret".into(),
        });
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
        let pushover = ProviderConfig::Pushover(Pushover {
            user_key: "u".into(),
            token: "t".into(),
            device: None,
            priority: None,
            sound: None,
            base_url: None,
        });
        assert_eq!(carried(&pushover, json!({"sound": "bugle"})), None);
        assert_eq!(
            carried(&pushover, json!({"base_url": "https://api.pushover.net/"})),
            None
        );
        assert_eq!(
            carried(&pushover, json!({"base_url": "http://127.0.0.1:9"})),
            some(&["user_key", "token"], "base_url")
        );
        let telegram = ProviderConfig::Telegram(Telegram {
            bot_token: "1:abc".into(),
            chat_id: "42".into(),
            base_url: Some("http://127.0.0.1:9".into()),
        });
        assert_eq!(carried(&telegram, json!({"chat_id": "43"})), None);
        assert_eq!(
            carried(&telegram, json!({"base_url": null})),
            some(&["bot_token"], "base_url")
        );
        let ntfy = |token: Option<&str>| {
            ProviderConfig::Ntfy(Ntfy {
                url: None,
                topic: "cw".into(),
                token: token.map(str::to_string),
                user: None,
                password: None,
                priority: None,
            })
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
        let gotify = ProviderConfig::Gotify(Gotify {
            url: "https://bob:pw@gotify.example.com/sub".into(),
            token: "tok".into(),
            priority: None,
        });
        assert_eq!(carried(&gotify, json!({"priority": 8})), None);
        assert_eq!(
            carried(
                &gotify,
                json!({"url": "https://bob:****@other.example.com/sub"})
            ),
            some(&["token"], "url")
        );

        let matrix = ProviderConfig::Matrix(Matrix {
            homeserver: "http://127.0.0.1:8008".into(),
            room: "!r:example.org".into(),
            access_token: Some("mx".into()),
            user: Some("cw".into()),
            password: Some("pw".into()),
        });
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

        let mail = |password: Option<&str>| {
            ProviderConfig::Email(Email {
                smtp_host: "smtp.example.com".into(),
                smtp_port: None,
                security: EmailSecurity::Starttls,
                username: Some("cw".into()),
                password: password.map(str::to_string),
                from: "cw@example.com".into(),
                to: vec!["ops@example.com".into()],
                ca_certificate: None,
            })
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
        let discord = ProviderConfig::Discord(Discord {
            webhook_url: "https://discord.com/api/webhooks/1/tok".into(),
            username: None,
        });
        assert_eq!(carried(&discord, json!({"username": "cw"})), None);
        assert_eq!(
            carried(
                &discord,
                json!({"webhook_url": "https://example.com/api/webhooks/2/x"})
            ),
            None
        );
        let apprise = ProviderConfig::Json(Json {
            url: "http://127.0.0.1:9/x".into(),
            headers: vec![("Authorization".into(), "Bearer k".into())],
        });
        assert_eq!(carried(&apprise, json!({})), None);
        assert_eq!(
            carried(&apprise, json!({"url": "http://127.0.0.2:9/x"})),
            some(&["headers"], "url")
        );
    }

    #[test]
    fn from_fields_refuses_to_carry_a_masked_secret_elsewhere() {
        let hook = ProviderConfig::Webhook(Webhook {
            url: "http://127.0.0.1:9/h".into(),
            secret: "s3cret".into(),
        });
        let e = ProviderConfig::from_fields(
            "webhook",
            fields(json!({"url": "http://127.0.0.2:9/h", "secret": MASK})),
            Some(&hook),
        )
        .unwrap_err();
        assert!(e.starts_with("secret: "), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        // The field's own error comes first.
        let e = ProviderConfig::from_fields(
            "webhook",
            fields(json!({"url": "ftp://127.0.0.2/h", "secret": MASK})),
            Some(&hook),
        )
        .unwrap_err();
        assert!(e.starts_with("url: "), "{e}");
        let t = ProviderConfig::from_fields(
            "webhook",
            fields(json!({"url": "http://127.0.0.2:9/h", "secret": "n3w"})),
            Some(&hook),
        )
        .unwrap();
        assert_eq!(
            t,
            ProviderConfig::Webhook(Webhook {
                url: "http://127.0.0.2:9/h".into(),
                secret: "n3w".into()
            })
        );
        let t = ProviderConfig::from_fields(
            "webhook",
            fields(json!({"url": "http://127.0.0.1:9/moved", "secret": MASK})),
            Some(&hook),
        )
        .unwrap();
        assert!(matches!(t, ProviderConfig::Webhook(Webhook { secret, .. }) if secret == "s3cret"));
        let mail = ProviderConfig::Email(Email {
            smtp_host: "127.0.0.1".into(),
            smtp_port: Some(2525),
            security: EmailSecurity::Plain,
            username: Some("cw".into()),
            password: Some("pw".into()),
            from: "cw@example.com".into(),
            to: vec!["ops@example.com".into()],
            ca_certificate: None,
        });
        let mut edited = mail.masked();
        edited.insert("smtp_host".into(), json!("127.0.0.2"));
        let e = ProviderConfig::from_fields("email", edited, Some(&mail)).unwrap_err();
        assert_eq!(
            e,
            "password: a stored secret only goes to the destination it was given for, and smtp_host changed; enter it again"
        );
    }

    #[test]
    fn email_to_accepts_a_comma_list_and_private_hosts_are_fine() {
        let t = ProviderConfig::from_fields(
            "email",
            fields(json!({"smtp_host": "192.168.1.5", "from": "cw@example.com", "to": "a@x.org, b@y.org"})),
            None,
        )
        .unwrap();
        let ProviderConfig::Email(Email { to, security, .. }) = &t else {
            panic!()
        };
        assert_eq!(to, &["a@x.org", "b@y.org"]);
        assert_eq!(*security, EmailSecurity::Starttls);
    }
}
