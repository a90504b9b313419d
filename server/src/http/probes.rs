//! Kubernetes probes: plain text, unauthenticated.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

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
    let engine = &state.services.engine;
    let mut problems = Vec::new();
    for slot in engine.slots() {
        let name = slot.name();
        if !engine.is_alive(&slot.dvr_id) {
            problems.push(format!("DVR '{name}' ({}): task not running", slot.dvr_id));
            continue;
        }
        let h = engine.health_of(&slot);
        if h.stale {
            problems.push(format!(
                "DVR '{name}' ({}): stale, no events for {} seconds (threshold {})",
                slot.dvr_id,
                slot.seconds_since_event_or_start(),
                h.staleness_threshold_seconds
            ));
        }
    }
    if problems.is_empty() {
        (StatusCode::OK, "ok".into())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, problems.join("\n"))
    }
}
