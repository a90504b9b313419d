//! `GET` / `PUT /api/v1/mqtt`: the Home Assistant MQTT connection (see `crate::mqtt`):
//! the setting with its password masked, and how the connection is doing.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::dvrs::parse_body;
use super::error::ApiError;
use super::AppState;
use domain::mqtt::MqttSettings;

fn answer(state: &AppState) -> Json<Value> {
    let m = &state.services.mqtt;
    Json(json!({"settings": m.settings_masked(), "status": m.status()}))
}

pub async fn get_mqtt(State(state): State<AppState>) -> Json<Value> {
    answer(&state)
}

/// The whole setting (what is left out takes its default); a `"****"` password keeps
/// the stored one for the same broker.
pub async fn put_mqtt(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let s: MqttSettings = parse_body(body)?;
    state.services.mqtt.edit(s).await?;
    Ok(answer(&state))
}
