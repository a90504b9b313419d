//! A DVR's API key, kept out of every printed form.

/// A DVR's API key, for DVRs set to require one (sent as `X-API-Key`). Its `Debug`
/// prints `****`, so a record or spec in a log line or panic never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into().trim().to_string())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_set() {
            "ApiKey(****)"
        } else {
            "ApiKey(none)"
        })
    }
}
