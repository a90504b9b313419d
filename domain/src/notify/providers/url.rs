//! A provider from an Apprise URL (`pover://`, `discord://`, `tgram://`, `slack://`,
//! `mailto://`, `gotify://`, `matrix://`, `ntfy://`, `json://` and their TLS
//! variants), or a Discord or Slack webhook URL as the service gives it: the URL is
//! split (`notify::apprise`), and the provider that owns the scheme reads the parts.

use super::slack::Slack;
use super::{by_scheme, discord, ProviderConfig};
use crate::notify::apprise::split;

/// Parses any supported Apprise URL (or a native Discord/Slack webhook URL).
pub fn from_apprise_url(url: &str) -> Result<ProviderConfig, String> {
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
        None => {
            let known: Vec<&str> = super::PROVIDERS
                .iter()
                .flat_map(|p| p.schemes.iter().copied())
                .collect();
            Err(format!(
                "url: '{}://' is not supported; use one of {}",
                p.scheme,
                known.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::providers::email::EmailSecurity;
    use crate::notify::providers::from_apprise_url as parse;
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
