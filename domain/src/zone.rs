//! The time zone people read times in: alert texts, the web app, statistics by day
//! and hour, calendar feeds. The zone database ships inside the binary (`chrono-tz`),
//! so a minimal container without `/usr/share/zoneinfo` gets the same answers as a
//! full host, and daylight-saving changes come from the database, not the host.

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use wire::zone::{ZoneRules, ZoneSpan};

/// A zone from the IANA database (`America/New_York`, `Europe/Berlin`, `UTC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(Tz);

/// Where the zone in force came from, shown beside it in Settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The `time_zone` setting.
    Setting,
    /// The `TZ` environment variable.
    Env,
    /// The host's own zone (`/etc/localtime`).
    Host,
    /// Nothing named one: UTC.
    Default,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Setting => "setting",
            Source::Env => "env",
            Source::Host => "host",
            Source::Default => "default",
        }
    }
}

/// The zone in force, where it came from, and a warning when a zone was named but is
/// not in the database (and so was passed over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub zone: Zone,
    pub source: Source,
    pub warning: Option<String>,
}

impl Default for Zone {
    fn default() -> Self {
        Zone::UTC
    }
}

impl Zone {
    pub const UTC: Zone = Zone(Tz::UTC);

    /// A zone by its IANA name, any case. A POSIX `TZ` value's leading `:` is allowed
    /// (`:Europe/Paris`); an empty name is not a zone.
    pub fn parse(name: &str) -> Result<Zone, String> {
        let n = name.trim();
        let n = n.strip_prefix(':').unwrap_or(n);
        if n.is_empty() {
            return Err("is empty; give an IANA zone name such as America/New_York".into());
        }
        n.parse::<Tz>()
            .or_else(|_| Tz::from_str_insensitive(n))
            .map(Zone)
            .map_err(|_| {
                format!(
                    "'{}' is not a time zone; give an IANA zone name such as America/New_York",
                    crate::text::outside_text(n, 60)
                )
            })
    }

    /// The zone in force: the setting when one is set, else `TZ`, else the host's zone,
    /// else UTC. A name that is not a zone is passed over with a warning, so a typo never
    /// stops the monitor.
    pub fn resolve(setting: Option<&str>, tz_env: Option<&str>, host: Option<&str>) -> Resolved {
        let mut warnings = Vec::new();
        for (value, source, what) in [
            (setting, Source::Setting, "the time_zone setting"),
            (tz_env, Source::Env, "TZ"),
            (host, Source::Host, "the host's zone"),
        ] {
            let Some(v) = value.filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            match Zone::parse(v) {
                Ok(zone) => {
                    return Resolved {
                        zone,
                        source,
                        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
                    }
                }
                Err(e) => warnings.push(format!("{what}: {e}")),
            }
        }
        Resolved {
            zone: Zone::UTC,
            source: Source::Default,
            warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
        }
    }

    /// The IANA name (`America/New_York`).
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// Every zone name in the database, for a picker.
    pub fn names() -> impl Iterator<Item = &'static str> {
        chrono_tz::TZ_VARIANTS.iter().map(|t| t.name())
    }

    pub fn local(self, t: DateTime<Utc>) -> DateTime<Tz> {
        t.with_timezone(&self.0)
    }

    /// `2026-04-19 10:30:00 EDT`: a full time in an alert text.
    pub fn date_time(self, t: DateTime<Utc>) -> String {
        self.local(t).format("%Y-%m-%d %H:%M:%S %Z").to_string()
    }

    /// `2026-04-19 10:30`: a time in a list.
    pub fn short(self, t: DateTime<Utc>) -> String {
        self.local(t).format("%Y-%m-%d %H:%M").to_string()
    }

    /// `8:54 PM`: the clock time alone.
    pub fn clock(self, t: DateTime<Utc>) -> String {
        let s = self.local(t).format("%I:%M %p").to_string();
        s.trim_start_matches('0').to_string()
    }

    /// `Today at 8:54 PM`, `Tomorrow at …`, or `Apr 21, 2026 at …`, seen from `now`,
    /// both days read in this zone.
    pub fn friendly(self, t: DateTime<Utc>, now: DateTime<Utc>) -> String {
        let day = self.local(t).date_naive();
        let today = self.local(now).date_naive();
        let label = if day == today {
            "Today".to_string()
        } else if Some(day) == today.succ_opt() {
            "Tomorrow".to_string()
        } else {
            self.local(t).format("%b %d, %Y").to_string()
        };
        format!("{label} at {}", self.clock(t))
    }

    /// The day `t` falls on here.
    pub fn date(self, t: DateTime<Utc>) -> NaiveDate {
        self.local(t).date_naive()
    }

    /// Day of the week (0 = Monday) and hour of the day `t` falls on here.
    pub fn weekday_hour(self, t: DateTime<Utc>) -> (usize, usize) {
        let l = self.local(t);
        (
            l.weekday().num_days_from_monday() as usize,
            l.hour() as usize,
        )
    }

    /// Day of the week (0 = Monday) and minute of the day `t` falls on here.
    pub fn weekday_minute(self, t: DateTime<Utc>) -> (usize, u32) {
        let l = self.local(t);
        (
            l.weekday().num_days_from_monday() as usize,
            l.hour() * 60 + l.minute(),
        )
    }

    /// The instant `day` begins here. Where midnight does not exist (a DST change at
    /// midnight), the first instant of the day that does.
    pub fn day_start(self, day: NaiveDate) -> DateTime<Utc> {
        let mut t = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        for _ in 0..24 {
            match self.0.from_local_datetime(&t) {
                LocalResult::Single(l) | LocalResult::Ambiguous(l, _) => return l.to_utc(),
                LocalResult::None => t += chrono::Duration::minutes(30),
            }
        }
        t.and_utc()
    }

    /// This zone's offsets from `years_back` years before `now` to `years_ahead` after,
    /// for the web app ([`wire::zone::ZoneRules`]). Offsets are read twice a day and each
    /// change is narrowed down to the second; zones change at most a few times a year.
    pub fn rules(self, now: DateTime<Utc>, years_back: i64, years_ahead: i64) -> ZoneRules {
        const STEP: i64 = 12 * 3600;
        let offset = |t: i64| DateTime::from_timestamp(t, 0).map_or(0, |t| self.offset_seconds(t));
        let start = now.timestamp() - years_back * 366 * 86_400;
        let end = now.timestamp() + years_ahead * 366 * 86_400;
        let mut spans = vec![ZoneSpan {
            from: start,
            offset: offset(start),
        }];
        let mut t = start;
        while t < end {
            let next = t + STEP;
            let (before, after) = (offset(t), offset(next));
            if before != after {
                // The first second with the new offset.
                let (mut lo, mut hi) = (t, next);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if offset(mid) == before {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                spans.push(ZoneSpan {
                    from: hi,
                    offset: after,
                });
            }
            t = next;
        }
        ZoneRules {
            name: self.name().to_string(),
            spans,
        }
    }

    /// Seconds this zone is ahead of UTC at `t` (negative west of Greenwich).
    pub fn offset_seconds(self, t: DateTime<Utc>) -> i32 {
        use chrono::Offset;
        self.local(t).offset().fix().local_minus_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn names_parse_in_any_case_and_with_a_posix_colon() {
        assert_eq!(
            Zone::parse("America/New_York").unwrap().name(),
            "America/New_York"
        );
        assert_eq!(
            Zone::parse("america/new_york").unwrap().name(),
            "America/New_York"
        );
        assert_eq!(Zone::parse(":Europe/Paris").unwrap().name(), "Europe/Paris");
        assert_eq!(Zone::parse("UTC").unwrap(), Zone::UTC);
        let e = Zone::parse("Mars/Olympus").unwrap_err();
        assert!(e.contains("'Mars/Olympus' is not a time zone"), "{e}");
        assert!(Zone::parse(" ").is_err());
        assert!(Zone::names().any(|n| n == "Australia/Lord_Howe"));
    }

    #[test]
    fn the_setting_wins_then_tz_then_the_host_and_typos_are_passed_over_aloud() {
        let r = Zone::resolve(Some("Europe/Berlin"), Some("America/Chicago"), Some("UTC"));
        assert_eq!(
            (r.zone.name(), r.source),
            ("Europe/Berlin", Source::Setting)
        );
        let r = Zone::resolve(Some(""), Some("America/Chicago"), Some("UTC"));
        assert_eq!((r.zone.name(), r.source), ("America/Chicago", Source::Env));
        let r = Zone::resolve(None, None, Some("Asia/Tokyo"));
        assert_eq!((r.zone.name(), r.source), ("Asia/Tokyo", Source::Host));
        assert_eq!(r.warning, None);
        let r = Zone::resolve(None, Some("Amerca/Chicago"), Some("Asia/Tokyo"));
        assert_eq!((r.zone.name(), r.source), ("Asia/Tokyo", Source::Host));
        assert!(r.warning.unwrap().starts_with("TZ: 'Amerca/Chicago'"));
        let r = Zone::resolve(None, None, None);
        assert_eq!(
            (r.zone, r.source, r.warning),
            (Zone::UTC, Source::Default, None)
        );
    }

    /// New York leaves daylight time on 2026-11-01 at 2:00 (clocks go back to 1:00)
    /// and enters it on 2026-03-08 at 2:00 (clocks jump to 3:00).
    #[test]
    fn daylight_saving_changes_come_from_the_bundled_database() {
        let ny = Zone::parse("America/New_York").unwrap();
        assert_eq!(
            ny.date_time(at("2026-11-01T05:30:00Z")),
            "2026-11-01 01:30:00 EDT"
        );
        assert_eq!(
            ny.date_time(at("2026-11-01T06:30:00Z")),
            "2026-11-01 01:30:00 EST"
        );
        assert_eq!(ny.clock(at("2026-03-08T06:59:00Z")), "1:59 AM");
        assert_eq!(ny.clock(at("2026-03-08T07:00:00Z")), "3:00 AM");
        assert_eq!(ny.offset_seconds(at("2026-07-01T00:00:00Z")), -4 * 3600);
        assert_eq!(ny.offset_seconds(at("2026-12-01T00:00:00Z")), -5 * 3600);
        // The day the clocks go back is 25 hours long.
        let d = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let len = ny.day_start(d.succ_opt().unwrap()) - ny.day_start(d);
        assert_eq!(len.num_hours(), 25);
        assert_eq!(ny.weekday_hour(at("2026-11-02T04:30:00Z")), (6, 23));
        assert_eq!(
            ny.weekday_minute(at("2026-11-02T04:30:00Z")),
            (6, 23 * 60 + 30)
        );
    }

    #[test]
    fn the_rules_sent_to_the_web_app_agree_with_the_database() {
        let ny = Zone::parse("America/New_York").unwrap();
        let now = at("2026-12-05T12:00:00Z");
        let rules = ny.rules(now, 2, 1);
        assert_eq!(rules.name, "America/New_York");
        // Two changes a year over three years, give or take the ends.
        assert!((5..=8).contains(&rules.spans.len()), "{:?}", rules.spans);
        let change = wire::zone::parse_rfc3339("2026-11-01T06:00:00Z").unwrap();
        assert!(rules
            .spans
            .iter()
            .any(|s| s.from == change && s.offset == -5 * 3600));
        for t in (now.timestamp() - 700 * 86_400..now.timestamp() + 300 * 86_400).step_by(3_607) {
            let at = DateTime::from_timestamp(t, 0).unwrap();
            assert_eq!(rules.offset_at(t), ny.offset_seconds(at), "at {at}");
            assert_eq!(rules.short(t), ny.short(at), "at {at}");
        }
        assert_eq!(Zone::UTC.rules(now, 5, 2).spans.len(), 1);
    }

    #[test]
    fn a_day_that_starts_without_a_midnight_starts_at_its_first_hour() {
        // Santiago enters daylight time at midnight: 2026-09-06 00:00 does not exist.
        let cl = Zone::parse("America/Santiago").unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        assert_eq!(cl.short(cl.day_start(d)), "2026-09-06 01:00");
    }

    #[test]
    fn friendly_days_are_read_in_the_zone_not_in_utc() {
        let la = Zone::parse("America/Los_Angeles").unwrap();
        // 02:00 UTC on the 20th is still the evening of the 19th in Los Angeles.
        let now = at("2026-04-20T02:00:00Z");
        assert_eq!(
            la.friendly(at("2026-04-20T03:54:00Z"), now),
            "Today at 8:54 PM"
        );
        assert_eq!(
            la.friendly(at("2026-04-20T16:00:00Z"), now),
            "Tomorrow at 9:00 AM"
        );
        assert_eq!(
            la.friendly(at("2026-04-22T16:00:00Z"), now),
            "Apr 22, 2026 at 9:00 AM"
        );
        assert_eq!(
            Zone::UTC.friendly(at("2026-04-20T03:54:00Z"), now),
            "Today at 3:54 AM"
        );
    }
}
