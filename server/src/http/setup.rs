//! The first-run setup guard. Until the first user exists, `/setup` creates the admin,
//! so whoever reaches the port first could take the install, including a web page in
//! the owner's browser that re-binds its own host name to this server's address (DNS
//! rebinding: the browser then sends that page's name in `Host`).
//!
//! Setup therefore needs a one-time token, made at start when no user exists, kept only
//! in memory and printed once to the log ([`log_line`]), unless the request comes
//! straight from this machine and names it by a loopback name ([`is_local`]): a browser
//! at `http://localhost:8501` or `http://127.0.0.1:8501` on the server itself needs no
//! token. The token is void once a user exists.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::header::{HOST, ORIGIN};
use axum::http::HeaderMap;
use rand::Rng;

use super::auth::same_secret;
use super::forwarded::Client;

/// Characters in a setup token.
pub const TOKEN_LEN: usize = 24;
/// Letters and digits without look-alikes (0/O, 1/l/I): URL-safe and easy to retype.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

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

/// The one-time setup token, while setup is open. Held only here (never stored, never
/// sent by the server), and shown in the log once at start.
pub struct SetupToken(parking_lot::Mutex<Option<String>>);

impl std::fmt::Debug for SetupToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.0.lock().is_some() {
            "open"
        } else {
            "void"
        };
        write!(f, "SetupToken({state})")
    }
}

impl SetupToken {
    /// `None`: setup was closed at start (a user exists).
    pub fn new(token: Option<String>) -> Self {
        Self(parking_lot::Mutex::new(token))
    }

    /// A fresh random token ([`TOKEN_LEN`] characters, about 140 bits).
    pub fn generate() -> String {
        let mut rng = rand::rng();
        (0..TOKEN_LEN)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }

    /// The token while it is valid.
    pub fn get(&self) -> Option<String> {
        self.0.lock().clone()
    }

    /// Whether `presented` is the token (compared in constant time); never once void.
    pub fn matches(&self, presented: &str) -> bool {
        self.0
            .lock()
            .as_deref()
            .is_some_and(|t| !presented.is_empty() && same_secret(t, presented))
    }

    /// A user exists: the token no longer opens anything.
    pub fn void(&self) {
        *self.0.lock() = None;
    }
}

/// The start-up log line that shows the token. The debug bundle redacts what follows
/// `/setup?token=` ([`crate::bundle::redact`]).
pub fn log_line(addr: SocketAddr, token: &str) -> String {
    let port = addr.port();
    let at = if addr.ip().is_unspecified() {
        format!("<host>:{port}")
    } else {
        addr.to_string()
    };
    format!(
        "First-run setup: open http://{at}/setup?token={token} to create the admin \
         (or enter the token on the setup page); a browser on this machine at \
         http://localhost:{port}/setup needs no token"
    )
}

/// Whether a setup request may go without the token: it came straight from this
/// machine (a loopback TCP peer, not a trusted proxy, no forwarding headers) and names
/// it by a loopback name in `Host` (and in `Origin`, when sent). A DNS-rebinding page
/// arrives from a loopback peer too, but with its own name in both.
pub fn is_local(client: &Client, headers: &HeaderMap) -> bool {
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
pub fn loopback_host(host: &str) -> bool {
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

    #[test]
    fn tokens_are_random_match_in_full_and_are_void_once_closed() {
        let a = SetupToken::generate();
        let b = SetupToken::generate();
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        assert_ne!(a, b);
        let t = SetupToken::new(Some(a.clone()));
        assert!(t.matches(&a));
        assert!(!t.matches(&b) && !t.matches("") && !t.matches(&a[..TOKEN_LEN - 1]));
        assert!(!format!("{t:?}").contains(&a), "Debug hides the token");
        t.void();
        assert_eq!(t.get(), None);
        assert!(!t.matches(&a));
        assert!(!SetupToken::new(None).matches(""));
    }

    #[test]
    fn the_log_line_names_the_address_or_a_placeholder() {
        let line = log_line("192.168.1.5:8501".parse().unwrap(), "Tok");
        assert!(
            line.contains("http://192.168.1.5:8501/setup?token=Tok "),
            "{line}"
        );
        let line = log_line("0.0.0.0:8501".parse().unwrap(), "Tok");
        assert!(
            line.starts_with("First-run setup: open http://<host>:8501/setup?token=Tok "),
            "{line}"
        );
        assert!(line.contains("http://localhost:8501/setup"), "{line}");
        let line = log_line("[::1]:8501".parse().unwrap(), "Tok");
        assert!(
            line.contains("http://[::1]:8501/setup?token=Tok "),
            "{line}"
        );
    }
}
