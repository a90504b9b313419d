//! The network lists an operator sets: which proxies may say who the client is
//! (`CHANNELWATCH_TRUSTED_PROXIES`) and which host names the web app answers to
//! (`CHANNELWATCH_ALLOWED_HOSTS`). Parsed with the rest of the configuration; the HTTP
//! layer applies them.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// The `CHANNELWATCH_TRUSTED_PROXIES` list: networks whose connections may say who the
/// client is. Empty (the default): nobody may.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of CIDR ranges or single addresses
    /// (`10.0.0.0/8, 192.168.1.5, fd00::/8`); empty entries are skipped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for (i, entry) in text.split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| {
                    entry
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<IpAddr>()
                        .map(IpNet::from)
                })
                .map_err(|_| {
                    format!(
                        "entry {} ('{entry}') is not a CIDR range or an IP address \
                         (e.g. 10.0.0.0/8, 192.168.1.5 or fd00::/8)",
                        i + 1
                    )
                })?;
            nets.push(net.trunc());
        }
        Ok(Self(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is in one of the ranges (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The variable's name, for messages.
pub(crate) const VARIABLE: &str = "CHANNELWATCH_ALLOWED_HOSTS";

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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

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

    #[test]
    fn the_list_takes_ranges_and_single_addresses() {
        let t = TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.5 ,, fd00::/8, [::1]").unwrap();
        assert!(t.contains(ip("10.200.0.1")));
        assert!(t.contains(ip("192.168.1.5")));
        assert!(!t.contains(ip("192.168.1.6")));
        assert!(t.contains(ip("fd00::17")));
        assert!(t.contains(ip("::1")));
        assert!(
            t.contains(ip("::ffff:10.0.0.1")),
            "IPv4-mapped IPv6 is IPv4"
        );
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        // Host bits are dropped, as `ip route` would.
        assert!(TrustedProxies::parse("10.1.2.3/8")
            .unwrap()
            .contains(ip("10.9.9.9")));
        for bad in ["10.0.0.0/33", "proxy.local", "10.0.0.0/8;10.1.0.0/16", "*"] {
            let e = TrustedProxies::parse(&format!("127.0.0.1, {bad}")).unwrap_err();
            assert!(e.contains("entry 2") && e.contains(bad), "{e}");
        }
    }
}
