//! Keeps one DVR task running: restarts it when it panics or stops sending heartbeats,
//! counts each restart and logs it with the `dvr_id`.

use std::time::Duration;

use tracing::error;

use super::cadence;
use super::task::{self, TaskCtx};
use super::EngineEventKind;
use domain::health::RestartCause;

pub(crate) async fn supervise(ctx: TaskCtx) {
    let s = ctx.settings.clone();
    loop {
        ctx.slot.beat();
        let mut handle = tokio::spawn(task::run(ctx.clone()));
        // Four looks per hang timeout: a hang is caught within 1¼ of it. Every DVR
        // looks at the same moments, one batch instead of a wake-up per DVR.
        let mut check = cadence::aligned_interval(s.hang_timeout / 4, s.hang_timeout / 4);
        let reason = loop {
            tokio::select! {
                res = &mut handle => match res {
                    Ok(()) => return,
                    Err(e) if e.is_panic() => break format!("task panicked: {}", domain::panic_message(e.into_panic())),
                    Err(_) => return,
                },
                _ = check.tick() => {
                    if ctx.slot.take_exit_fault() {
                        handle.abort();
                        ctx.slot.set_connected(false);
                        return;
                    }
                    let age = ctx.slot.heartbeat_age();
                    if age > hang_limit(&s) {
                        handle.abort();
                        break format!("task hung: no heartbeat for {} s", age.as_secs());
                    }
                }
                _ = ctx.cancel.cancelled() => {
                    handle.abort();
                    return;
                }
            }
        };
        ctx.slot.set_connected(false);
        ctx.slot.set_error(Some(reason.clone()));
        let restarts = ctx
            .slot
            .counters
            .task_restarts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        error!(dvr_id = %ctx.slot.dvr_id, reason = %reason, restarts, "DVR task failed; restarting it");
        ctx.publish(EngineEventKind::TaskRestarted { reason });
        ctx.slot.expect_restart(RestartCause::Crash);
        ctx.restarts.notify_one();
        tokio::select! {
            _ = tokio::time::sleep(s.restart_delay) => {}
            _ = ctx.cancel.cancelled() => return,
        }
    }
}

/// How long a task may go without a heartbeat before it counts as hung. While its
/// stream is silent, a connected task beats as each keep-alive poll answers, which may
/// take the interval and a whole timeout; a limit at or below that (tests run both
/// at 3 s) restarted healthy tasks whose DVR was merely slow. Twice the timeout leaves
/// room for a busy runtime.
pub(crate) fn hang_limit(s: &super::EngineSettings) -> Duration {
    s.hang_timeout.max(s.status_interval + s.status_timeout * 2)
}

/// Default pause before a restarted task runs again.
pub(crate) const DEFAULT_RESTART_DELAY: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineSettings;

    #[test]
    fn the_hang_limit_leaves_room_for_a_slow_keep_alive() {
        // Defaults: the hang timeout (60 s) is already past 15 s + 2 × 5 s.
        assert_eq!(
            hang_limit(&EngineSettings::default()),
            Duration::from_secs(60)
        );
        // The tests' settings: a 3 s hang timeout would judge a poll that takes its
        // whole 3 s timeout; the limit is 0.5 s + 2 × 3 s instead.
        let fast = EngineSettings {
            status_interval: Duration::from_millis(500),
            status_timeout: Duration::from_secs(3),
            hang_timeout: Duration::from_secs(3),
            ..EngineSettings::default()
        };
        assert_eq!(hang_limit(&fast), Duration::from_millis(6500));
    }
}
