//! `/dvr/clients/info`: the Channels apps a DVR knows, with the names their owners gave
//! them, so a play the activity names only by address gets its device's real name.

use std::net::IpAddr;

use serde_json::Value;

use crate::text::outside_text;

/// The most clients read from one answer (a household has a handful).
const MAX_CLIENTS: usize = 1000;

/// One Channels app as the DVR describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientApp {
    /// The name its owner gave it (`hostname`).
    pub name: Option<String>,
    /// The hardware model (`device`: `AppleTV14,1`).
    pub model: Option<String>,
    pub platform: Option<String>,
    pub app_version: Option<String>,
    pub ip: Option<IpAddr>,
    /// Whether it connects from outside the DVR's network (`seen_from`).
    pub remote: Option<bool>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(|s| outside_text(s, 120).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The clients of an answer; entries that are not objects are skipped.
pub fn parse_clients(v: &Value) -> Vec<ClientApp> {
    let Some(list) = v.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter(|c| c.is_object())
        .take(MAX_CLIENTS)
        .map(|c| ClientApp {
            name: text(c, "hostname").or_else(|| text(c, "name")),
            model: text(c, "device"),
            platform: text(c, "platform"),
            app_version: text(c, "app_version"),
            ip: c
                .get("remote_ip")
                .and_then(Value::as_str)
                .and_then(|s| s.trim().parse().ok()),
            remote: match c.get("seen_from").and_then(Value::as_str) {
                Some("remote") => Some(true),
                Some("local") => Some(false),
                _ => None,
            },
        })
        .collect()
}

/// The client at an address, if exactly one has it (two apps behind one address, a
/// shared NAT for remote clients, name no one).
pub fn at_address(clients: &[ClientApp], ip: IpAddr) -> Option<&ClientApp> {
    let mut found = clients.iter().filter(|c| c.ip == Some(ip));
    match (found.next(), found.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clients_are_read_and_matched_by_address() {
        let v = json!([
            {"id": "a", "hostname": "Garage Fire TV", "device": "AFTMM", "platform": "android",
             "app_version": "2026.09.02", "remote_ip": "192.168.1.77", "seen_from": "local"},
            {"id": "b", "hostname": "Phone\u{7}", "platform": "ios", "remote_ip": "10.0.0.9",
             "seen_from": "remote"},
            {"id": "c", "hostname": "Tablet", "remote_ip": "10.0.0.9"},
            "junk",
            {"id": "d", "remote_ip": "not an address"}
        ]);
        let c = parse_clients(&v);
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].name.as_deref(), Some("Garage Fire TV"));
        assert_eq!(c[0].model.as_deref(), Some("AFTMM"));
        assert_eq!(c[0].remote, Some(false));
        assert_eq!(c[1].name.as_deref(), Some("Phone"), "control characters go");
        assert_eq!(c[1].remote, Some(true));
        assert_eq!(c[3].ip, None);
        let garage = at_address(&c, "192.168.1.77".parse().unwrap()).unwrap();
        assert_eq!(garage.platform.as_deref(), Some("android"));
        assert!(
            at_address(&c, "10.0.0.9".parse().unwrap()).is_none(),
            "two share it"
        );
        assert!(parse_clients(&json!({"clients": []})).is_empty());
    }
}
