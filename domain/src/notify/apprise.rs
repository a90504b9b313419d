//! Apprise-style provider URLs (`pover://`, `discord://`, `tgram://`, `slack://`,
//! `mailto://`, `gotify://`, `matrix://`, `ntfy://`, `json://`, and their TLS
//! variants) parsed into a [`ProviderConfig`] by the provider that owns the scheme, following Apprise's own reading of each form.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use super::providers::slack::Slack;
use super::providers::{by_scheme, discord, ProviderConfig};

/// The parts of `scheme://[user[:pass]@]host[:port][/path…][?query]`, decoded.
#[derive(Debug, Default)]
pub struct Parts {
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub path: Vec<String>,
    pub query: BTreeMap<String, String>,
    /// `+Name=value` entries (HTTP headers for json://), original case.
    pub headers: Vec<(String, String)>,
    /// `-name=value` entries (extra query parameters for json://).
    pub extra_query: Vec<(String, String)>,
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn split(url: &str) -> Result<Parts, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "url: expected scheme://…".to_string())?;
    let mut p = Parts {
        scheme: scheme.to_ascii_lowercase(),
        ..Parts::default()
    };
    // Apprise keeps `/#room` and `/#group` by escaping the fragment marker first.
    let rest = rest.replace("/#", "/%23");
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m.to_string(), q.to_string()),
        None => (rest, String::new()),
    };
    for pair in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v);
        if let Some(h) = k.strip_prefix('+') {
            p.headers.push((decode(h), v));
        } else if let Some(q) = k.strip_prefix('-') {
            p.extra_query.push((decode(q), v));
        } else {
            p.query.insert(decode(k).to_ascii_lowercase(), v);
        }
    }
    let (authority, path) = match main.split_once('/') {
        Some((a, path)) => (a.to_string(), path.to_string()),
        None => (main, String::new()),
    };
    let hostport = match authority.rsplit_once('@') {
        Some((userinfo, hp)) => {
            let (u, pw) = match userinfo.split_once(':') {
                Some((u, pw)) => (u, Some(decode(pw))),
                None => (userinfo, None),
            };
            p.user = Some(decode(u)).filter(|u| !u.is_empty());
            p.password = pw;
            hp.to_string()
        }
        None => authority,
    };
    // `[v6]:port`, `host:port`, or a bare host (a non-numeric "port" stays in the host,
    // as in Telegram's `123:ABC` token).
    if let Some(end) = hostport.strip_prefix('[').and_then(|h| h.find(']')) {
        p.host = hostport[..end + 2].to_string();
        if let Some(port) = hostport[end + 2..].strip_prefix(':') {
            p.port = Some(
                port.parse()
                    .map_err(|_| format!("url: bad port '{port}'"))?,
            );
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                p.host = decode(h);
                p.port = Some(
                    port.parse()
                        .map_err(|_| format!("url: bad port '{port}'"))?,
                );
            }
            _ => p.host = decode(&hostport),
        }
    }
    p.path = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    if let Some(u) = p.query.get("user").cloned() {
        if p.user.is_some() && p.password.is_none() {
            p.password = p.user.take();
        }
        p.user = Some(u);
    }
    if let Some(pw) = p.query.get("pass").or(p.query.get("password")).cloned() {
        p.password = Some(pw);
    }
    if let Some(port) = p.query.get("port") {
        p.port = Some(
            port.parse()
                .map_err(|_| format!("url: bad port '{port}'"))?,
        );
    }
    Ok(p)
}

pub(crate) fn authority(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

pub(crate) fn need(v: Option<String>, what: &str) -> Result<String, String> {
    v.filter(|s| !s.is_empty())
        .ok_or_else(|| format!("url: {what} is missing"))
}

/// Parses any supported Apprise URL (or a native Discord/Slack webhook URL).
pub fn parse(url: &str) -> Result<ProviderConfig, String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    for prefix in [
        "https://discord.com/api/webhooks/",
        "https://discordapp.com/api/webhooks/",
    ] {
        if !lower.starts_with(prefix) {
            continue;
        }
        // `lower` is `url` with ASCII letters lowered byte for byte, and `prefix` is
        // ASCII, so `prefix.len()` is a character boundary of `url` as well.
        let (head, rest) = url.split_at(prefix.len());
        // Scheme and host are case-insensitive; Discord's path is not.
        if !head.ends_with("/api/webhooks/") {
            return Err(
                "url: a Discord webhook URL's path is /api/webhooks/ID/TOKEN, in lower case".into(),
            );
        }
        let rest = rest
            .split('?')
            .next()
            .unwrap_or_default()
            .trim_end_matches('/');
        let segs: Vec<String> = rest.split('/').map(str::to_string).collect();
        return discord::from_segments(&segs, None);
    }
    if lower.starts_with("https://hooks.slack.com/services/") {
        return Ok(ProviderConfig::Slack(Slack {
            webhook_url: url.to_string(),
        }));
    }
    let p = split(url)?;
    match by_scheme(&p.scheme) {
        Some(provider) => (provider.from_apprise)(&p),
        None => Err(format!(
            "url: '{}://' is not supported; use pover, discord, tgram, slack, mailto(s), gotify(s), matrix(s), ntfy(s) or json(s)",
            p.scheme
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::providers::email::EmailSecurity;
    use crate::notify::providers::*;

    #[test]
    fn pushover_discord_telegram_slack() {
        assert_eq!(
            parse("pover://uKEY@aTOKEN/phone?priority=high&sound=magic").unwrap(),
            ProviderConfig::Pushover(Pushover {
                user_key: "uKEY".into(),
                token: "aTOKEN".into(),
                device: Some("phone".into()),
                priority: Some(1),
                sound: Some("magic".into()),
                base_url: None
            })
        );
        let d = ProviderConfig::Discord(Discord {
            webhook_url: "https://discord.com/api/webhooks/123/abc-DEF".into(),
            username: None,
        });
        assert_eq!(parse("discord://123/abc-DEF").unwrap(), d);
        assert_eq!(
            parse("https://discordapp.com/api/webhooks/123/abc-DEF").unwrap(),
            d,
            "the full webhook URL works (upstream issue #3)"
        );
        assert_eq!(
            parse("tgram://123456789:AAHabc/-1001234").unwrap(),
            ProviderConfig::Telegram(Telegram {
                bot_token: "123456789:AAHabc".into(),
                chat_id: "-1001234".into(),
                base_url: None
            })
        );
        assert_eq!(
            parse("slack://T1/B2/C3").unwrap(),
            ProviderConfig::Slack(Slack {
                webhook_url: "https://hooks.slack.com/services/T1/B2/C3".into()
            })
        );
    }

    #[test]
    fn email_modes_and_ports() {
        let ProviderConfig::Email(Email {
            smtp_host,
            smtp_port,
            security,
            username,
            password,
            from,
            to,
            ..
        }) =
            parse("mailtos://me%40example.com:s3cret@smtp.example.com?to=a@x.org,b@y.org").unwrap()
        else {
            panic!()
        };
        assert_eq!(smtp_host, "smtp.example.com");
        assert_eq!((smtp_port, security), (None, EmailSecurity::Starttls));
        assert_eq!(username.as_deref(), Some("me@example.com"));
        assert_eq!(password.as_deref(), Some("s3cret"));
        assert_eq!(from, "me@example.com");
        assert_eq!(to, ["a@x.org", "b@y.org"]);
        let ProviderConfig::Email(Email {
            smtp_host,
            smtp_port,
            security,
            ..
        }) = parse("mailtos://_?user=me@x.org&pass=p&smtp=mail.x.org&port=465&mode=ssl").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (smtp_host.as_str(), smtp_port, security),
            ("mail.x.org", Some(465), EmailSecurity::Tls)
        );
        let ProviderConfig::Email(Email { security, .. }) =
            parse("mailto://relay.lan/ops@x.org?from=cw@x.org").unwrap()
        else {
            panic!()
        };
        assert_eq!(security, EmailSecurity::Plain);
    }

    #[test]
    fn gotify_matrix_ntfy_json() {
        assert_eq!(
            parse("gotifys://push.example.com:8443/sub/AppTok?priority=high").unwrap(),
            ProviderConfig::Gotify(Gotify {
                url: "https://push.example.com:8443/sub".into(),
                token: "AppTok".into(),
                priority: Some(8)
            })
        );
        assert_eq!(
            parse("matrixs://bot:pw@matrix.example.com/#alerts:example.com").unwrap(),
            ProviderConfig::Matrix(Matrix {
                homeserver: "https://matrix.example.com".into(),
                room: "#alerts:example.com".into(),
                access_token: None,
                user: Some("bot".into()),
                password: Some("pw".into())
            })
        );
        assert_eq!(
            parse("ntfy://alerts").unwrap(),
            ProviderConfig::Ntfy(Ntfy {
                url: None,
                topic: "alerts".into(),
                token: None,
                user: None,
                password: None,
                priority: None
            })
        );
        assert_eq!(
            parse("ntfys://tk_abc@ntfy.lan:8080/dvr?priority=max").unwrap(),
            ProviderConfig::Ntfy(Ntfy {
                url: Some("https://ntfy.lan:8080".into()),
                topic: "dvr".into(),
                token: Some("tk_abc".into()),
                user: None,
                password: None,
                priority: Some(5)
            })
        );
        assert_eq!(
            parse("jsons://u:p@hooks.example.com:8443/notify?+X-Token=abc&-ver=2").unwrap(),
            ProviderConfig::Json(Json {
                url: "https://u:p@hooks.example.com:8443/notify?ver=2".into(),
                headers: vec![("X-Token".into(), "abc".into())]
            })
        );
    }

    #[test]
    fn bad_urls_say_what_is_missing() {
        assert!(parse("pover://@tok").unwrap_err().contains("user key"));
        assert!(parse("discord://123").unwrap_err().contains("WEBHOOK_ID"));
        assert!(parse("tgram://123:abc").unwrap_err().contains("chat id"));
        assert!(parse("matrix://host/#room")
            .unwrap_err()
            .contains("password"));
        assert!(parse("pbul://x").unwrap_err().contains("not supported"));
        assert!(parse("no-scheme").unwrap_err().contains("scheme://"));
    }

    #[test]
    fn odd_discord_urls_are_errors_not_panics() {
        assert!(parse("https://discord.com/API/webhooks/123/abc")
            .unwrap_err()
            .contains("/api/webhooks/"));
        assert!(parse("https://discordapp.com/api/Webhooks/123/abc").is_err());
        assert_eq!(
            parse("HTTPS://Discord.com/api/webhooks/123/abc-DEF").unwrap(),
            ProviderConfig::Discord(Discord {
                webhook_url: "https://discord.com/api/webhooks/123/abc-DEF".into(),
                username: None,
            })
        );
        // Multi-byte characters right after the prefix: no slicing inside them.
        assert!(parse("https://discord.com/api/webhooks/é").is_err());
        assert!(parse("https://discord.com/api/webhooks/ü/ä").is_ok());
    }
}
