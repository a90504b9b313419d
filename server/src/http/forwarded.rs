//! Who the client is: the TCP peer, or, when the peer is a trusted reverse proxy
//! (`CHANNELWATCH_TRUSTED_PROXIES`), the address the proxies recorded.
//!
//! `X-Forwarded-For` and `Forwarded: for=` are lists that every proxy appends to, so only
//! their right end can be believed: the chain is walked from the right, trusted proxies
//! are skipped, and the first address that is not one of them is the client. Whatever
//! lies left of it was written by that client and is ignored. When the peer is not a
//! trusted proxy none of the forwarding headers is read: not the chain, not
//! `X-Forwarded-Host` (the Origin check) and not `X-Forwarded-Proto` (`Secure` cookies).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::FORWARDED;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};

use super::AppState;
use crate::config::net::TrustedProxies;

/// At most this many hops of a chain are walked, so a long header costs bounded work.
const MAX_HOPS: usize = 32;

/// Where a request came from. Handlers take it as an extractor; the guard builds it
/// with [`Client::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The TCP peer (127.0.0.1 for an in-process request that carries none).
    pub peer: IpAddr,
    /// The client: the peer, or the address found in a trusted proxy's forwarded chain.
    pub ip: IpAddr,
    /// The peer is a trusted proxy: its forwarding headers are believed.
    pub via_proxy: bool,
}

impl Client {
    /// From the request's `ConnectInfo` (the TCP peer) and headers.
    pub fn of(extensions: &Extensions, headers: &HeaderMap, trusted: &TrustedProxies) -> Client {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Self::resolve(peer, headers, trusted)
    }

    pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &TrustedProxies) -> Client {
        let peer = peer.map(|p| p.to_canonical());
        let Some(proxy) = peer.filter(|p| trusted.contains(*p)) else {
            let peer = peer.unwrap_or(IpAddr::from([127, 0, 0, 1]));
            return Client {
                peer,
                ip: peer,
                via_proxy: false,
            };
        };
        Client {
            peer: proxy,
            ip: walk(proxy, &chain(headers), trusted),
            via_proxy: true,
        }
    }
}

/// Every `X-Forwarded-Host` entry, from whoever sent it (only for checks that a
/// browser on another site cannot forge the header into: the Origin check).
pub fn all_forwarded_hosts(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all("x-forwarded-host")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect()
}

impl Client {
    /// The hosts the browser addressed, when a trusted proxy rewrote `Host` and passed
    /// the original along in `X-Forwarded-Host` (a chain of proxies may list several).
    pub fn forwarded_hosts<'h>(&self, headers: &'h HeaderMap) -> Vec<&'h str> {
        if !self.via_proxy {
            return Vec::new();
        }
        all_forwarded_hosts(headers)
    }

    /// The browser reached a trusted proxy over TLS (`X-Forwarded-Proto: https`; in a
    /// list, the first entry is the proxy nearest the browser).
    pub fn https(&self, headers: &HeaderMap) -> bool {
        self.via_proxy
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Client::of(
            &parts.extensions,
            &parts.headers,
            &state.services.config.trusted_proxies,
        ))
    }
}

/// One hop of a forwarded chain: an address, or `None` for anything else (`unknown`, an
/// obfuscated `_name`, a value that does not parse).
type Hop = Option<IpAddr>;

/// The chain the proxies recorded, left (farthest) to right (nearest): `X-Forwarded-For`
/// when present (nearly every proxy writes it), else the `for=` of `Forwarded` (RFC 7239).
/// A proxy that writes only `Forwarded` must drop a client's `X-Forwarded-For`.
fn chain(headers: &HeaderMap) -> Vec<Hop> {
    let xff = headers.get_all("x-forwarded-for");
    if xff.iter().next().is_some() {
        return xff
            .iter()
            // Entry by entry from the raw bytes: a client's junk entry (non-ASCII)
            // must not hide the address the proxy appended after it.
            .flat_map(|v| {
                v.as_bytes()
                    .split(|b| *b == b',')
                    .map(|part| String::from_utf8_lossy(part).trim().to_string())
                    .filter(|s| !s.is_empty())
                    .map(|s| node(&s))
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    headers
        .get_all(FORWARDED)
        .iter()
        .flat_map(|v| match v.to_str() {
            Ok(value) => forwarded_for(value),
            Err(_) => vec![None],
        })
        .collect()
}

/// From the right: trusted proxies are skipped and the first other address is the
/// client. A hop that is not an address ends the walk at the nearest address known
/// (the proxy that wrote it); a chain of nothing but trusted addresses ends at its
/// leftmost (the request started there).
fn walk(peer: IpAddr, chain: &[Hop], trusted: &TrustedProxies) -> IpAddr {
    let mut nearest = peer;
    for &hop in chain.iter().rev().take(MAX_HOPS) {
        let Some(ip) = hop.map(|ip| ip.to_canonical()) else {
            return nearest;
        };
        if !trusted.contains(ip) {
            return ip;
        }
        nearest = ip;
    }
    nearest
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn node(s: &str) -> Hop {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse().ok())
}

/// The `for=` of each element of a `Forwarded` value, left to right; an element without
/// one is a hop of unknown address.
fn forwarded_for(value: &str) -> Vec<Hop> {
    split_unquoted(value, ',')
        .into_iter()
        .filter(|element| !element.trim().is_empty())
        .map(|element| {
            split_unquoted(element, ';')
                .into_iter()
                .find_map(|pair| {
                    let (name, v) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| unquote(v.trim()))
                })
                .and_then(|v| node(&v))
        })
        .collect()
}

/// Splits at `sep` outside quoted strings.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A token as is; a quoted string without its quotes and escapes.
fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if !escaped && c == '\\' {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn client(peer: &str, trusted: &str, pairs: &[(&'static str, &str)]) -> Client {
        let trusted = TrustedProxies::parse(trusted).unwrap();
        Client::resolve(Some(ip(peer)), &headers(pairs), &trusted)
    }

    #[test]
    fn without_a_trusted_peer_the_headers_are_ignored() {
        let spoof = [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
            ("x-forwarded-host", "tv.example"),
            ("x-forwarded-proto", "https"),
        ];
        for trusted in ["", "10.0.0.0/8"] {
            let c = client("192.0.2.7", trusted, &spoof);
            assert_eq!(c.ip, ip("192.0.2.7"));
            assert!(!c.via_proxy);
            assert!(c.forwarded_hosts(&headers(&spoof)).is_empty());
            assert!(!c.https(&headers(&spoof)));
        }
        let none = Client::resolve(
            None,
            &headers(&spoof),
            &TrustedProxies::parse("127.0.0.1").unwrap(),
        );
        assert_eq!(
            (none.ip, none.via_proxy),
            (ip("127.0.0.1"), false),
            "no peer: not a proxy"
        );
    }

    #[test]
    fn the_chain_is_walked_from_the_right_past_trusted_proxies() {
        let t = "10.0.0.0/8";
        // The client's own entries (left) are ignored; the nearest untrusted one counts.
        let c = client(
            "10.0.0.1",
            t,
            &[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.2")],
        );
        assert_eq!((c.ip, c.via_proxy), (ip("203.0.113.9"), true));
        // Several header lines are one list, in order.
        let c = client(
            "10.0.0.1",
            t,
            &[
                ("x-forwarded-for", "1.1.1.1"),
                ("x-forwarded-for", "203.0.113.9, 10.0.0.2"),
            ],
        );
        assert_eq!(c.ip, ip("203.0.113.9"));
        // Ports and brackets as some proxies write them.
        let c = client("10.0.0.1", t, &[("x-forwarded-for", "[2001:db8::7]:4711")]);
        assert_eq!(c.ip, ip("2001:db8::7"));
        let c = client(
            "10.0.0.1",
            t,
            &[("x-forwarded-for", "198.51.100.4:5000, 10.0.0.3")],
        );
        assert_eq!(c.ip, ip("198.51.100.4"));
        // Nothing forwarded: the proxy itself.
        assert_eq!(client("10.0.0.1", t, &[]).ip, ip("10.0.0.1"));
        // A client's non-ASCII junk does not hide the address its proxy appended.
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.9").unwrap(),
        );
        let c = Client::resolve(Some(ip("10.0.0.1")), &h, &TrustedProxies::parse(t).unwrap());
        assert_eq!(c.ip, ip("203.0.113.9"));
        // Garbage written by a trusted hop: the nearest address known.
        let c = client(
            "10.0.0.1",
            t,
            &[("x-forwarded-for", "203.0.113.9, unknown, 10.0.0.2")],
        );
        assert_eq!(c.ip, ip("10.0.0.2"));
        // Only trusted addresses (a client inside the trusted network): the leftmost.
        let c = client("10.0.0.1", t, &[("x-forwarded-for", "10.9.9.9, 10.0.0.2")]);
        assert_eq!(c.ip, ip("10.9.9.9"));
        // A trusted peer on IPv4-mapped IPv6 (a dual-stack listener).
        let c = client("::ffff:10.0.0.1", t, &[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!((c.peer, c.ip), (ip("10.0.0.1"), ip("203.0.113.9")));
    }

    #[test]
    fn forwarded_for_per_rfc_7239() {
        let t = "10.0.0.0/8";
        let c = client(
            "10.0.0.1",
            t,
            &[(
                "forwarded",
                r#"for=1.1.1.1;proto=http, For="[2001:db8:cafe::17]:4711";by=10.0.0.2, for=10.0.0.2"#,
            )],
        );
        assert_eq!(c.ip, ip("2001:db8:cafe::17"));
        let c = client(
            "10.0.0.1",
            t,
            &[("forwarded", r#"for="_hidden;x,y", for=10.0.0.2"#)],
        );
        assert_eq!(c.ip, ip("10.0.0.2"), "an obfuscated hop ends the walk");
        let c = client(
            "10.0.0.1",
            t,
            &[("forwarded", "proto=https;host=tv.example")],
        );
        assert_eq!(c.ip, ip("10.0.0.1"), "no for=");
        // X-Forwarded-For wins when both are present.
        let c = client(
            "10.0.0.1",
            t,
            &[
                ("forwarded", "for=1.1.1.1"),
                ("x-forwarded-for", "203.0.113.9"),
            ],
        );
        assert_eq!(c.ip, ip("203.0.113.9"));
        assert_eq!(split_unquoted(r#"a="x,\"y",b"#, ','), [r#"a="x,\"y""#, "b"]);
        assert_eq!(unquote(r#""a\"b""#), r#"a"b"#);
    }

    #[test]
    fn host_and_proto_from_a_trusted_proxy() {
        let h = headers(&[
            ("x-forwarded-host", "tv.example, inner.local"),
            ("x-forwarded-proto", "https, http"),
        ]);
        let c = Client::resolve(
            Some(ip("10.0.0.1")),
            &h,
            &TrustedProxies::parse("10.0.0.1").unwrap(),
        );
        assert_eq!(c.forwarded_hosts(&h), ["tv.example", "inner.local"]);
        assert!(c.https(&h));
        let h = headers(&[("x-forwarded-proto", "http")]);
        assert!(!c.https(&h));
    }
}
