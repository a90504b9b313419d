//! Dedup and storm protection: per-DVR cooldowns by dedup key, and per-DVR alert
//! budgets (what a budget holds back is delayed, not dropped). Both run on the
//! monotonic clock: a wall clock stepped back an hour must not mute a DVR for an hour.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Last alert time per dedup key, for one DVR.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cooldowns {
    last: HashMap<String, Instant>,
}

impl Cooldowns {
    /// True (and recorded) when `key` has not alerted within `cooldown`.
    pub fn allow(&mut self, key: &str, cooldown: Duration, now: Instant) -> bool {
        if let Some(prev) = self.last.get(key) {
            if now.saturating_duration_since(*prev) < cooldown {
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

    /// Restores a key that last alerted `age` before `now` (from the history),
    /// keeping the later time.
    pub fn restore(&mut self, key: &str, age: Duration, now: Instant) {
        // Older than this clock can name (before the machine started): long expired.
        let Some(at) = now.checked_sub(age) else {
            return;
        };
        let e = self.last.entry(key.to_string()).or_insert(at);
        if at > *e {
            *e = at;
        }
    }

    /// Forgets keys older than `keep`, so the map stays small on a busy DVR.
    pub fn prune(&mut self, keep: Duration, now: Instant) {
        self.last
            .retain(|_, at| now.saturating_duration_since(*at) < keep);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.last.len()
    }
}

/// One DVR's alert budget: at most `limit` alerts in any `window`. An alert over the
/// budget is not dropped: it is given the first later time that fits, and that time is
/// reserved, so the next alert queues behind it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Budget {
    /// Send times (past and reserved), sorted.
    sent: Vec<Instant>,
}

impl Budget {
    /// Reserves and answers how long an alert raised at `now` must wait: zero when the
    /// budget has room, else until the window frees a slot. `None` (nothing reserved)
    /// when that is more than `max_delay`: it would go out too late.
    pub fn reserve(
        &mut self,
        limit: usize,
        window: Duration,
        max_delay: Duration,
        now: Instant,
    ) -> Option<Duration> {
        self.sent
            .retain(|t| now.saturating_duration_since(*t) < window);
        let limit = limit.max(1);
        let at = match self.sent.len().checked_sub(limit) {
            // Every entry after this one (limit - 1 of them) can share a window with
            // `at`; this one, `window` or more earlier, cannot.
            Some(i) => self.sent[i].checked_add(window)?.max(now),
            None => now,
        };
        let wait = at.saturating_duration_since(now);
        if wait > max_delay {
            return None;
        }
        let pos = self.sent.partition_point(|t| *t <= at);
        self.sent.insert(pos, at);
        Some(wait)
    }

    /// Gives back a slot [`Budget::reserve`] took (at `now + wait`) for an alert that
    /// could not be recorded.
    pub fn release(&mut self, at: Instant) {
        if let Some(i) = self.sent.iter().position(|t| *t == at) {
            self.sent.remove(i);
        }
    }

    /// Alerts counted (sent or reserved) in the current window.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.sent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);

    fn t(s: u64) -> Instant {
        *BASE + Duration::from_secs(s)
    }

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
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
    fn restored_keys_keep_their_age() {
        let mut c = Cooldowns::default();
        let cd = Duration::from_secs(300);
        c.restore("ch7-Den", Duration::from_secs(100), t(1000));
        assert!(!c.allow("ch7-Den", cd, t(1000)), "alerted 100 s ago");
        assert!(c.allow("ch7-Den", cd, t(1200)));
        // Older than anything this clock can name: not blocking.
        c.restore("ch9-Den", Duration::from_secs(u64::MAX / 4), Instant::now());
        assert!(c.allow("ch9-Den", cd, Instant::now() + cd));
    }

    #[test]
    fn the_budget_is_a_sliding_window_that_delays_what_does_not_fit() {
        let mut b = Budget::default();
        let w = Duration::from_secs(300);
        let max = Duration::from_secs(3600);
        assert_eq!(b.reserve(3, w, max, t(0)), secs(0));
        assert_eq!(b.reserve(3, w, max, t(1)), secs(0));
        assert_eq!(b.reserve(3, w, max, t(2)), secs(0));
        assert_eq!(
            b.reserve(3, w, max, t(3)),
            secs(297),
            "the fourth waits until the first leaves the window"
        );
        assert_eq!(b.reserve(3, w, max, t(4)), secs(297), "and queues (t 301)");
        assert_eq!(
            b.reserve(3, w, max, t(400)),
            secs(0),
            "the first three left"
        );
        assert_eq!(b.reserve(3, w, max, t(401)), secs(199), "t 600");
        assert_eq!(b.reserve(3, w, max, t(1000)), secs(0), "room again");
    }

    #[test]
    fn a_delay_longer_than_the_maximum_reserves_nothing() {
        let mut b = Budget::default();
        let w = Duration::from_secs(300);
        let max = Duration::from_secs(100);
        assert_eq!(b.reserve(1, w, max, t(0)), secs(0));
        assert_eq!(b.reserve(1, w, max, t(10)), None, "290 s away");
        assert_eq!(b.len(), 1, "the refused alert took no slot");
        assert_eq!(b.reserve(1, w, max, t(250)), secs(50));
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
            if let Some(wait) = b.reserve(5, w, Duration::from_secs(600), t(now)) {
                all.push(t(now) + wait);
            }
        }
        all.sort();
        for (i, a) in all.iter().enumerate() {
            let in_window = all[i..]
                .iter()
                .take_while(|x| x.duration_since(*a) < w)
                .count();
            assert!(
                in_window <= 5,
                "{in_window} alerts within one window from {a:?}"
            );
        }
    }

    #[test]
    fn a_released_slot_is_free_again() {
        let mut b = Budget::default();
        let w = Duration::from_secs(300);
        let max = Duration::from_secs(3600);
        assert_eq!(b.reserve(1, w, max, t(0)), secs(0));
        b.release(t(0));
        assert_eq!(
            b.reserve(1, w, max, t(1)),
            secs(0),
            "not held behind the first"
        );
    }

    #[test]
    fn extreme_windows_do_not_panic() {
        let mut b = Budget::default();
        let huge = Duration::from_secs(u64::MAX);
        assert_eq!(b.reserve(1, huge, huge, t(0)), secs(0));
        assert_eq!(b.reserve(1, huge, huge, t(1)), None);
    }
}
