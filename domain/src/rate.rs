//! A sliding-window event rate, e.g. a DVR's alerts per minute over the last 5 minutes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SlidingRate {
    window: Duration,
    hits: VecDeque<Instant>,
}

impl SlidingRate {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            hits: VecDeque::new(),
        }
    }

    pub fn record(&mut self, at: Instant) {
        self.evict(at);
        self.hits.push_back(at);
    }

    /// Events per minute over the window ending at `now`.
    pub fn per_minute(&mut self, now: Instant) -> f64 {
        self.evict(now);
        self.hits.len() as f64 * 60.0 / self.window.as_secs_f64()
    }

    fn evict(&mut self, now: Instant) {
        while let Some(&front) = self.hits.front() {
            if now.saturating_duration_since(front) > self.window {
                self.hits.pop_front();
            } else {
                break;
            }
        }
    }
}

/// Lets at most `burst` log lines through per `window` and counts the rest, so a DVR
/// sending a flood of bad lines cannot flood the log.
#[derive(Debug, Clone)]
pub struct LogGate {
    window: Duration,
    burst: u32,
    started: Option<Instant>,
    passed: u32,
    suppressed: u64,
}

impl LogGate {
    pub fn new(window: Duration, burst: u32) -> Self {
        Self {
            window,
            burst,
            started: None,
            passed: 0,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a line may be logged now (`n`: lines suppressed since the last one
    /// let through, for the line to say so); `None` when it is suppressed.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .started
            .is_none_or(|s| now.saturating_duration_since(s) >= self.window)
        {
            self.started = Some(now);
            self.passed = 0;
        }
        if self.passed < self.burst {
            self.passed += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_lets_a_burst_through_per_window_and_counts_the_rest() {
        let t0 = Instant::now();
        let mut g = LogGate::new(Duration::from_secs(60), 2);
        assert_eq!(g.allow(t0), Some(0));
        assert_eq!(g.allow(t0), Some(0));
        assert_eq!(g.allow(t0), None);
        assert_eq!(g.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(g.allow(t0 + Duration::from_secs(60)), Some(2));
    }

    #[test]
    fn counts_within_the_window_only() {
        let start = Instant::now();
        let mut r = SlidingRate::new(Duration::from_secs(300));
        assert_eq!(r.per_minute(start), 0.0);
        for i in 0..4 {
            r.record(start + Duration::from_secs(i * 30));
        }
        let at = start + Duration::from_secs(120);
        assert!((r.per_minute(at) - 0.8).abs() < 1e-9, "4 alerts / 5 min");
        let later = start + Duration::from_secs(390);
        assert!(
            (r.per_minute(later) - 0.2).abs() < 1e-9,
            "only the 90 s one left"
        );
        assert_eq!(r.per_minute(start + Duration::from_secs(1000)), 0.0);
    }
}
