//! The first-run setup guard. Until the first user exists, `/setup` creates the admin,
//! so whoever reaches the port first could take the install, including a web page in
//! the owner's browser that re-binds its own host name to this server's address (DNS
//! rebinding: the browser then sends that page's name in `Host`).
//!
//! Setup therefore needs a one-time token, made at start when no user exists, kept only
//! in memory and printed once to the log ([`crate::sign_in::log_line`]), unless the request comes
//! straight from this machine and names it by a loopback name ([`is_local`]): a browser
//! at `http://localhost:8501` or `http://127.0.0.1:8501` on the server itself needs no
//! token. The token is void once a user exists.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use axum::http::header::{HOST, ORIGIN};
use axum::http::HeaderMap;

use super::forwarded::Client;

/// Headers a proxy adds: a request that carries one is treated as coming from elsewhere,
/// even from a loopback peer (a proxy on this machine that nobody listed in
/// `CHANNELWATCH_TRUSTED_PROXIES`).
const FORWARDING: [&str; 8] = [
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-real-ip",
    "forwarded",
    "via",
    "cf-connecting-ip",
];

/// Whether a setup request may go without the token: it came straight from this
/// machine (a loopback TCP peer, not a trusted proxy, no forwarding headers) and names
/// it by a loopback name in `Host` (and in `Origin`, when sent). A DNS-rebinding page
/// arrives from a loopback peer too, but with its own name in both.
pub(crate) fn is_local(client: &Client, headers: &HeaderMap) -> bool {
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(loopback_host);
    let origin = match headers.get(ORIGIN) {
        None => true,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .is_some_and(|(_, h)| loopback_host(h)),
    };
    let forwarded = FORWARDING.iter().any(|h| headers.contains_key(*h));
    !client.via_proxy && client.peer.to_canonical().is_loopback() && host && origin && !forwarded
}

/// `localhost`, an address in 127.0.0.0/8 or `[::1]`, each with or without a port.
pub(crate) fn loopback_host(host: &str) -> bool {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        return (after.is_empty() || colon_port(after))
            && inside
                .parse::<Ipv6Addr>()
                .is_ok_and(|ip| IpAddr::V6(ip).to_canonical().is_loopback());
    }
    let name = match host.split_once(':') {
        Some((name, digits)) if port_number(digits) => name,
        Some(_) => return false,
        None => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// `:` and a port number.
fn colon_port(s: &str) -> bool {
    s.strip_prefix(':').is_some_and(port_number)
}

/// 1–5 digits.
fn port_number(p: &str) -> bool {
    (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(peer: [u8; 4], via_proxy: bool) -> Client {
        let peer = IpAddr::from(peer);
        Client {
            peer,
            ip: peer,
            via_proxy,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn loopback_names_with_or_without_a_port() {
        for yes in [
            "localhost",
            "LOCALHOST:8501",
            "localhost.:8501",
            "127.0.0.1",
            "127.0.0.1:18501",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:8501",
            "[::ffff:127.0.0.1]:8501",
        ] {
            assert!(loopback_host(yes), "{yes}");
        }
        for no in [
            "",
            "rebind.example",
            "rebind.example:8501",
            "localhost.rebind.example",
            "127.0.0.1.rebind.example",
            "192.168.1.5:8501",
            "0.0.0.0:8501",
            "[::]:8501",
            "[::1",
            "[::1]x",
            "::1",
            "localhost:",
            "localhost:8501:1",
            "localhost:http",
            "127.1",
        ] {
            assert!(!loopback_host(no), "{no}");
        }
    }

    #[test]
    fn only_a_loopback_peer_naming_a_loopback_host_goes_without_the_token() {
        let local = client([127, 0, 0, 1], false);
        let h = headers(&[("host", "127.0.0.1:8501")]);
        assert!(is_local(&local, &h));
        let h = headers(&[
            ("host", "localhost:8501"),
            ("origin", "http://localhost:8501"),
        ]);
        assert!(is_local(&local, &h));
        assert!(is_local(&client([127, 0, 0, 9], false), &h));
        // DNS rebinding: a loopback peer, but the page's own name.
        let h = headers(&[
            ("host", "rebind.example:8501"),
            ("origin", "http://rebind.example:8501"),
        ]);
        assert!(!is_local(&local, &h));
        let h = headers(&[
            ("host", "127.0.0.1:8501"),
            ("origin", "http://rebind.example:8501"),
        ]);
        assert!(!is_local(&local, &h));
        assert!(!is_local(&local, &HeaderMap::new()), "no Host");
        // Another machine, or a proxy (trusted, or on loopback with forwarding headers).
        let h = headers(&[("host", "127.0.0.1:8501")]);
        assert!(!is_local(&client([192, 168, 1, 9], false), &h));
        assert!(!is_local(&client([127, 0, 0, 1], true), &h));
        for fwd in [
            "x-forwarded-for",
            "x-forwarded-host",
            "x-real-ip",
            "forwarded",
        ] {
            let h = headers(&[("host", "127.0.0.1:8501"), (fwd, "for=192.0.2.1")]);
            assert!(!is_local(&local, &h), "{fwd}");
        }
    }
}
