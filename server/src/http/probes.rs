//! Kubernetes probes: plain text, unauthenticated.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use crate::services::Services;

pub async fn live() -> &'static str {
    "ok"
}

/// `ok` once config is parsed, the database migrated and DVR tasks started.
pub async fn startup(State(state): State<AppState>) -> (StatusCode, String) {
    if state.services.started.load(Ordering::Acquire) {
        (StatusCode::OK, "ok".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: DVR tasks not started yet".into(),
        )
    }
}

/// `ok` when every enabled DVR's task is alive and not stale (reconnecting but fresh is
/// still ready); else one line per DVR that is not.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, String) {
    if !state.services.started.load(Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: DVR tasks not started yet".into(),
        );
    }
    let problems = readiness_problems(&state.services);
    if problems.is_empty() {
        (StatusCode::OK, "ok".into())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, problems.join("\n"))
    }
}

/// What keeps the monitor from being ready, one line each: a core task not running, a
/// DVR task not running, a stale DVR. Empty: ready. The heartbeat pings only then.
pub fn readiness_problems(services: &Services) -> Vec<String> {
    let engine = &services.engine;
    let mut problems = Vec::new();
    let quiet = services.alerts.quiet().at(chrono::Utc::now());
    for t in services.core_tasks.statuses() {
        if !t.running {
            problems.push(format!(
                "core task '{}' is not running ({}); it is started again shortly",
                t.name,
                t.last_failure.as_deref().unwrap_or("stopped")
            ));
        }
    }
    for slot in engine.slots() {
        let name = slot.name();
        if !engine.is_alive(&slot.dvr_id) {
            problems.push(format!("DVR '{name}' ({}): task not running", slot.dvr_id));
            continue;
        }
        let h = engine.health_of(&slot);
        // A DVR in its maintenance window is expected to be quiet, or down.
        if h.stale && quiet.maintenance(&slot.dvr_id).is_none() {
            problems.push(format!(
                "DVR '{name}' ({}): stale, no events for {} seconds (threshold {})",
                slot.dvr_id,
                slot.seconds_since_event_or_start(),
                h.staleness_threshold_seconds
            ));
        }
    }
    problems
}

/// `GET /api/v1/health`: the monitor's own health, beside the per-DVR health: its
/// supervised tasks, log lines lost to a slow reader, and the open-file budget.
pub async fn health(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    let tasks = state.services.core_tasks.statuses();
    let fds = engine::fd_limit::dvr_connections();
    let degraded = tasks.iter().any(|t| !t.running) || fds.waiting() > 0;
    axum::Json(serde_json::json!({
        "status": if degraded { "degraded" } else { "ok" },
        "version": crate::VERSION,
        "tasks": tasks,
        "log_lines_dropped": crate::logging::dropped_lines(),
        "open_files": {
            "limit": engine::fd_limit::soft_limit(),
            "open": engine::fd_limit::open_now(),
            "dvr_streams_open": fds.streams_open(),
            "dvr_stream_capacity": fds.stream_capacity(),
            "dvr_connections_waiting": fds.waiting(),
            "dvr_poll_connections_kept": fds.kept(),
        },
        "http_accept_errors": crate::metrics::accept_errors(),
    }))
}
