//! Periodic timers whose ticks fall on a grid shared by the whole process.
//!
//! With thousands of DVRs, each with its own keep-alive, hang check and alert check,
//! timers started at random moments wake the runtime thousands of times a second, and
//! waking a parked worker thread costs far more than the work it wakes for. On a shared
//! grid the same work fires in a few batches per second while the threads are awake.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

/// Grid step for timers that should keep their own phase (keep-alive polls): ten
/// batches a second spread the requests without a wake-up per DVR.
pub(crate) const SPREAD: Duration = Duration::from_millis(100);

/// The grid's origin: the first time any timer asked.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The first grid point (a multiple of `grain` after the epoch) at or after `at`.
pub(crate) fn next_on_grid(at: Instant, grain: Duration) -> Instant {
    let origin = epoch();
    let grain_ns = grain.as_nanos().max(1);
    let since = at.saturating_duration_since(origin).as_nanos();
    let steps = since.div_ceil(grain_ns);
    origin + Duration::from_nanos(u64::try_from(steps * grain_ns).unwrap_or(u64::MAX))
}

/// An interval of `period` whose ticks land on the grid of `grain` (capped at
/// `period`, so short test periods still tick on time). Its first tick is the next
/// grid point; a late tick skips ahead rather than leaving the grid.
pub fn aligned_interval(period: Duration, grain: Duration) -> Interval {
    let grain = grain.min(period);
    let start = next_on_grid(Instant::now(), grain);
    let mut interval = tokio::time::interval_at(start, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    interval
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_points_are_multiples_of_the_grain_from_one_origin() {
        let grain = Duration::from_millis(100);
        let origin = epoch();
        for offset_ms in [0u64, 1, 99, 100, 101, 12_345] {
            let at = origin + Duration::from_millis(offset_ms);
            let p = next_on_grid(at, grain);
            let since = (p - origin).as_millis() as u64;
            assert_eq!(since % 100, 0, "{offset_ms} ms -> {since} ms");
            assert!(p >= at && p - at < grain, "{offset_ms} ms -> {since} ms");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn timers_started_apart_tick_together() {
        let grain = Duration::from_secs(15);
        let mut a = aligned_interval(grain, grain);
        tokio::time::advance(Duration::from_millis(3_700)).await;
        let mut b = aligned_interval(grain, grain);
        let tb = b.tick().await;
        let mut ta = a.tick().await;
        while ta < tb {
            ta = a.tick().await;
        }
        assert_eq!(ta, tb);
        assert_eq!(a.tick().await, b.tick().await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_period_is_not_stretched_to_the_grain() {
        let mut t = aligned_interval(Duration::from_millis(20), SPREAD);
        let first = t.tick().await;
        let second = t.tick().await;
        assert_eq!(second - first, Duration::from_millis(20));
    }
}
