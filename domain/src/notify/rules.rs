//! Routing rules: which alerts one destination (a provider *instance*) gets, beyond the
//! routing matrix's DVR × event × provider type switches. A destination without rules
//! gets everything the matrix gives its type; one with rules gets an alert only when
//! one of its enabled rules matches. A rule names DVRs and alert kinds (empty: all)
//! and optional conditions: the client device or address (include and exclude), the
//! channel, the stream's source, a local or remote client, a time of day, and a
//! minimum watching time before a watching alert goes to it (a delay, not a filter:
//! the pipeline holds the alert and sends it only if the play lasted that long).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::alerts::decide::Route;
use crate::alerts::kind::AlertKind;

/// One rule, as stored and as the API takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub id: i64,
    pub provider_id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// DVR ids; empty: every DVR.
    #[serde(default)]
    pub dvrs: Vec<String>,
    /// Categories (`channel`, `vod`, `recording`, `disk`, `health`) or event types
    /// (`recording.failed`); empty: every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub conditions: Conditions,
}

fn yes() -> bool {
    true
}

/// What else must hold. Every condition given must hold; one about the client or the
/// channel does not hold for an alert without a client or channel (a disk alert).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Conditions {
    /// Client device names or addresses, any of which (case-insensitive).
    pub devices: Vec<String>,
    /// Client device names or addresses that never match.
    pub exclude_devices: Vec<String>,
    /// Channel numbers.
    pub channels: Vec<String>,
    /// Stream sources: `tuner`, `tve`, `m3u`, `other`.
    pub sources: Vec<String>,
    /// `local` (a private or loopback address) or `remote`.
    pub client: Option<String>,
    /// A watching alert goes to this destination only once the play lasted this long.
    pub min_watched_seconds: Option<u32>,
    /// Only at these local times (the monitor's zone).
    pub time_of_day: Option<TimeWindow>,
}

/// `from` to `to` (`HH:MM`, 24 h), across midnight when `to` is earlier, on `days`
/// (`mon`…`sun`; empty: every day; the day the alert happens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub days: Vec<String>,
}

pub(crate) const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
pub(crate) const CATEGORIES: [&str; 5] = ["channel", "vod", "recording", "disk", "health"];
const SOURCES: [&str; 4] = ["tuner", "tve", "m3u", "other"];

/// `HH:MM` as minutes of the day.
pub(crate) fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && hhmm.trim().len() <= 5).then_some(h * 60 + m)
}

/// Each of `kinds` a category or an alert type; the error names the field `kinds`.
pub(crate) fn check_kinds(kinds: &[String]) -> Result<(), String> {
    for k in kinds {
        if !CATEGORIES.contains(&k.as_str()) && AlertKind::parse(k).is_none() {
            return Err(format!(
                "kinds: '{k}' is not a category ({}) or an alert type",
                CATEGORIES.join(", ")
            ));
        }
    }
    Ok(())
}

/// Whether an alert of `event_type` in `category` is one of `kinds` (empty: all).
pub(crate) fn kinds_match(kinds: &[String], event_type: &str, category: Option<&str>) -> bool {
    kinds.is_empty()
        || kinds
            .iter()
            .any(|k| k == event_type || category == Some(k.as_str()))
}

/// What an alert offers the rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub dvr_id: String,
    pub event_type: String,
    pub category: Option<String>,
    pub device: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub channel: Option<String>,
    /// `tuner`, `tve`, `m3u` or `other`.
    pub source: Option<String>,
    /// Day of the week (0 = Monday) and minute of the day, in the monitor's zone.
    pub weekday: usize,
    pub minute: u32,
}

impl Facts {
    /// An alert's facts: its DVR and kind, its client and channel, and the local
    /// `(weekday, minute)` it happened at.
    pub fn of(
        dvr_id: &str,
        kind: AlertKind,
        route: &Route,
        (weekday, minute): (usize, u32),
    ) -> Facts {
        Facts {
            dvr_id: dvr_id.to_string(),
            event_type: kind.event_type().to_string(),
            category: kind.category().map(|c| c.as_str().to_string()),
            device: route.device.clone(),
            client_ip: route.client_ip,
            channel: route.channel.clone(),
            source: route.source.clone(),
            weekday,
            minute,
        }
    }

    fn remote(&self) -> Option<bool> {
        self.client_ip.map(|ip| match ip {
            IpAddr::V4(v4) => !(v4.is_private() || v4.is_loopback() || v4.is_link_local()),
            IpAddr::V6(v6) => {
                !(v6.is_loopback()
                    || (v6.segments()[0] & 0xfe00) == 0xfc00
                    || (v6.segments()[0] & 0xffc0) == 0xfe80)
            }
        })
    }

    /// The client named by a device name or an address (case-insensitive).
    fn client_is(&self, wanted: &str) -> bool {
        let w = wanted.trim();
        self.device
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case(w))
            || self.client_ip.is_some_and(|ip| ip.to_string() == w)
    }
}

/// How a rule answers an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It goes, after `delay` seconds of watching when one is asked.
    Send { delay: Option<u32> },
    /// It does not, and why (for the preview).
    Skip(String),
}

impl Rule {
    /// Checks what serde cannot; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.len() > 100 {
            return Err("name: at most 100 characters".into());
        }
        check_kinds(&self.kinds)?;
        let c = &self.conditions;
        for s in &c.sources {
            if !SOURCES.contains(&s.as_str()) {
                return Err(format!(
                    "conditions.sources: '{s}' is not one of {}",
                    SOURCES.join(", ")
                ));
            }
        }
        if let Some(p) = &c.client {
            if !matches!(p.as_str(), "local" | "remote") {
                return Err("conditions.client: local or remote".into());
            }
        }
        if c.min_watched_seconds.is_some_and(|s| s > 86_400) {
            return Err("conditions.min_watched_seconds: at most 86400".into());
        }
        if let Some(w) = &c.time_of_day {
            for (field, v) in [("from", &w.from), ("to", &w.to)] {
                if minutes(v).is_none() {
                    return Err(format!("conditions.time_of_day.{field}: HH:MM, like 22:30"));
                }
            }
            if let Some(d) = w.days.iter().find(|d| !DAYS.contains(&d.as_str())) {
                return Err(format!(
                    "conditions.time_of_day.days: '{d}' is not one of {}",
                    DAYS.join(", ")
                ));
            }
        }
        let lists = [
            &self.dvrs,
            &self.kinds,
            &c.devices,
            &c.exclude_devices,
            &c.channels,
        ];
        if lists
            .iter()
            .any(|l| l.len() > 200 || l.iter().any(|x| x.len() > 120))
        {
            return Err("a list holds at most 200 entries of at most 120 characters".into());
        }
        Ok(())
    }

    /// Whether `f` goes to this rule's destination.
    pub fn judge(&self, f: &Facts) -> Verdict {
        let skip = |why: &str| Verdict::Skip(why.to_string());
        if !self.enabled {
            return skip("the rule is off");
        }
        if !self.dvrs.is_empty() && !self.dvrs.contains(&f.dvr_id) {
            return skip("another DVR");
        }
        if !kinds_match(&self.kinds, &f.event_type, f.category.as_deref()) {
            return skip("another kind of alert");
        }
        let c = &self.conditions;
        if !c.devices.is_empty() && !c.devices.iter().any(|d| f.client_is(d)) {
            return skip("another device");
        }
        if c.exclude_devices.iter().any(|d| f.client_is(d)) {
            return skip("an excluded device");
        }
        if !c.channels.is_empty()
            && !f
                .channel
                .as_ref()
                .is_some_and(|ch| c.channels.iter().any(|x| x.trim() == ch))
        {
            return skip("another channel");
        }
        if !c.sources.is_empty() && !f.source.as_ref().is_some_and(|s| c.sources.contains(s)) {
            return skip("another source");
        }
        if let Some(place) = &c.client {
            let wanted = place == "remote";
            if f.remote() != Some(wanted) {
                return skip(if wanted {
                    "not a remote client"
                } else {
                    "not a local client"
                });
            }
        }
        if let Some(w) = &c.time_of_day {
            let (Some(from), Some(to)) = (minutes(&w.from), minutes(&w.to)) else {
                return skip("a time window that cannot be read");
            };
            let on_day = w.days.is_empty()
                || w.days
                    .iter()
                    .any(|d| DAYS.get(f.weekday) == Some(&d.as_str()));
            let in_window = if from <= to {
                (from..to).contains(&f.minute)
            } else {
                f.minute >= from || f.minute < to
            };
            if !(on_day && in_window) {
                return skip("outside its time of day");
            }
        }
        let watching = matches!(f.category.as_deref(), Some("channel" | "vod"));
        Verdict::Send {
            delay: c.min_watched_seconds.filter(|s| *s > 0 && watching),
        }
    }
}

/// Which of `providers` get the alert, and after how long: a provider without rules
/// gets it at once; one with rules when one matches (the shortest delay of those).
pub fn route(rules: &[Rule], providers: &[i64], f: &Facts) -> Vec<(i64, Option<u32>)> {
    providers
        .iter()
        .filter_map(|&p| {
            let mut own = rules.iter().filter(|r| r.provider_id == p).peekable();
            if own.peek().is_none() {
                return Some((p, None));
            }
            // None: no rule matched; Some(None): at once; Some(Some(d)): after d s.
            let mut best: Option<Option<u32>> = None;
            for r in own {
                if let Verdict::Send { delay } = r.judge(f) {
                    best = Some(match (best, delay) {
                        (Some(None), _) | (_, None) => None,
                        (Some(Some(a)), Some(b)) => Some(a.min(b)),
                        (None, Some(b)) => Some(b),
                    });
                    if best == Some(None) {
                        break;
                    }
                }
            }
            best.map(|d| (p, d))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watching() -> Facts {
        Facts {
            dvr_id: "aaaa0001".into(),
            event_type: "channel.watching.start".into(),
            category: Some("channel".into()),
            device: Some("Kitchen TV".into()),
            client_ip: Some("192.168.1.51".parse().unwrap()),
            channel: Some("7".into()),
            source: Some("tuner".into()),
            weekday: 4,
            minute: 21 * 60,
        }
    }

    fn rule(f: impl FnOnce(&mut Rule)) -> Rule {
        let mut r = Rule {
            id: 1,
            provider_id: 10,
            name: String::new(),
            enabled: true,
            dvrs: vec![],
            kinds: vec![],
            conditions: Conditions::default(),
        };
        f(&mut r);
        r.validate().unwrap();
        r
    }

    fn sends(r: &Rule, f: &Facts) -> bool {
        matches!(r.judge(f), Verdict::Send { .. })
    }

    #[test]
    fn dvrs_and_kinds_by_id_category_or_event_type() {
        let f = watching();
        assert!(sends(&rule(|_| {}), &f));
        assert!(!sends(&rule(|r| r.dvrs = vec!["bbbb0002".into()]), &f));
        assert!(sends(&rule(|r| r.kinds = vec!["channel".into()]), &f));
        assert!(sends(
            &rule(|r| r.kinds = vec!["channel.watching.start".into()]),
            &f
        ));
        assert!(!sends(&rule(|r| r.kinds = vec!["recording".into()]), &f));
        assert_eq!(
            rule(|r| r.enabled = false).judge(&f),
            Verdict::Skip("the rule is off".into())
        );
    }

    #[test]
    fn devices_by_name_or_address_included_and_excluded() {
        let f = watching();
        assert!(sends(
            &rule(|r| r.conditions.devices = vec!["kitchen tv".into()]),
            &f
        ));
        assert!(sends(
            &rule(|r| r.conditions.devices = vec!["192.168.1.51".into()]),
            &f
        ));
        assert!(!sends(
            &rule(|r| r.conditions.devices = vec!["Den".into()]),
            &f
        ));
        let not_kitchen = rule(|r| r.conditions.exclude_devices = vec!["Kitchen TV".into()]);
        assert_eq!(
            not_kitchen.judge(&f),
            Verdict::Skip("an excluded device".into())
        );
        let disk = Facts {
            event_type: "disk.space.warning".into(),
            category: Some("disk".into()),
            device: None,
            client_ip: None,
            channel: None,
            source: None,
            ..watching()
        };
        assert!(
            sends(&not_kitchen, &disk),
            "an exclusion does not need a device"
        );
        assert!(!sends(
            &rule(|r| r.conditions.devices = vec!["Den".into()]),
            &disk
        ));
    }

    #[test]
    fn channel_source_and_local_or_remote() {
        let f = watching();
        assert!(sends(
            &rule(|r| r.conditions.channels = vec!["7".into(), "9".into()]),
            &f
        ));
        assert!(!sends(
            &rule(|r| r.conditions.channels = vec!["9".into()]),
            &f
        ));
        assert!(sends(
            &rule(|r| r.conditions.sources = vec!["tuner".into()]),
            &f
        ));
        assert!(!sends(
            &rule(|r| r.conditions.sources = vec!["tve".into()]),
            &f
        ));
        let local = rule(|r| r.conditions.client = Some("local".into()));
        let remote = rule(|r| r.conditions.client = Some("remote".into()));
        assert!(sends(&local, &f) && !sends(&remote, &f));
        let away = Facts {
            client_ip: Some("203.0.113.9".parse().unwrap()),
            ..watching()
        };
        assert!(!sends(&local, &away) && sends(&remote, &away));
        let v6 = Facts {
            client_ip: Some("fd00::5".parse().unwrap()),
            ..watching()
        };
        assert!(sends(&local, &v6));
    }

    #[test]
    fn time_of_day_in_the_zone_across_midnight_and_on_days() {
        let night = rule(|r| {
            r.conditions.time_of_day = Some(TimeWindow {
                from: "22:00".into(),
                to: "07:00".into(),
                days: vec![],
            })
        });
        let at = |weekday, minute| Facts {
            weekday,
            minute,
            ..watching()
        };
        assert!(!sends(&night, &at(4, 21 * 60)));
        assert!(sends(&night, &at(4, 23 * 60)));
        assert!(sends(&night, &at(5, 6 * 60 + 59)));
        assert!(!sends(&night, &at(5, 7 * 60)));
        let weekdays = rule(|r| {
            r.conditions.time_of_day = Some(TimeWindow {
                from: "08:00".into(),
                to: "18:00".into(),
                days: vec!["mon".into(), "fri".into()],
            })
        });
        assert!(sends(&weekdays, &at(4, 9 * 60)));
        assert!(!sends(&weekdays, &at(5, 9 * 60)), "Saturday");
    }

    #[test]
    fn minimum_watching_time_delays_watching_alerts_only() {
        let patient = rule(|r| r.conditions.min_watched_seconds = Some(120));
        assert_eq!(
            patient.judge(&watching()),
            Verdict::Send { delay: Some(120) }
        );
        let failed = Facts {
            event_type: "recording.failed".into(),
            category: Some("recording".into()),
            ..watching()
        };
        assert_eq!(patient.judge(&failed), Verdict::Send { delay: None });
    }

    #[test]
    fn providers_without_rules_get_everything_and_rules_combine() {
        let f = watching();
        let rules = vec![
            rule(|r| {
                r.provider_id = 10;
                r.kinds = vec!["recording".into()];
            }),
            rule(|r| {
                r.provider_id = 20;
                r.conditions.min_watched_seconds = Some(300);
            }),
            rule(|r| {
                r.provider_id = 20;
                r.conditions.min_watched_seconds = Some(60);
            }),
        ];
        assert_eq!(
            route(&rules, &[10, 20, 30], &f),
            vec![(20, Some(60)), (30, None)]
        );
    }

    #[test]
    fn bad_rules_name_the_field() {
        let bad = |f: fn(&mut Rule)| {
            let mut r = rule(|_| {});
            f(&mut r);
            r.validate().unwrap_err()
        };
        assert!(bad(|r| r.kinds = vec!["tv".into()]).starts_with("kinds: 'tv'"));
        assert!(
            bad(|r| r.conditions.sources = vec!["cable".into()]).starts_with("conditions.sources")
        );
        assert!(bad(|r| r.conditions.client = Some("away".into())).starts_with("conditions.client"));
        assert!(bad(|r| r.conditions.time_of_day = Some(TimeWindow {
            from: "25:00".into(),
            to: "07:00".into(),
            days: vec![]
        }))
        .starts_with("conditions.time_of_day.from"));
        assert!(bad(|r| r.conditions.time_of_day = Some(TimeWindow {
            from: "22:00".into(),
            to: "07:00".into(),
            days: vec!["someday".into()]
        }))
        .starts_with("conditions.time_of_day.days"));
    }
}
