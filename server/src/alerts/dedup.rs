//! Dedup and storm protection: per-DVR cooldowns by dedup key, and per-DVR alert
//! budgets (what a budget holds back is delayed, not dropped).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Last alert time per dedup key, for one DVR.
#[derive(Debug, Clone, Default)]
pub struct Cooldowns {
    last: HashMap<String, DateTime<Utc>>,
}

impl Cooldowns {
    /// True (and recorded) when `key` has not alerted within `cooldown`.
    pub fn allow(&mut self, key: &str, cooldown: Duration, now: DateTime<Utc>) -> bool {
        if let Some(prev) = self.last.get(key) {
            if (now - *prev).to_std().unwrap_or_default() < cooldown {
                return false;
            }
        }
        self.last.insert(key.to_string(), now);
        true
    }

    /// Takes back an `allow` whose alert could not be recorded.
    pub fn forget(&mut self, key: &str) {
        self.last.remove(key);
    }

    /// Restores a key's last alert time (from the history), keeping the later one.
    pub fn restore(&mut self, key: &str, at: DateTime<Utc>) {
        let e = self.last.entry(key.to_string()).or_insert(at);
        if at > *e {
            *e = at;
        }
    }

    /// Forgets keys older than `keep`, so the map stays small on a busy DVR.
    pub fn prune(&mut self, keep: Duration, now: DateTime<Utc>) {
        self.last
            .retain(|_, at| (now - *at).to_std().unwrap_or_default() < keep);
    }

    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

/// One DVR's alert budget: at most `limit` alerts in any `window`. An alert over the
/// budget is not dropped: it is given the first later time that fits, and that time is
/// reserved, so the next alert queues behind it.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    /// Send times (past and reserved), sorted.
    sent: Vec<DateTime<Utc>>,
}

impl Budget {
    /// Reserves and answers when an alert raised at `now` may go out: `now` when the
    /// budget has room, else the time the window frees a slot. `None` (nothing
    /// reserved) when that is more than `max_delay` away: it would go out too late.
    pub fn reserve(
        &mut self,
        limit: usize,
        window: Duration,
        max_delay: Duration,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let horizon = now.checked_sub_signed(window);
        self.sent.retain(|t| horizon.is_none_or(|h| *t > h));
        let limit = limit.max(1);
        let at = match self.sent.len().checked_sub(limit) {
            // Every entry after this one (limit - 1 of them) can share a window with
            // `at`; this one, `window` or more earlier, cannot.
            Some(i) => self.sent[i].checked_add_signed(window)?.max(now),
            None => now,
        };
        if (at - now).to_std().unwrap_or_default() > max_delay {
            return None;
        }
        let pos = self.sent.partition_point(|t| *t <= at);
        self.sent.insert(pos, at);
        Some(at)
    }

    /// Alerts counted (sent or reserved) in the current window.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn cooldown_blocks_repeats_of_one_key_only() {
        let mut c = Cooldowns::default();
        let cd = Duration::from_secs(300);
        assert!(c.allow("ch7-Den", cd, t(0)));
        assert!(!c.allow("ch7-Den", cd, t(299)));
        assert!(c.allow("ch9-Den", cd, t(10)), "another key is independent");
        assert!(c.allow("ch7-Den", cd, t(300)));
        c.prune(Duration::from_secs(100), t(350));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn the_budget_is_a_sliding_window_that_delays_what_does_not_fit() {
        let mut b = Budget::default();
        let w = Duration::from_secs(300);
        let max = Duration::from_secs(3600);
        assert_eq!(b.reserve(3, w, max, t(0)), Some(t(0)));
        assert_eq!(b.reserve(3, w, max, t(1)), Some(t(1)));
        assert_eq!(b.reserve(3, w, max, t(2)), Some(t(2)));
        assert_eq!(
            b.reserve(3, w, max, t(3)),
            Some(t(300)),
            "the fourth waits until the first leaves the window"
        );
        assert_eq!(b.reserve(3, w, max, t(4)), Some(t(301)), "and queues");
        assert_eq!(
            b.reserve(3, w, max, t(400)),
            Some(t(400)),
            "the first three left"
        );
        assert_eq!(b.reserve(3, w, max, t(401)), Some(t(600)));
        assert_eq!(b.reserve(3, w, max, t(1000)), Some(t(1000)), "room again");
    }

    #[test]
    fn a_delay_longer_than_the_maximum_reserves_nothing() {
        let mut b = Budget::default();
        let w = Duration::from_secs(300);
        let max = Duration::from_secs(100);
        assert_eq!(b.reserve(1, w, max, t(0)), Some(t(0)));
        assert_eq!(b.reserve(1, w, max, t(10)), None, "290 s away");
        assert_eq!(b.len(), 1, "the refused alert took no slot");
        assert_eq!(b.reserve(1, w, max, t(250)), Some(t(300)));
    }

    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let w = Duration::from_secs(60);
        let mut b = Budget::default();
        let mut all = Vec::new();
        let mut now = 0;
        for _ in 0..2000 {
            now += rng.random_range(0..20);
            if let Some(at) = b.reserve(5, w, Duration::from_secs(600), t(now)) {
                assert!(at >= t(now));
                all.push(at);
            }
        }
        all.sort();
        for (i, a) in all.iter().enumerate() {
            let in_window = all[i..]
                .iter()
                .take_while(|x| **x - *a < chrono::Duration::seconds(60))
                .count();
            assert!(
                in_window <= 5,
                "{in_window} alerts within one window from {a}"
            );
        }
    }

    #[test]
    fn extreme_windows_do_not_panic() {
        let mut b = Budget::default();
        let huge = Duration::from_secs(u64::MAX);
        assert_eq!(b.reserve(1, huge, huge, t(0)), Some(t(0)));
        assert_eq!(b.reserve(1, huge, huge, t(1)), None);
    }
}
