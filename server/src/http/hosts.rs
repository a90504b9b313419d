//! `CHANNELWATCH_ALLOWED_HOSTS`: the host names the web app answers to, a guard against
//! DNS rebinding (another site's name made to resolve to this server, so that its
//! pages can read ours as same-origin).
//!
//! When the list is set, a request whose `Host` (or, from a trusted proxy, any
//! `X-Forwarded-Host` entry) is not in it gets `400 host_not_allowed`. Names are
//! compared without the port and without case; IP literals are compared as addresses
//! (`[2001:DB8:0::1]` is `2001:db8::1`). The probes and `/metrics` are exempt: the
//! kubelet and Prometheus address the pod by its IP.

use std::net::{IpAddr, Ipv6Addr};

use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::forwarded::Client;
use super::AppState;

/// The variable's name, for messages.
pub const VARIABLE: &str = "CHANNELWATCH_ALLOWED_HOSTS";

/// The list, normalised (lowercase names without a trailing dot, IP addresses in their
/// canonical text). Empty (the default): any host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    /// A comma-separated list of host names and IP addresses (`tv.example, 192.168.1.5,
    /// [fd00::5]`); empty entries are skipped. An entry with a port is refused: ports
    /// are not compared, and accepting one would suggest that they are.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut hosts = Vec::new();
        for (i, entry) in text.split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            match normalize(entry) {
                Some(host) => hosts.push(host),
                None => {
                    return Err(match host_of(entry) {
                        Some(_) => format!(
                            "entry {} ('{entry}') has a port: list the host alone \
                             (ports are not compared)",
                            i + 1
                        ),
                        None => format!(
                            "entry {} ('{entry}') is not a host name or an IP address \
                             (e.g. tv.example, 192.168.1.5 or [fd00::5])",
                            i + 1
                        ),
                    })
                }
            }
        }
        Ok(Self(hosts))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `authority` (a `Host` value: `name`, `name:port`, `[v6]` or `[v6]:port`)
    /// names a listed host. Anything that does not parse is not allowed.
    pub fn allows(&self, authority: &str) -> bool {
        host_of(authority).is_some_and(|h| self.0.contains(&h))
    }
}

/// The host of a `Host` value, normalised, without its port.
fn host_of(authority: &str) -> Option<String> {
    let a = authority.trim();
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port = match after {
            "" => "",
            p => p.strip_prefix(':')?,
        };
        (&a[..inside.len() + 2], port)
    } else {
        match a.split_once(':') {
            Some((h, p)) if !p.contains(':') => (h, p),
            Some(_) => return None,
            None => (a, ""),
        }
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    normalize(host)
}

/// A host as listed or addressed, without a port: IP addresses in canonical text (IPv6
/// with or without brackets), names lowercased without a trailing dot. `None` for
/// anything else.
fn normalize(host: &str) -> Option<String> {
    let host = host.trim();
    if let Some(inside) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inside.parse::<Ipv6Addr>().ok().map(|ip| ip.to_string());
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then_some(name)
}

/// The guard, in front of every route but the probes and `/metrics`.
pub async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let config = &state.services.config;
    let path = req.uri().path();
    if config.allowed_hosts.is_empty() || path.starts_with("/healthz/") || path == "/metrics" {
        return next.run(req).await;
    }
    let refused = {
        let headers = req.headers();
        // HTTP/2 carries the host in the URI (`:authority`) instead of `Host`.
        let host = headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        match host {
            None => Some(None),
            Some(host) => {
                let client = Client::of(req.extensions(), headers, &config.trusted_proxies);
                std::iter::once(host)
                    .chain(client.forwarded_hosts(headers))
                    .find(|h| !config.allowed_hosts.allows(h))
                    .map(|h| Some(h.chars().take(100).collect::<String>()))
            }
        }
    };
    match refused {
        None => next.run(req).await,
        Some(host) => {
            let message = match &host {
                Some(h) => format!(
                    "this server does not answer to the host '{h}': it is not listed in {VARIABLE}"
                ),
                None => format!("the request names no host, and {VARIABLE} is set"),
            };
            tracing::debug!(host = ?host, "request refused: host not allowed");
            ApiError::new(StatusCode::BAD_REQUEST, "host_not_allowed", message).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_compared_without_port_or_case() {
        let l = AllowedHosts::parse("TV.example., 127.0.0.1, [2001:DB8:0::1], fd00::5,,").unwrap();
        for ok in [
            "tv.example",
            "tv.example:8501",
            "TV.EXAMPLE.",
            "127.0.0.1:18501",
            "[2001:db8::1]:443",
            "[2001:0db8::0001]",
            "[fd00::5]",
        ] {
            assert!(l.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "tv.example.evil.example",
            "127.0.0.2",
            "[2001:db8::2]",
            "tv.example:80:80",
            "tv.example:http",
            "2001:db8::1",
            "[2001:db8::1",
            "",
            "tv example",
        ] {
            assert!(!l.allows(bad), "{bad}");
        }
        assert!(AllowedHosts::parse(" , ").unwrap().is_empty());
    }

    #[test]
    fn bad_entries_are_named() {
        let e = AllowedHosts::parse("tv.example, tv.example:8501").unwrap_err();
        assert!(e.contains("entry 2") && e.contains("port"), "{e}");
        let e = AllowedHosts::parse("[::1]:8501").unwrap_err();
        assert!(e.contains("port"), "{e}");
        for bad in [
            "https://tv.example",
            "tv.example/",
            "*.example",
            "a..b",
            "[tv.example]",
        ] {
            let e = AllowedHosts::parse(bad).unwrap_err();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
    }
}
