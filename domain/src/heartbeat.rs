//! The heartbeat's rules: which push URLs and intervals are accepted, how the URL is
//! shown (never whole: it holds the push service's token), and how an edit combines
//! with what is stored.

use crate::notify::checks::check_url;

/// The default time between pings (healthchecks.io's and Uptime Kuma's default too).
pub const DEFAULT_INTERVAL_SECONDS: u32 = 60;
/// The shortest interval a user may set.
pub const MIN_INTERVAL_SECONDS: u32 = 10;
pub const MAX_INTERVAL_SECONDS: u32 = 86_400;
/// What an answer shows for a stored URL, and what an edit sends to keep it.
pub const MASK: &str = "****";

/// A heartbeat as it will be stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub url: String,
    pub interval_seconds: u32,
    pub enabled: bool,
}

impl std::fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heartbeat")
            .field("url", &masked(&self.url))
            .field("interval_seconds", &self.interval_seconds)
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// `https://hc-ping.com/****`: scheme and host (and port), the rest hidden.
pub fn masked(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}/{MASK}",
                u.scheme(),
                u.host_str().unwrap_or_default()
            )
        }
        Err(_) => MASK.to_string(),
    }
}

/// An edit: any part may be missing. `url` [`MASK`] keeps the stored URL.
#[derive(Debug, Clone, Default)]
pub struct Edit {
    pub url: Option<String>,
    pub interval_seconds: Option<u32>,
    pub enabled: Option<bool>,
}

/// What an edit makes of the stored heartbeat: `Ok(None)` when no URL remains (the
/// heartbeat is off and removed), else the checked heartbeat. `min_interval` is
/// [`MIN_INTERVAL_SECONDS`] except in tests. Errors name the field.
pub fn apply(
    stored: Option<&Heartbeat>,
    edit: &Edit,
    min_interval: u32,
) -> Result<Option<Heartbeat>, String> {
    let url = match edit.url.as_deref().map(str::trim) {
        Some(MASK) => match stored {
            Some(s) => s.url.clone(),
            None => return Err("url: no heartbeat URL is stored yet; give the whole URL".into()),
        },
        Some("") => return Ok(None),
        Some(u) => u.to_string(),
        None => match stored {
            Some(s) => s.url.clone(),
            None => return Ok(None),
        },
    };
    if url.len() > 2048 {
        return Err("url: at most 2048 characters".into());
    }
    check_url("url", &url)?;
    let interval = edit
        .interval_seconds
        .or(stored.map(|s| s.interval_seconds))
        .unwrap_or(DEFAULT_INTERVAL_SECONDS);
    if !(min_interval..=MAX_INTERVAL_SECONDS).contains(&interval) {
        return Err(format!(
            "interval_seconds: must be between {min_interval} and {MAX_INTERVAL_SECONDS}"
        ));
    }
    Ok(Some(Heartbeat {
        url,
        interval_seconds: interval,
        enabled: edit.enabled.or(stored.map(|s| s.enabled)).unwrap_or(true),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://hc-ping.com/6f1c0a52-9f7e-4d8e-b2f4-0c1d2e3f4a5b";

    fn edit(url: Option<&str>, interval: Option<u32>, enabled: Option<bool>) -> Edit {
        Edit {
            url: url.map(str::to_string),
            interval_seconds: interval,
            enabled,
        }
    }

    #[test]
    fn the_url_is_shown_by_its_host_only() {
        assert_eq!(masked(URL), "https://hc-ping.com/****");
        assert_eq!(
            masked("http://kuma.lan:3001/api/push/AbC123?status=up"),
            "http://kuma.lan:3001/****"
        );
        assert_eq!(masked("not a url"), "****");
        let h = Heartbeat {
            url: URL.into(),
            interval_seconds: 60,
            enabled: true,
        };
        assert!(!format!("{h:?}").contains("6f1c0a52"));
    }

    #[test]
    fn edits_keep_the_stored_url_behind_the_mask_and_check_the_rest() {
        let first = apply(None, &edit(Some(URL), None, None), 10)
            .unwrap()
            .unwrap();
        assert_eq!((first.interval_seconds, first.enabled), (60, true));
        let kept = apply(Some(&first), &edit(Some(MASK), Some(30), Some(false)), 10)
            .unwrap()
            .unwrap();
        assert_eq!(kept.url, URL);
        assert_eq!((kept.interval_seconds, kept.enabled), (30, false));
        assert_eq!(
            apply(Some(&first), &edit(None, Some(120), None), 10)
                .unwrap()
                .unwrap()
                .url,
            URL
        );
        assert_eq!(
            apply(Some(&first), &edit(Some(""), None, None), 10),
            Ok(None)
        );
        assert_eq!(apply(None, &edit(None, Some(30), None), 10), Ok(None));
        for (e, field) in [
            (
                edit(Some(MASK), None, None),
                "url: no heartbeat URL is stored",
            ),
            (edit(Some("ftp://x/y"), None, None), "url: must be an http"),
            (
                edit(Some("http://169.254.169.254/x"), None, None),
                "url: 169.254.169.254 is a link-local",
            ),
            (
                edit(Some(URL), Some(5), None),
                "interval_seconds: must be between 10",
            ),
            (edit(Some(URL), Some(100_000), None), "interval_seconds"),
        ] {
            let got = apply(None, &e, 10).unwrap_err();
            assert!(got.starts_with(field), "{got}");
        }
        assert!(
            apply(None, &edit(Some(URL), Some(1), None), 1).is_ok(),
            "tests may go lower"
        );
    }
}
