//! `GET` / `PUT /api/v1/heartbeat` and `POST /api/v1/heartbeat/test`: the push URL
//! pinged while the monitor is healthy (see `crate::heartbeat`). The URL is never
//! answered whole.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;

use super::dvrs::parse_body;
use super::error::ApiError;
use super::AppState;
use domain::heartbeat::Edit;
use wire::operations::{HeartbeatBody, HeartbeatView};

pub async fn get_heartbeat(State(state): State<AppState>) -> Json<HeartbeatView> {
    Json(state.services.heartbeat.view())
}

pub async fn put_heartbeat(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<HeartbeatView>, ApiError> {
    let b: HeartbeatBody = parse_body(body)?;
    let edit = Edit {
        url: b.url,
        interval_seconds: b.interval_seconds,
        enabled: b.enabled,
    };
    state.services.heartbeat.edit(edit).await?;
    Ok(Json(state.services.heartbeat.view()))
}

/// Pings once now, whatever the health, and answers `{ok, message}` with the push
/// service's own reply.
pub async fn test_heartbeat(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (ok, message) = state
        .services
        .heartbeat
        .ping_now()
        .await
        .ok_or_else(|| ApiError::invalid("url: no heartbeat URL is set; save one first"))?;
    Ok(Json(serde_json::json!({"ok": ok, "message": message})))
}
