//! `GET/PUT /api/v1/routing`: the routing matrix, replaced whole on PUT and in effect
//! for the next alert. Cells the YAML file names keep the file's value.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;

use super::dvrs::parse_body;
use super::error::ApiError;
use super::AppState;
use domain::notify::routing::Routing;
use storage::routing as store;

pub async fn get(State(state): State<AppState>) -> Result<Json<Routing>, ApiError> {
    Ok(Json(store::load(&state.services.db).await?))
}

pub async fn put(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Routing>, ApiError> {
    let mut m: Routing = parse_body(body)?;
    let s = &state.services;
    let known = s.registry.list().await?;
    m.validate(|id| known.iter().any(|d| d.dvr_id == id))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    // Cells the YAML file names stay as it says; a reload cannot interleave.
    let _turn = s.declared.edit_turn().await;
    s.declared.pin_routing(&s.parts(), &mut m).await;
    store::replace(&s.db, &m).await?;
    Ok(Json(store::load(&state.services.db).await?))
}
