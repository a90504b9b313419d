//! Where a notification may go: URLs and hosts a destination may name (loopback and
//! private networks yes, link-local and cloud metadata never), and which image URLs a
//! provider on the internet could fetch itself.

/// An optional URL field, checked when given.
pub(crate) fn opt_url(name: &str, url: Option<&str>) -> Result<(), String> {
    url.map_or(Ok(()), |u| check_url(name, u))
}

/// An http(s) URL whose host is allowed as a destination.
pub fn check_url(name: &str, url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{name}: not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{name}: must be an http or https URL"));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("{name}: the URL has no host"))?;
    check_destination_host(name, host)
}

/// Link-local and cloud-metadata addresses, also written as IPv4-mapped or NAT64.
pub fn is_forbidden_ip(ip: std::net::IpAddr) -> bool {
    use std::net::{IpAddr, Ipv4Addr};
    let v4_bad = |v4: Ipv4Addr| v4.is_link_local() || v4.octets() == [100, 100, 100, 200];
    match ip {
        IpAddr::V4(v4) => v4_bad(v4),
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let nat64 = seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0];
            let embedded = Ipv4Addr::new(
                (seg[6] >> 8) as u8,
                seg[6] as u8,
                (seg[7] >> 8) as u8,
                seg[7] as u8,
            );
            (seg[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(v4_bad)
                || (nat64 && v4_bad(embedded))
                || v6
                    == "fd00:ec2::254"
                        .parse::<std::net::Ipv6Addr>()
                        .expect("literal")
        }
    }
}

/// Loopback and private networks are fine (self-hosted Gotify, ntfy, Matrix);
/// link-local and cloud-metadata addresses never are. Names are checked again when
/// they are resolved (see `notify::http_client`).
pub fn check_destination_host(name: &str, host: &str) -> Result<(), String> {
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.');
    let refused = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => is_forbidden_ip(ip),
        Err(_) => {
            let h = bare.to_ascii_lowercase();
            // A bare number is an IPv4 address to many resolvers (2852039166).
            let numeric = h.parse::<u32>().ok().map(std::net::Ipv4Addr::from);
            h == "metadata.google.internal"
                || h == "metadata"
                || h.ends_with(".metadata.google.internal")
                || numeric.is_some_and(|v4| is_forbidden_ip(v4.into()))
        }
    };
    if refused {
        Err(format!(
            "{name}: {host} is a link-local or cloud-metadata address, which is never a notification destination"
        ))
    } else {
        Ok(())
    }
}

/// Whether an image URL can be fetched by a provider on the internet (a public host),
/// as opposed to one only the DVR's own network can reach.
pub fn is_public_url(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    match u.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            d.contains('.')
                && !d.ends_with(".local")
                && !d.ends_with(".lan")
                && !d.ends_with(".internal")
        }
        Some(url::Host::Ipv4(v4)) => {
            !(v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified())
        }
        Some(url::Host::Ipv6(v6)) => {
            !(v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
        None => false,
    }
}

/// Required text that must not be blank.
pub(crate) fn blank(name: &str, v: &str) -> Result<(), String> {
    if v.trim().is_empty() {
        Err(format!("{name}: must not be empty"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_hosts_are_fine_and_metadata_is_not() {
        assert!(check_url("url", "http://127.0.0.1:8080/x").is_ok());
        assert!(check_url("url", "http://[fe80::1]/x").is_err());
        assert!(check_url("url", "http://metadata.google.internal/").is_err());
        assert!(check_url("url", "http://[::ffff:169.254.169.254]/").is_err());
        assert!(check_url("url", "http://[64:ff9b::a9fe:a9fe]/").is_err());
        assert!(check_destination_host("smtp_host", "2852039166").is_err());
        assert!(check_destination_host("smtp_host", "169.254.169.254.").is_err());
        assert!(is_public_url("https://images.example.com/a.png"));
        assert!(!is_public_url("http://127.0.0.1:8089/dvr/uploads/x.png"));
        assert!(!is_public_url("http://192.168.1.10/x.png"));
        assert!(!is_public_url("http://dvr.local/x.png"));
        assert!(blank("token", "  ").is_err() && blank("token", "t").is_ok());
    }
}
