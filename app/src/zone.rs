//! Times in the zone the monitor is set to (the `time_zone` setting or `TZ`), the same
//! on the server's render and in the browser. The server sends the zone's offsets in a
//! `<meta name="cw-zone">` tag ([`wire::zone::ZoneRules`]); the browser reads them once
//! before it hydrates, so no zone database is shipped to it and the browser's own zone
//! does not matter.

use std::sync::Arc;

use leptos::prelude::*;
use wire::zone::ZoneRules;

/// The meta tag's name.
pub const META_NAME: &str = "cw-zone";

#[cfg(not(feature = "ssr"))]
thread_local! {
    static RULES: std::cell::RefCell<Arc<ZoneRules>> = std::cell::RefCell::new(Arc::new(ZoneRules::utc()));
}

/// The offsets in force: on the server, the running monitor's; in the browser, what
/// the page was rendered with. UTC when neither is known.
pub fn rules() -> Arc<ZoneRules> {
    #[cfg(feature = "ssr")]
    {
        use_context::<crate::services::SharedServices>()
            .map(|s| s.zone_rules())
            .unwrap_or_else(|| Arc::new(ZoneRules::utc()))
    }
    #[cfg(not(feature = "ssr"))]
    {
        RULES.with(|r| r.borrow().clone())
    }
}

/// Reads the page's zone before hydration (the frontend calls it first).
#[cfg(feature = "hydrate")]
pub fn install_from_page() {
    let content = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| {
            d.query_selector(&format!("meta[name=\"{META_NAME}\"]"))
                .ok()
                .flatten()
        })
        .and_then(|m| m.get_attribute("content"));
    if let Some(rules) = content.and_then(|c| serde_json::from_str::<ZoneRules>(&c).ok()) {
        RULES.with(|r| *r.borrow_mut() = Arc::new(rules));
    }
}

/// The zone's name and offsets for the browser, in the page's head.
#[component]
pub fn ZoneMeta() -> impl IntoView {
    let json = serde_json::to_string(&*rules()).unwrap_or_default();
    view! { <meta name=META_NAME content=json/> }
}

/// `2026-12-05 13:04` in the zone, from an RFC 3339 time; the text as given when it is
/// not one.
pub fn short(rfc3339: &str) -> String {
    match wire::zone::parse_rfc3339(rfc3339) {
        Some(t) => rules().short(t),
        None => rfc3339.to_string(),
    }
}

/// `13:04` in the zone, from an RFC 3339 time.
pub fn clock(rfc3339: &str) -> String {
    match wire::zone::parse_rfc3339(rfc3339) {
        Some(t) => rules().clock(t),
        None => rfc3339.to_string(),
    }
}

/// The zone's name (`America/New_York`), for a caption.
pub fn name() -> String {
    rules().name.clone()
}
