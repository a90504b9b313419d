//! Channel logos and program art the simulator serves under `/dvr/uploads/<file>`, as a
//! real DVR serves the images its channel list and guide point at. They are drawn as
//! SVG from the channel's call sign or the file's name, so no binary fixtures are
//! needed. A file named `*missing*` is absent on purpose (a DVR whose logo is gone;
//! `fixtures::EXTRA_CHANNELS` points KTTV at one).

use std::hash::{Hash, Hasher};

const COLOURS: [&str; 6] = [
    "#1d4ed8", "#b91c1c", "#047857", "#7c3aed", "#c2410c", "#0f766e",
];

fn colour(seed: &str) -> &'static str {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut h);
    COLOURS[(h.finish() % COLOURS.len() as u64) as usize]
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG for `file`, or `None` when the DVR has no such upload. `channels` are the
/// channel list's (logo URL, call sign) pairs.
pub(crate) fn upload<'a>(
    mut channels: impl Iterator<Item = (&'a str, &'a str)>,
    file: &str,
) -> Option<String> {
    if file.contains("missing") || file.contains('/') || file.contains("..") {
        return None;
    }
    if let Some((_, name)) = channels.find(|(url, _)| url.rsplit('/').next() == Some(file)) {
        return Some(logo(name));
    }
    let stem = file.split('.').next().unwrap_or_default();
    if !file.ends_with(".jpg") || stem.is_empty() {
        return None;
    }
    Some(poster(stem))
}

/// A 160×160 logo: the call sign in white on the channel's colour.
fn logo(call_sign: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 160 160\" width=\"160\" height=\"160\">\
<rect width=\"160\" height=\"160\" rx=\"28\" fill=\"{}\"/>\
<circle cx=\"128\" cy=\"32\" r=\"14\" fill=\"#ffffff\" fill-opacity=\"0.35\"/>\
<text x=\"80\" y=\"92\" text-anchor=\"middle\" font-family=\"sans-serif\" font-weight=\"800\" font-size=\"40\" fill=\"#ffffff\">{}</text></svg>",
        colour(call_sign),
        escape(call_sign)
    )
}

/// A 2:3 poster with the program's name (from the file name: `news.jpg` → "News").
fn poster(stem: &str) -> String {
    let mut title = stem.replace(['-', '_'], " ");
    if let Some(first) = title.get(..1) {
        title = first.to_uppercase() + &title[1..];
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 200 300\" width=\"200\" height=\"300\">\
<rect width=\"200\" height=\"300\" fill=\"{}\"/>\
<rect y=\"200\" width=\"200\" height=\"100\" fill=\"#000000\" fill-opacity=\"0.45\"/>\
<text x=\"100\" y=\"258\" text-anchor=\"middle\" font-family=\"serif\" font-size=\"30\" fill=\"#ffffff\">{}</text></svg>",
        colour(stem),
        escape(&title)
    )
}
