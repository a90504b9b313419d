//! Apprise-style provider URLs (`pover://`, `discord://`, `tgram://`, `slack://`,
//! `mailto://`, `gotify://`, `matrix://`, `ntfy://`, `json://`, and their TLS
//! variants) split into their parts; each provider reads its own scheme's parts
//! (`providers::from_apprise_url`), following Apprise's own reading of each form.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

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

pub(crate) fn split(url: &str) -> Result<Parts, String> {
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
