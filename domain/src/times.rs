//! Times as the API writes them: RFC 3339 in UTC, to the second.

use chrono::{DateTime, SecondsFormat, Utc};

/// `2026-12-05T18:04:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// [`rfc3339`] of unix seconds (out of range: the epoch).
pub fn rfc3339_secs(secs: i64) -> String {
    rfc3339(DateTime::from_timestamp(secs, 0).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_zulu() {
        assert_eq!(rfc3339_secs(3600), "1970-01-01T01:00:00Z");
        assert_eq!(rfc3339_secs(i64::MAX), "1970-01-01T00:00:00Z");
    }
}
