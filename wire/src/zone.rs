//! A time zone's offsets over a span of years, so the web app shows times in the
//! user's zone without shipping the zone database to the browser (the server computes
//! the spans from its bundled database). The calendar arithmetic is written out here
//! rather than pulled from a date crate: it is a few lines, and the browser bundle
//! stays small.

use serde::{Deserialize, Serialize};

/// Offsets from UTC over time: `spans[i]` holds from its `from` until the next span.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ZoneRules {
    /// The IANA name (`America/New_York`).
    pub name: String,
    /// Sorted by `from`; before the first span, the first span's offset holds.
    pub spans: Vec<ZoneSpan>,
}

/// From `from` (unix seconds) on, local time is UTC plus `offset` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneSpan {
    pub from: i64,
    pub offset: i32,
}

impl ZoneRules {
    /// UTC: no offset, ever.
    pub fn utc() -> Self {
        ZoneRules {
            name: "UTC".into(),
            spans: vec![ZoneSpan { from: 0, offset: 0 }],
        }
    }

    /// Seconds ahead of UTC at unix time `t`.
    pub fn offset_at(&self, t: i64) -> i32 {
        let i = self.spans.partition_point(|s| s.from <= t);
        self.spans.get(i.saturating_sub(1)).map_or(0, |s| s.offset)
    }

    /// `2026-12-05 13:04`: unix time `t` as a local date and time.
    pub fn short(&self, t: i64) -> String {
        let (y, mo, d, h, mi) = civil(t + i64::from(self.offset_at(t)));
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}")
    }

    /// `13:04`: the local clock time alone.
    pub fn clock(&self, t: i64) -> String {
        let (_, _, _, h, mi) = civil(t + i64::from(self.offset_at(t)));
        format!("{h:02}:{mi:02}")
    }
}

/// `(year, month, day, hour, minute)` of unix seconds (the days-to-civil algorithm
/// from Howard Hinnant's `chrono`-compatible date library).
fn civil(t: i64) -> (i64, u32, u32, u32, u32) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, (secs / 3600) as u32, ((secs / 60) % 60) as u32)
}

/// Unix seconds of an RFC 3339 time (`2026-12-05T18:04:00Z`, `…+01:00`, fractions
/// allowed); `None` when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits = |part: Option<&str>| -> Option<i64> {
        let part = part?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let num = |r: std::ops::Range<usize>| digits(s.get(r));
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.get(3..4) == Some(":") => {
            let sign = match rest.get(..1) {
                Some("+") => 1,
                Some("-") => -1,
                _ => return None,
            };
            sign * (digits(rest.get(1..3))? * 3600 + digits(rest.get(4..6))? * 60)
        }
        _ => return None,
    };
    // Days from civil (the inverse of `civil`).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// New York around the autumn 2026 change: EDT until 06:00 UTC on 1 November.
    fn new_york() -> ZoneRules {
        ZoneRules {
            name: "America/New_York".into(),
            spans: vec![
                ZoneSpan {
                    from: 1_773_903_600 - 10 * 86_400,
                    offset: -4 * 3600,
                },
                ZoneSpan {
                    from: 1_793_512_800,
                    offset: -5 * 3600,
                },
            ],
        }
    }

    #[test]
    fn rfc3339_times_parse_with_any_offset() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-01T06:00:00Z"), Some(1_793_512_800));
        assert_eq!(
            parse_rfc3339("2026-11-01T01:00:00.250-05:00"),
            Some(1_793_512_800)
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T12:00:00+01:00"),
            Some(951_822_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1));
        for bad in [
            "",
            "2026-11-01",
            "2026-13-01T00:00:00Z",
            "2026-11-01T00:00:00",
            "2026-11-01T00:00:00+0500",
            "2026-1x-01T00:00:00Z",
            "2026-11-01T00:00:00Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn local_times_follow_the_spans_across_a_dst_change() {
        let ny = new_york();
        let at = |s| parse_rfc3339(s).unwrap();
        assert_eq!(ny.short(at("2026-11-01T05:30:00Z")), "2026-11-01 01:30");
        assert_eq!(ny.short(at("2026-11-01T06:30:00Z")), "2026-11-01 01:30");
        assert_eq!(ny.short(at("2026-11-01T03:59:00Z")), "2026-10-31 23:59");
        assert_eq!(ny.clock(at("2026-12-05T18:04:00Z")), "13:04");
        // Before the first span: its offset.
        assert_eq!(ny.offset_at(0), -4 * 3600);
        assert_eq!(
            ZoneRules::utc().short(at("2024-02-29T23:59:59Z")),
            "2024-02-29 23:59"
        );
        assert_eq!(ZoneRules::default().offset_at(5), 0);
    }
}
