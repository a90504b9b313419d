//! The rules of the image cache: how an image the server learned from a DVR is named,
//! which answers count as images, which cached files go when the cache is over its
//! size cap, and the call-sign placeholder shown when there is no image at all.
//!
//! The browser never loads an image from a DVR: the server fetches it (with the
//! outbound-address rules) and serves it from `/api/v1/images/<key>`, so logos show
//! through a proxy, over HTTPS and when the DVR is away.

use sha2::{Digest, Sha256};

/// The path images are served under.
pub const PATH_PREFIX: &str = "/api/v1/images/";

/// Largest image kept or served (bytes); bigger answers are refused.
pub const MAX_IMAGE_BYTES: usize = 2_500_000;

/// The cache key of an image URL: 32 hex digits of its SHA-256. A key names one URL
/// the server itself learned, so `/api/v1/images/<key>` is never an open proxy.
pub fn key(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    hex::encode(&digest[..16])
}

/// Whether `s` has the shape of a [`key`] (anything else is refused before any lookup).
pub fn is_key(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The local address of an image URL, with the label its placeholder shows.
pub fn local_path(url: &str, label: Option<&str>) -> String {
    let mut out = format!("{PATH_PREFIX}{}", key(url));
    push_label(&mut out, label);
    out
}

/// The address of a placeholder alone (there is no image to fetch).
pub fn placeholder_path(label: &str) -> String {
    let mut out = format!("{PATH_PREFIX}placeholder");
    push_label(&mut out, Some(label));
    out
}

fn push_label(out: &mut String, label: Option<&str>) {
    if let Some(label) = label.map(str::trim).filter(|l| !l.is_empty()) {
        out.push_str("?label=");
        out.extend(percent_encoding::utf8_percent_encode(
            label,
            percent_encoding::NON_ALPHANUMERIC,
        ));
    }
}

/// The media type of an upstream answer when it is an image we serve, normalised
/// (`image/png; charset=x` → `image/png`). Anything else is not cached.
pub fn image_type(content_type: &str) -> Option<&'static str> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    const KNOWN: [&str; 8] = [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/svg+xml",
        "image/x-icon",
        "image/vnd.microsoft.icon",
    ];
    KNOWN.into_iter().find(|k| *k == essence)
}

/// One cached file, as far as eviction needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cached {
    pub key: String,
    pub bytes: u64,
    /// When it was last served or stored (any monotonic order: seconds, ticks).
    pub used: u64,
}

/// The keys to delete so the cache fits in `cap` bytes: least recently used first.
pub fn evict(entries: &[Cached], cap: u64) -> Vec<String> {
    let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
    if total <= cap {
        return Vec::new();
    }
    let mut order: Vec<&Cached> = entries.iter().collect();
    order.sort_by(|a, b| a.used.cmp(&b.used).then_with(|| a.key.cmp(&b.key)));
    let mut out = Vec::new();
    for e in order {
        if total <= cap {
            break;
        }
        total -= e.bytes;
        out.push(e.key.clone());
    }
    out
}

/// Background colours of placeholders: mid tones that read on light and dark pages
/// with white text (contrast ≥ 4.5:1).
const PALETTE: [&str; 6] = [
    "#2f5d8a", "#7a3e8e", "#2e7055", "#8a4b2f", "#4a5568", "#8a2f4b",
];

/// The text a placeholder shows: a call sign's first five letters or a name's
/// initials, so it always fits its square.
pub fn placeholder_text(label: &str) -> String {
    let label = label.trim();
    let words: Vec<&str> = label.split_whitespace().collect();
    // Names of several words: their initials ("Pluto TV News" → "PTN").
    let initials: String = words
        .iter()
        .filter_map(|w| w.chars().next())
        .filter(|c| c.is_alphanumeric())
        .take(4)
        .collect();
    let pick = if words.len() > 1 && initials.chars().count() >= 2 {
        initials
    } else {
        // One word (a call sign): its first letters.
        words
            .first()
            .copied()
            .unwrap_or_default()
            .chars()
            .take(5)
            .collect()
    };
    let pick = pick.to_uppercase();
    if pick.is_empty() {
        "TV".into()
    } else {
        pick
    }
}

/// A square SVG showing `label` (a call sign or title) on a colour chosen by the label,
/// so the same channel always looks the same.
pub fn placeholder_svg(label: &str) -> String {
    let text = placeholder_text(label);
    let colour = PALETTE[Sha256::digest(text.as_bytes())[0] as usize % PALETTE.len()];
    let size = match text.chars().count() {
        0..=2 => 34,
        3 => 28,
        4 => 22,
        _ => 18,
    };
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 80 80\" width=\"80\" height=\"80\" role=\"img\" aria-label=\"{label}\">\
<rect width=\"80\" height=\"80\" rx=\"12\" fill=\"{colour}\"/>\
<text x=\"40\" y=\"40\" dy=\"0.35em\" text-anchor=\"middle\" font-family=\"system-ui,sans-serif\" font-weight=\"700\" font-size=\"{size}\" fill=\"#ffffff\">{text}</text></svg>",
        label = xml_escape(label.trim()),
        text = xml_escape(&text),
    )
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_hex_and_checked() {
        let k = key("http://dvr:8089/dvr/uploads/ch7.png");
        assert_eq!(k, key("http://dvr:8089/dvr/uploads/ch7.png"));
        assert_ne!(k, key("http://dvr:8089/dvr/uploads/ch9.png"));
        assert!(is_key(&k));
        assert!(!is_key("../../etc/passwd"));
        assert!(!is_key(&k.to_uppercase()));
        assert!(!is_key(&k[..31]));
    }

    #[test]
    fn local_paths_carry_an_encoded_label() {
        let p = local_path("http://x/a.png", Some("Pluto TV & News"));
        assert!(p.starts_with("/api/v1/images/"));
        assert!(p.ends_with("?label=Pluto%20TV%20%26%20News"), "{p}");
        assert!(!local_path("http://x/a.png", Some("  ")).contains('?'));
        assert_eq!(
            placeholder_path("KTLA"),
            "/api/v1/images/placeholder?label=KTLA"
        );
        assert!(!is_key("placeholder"));
    }

    #[test]
    fn only_image_types_are_kept() {
        assert_eq!(image_type("image/PNG; charset=binary"), Some("image/png"));
        assert_eq!(image_type("image/svg+xml"), Some("image/svg+xml"));
        assert_eq!(image_type("text/html"), None);
        assert_eq!(image_type("image/x-unknown"), None);
        assert_eq!(image_type(""), None);
    }

    #[test]
    fn eviction_removes_least_recently_used_until_under_the_cap() {
        let e = |k: &str, bytes, used| Cached {
            key: k.into(),
            bytes,
            used,
        };
        let entries = [e("a", 40, 3), e("b", 40, 1), e("c", 40, 2)];
        assert!(evict(&entries, 120).is_empty());
        assert_eq!(evict(&entries, 100), vec!["b"]);
        assert_eq!(evict(&entries, 40), vec!["b", "c"]);
        assert_eq!(evict(&entries, 0), vec!["b", "c", "a"]);
    }

    #[test]
    fn placeholders_show_a_short_label_and_escape_it() {
        assert_eq!(placeholder_text("KTLA"), "KTLA");
        assert_eq!(placeholder_text("Pluto TV News"), "PTN");
        assert_eq!(placeholder_text("abc"), "ABC");
        assert_eq!(placeholder_text("Supercalifragilistic"), "SUPER");
        assert_eq!(placeholder_text("  "), "TV");
        let svg = placeholder_svg("<script>&");
        assert!(svg.starts_with("<svg"));
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;"));
        // The same label always gets the same colour.
        assert_eq!(placeholder_svg("KTLA"), placeholder_svg("KTLA"));
    }
}
