//! `GET/PUT /api/v1/routing`: the routing matrix, replaced whole on PUT and in effect
//! for the next alert.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;

use super::dvrs::parse_body;
use super::error::ApiError;
use super::AppState;
use crate::notify::routing::Routing;
use crate::storage::routing as store;

pub async fn get(State(state): State<AppState>) -> Result<Json<Routing>, ApiError> {
    Ok(Json(store::load(&state.services.db).await?))
}

pub async fn put(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Routing>, ApiError> {
    let m: Routing = parse_body(body)?;
    let known = state.services.registry.list().await?;
    m.validate(|id| known.iter().any(|d| d.dvr_id == id))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    store::replace(&state.services.db, &m).await?;
    Ok(Json(store::load(&state.services.db).await?))
}
