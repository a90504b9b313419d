//! Routing rules per destination (`domain::notify::rules`): `GET` / `POST
//! /api/v1/rules`, `PUT` / `DELETE /api/v1/rules/{id}`, and `POST
//! /api/v1/rules/preview`, which judges the recent alerts by an (unsaved) rule.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::dvrs::{known_dvrs, parse_body};
use super::error::ApiError;
use super::AppState;
use domain::alerts::decide::Route;
use domain::alerts::kind::AlertKind;
use domain::notify::rules::{Facts, Rule, Verdict};
use storage::rules as store;

/// How many recent alerts a preview judges.
const PREVIEW_ALERTS: i64 = 50;

/// The rule checked, its provider existing and its DVRs known.
async fn checked(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
    edit: bool,
) -> Result<Rule, ApiError> {
    let r: Rule = parse_body(body)?;
    r.validate().map_err(ApiError::invalid)?;
    let s = &state.services;
    let Some(provider) = storage::providers::get(&s.db, r.provider_id).await? else {
        return Err(ApiError::invalid(format!(
            "provider_id: no provider with id {}",
            r.provider_id
        )));
    };
    if edit && provider.managed_by != storage::dvrs::ManagedBy::Ui {
        return Err(file_managed());
    }
    known_dvrs(&s.db, &r.dvrs, "dvrs").await?;
    Ok(r)
}

/// The rules of a provider the YAML file declares are the file's.
fn file_managed() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "managed_by_file",
        "this provider and its rules are set in the YAML configuration file; change them there",
    )
}

/// Refuses a change to a rule of a provider the file declares.
async fn editable(state: &AppState, id: i64) -> Result<(), ApiError> {
    let db = &state.services.db;
    let Some(rule) = store::get(db, id).await? else {
        return Err(ApiError::not_found("no routing rule with this id"));
    };
    match storage::providers::get(db, rule.provider_id).await? {
        Some(p) if p.managed_by != storage::dvrs::ManagedBy::Ui => Err(file_managed()),
        _ => Ok(()),
    }
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Rule>>, ApiError> {
    Ok(Json(store::list(&state.services.db).await?))
}

pub async fn create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Rule>), ApiError> {
    let r = checked(&state, body, true).await?;
    let saved = store::insert(&state.services.db, &r).await?;
    tracing::info!(
        rule_id = saved.id,
        provider_id = saved.provider_id,
        "routing rule added"
    );
    Ok((StatusCode::CREATED, Json(saved)))
}

pub async fn replace(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Rule>, ApiError> {
    editable(&state, id).await?;
    let r = Rule {
        id,
        ..checked(&state, body, true).await?
    };
    if !store::replace(&state.services.db, &r).await? {
        return Err(ApiError::not_found("no routing rule with this id"));
    }
    Ok(Json(r))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    editable(&state, id).await?;
    if store::delete(&state.services.db, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no routing rule with this id"))
    }
}

/// `{items: [{id, created_at, dvr_name, alert_type, title, sends, delay_seconds,
/// reason}]}`: which of the recent alerts this rule would have sent to its provider.
pub async fn preview(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let r = checked(&state, body, false).await?;
    let s = &state.services;
    let zone = s.alerts.time_zone().zone();
    let alerts = storage::outbox::recent_routed(&s.db, PREVIEW_ALERTS).await?;
    let items: Vec<Value> = alerts
        .into_iter()
        .filter_map(|a| {
            let kind = AlertKind::parse(&a.alert_type)?;
            let route: Route = a
                .route
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default();
            let facts = Facts::of(&a.dvr_id, kind, &route, zone.weekday_minute(a.created_at));
            let (sends, delay, reason) = match r.judge(&facts) {
                Verdict::Send { delay } => (true, delay, None),
                Verdict::Skip(why) => (false, None, Some(why)),
            };
            Some(json!({
                "id": a.id,
                "created_at": domain::times::rfc3339(a.created_at),
                "dvr_name": a.dvr_name,
                "alert_type": a.alert_type,
                "title": a.title,
                "sends": sends,
                "delay_seconds": delay,
                "reason": reason,
            }))
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}
