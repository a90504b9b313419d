//! Canonical DVR identity: `md5("<host>:<port>")`, lowercase hex, first 8 characters.
//!
//! The id is what keys every per-DVR slot, metric series and routing entry, so it must be
//! stable across restarts and identical to the contract's vectors.

use md5::{Digest, Md5};

/// Normalises a host the way the contract says: strip surrounding brackets; lowercase
/// only IPv6 literals (hostnames keep their case; nothing else is rewritten).
pub fn normalize_host(host: &str) -> String {
    let h = host.trim();
    let h = h
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(h);
    if h.contains(':') {
        h.to_lowercase()
    } else {
        h.to_string()
    }
}

/// The canonical `dvr_id` for a host and port.
pub fn dvr_id(host: &str, port: u16) -> String {
    let key = format!("{}:{}", normalize_host(host), port);
    let digest = Md5::digest(key.as_bytes());
    hex::encode(digest)[..8].to_string()
}

/// The base URL for a DVR; IPv6 literals are bracketed.
pub fn base_url(host: &str, port: u16) -> String {
    let h = normalize_host(host);
    if h.contains(':') {
        format!("http://[{h}]:{port}")
    } else {
        format!("http://{h}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vector {
        host: String,
        port: u16,
        dvr_id: String,
    }

    #[test]
    fn matches_every_fixture_vector() {
        let vectors: Vec<Vector> = serde_json::from_str(include_str!(
            "../../../sim/src/fixtures/dvr-id-vectors.json"
        ))
        .unwrap();
        assert!(vectors.len() >= 8);
        for v in vectors {
            assert_eq!(dvr_id(&v.host, v.port), v.dvr_id, "{}:{}", v.host, v.port);
        }
    }

    #[test]
    fn reference_vectors_beyond_the_fixture() {
        assert_eq!(dvr_id("2001:db8::1", 8089), "2e679e72");
        assert_eq!(dvr_id("dvr.local", 57000), "836678c7");
        assert_eq!(dvr_id("127.0.0.1", 18089), "7b509810");
        assert_eq!(dvr_id("[fe80::1%eth0]", 8089), "f356cadc");
    }

    #[test]
    fn hostnames_keep_their_case() {
        assert_ne!(dvr_id("dvr.local", 8089), dvr_id("DVR.LOCAL", 8089));
    }

    #[test]
    fn base_url_brackets_ipv6() {
        assert_eq!(base_url("::1", 8089), "http://[::1]:8089");
        assert_eq!(base_url("[::1]", 8089), "http://[::1]:8089");
        assert_eq!(base_url("127.0.0.1", 80), "http://127.0.0.1:80");
    }
}
