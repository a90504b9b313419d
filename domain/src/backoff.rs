//! Reconnect delays: exponential from 1 s, doubling to a 60 s cap, with wide jitter
//! (half to one and a half times the step) so a fleet of DVRs that dropped together
//! comes back spread over a whole step, not in lock-step.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempt: 0,
        }
    }

    /// The un-jittered delay for the next attempt, then advances.
    pub fn next_base(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        let d = self.base.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// The next delay with ±50 % jitter, never above the cap.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next_base();
        let jitter = rand::rng().random_range(0.5..=1.5);
        d.mul_f64(jitter).min(self.max)
    }

    /// Back to the first step, after a healthy period.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// Parses `Retry-After` (seconds, possibly fractional, or an HTTP date), capped at
/// `max`. Nonsense (`inf`, `NaN`, negative) is ignored: `None`, never a panic.
pub fn parse_retry_after(
    value: &str,
    now: std::time::SystemTime,
    max: Duration,
) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(max));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return secs_f64(secs, max);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO).min(max))
}

/// Seconds as a server sends them (`Retry-After: 1.5`, a JSON `retry_after`) as a
/// `Duration` capped at `max`; NaN, infinite and negative values are refused (`None`).
/// `Duration::from_secs_f64` would panic on all three, and on overflow (`1e20`).
pub fn secs_f64(secs: f64, max: Duration) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(if secs >= max.as_secs_f64() {
        max
    } else if secs > 0.0 {
        Duration::from_secs_f64(secs)
    } else {
        Duration::ZERO // 0 and -0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let seq: Vec<u64> = (0..9).map(|_| b.next_base().as_secs()).collect();
        assert_eq!(seq, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        b.reset();
        assert_eq!(b.next_base(), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for i in 0..50 {
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(60), "attempt {i}: {d:?}");
            assert!(d >= Duration::from_millis(500), "attempt {i}: {d:?}");
        }
    }

    #[test]
    fn ten_thousand_dvrs_dropped_at_once_come_back_spread_over_the_step() {
        // The first delay of each: 100 ms buckets over 0.5..1.5 s.
        let mut buckets = [0u32; 11];
        for _ in 0..10_000 {
            let d = Backoff::new(Duration::from_secs(1), Duration::from_secs(60)).next_delay();
            assert!((500..=1500).contains(&d.as_millis()), "{d:?}");
            buckets[((d.as_millis() - 500) / 100) as usize] += 1;
        }
        // Uniform would put 1,000 in each full bucket; no bucket is a stampede.
        for (i, n) in buckets[..10].iter().enumerate() {
            assert!((700..=1300).contains(n), "bucket {i}: {n} of 10,000");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let max = Duration::from_secs(60);
        assert_eq!(
            parse_retry_after("7", now, max),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after("3600", now, max), Some(max));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&date, now, max),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now, max), None);
    }

    #[test]
    fn retry_after_nonsense_is_ignored_or_capped_never_a_panic() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let max = Duration::from_secs(3600);
        assert_eq!(
            parse_retry_after("1.5", now, max),
            Some(Duration::from_millis(1500))
        );
        for v in ["1e20", "99999999999999999999", "3600.5"] {
            assert_eq!(parse_retry_after(v, now, max), Some(max), "{v}");
        }
        for v in ["inf", "-inf", "infinity", "NaN", "-1", "-0.5"] {
            assert_eq!(parse_retry_after(v, now, max), None, "{v}");
        }
        assert_eq!(secs_f64(-0.0, max), Some(Duration::ZERO));
        assert_eq!(secs_f64(f64::MAX, max), Some(max));
        assert_eq!(secs_f64(f64::MIN_POSITIVE, max), Some(Duration::ZERO));
    }
}
