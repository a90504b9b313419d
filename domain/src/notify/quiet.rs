//! Quiet hours, maintenance windows and snoozes: when an alert is recorded and shown
//! but not sent. A quiet period is a weekly schedule in the monitor's zone for some
//! DVRs and kinds; health alerts may break through it. A maintenance window silences
//! every alert of its DVRs and also keeps their staleness out of the banner and of
//! readiness. A snooze silences a DVR, a kind, or both until a moment. Alerts held
//! back by a source that asks for a digest are summed up once nothing holds them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rules::{check_kinds, kinds_match, minutes, DAYS};

/// What a period does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Alerts of its DVRs and kinds are not sent.
    #[default]
    Quiet,
    /// Nothing of its DVRs is sent, and they are not called stale.
    Maintenance,
}

/// A weekly period, as stored and as the API takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub mode: Mode,
    /// DVR ids; empty: every DVR.
    #[serde(default)]
    pub dvrs: Vec<String>,
    /// Categories or event types; empty: every kind. Quiet periods only.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// `mon`…`sun` the period starts on; empty: every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// `HH:MM` local; the period runs to `to`, across midnight when `to` is earlier
    /// (into the next day), and all day when they are equal.
    pub from: String,
    pub to: String,
    /// Send one summary of what it held back once it is over.
    #[serde(default)]
    pub digest: bool,
    /// Health alerts (a DVR unreachable, recovered) are sent anyway. Quiet periods only.
    #[serde(default)]
    pub health_breaks_through: bool,
}

fn yes() -> bool {
    true
}

/// A snooze: alerts of a DVR (or every DVR) and a kind (or every kind) are not sent
/// before `until`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snooze {
    #[serde(default)]
    pub id: i64,
    pub dvr_id: Option<String>,
    /// A category or an event type.
    pub kind: Option<String>,
    pub until: DateTime<Utc>,
    #[serde(default)]
    pub digest: bool,
    /// Where it was asked: `dashboard`, `api` or `link` (a notification's link).
    #[serde(default)]
    pub source: String,
    pub created_at: DateTime<Utc>,
}

/// The longest snooze.
pub const MAX_SNOOZE_HOURS: f64 = 24.0 * 30.0;

/// What an alert offers: its DVR and kind.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub dvr_id: &'a str,
    pub event_type: &'a str,
    pub category: Option<&'a str>,
}

/// Why an alert is held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hush {
    /// One of the sources asks for a digest.
    pub digest: bool,
    /// The sources, for the log and the history (`quiet hours 'Night'`).
    pub reason: String,
}

impl Period {
    /// Checks what serde cannot; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.len() > 100 {
            return Err("name: at most 100 characters".into());
        }
        for (field, v) in [("from", &self.from), ("to", &self.to)] {
            if minutes(v).is_none() {
                return Err(format!("{field}: HH:MM, like 22:30"));
            }
        }
        if let Some(d) = self.days.iter().find(|d| !DAYS.contains(&d.as_str())) {
            return Err(format!("days: '{d}' is not one of {}", DAYS.join(", ")));
        }
        check_kinds(&self.kinds)?;
        if self.mode == Mode::Maintenance {
            if !self.kinds.is_empty() {
                return Err(
                    "kinds: a maintenance window silences every alert of its DVRs; kinds are for quiet hours"
                        .into(),
                );
            }
            if self.health_breaks_through {
                return Err("health_breaks_through: quiet hours only; a maintenance window silences health alerts too".into());
            }
        }
        if [&self.dvrs, &self.kinds]
            .iter()
            .any(|l| l.len() > 200 || l.iter().any(|x| x.len() > 120))
        {
            return Err("a list holds at most 200 entries of at most 120 characters".into());
        }
        Ok(())
    }

    /// Whether the period is on at the local `(weekday, minute)` (0 = Monday). One that
    /// crosses midnight belongs to the day it starts on.
    pub fn covers(&self, (weekday, minute): (usize, u32)) -> bool {
        if !self.enabled {
            return false;
        }
        let (Some(from), Some(to)) = (minutes(&self.from), minutes(&self.to)) else {
            return false;
        };
        let starts_on =
            |day: usize| self.days.is_empty() || self.days.iter().any(|d| DAYS[day] == d);
        let yesterday = (weekday + 6) % 7;
        if from < to {
            starts_on(weekday) && (from..to).contains(&minute)
        } else if from == to {
            starts_on(weekday)
        } else {
            (starts_on(weekday) && minute >= from) || (starts_on(yesterday) && minute < to)
        }
    }

    fn for_dvr(&self, dvr_id: &str) -> bool {
        self.dvrs.is_empty() || self.dvrs.iter().any(|d| d == dvr_id)
    }

    /// How the history and the log name it.
    pub fn label(&self) -> String {
        let what = match self.mode {
            Mode::Quiet => "quiet hours",
            Mode::Maintenance => "maintenance",
        };
        if self.name.is_empty() {
            format!("{what} {}–{}", self.from, self.to)
        } else {
            format!("{what} '{}'", self.name)
        }
    }
}

impl Snooze {
    /// Checks the kind (the DVR is the caller's to check).
    pub fn validate(&self) -> Result<(), String> {
        if let Some(k) = &self.kind {
            check_kinds(std::slice::from_ref(k))?;
        }
        Ok(())
    }

    /// Whether it holds `a` back at `now`.
    pub fn holds(&self, a: &Subject, now: DateTime<Utc>) -> bool {
        now < self.until
            && self.dvr_id.as_deref().is_none_or(|d| d == a.dvr_id)
            && self
                .kind
                .as_ref()
                .is_none_or(|k| kinds_match(std::slice::from_ref(k), a.event_type, a.category))
    }
}

/// Whether `a` is held back at `now` (`local` is now's weekday and minute in the
/// monitor's zone), and by what.
pub fn hush(
    periods: &[Period],
    snoozes: &[Snooze],
    a: &Subject,
    local: (usize, u32),
    now: DateTime<Utc>,
) -> Option<Hush> {
    let health = a.category == Some("health");
    let mut reasons = Vec::new();
    let mut digest = false;
    for p in periods {
        let applies = p.for_dvr(a.dvr_id)
            && match p.mode {
                Mode::Maintenance => true,
                Mode::Quiet => {
                    kinds_match(&p.kinds, a.event_type, a.category)
                        && !(health && p.health_breaks_through)
                }
            };
        if applies && p.covers(local) {
            reasons.push(p.label());
            digest |= p.digest;
        }
    }
    for s in snoozes.iter().filter(|s| s.holds(a, now)) {
        reasons.push(format!("snoozed until {}", crate::times::rfc3339(s.until)));
        digest |= s.digest;
    }
    (!reasons.is_empty()).then(|| Hush {
        digest,
        reason: reasons.join(", "),
    })
}

/// The maintenance window `dvr_id` is in at `local`, if any.
pub fn maintenance<'a>(
    periods: &'a [Period],
    dvr_id: &str,
    local: (usize, u32),
) -> Option<&'a Period> {
    periods
        .iter()
        .find(|p| p.mode == Mode::Maintenance && p.for_dvr(dvr_id) && p.covers(local))
}

/// The most alerts a digest lists one by one.
pub const DIGEST_LINES: usize = 50;

/// One held-back alert in a digest: its local time, its title and its message.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub at: String,
    pub title: String,
    pub message: String,
}

/// The most characters of a message's first line a digest shows.
const DETAIL_CHARS: usize = 120;

/// The digest of what a DVR's quiet time held back from one destination: a title and
/// one line per alert (the newest last: its time, title and the first line of its
/// message), at most [`DIGEST_LINES`] of them.
pub fn digest(dvr_name: &str, held: &[Held]) -> (String, String) {
    let n = held.len();
    let title = format!(
        "{dvr_name}: {n} alert{} while quiet",
        if n == 1 { "" } else { "s" }
    );
    let mut lines: Vec<String> = held
        .iter()
        .take(DIGEST_LINES)
        .map(|h| {
            let detail: String = h
                .message
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or_default()
                .chars()
                .take(DETAIL_CHARS)
                .collect();
            if detail.is_empty() {
                format!("{} · {}", h.at, h.title)
            } else {
                format!("{} · {} · {detail}", h.at, h.title)
            }
        })
        .collect();
    if n > DIGEST_LINES {
        lines.push(format!(
            "…and {} more (see the alert history)",
            n - DIGEST_LINES
        ));
    }
    (title, lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::Zone;

    fn period(f: impl FnOnce(&mut Period)) -> Period {
        let mut p = Period {
            id: 1,
            name: "Night".into(),
            enabled: true,
            mode: Mode::Quiet,
            dvrs: vec![],
            kinds: vec![],
            days: vec![],
            from: "22:00".into(),
            to: "07:00".into(),
            digest: false,
            health_breaks_through: false,
        };
        f(&mut p);
        p
    }

    const REC: Subject = Subject {
        dvr_id: "aaaa0001",
        event_type: "recording.started",
        category: Some("recording"),
    };
    const DOWN: Subject = Subject {
        dvr_id: "aaaa0001",
        event_type: "dvr.unreachable",
        category: Some("health"),
    };

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_period_across_midnight_belongs_to_the_day_it_starts() {
        // Fridays from 22:00: Friday 23:00 and Saturday 06:59, not Friday 06:00 (that is
        // Thursday's night) nor Saturday 22:00.
        let p = period(|p| p.days = vec!["fri".into()]);
        assert!(p.covers((4, 23 * 60)));
        assert!(p.covers((5, 6 * 60 + 59)));
        assert!(!p.covers((5, 7 * 60)));
        assert!(!p.covers((4, 6 * 60)));
        assert!(!p.covers((5, 22 * 60)));
        // Sunday night runs into Monday morning.
        let sun = period(|p| p.days = vec!["sun".into()]);
        assert!(sun.covers((0, 60)));
        // Within one day, and all day.
        let day = period(|p| {
            p.from = "09:00".into();
            p.to = "17:00".into();
        });
        assert!(day.covers((2, 9 * 60)) && !day.covers((2, 17 * 60)));
        let all = period(|p| {
            p.from = "00:00".into();
            p.to = "00:00".into();
            p.days = vec!["sat".into()];
        });
        assert!(all.covers((5, 0)) && all.covers((5, 1439)) && !all.covers((6, 0)));
        assert!(!period(|p| p.enabled = false).covers((4, 23 * 60)));
    }

    #[test]
    fn quiet_hours_follow_the_local_clock_across_a_dst_change() {
        // 22:00–07:00 in New York. 2026-11-01 is the night clocks go back: 10:30 UTC is
        // 05:30 EST (quiet), 12:30 UTC is 07:30 EST (not). A week earlier (EDT) 10:30
        // UTC is 06:30 EDT (quiet) and 11:30 UTC is 07:30 EDT (not).
        let ny = Zone::parse("America/New_York").unwrap();
        let p = [period(|_| {})];
        let quiet_at = |t: &str| hush(&p, &[], &REC, ny.weekday_minute(at(t)), at(t)).is_some();
        assert!(quiet_at("2026-11-01T10:30:00Z"));
        assert!(!quiet_at("2026-11-01T12:30:00Z"));
        assert!(quiet_at("2026-10-25T10:30:00Z"));
        assert!(!quiet_at("2026-10-25T11:30:00Z"));
        // The same UTC instant, 11:30, is quiet after the change (06:30 EST) but not
        // before it (07:30 EDT).
        assert!(quiet_at("2026-11-01T11:30:00Z"));
        // Spring forward (2026-03-08, 02:00 → 03:00): the night still ends at 07:00 EDT.
        assert!(quiet_at("2026-03-08T10:59:00Z"));
        assert!(!quiet_at("2026-03-08T11:00:00Z"));
    }

    #[test]
    fn dvrs_kinds_and_health_break_through() {
        let now = at("2026-12-04T23:00:00Z");
        let late = (4, 23 * 60);
        let only_other = [period(|p| p.dvrs = vec!["bbbb0002".into()])];
        assert_eq!(hush(&only_other, &[], &REC, late, now), None);
        let only_vod = [period(|p| p.kinds = vec!["vod".into()])];
        assert_eq!(hush(&only_vod, &[], &REC, late, now), None);
        let rec_types = [period(|p| p.kinds = vec!["recording.started".into()])];
        assert!(hush(&rec_types, &[], &REC, late, now).is_some());
        let through = [period(|p| {
            p.health_breaks_through = true;
            p.digest = true;
        })];
        assert_eq!(hush(&through, &[], &DOWN, late, now), None);
        let h = hush(&through, &[], &REC, late, now).unwrap();
        assert!(h.digest);
        assert_eq!(h.reason, "quiet hours 'Night'");
        // Maintenance silences health alerts too.
        let m = [period(|p| p.mode = Mode::Maintenance)];
        assert!(hush(&m, &[], &DOWN, late, now).is_some());
        assert_eq!(maintenance(&m, "aaaa0001", late).unwrap().id, 1);
        assert!(maintenance(&m, "aaaa0001", (4, 12 * 60)).is_none());
        assert!(maintenance(&through, "aaaa0001", late).is_none());
    }

    #[test]
    fn snoozes_hold_their_dvr_and_kind_until_they_end() {
        let now = at("2026-12-04T12:00:00Z");
        let noon = (4, 12 * 60);
        let snooze = |dvr: Option<&str>, kind: Option<&str>| Snooze {
            id: 1,
            dvr_id: dvr.map(str::to_string),
            kind: kind.map(str::to_string),
            until: at("2026-12-04T14:00:00Z"),
            digest: false,
            source: "api".into(),
            created_at: now,
        };
        let s = [snooze(Some("aaaa0001"), None)];
        assert!(hush(&[], &s, &REC, noon, now).is_some());
        assert!(hush(&[], &s, &DOWN, noon, now).is_some());
        assert_eq!(
            hush(&[], &s, &REC, noon, at("2026-12-04T14:00:00Z")),
            None,
            "over at its end"
        );
        let other = Subject {
            dvr_id: "bbbb0002",
            ..REC
        };
        assert_eq!(hush(&[], &s, &other, noon, now), None);
        let kind = [snooze(None, Some("recording"))];
        assert!(hush(&[], &kind, &other, noon, now).is_some());
        assert_eq!(hush(&[], &kind, &DOWN, noon, now), None);
        assert!(snooze(None, Some("nonsense")).validate().is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |f: fn(&mut Period)| period(f).validate().unwrap_err();
        assert!(bad(|p| p.from = "25:00".into()).starts_with("from:"));
        assert!(bad(|p| p.days = vec!["friday".into()]).starts_with("days:"));
        assert!(bad(|p| p.kinds = vec!["x".into()]).starts_with("kinds:"));
        assert!(bad(|p| {
            p.mode = Mode::Maintenance;
            p.kinds = vec!["vod".into()];
        })
        .starts_with("kinds:"));
        assert!(bad(|p| {
            p.mode = Mode::Maintenance;
            p.health_breaks_through = true;
        })
        .starts_with("health_breaks_through:"));
        assert!(period(|_| {}).validate().is_ok());
    }

    #[test]
    fn a_digest_lists_what_was_held_back() {
        let held: Vec<Held> = (0..52)
            .map(|i| Held {
                at: format!("1:{i:02} AM"),
                title: format!("Recording started: Show {i}"),
                message: if i == 0 {
                    String::new()
                } else {
                    format!("\n  Channel {i}\nmore")
                },
            })
            .collect();
        let (title, body) = digest("Living Room", &held[..2]);
        assert_eq!(title, "Living Room: 2 alerts while quiet");
        assert_eq!(
            body,
            "1:00 AM · Recording started: Show 0\n1:01 AM · Recording started: Show 1 · Channel 1"
        );
        let (title, body) = digest("Living Room", &held);
        assert_eq!(title, "Living Room: 52 alerts while quiet");
        assert_eq!(body.lines().count(), DIGEST_LINES + 1);
        assert!(body.ends_with("…and 2 more (see the alert history)"));
    }
}
