//! Apprise-style provider URLs (`pover://`, `discord://`, `tgram://`, `slack://`,
//! `mailto://`, `gotify://`, `matrix://`, `ntfy://`, `json://`, and their TLS
//! variants) parsed into a [`Target`], following Apprise's own reading of each form.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use super::target::{EmailSecurity, Target};

/// The parts of `scheme://[user[:pass]@]host[:port][/path…][?query]`, decoded.
#[derive(Debug, Default)]
struct Parts {
    scheme: String,
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
    path: Vec<String>,
    query: BTreeMap<String, String>,
    /// `+Name=value` entries (HTTP headers for json://), original case.
    headers: Vec<(String, String)>,
    /// `-name=value` entries (extra query parameters for json://).
    extra_query: Vec<(String, String)>,
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

fn authority(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

fn need(v: Option<String>, what: &str) -> Result<String, String> {
    v.filter(|s| !s.is_empty())
        .ok_or_else(|| format!("url: {what} is missing"))
}

/// Parses any supported Apprise URL (or a native Discord/Slack webhook URL).
pub fn parse(url: &str) -> Result<Target, String> {
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
        return discord(rest.split('/').map(str::to_string).collect(), None);
    }
    if lower.starts_with("https://hooks.slack.com/services/") {
        return Ok(Target::Slack {
            webhook_url: url.to_string(),
        });
    }
    let p = split(url)?;
    match p.scheme.as_str() {
        "pover" => {
            let user_key = need(p.user, "the user key (pover://USER@TOKEN)")?;
            let token = need(Some(p.host), "the application token")?;
            let priority = match p.query.get("priority").map(String::as_str) {
                None => None,
                Some("l" | "low" | "-2") => Some(-2),
                Some("m" | "moderate" | "-1") => Some(-1),
                Some("n" | "normal" | "0") => Some(0),
                Some("h" | "high" | "1") => Some(1),
                Some("e" | "emergency" | "2") => Some(2),
                Some(other) => return Err(format!("url: priority '{other}' is not a Pushover priority")),
            };
            Ok(Target::Pushover {
                user_key,
                token,
                device: (!p.path.is_empty()).then(|| p.path.join(",")),
                priority,
                sound: p.query.get("sound").cloned(),
                base_url: None,
            })
        }
        "discord" => {
            let mut segs = vec![p.host.clone()];
            segs.extend(p.path);
            discord(segs, p.user.or(p.query.get("botname").cloned()))
        }
        "tgram" => {
            // tgram://123456789:AAH…/chat_id
            let bot_token = need(Some(p.host.clone()), "the bot token")?;
            let bot_token = bot_token.strip_prefix("bot").unwrap_or(&bot_token).to_string();
            let chat_id = p
                .path
                .first()
                .cloned()
                .or(p.query.get("to").cloned());
            Ok(Target::Telegram {
                bot_token,
                chat_id: need(chat_id, "the chat id (tgram://TOKEN/CHAT_ID)")?,
                base_url: None,
            })
        }
        "slack" => {
            let mut segs = vec![p.host.clone()];
            segs.extend(p.path.iter().cloned());
            if segs.len() < 3 || segs[..3].iter().any(String::is_empty) {
                return Err("url: slack:// needs TokenA/TokenB/TokenC".into());
            }
            Ok(Target::Slack {
                webhook_url: format!(
                    "https://hooks.slack.com/services/{}/{}/{}",
                    segs[0], segs[1], segs[2]
                ),
            })
        }
        "mailto" | "mailtos" => {
            let security = match (p.scheme.as_str(), p.query.get("mode").map(String::as_str)) {
                (_, Some("ssl" | "tls")) => EmailSecurity::Tls,
                (_, Some("starttls")) | ("mailtos", None) => EmailSecurity::Starttls,
                (_, Some("insecure" | "plain")) => EmailSecurity::Plain,
                // Credentials never travel in clear unless asked for (mode=insecure).
                (_, None) if p.password.is_some() => EmailSecurity::Starttls,
                (_, None) => EmailSecurity::Plain,
                (_, Some(m)) => return Err(format!("url: mode '{m}' is not ssl, starttls or insecure")),
            };
            let host = p
                .query
                .get("smtp")
                .cloned()
                .unwrap_or_else(|| p.host.clone());
            if host.is_empty() || host == "_" {
                return Err("url: the SMTP server is missing (host or ?smtp=)".into());
            }
            let from = match (p.query.get("from"), &p.user) {
                (Some(f), _) if f.contains('@') => f.clone(),
                (_, Some(u)) if u.contains('@') => u.clone(),
                (_, Some(u)) => format!("{u}@{}", p.host),
                _ => return Err("url: the sender is missing (user or ?from=)".into()),
            };
            let mut to: Vec<String> = p.path.clone();
            if let Some(t) = p.query.get("to") {
                to.extend(t.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()));
            }
            if to.is_empty() {
                to.push(from.clone());
            }
            Ok(Target::Email {
                smtp_host: host,
                smtp_port: p.port,
                security,
                username: p.user,
                password: p.password,
                from,
                to,
                ca_certificate: None,
            })
        }
        "gotify" | "gotifys" => {
            let mut path = p.path.clone();
            let token = need(path.pop(), "the application token (last path segment)")?;
            let scheme = if p.scheme == "gotifys" { "https" } else { "http" };
            let base = format!("{scheme}://{}", authority(&p.host, p.port));
            let url = if path.is_empty() {
                base
            } else {
                format!("{base}/{}", path.join("/"))
            };
            let priority = match p.query.get("priority").map(String::as_str) {
                None => None,
                Some("low") => Some(0),
                Some("moderate") => Some(3),
                Some("normal") => Some(5),
                Some("high") => Some(8),
                Some("emergency") => Some(10),
                Some(n) => Some(
                    n.parse::<u8>()
                        .map_err(|_| format!("url: priority '{n}' is not a Gotify priority"))?
                        .min(10),
                ),
            };
            Ok(Target::Gotify {
                url,
                token,
                priority,
            })
        }
        "matrix" | "matrixs" => {
            let scheme = if p.scheme == "matrixs" { "https" } else { "http" };
            let room = p
                .path
                .first()
                .cloned()
                .or(p.query.get("to").cloned());
            let room = need(room, "the room (/#alias:server or /!id:server)")?;
            let (access_token, user, password) = match (p.query.get("token"), p.user, p.password) {
                (Some(t), _, _) => (Some(t.clone()), None, None),
                (None, Some(u), Some(pw)) => (None, Some(u), Some(pw)),
                (None, Some(token), None) => (Some(token), None, None),
                _ => return Err("url: give user:password@ or an access token".into()),
            };
            Ok(Target::Matrix {
                homeserver: format!("{scheme}://{}", authority(&p.host, p.port)),
                room,
                access_token,
                user,
                password,
            })
        }
        "ntfy" | "ntfys" => {
            let (url, topic) = if p.path.is_empty() {
                // Cloud mode: the "host" is the topic.
                (None, p.host.clone())
            } else {
                let scheme = if p.scheme == "ntfys" { "https" } else { "http" };
                (
                    Some(format!("{scheme}://{}", authority(&p.host, p.port))),
                    p.path[0].clone(),
                )
            };
            let (token, user, password) = match (p.query.get("token"), p.user, p.password) {
                (Some(t), _, _) => (Some(t.clone()), None, None),
                (None, Some(u), None) if u.starts_with("tk_") => (Some(u), None, None),
                (None, u, pw) => (None, u, pw),
            };
            let priority = match p.query.get("priority").map(String::as_str) {
                None => None,
                Some("min") => Some(1),
                Some("low") => Some(2),
                Some("default") => Some(3),
                Some("high") => Some(4),
                Some("max" | "urgent") => Some(5),
                Some(n) => Some(
                    n.parse::<u8>()
                        .ok()
                        .filter(|n| (1..=5).contains(n))
                        .ok_or_else(|| format!("url: priority '{n}' is not an ntfy priority"))?,
                ),
            };
            Ok(Target::Ntfy {
                url,
                topic,
                token,
                user,
                password,
                priority,
            })
        }
        "json" | "jsons" => {
            let scheme = if p.scheme == "jsons" { "https" } else { "http" };
            let enc = |x: &str| {
                percent_encoding::utf8_percent_encode(x, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
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
            Ok(Target::Json {
                url,
                headers: p.headers,
            })
        }
        other => Err(format!(
            "url: '{other}://' is not supported; use pover, discord, tgram, slack, mailto(s), gotify(s), matrix(s), ntfy(s) or json(s)"
        )),
    }
}

fn discord(segs: Vec<String>, username: Option<String>) -> Result<Target, String> {
    match segs.as_slice() {
        [id, token, ..] if !id.is_empty() && !token.is_empty() => Ok(Target::Discord {
            webhook_url: format!("https://discord.com/api/webhooks/{id}/{token}"),
            username,
        }),
        _ => Err("url: discord needs WEBHOOK_ID/WEBHOOK_TOKEN".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushover_discord_telegram_slack() {
        assert_eq!(
            parse("pover://uKEY@aTOKEN/phone?priority=high&sound=magic").unwrap(),
            Target::Pushover {
                user_key: "uKEY".into(),
                token: "aTOKEN".into(),
                device: Some("phone".into()),
                priority: Some(1),
                sound: Some("magic".into()),
                base_url: None
            }
        );
        let d = Target::Discord {
            webhook_url: "https://discord.com/api/webhooks/123/abc-DEF".into(),
            username: None,
        };
        assert_eq!(parse("discord://123/abc-DEF").unwrap(), d);
        assert_eq!(
            parse("https://discordapp.com/api/webhooks/123/abc-DEF").unwrap(),
            d,
            "the full webhook URL works (upstream issue #3)"
        );
        assert_eq!(
            parse("tgram://123456789:AAHabc/-1001234").unwrap(),
            Target::Telegram {
                bot_token: "123456789:AAHabc".into(),
                chat_id: "-1001234".into(),
                base_url: None
            }
        );
        assert_eq!(
            parse("slack://T1/B2/C3").unwrap(),
            Target::Slack {
                webhook_url: "https://hooks.slack.com/services/T1/B2/C3".into()
            }
        );
    }

    #[test]
    fn email_modes_and_ports() {
        let Target::Email {
            smtp_host,
            smtp_port,
            security,
            username,
            password,
            from,
            to,
            ..
        } = parse("mailtos://me%40example.com:s3cret@smtp.example.com?to=a@x.org,b@y.org").unwrap()
        else {
            panic!()
        };
        assert_eq!(smtp_host, "smtp.example.com");
        assert_eq!((smtp_port, security), (None, EmailSecurity::Starttls));
        assert_eq!(username.as_deref(), Some("me@example.com"));
        assert_eq!(password.as_deref(), Some("s3cret"));
        assert_eq!(from, "me@example.com");
        assert_eq!(to, ["a@x.org", "b@y.org"]);
        let Target::Email {
            smtp_host,
            smtp_port,
            security,
            ..
        } = parse("mailtos://_?user=me@x.org&pass=p&smtp=mail.x.org&port=465&mode=ssl").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (smtp_host.as_str(), smtp_port, security),
            ("mail.x.org", Some(465), EmailSecurity::Tls)
        );
        let Target::Email { security, .. } =
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
            Target::Gotify {
                url: "https://push.example.com:8443/sub".into(),
                token: "AppTok".into(),
                priority: Some(8)
            }
        );
        assert_eq!(
            parse("matrixs://bot:pw@matrix.example.com/#alerts:example.com").unwrap(),
            Target::Matrix {
                homeserver: "https://matrix.example.com".into(),
                room: "#alerts:example.com".into(),
                access_token: None,
                user: Some("bot".into()),
                password: Some("pw".into())
            }
        );
        assert_eq!(
            parse("ntfy://alerts").unwrap(),
            Target::Ntfy {
                url: None,
                topic: "alerts".into(),
                token: None,
                user: None,
                password: None,
                priority: None
            }
        );
        assert_eq!(
            parse("ntfys://tk_abc@ntfy.lan:8080/dvr?priority=max").unwrap(),
            Target::Ntfy {
                url: Some("https://ntfy.lan:8080".into()),
                topic: "dvr".into(),
                token: Some("tk_abc".into()),
                user: None,
                password: None,
                priority: Some(5)
            }
        );
        assert_eq!(
            parse("jsons://u:p@hooks.example.com:8443/notify?+X-Token=abc&-ver=2").unwrap(),
            Target::Json {
                url: "https://u:p@hooks.example.com:8443/notify?ver=2".into(),
                headers: vec![("X-Token".into(), "abc".into())]
            }
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
            Target::Discord {
                webhook_url: "https://discord.com/api/webhooks/123/abc-DEF".into(),
                username: None,
            }
        );
        // Multi-byte characters right after the prefix: no slicing inside them.
        assert!(parse("https://discord.com/api/webhooks/é").is_err());
        assert!(parse("https://discord.com/api/webhooks/ü/ä").is_ok());
    }
}
