//! Dedup and storm protection: per-DVR cooldowns by dedup key, and the one global
//! rate limit shared by every DVR (what it holds back is recorded, never dropped).

use std::collections::{HashMap, VecDeque};
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

/// At most `limit` alerts per `window`, across all DVRs.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    limit: usize,
    window: Duration,
    sent: VecDeque<DateTime<Utc>>,
}

impl RateLimiter {
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit,
            window,
            sent: VecDeque::new(),
        }
    }

    pub fn set(&mut self, limit: usize, window: Duration) {
        self.limit = limit;
        self.window = window;
    }

    /// True (and counted) when one more alert fits in the window ending at `now`.
    pub fn try_acquire(&mut self, now: DateTime<Utc>) -> bool {
        while let Some(front) = self.sent.front() {
            if (now - *front).to_std().unwrap_or_default() >= self.window {
                self.sent.pop_front();
            } else {
                break;
            }
        }
        if self.sent.len() >= self.limit {
            return false;
        }
        self.sent.push_back(now);
        true
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
    fn rate_limit_is_a_sliding_window() {
        let mut r = RateLimiter::new(3, Duration::from_secs(300));
        assert!(r.try_acquire(t(0)));
        assert!(r.try_acquire(t(1)));
        assert!(r.try_acquire(t(2)));
        assert!(
            !r.try_acquire(t(3)),
            "fourth within the window is held back"
        );
        assert!(!r.try_acquire(t(299)));
        assert!(r.try_acquire(t(300)), "the first one left the window");
        assert!(!r.try_acquire(t(300)));
    }
}
