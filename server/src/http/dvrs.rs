//! `/api/v1/dvrs` and `/api/v1/sessions`: the contract's DVR objects and health.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::AppState;
use crate::registry::{DvrPatch, NewDvr};
use domain::session::{LiveSession, VodSession};
use engine::Health;
use storage::dvrs::{DvrRecord, ManagedBy};
use wire::dvrs::{DvrCreate, DvrHealth, DvrTest, DvrTested, DvrView};

/// The contract's DVR object for a stored DVR and its health reading.
pub(crate) fn dvr_view(r: DvrRecord, health: Option<Health>) -> DvrView {
    let health = match (r.enabled, health) {
        (false, _) => DvrHealth {
            status: "disabled".into(),
            ..DvrHealth::default()
        },
        (true, Some(h)) => DvrHealth {
            status: h.status().into(),
            connected: h.connected,
            stale: h.stale,
            last_event_at: h.last_event_at,
            last_event_seconds_ago: h.last_event_seconds_ago,
        },
        (true, None) => DvrHealth {
            status: "disconnected".into(),
            ..DvrHealth::default()
        },
    };
    DvrView {
        managed_by: match r.managed_by {
            ManagedBy::Ui => "ui",
            ManagedBy::File => "file",
            // --demo entries are declared by the process invocation, like env ones.
            ManagedBy::Env | ManagedBy::Demo => "env",
        }
        .into(),
        api_key: r
            .api_key
            .is_set()
            .then(|| crate::registry::MASK.to_string()),
        dvr_id: r.dvr_id,
        name: r.name,
        host: r.host,
        port: r.port,
        enabled: r.enabled,
        staleness_threshold_seconds: r.staleness_threshold_seconds,
        health,
    }
}

/// Parses a JSON body with a precise message (`port: invalid value…`), whatever the
/// Content-Type header says.
/// Every id in `ids` names a configured DVR (a rule's or a quiet period's DVRs); the
/// error names `field` and the first unknown id.
pub(crate) async fn known_dvrs(
    db: &storage::Db,
    ids: &[String],
    field: &str,
) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let dvrs = storage::dvrs::list(db).await?;
    match ids.iter().find(|d| !dvrs.iter().any(|x| &x.dvr_id == *d)) {
        Some(unknown) => Err(ApiError::invalid(format!(
            "{field}: no DVR with id {unknown}"
        ))),
        None => Ok(()),
    }
}

pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|r| ApiError::new(r.status(), "invalid_request", r.body_text()))?;
    if body.is_empty() {
        return Err(ApiError::invalid("request body must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::invalid(format!("invalid JSON body: {inner}"))
        } else {
            ApiError::invalid(format!("{path}: {inner}"))
        }
    })
}

fn object(state: &AppState, r: DvrRecord) -> DvrView {
    let health = state.services.engine.health(&r.dvr_id);
    dvr_view(r, health)
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<DvrView>>, ApiError> {
    let records = state.services.registry.list().await?;
    Ok(Json(
        records.into_iter().map(|r| object(&state, r)).collect(),
    ))
}

pub async fn create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: DvrCreate = parse_body(body)?;
    let record = state
        .services
        .registry
        .create(
            NewDvr {
                name: b.name,
                host: b.host,
                port: b.port,
                enabled: b.enabled,
                staleness_threshold_seconds: b.staleness_threshold_seconds,
                api_key: b.api_key,
            },
            ManagedBy::Ui,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(object(&state, record))).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DvrView>, ApiError> {
    let record = state.services.registry.get(&id).await?;
    Ok(Json(object(&state, record)))
}

pub async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DvrView>, ApiError> {
    let b: wire::dvrs::DvrPatch = parse_body(body)?;
    let record = state
        .services
        .registry
        .update(
            &id,
            DvrPatch {
                name: b.name,
                host: b.host,
                port: b.port,
                enabled: b.enabled,
                staleness_threshold_seconds: b.staleness_threshold_seconds,
                api_key: b.api_key,
            },
        )
        .await?;
    Ok(Json(object(&state, record)))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.registry.delete(&id).await?;
    state.services.alerts.forget_dvr(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// 200 when connected and fresh; 503 with `error` when disconnected or stale.
/// `GET /api/v1/dvrs/{id}/overview`: the DVR page.
pub async fn overview(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<wire::dvr_page::DvrOverview>, ApiError> {
    crate::dvr_page::overview(&state.services, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no DVR with id {id}")))
}

pub async fn health(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = state.services.registry.get(&id).await?;
    let health = match state.services.engine.health(&id) {
        Some(h) => h,
        None => Health {
            dvr_id: record.dvr_id.clone(),
            dvr_name: record.name.clone(),
            connected: false,
            last_event_at: None,
            last_event_seconds_ago: None,
            stale: false,
            staleness_threshold_seconds: record.staleness_threshold_seconds,
            session_state_size: 0,
            disk_status: "ok",
            recent_alert_rate: 0.0,
            error: Some(if record.enabled {
                "disconnected: monitoring task not running".into()
            } else {
                "disabled: monitoring is switched off for this DVR".into()
            }),
        },
    };
    let code = if health.error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((code, Json(health)).into_response())
}

#[derive(Deserialize)]
pub struct SessionsQuery {
    dvr_id: Option<String>,
}

/// An active session with the DVR it belongs to.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum SessionKind {
    Live(LiveSession),
    Vod(VodSession),
}

#[derive(Serialize)]
pub struct SessionObject {
    dvr_id: String,
    dvr_name: String,
    #[serde(flatten)]
    session: SessionKind,
}

pub async fn sessions(
    State(state): State<AppState>,
    query: Result<Query<SessionsQuery>, QueryRejection>,
) -> Result<Json<Vec<SessionObject>>, ApiError> {
    let Query(q) =
        query.map_err(|r| ApiError::new(r.status(), "invalid_request", r.body_text()))?;
    let engine = &state.services.engine;
    let slots = match &q.dvr_id {
        Some(id) => vec![engine
            .slot(id)
            .ok_or_else(|| ApiError::not_found(format!("no running DVR with id {id}")))?],
        None => engine.slots(),
    };
    let mut out = Vec::new();
    for slot in slots {
        let name = slot.name();
        slot.with_state(|st| {
            for s in st.live_sessions() {
                out.push(SessionObject {
                    dvr_id: slot.dvr_id.clone(),
                    dvr_name: name.clone(),
                    session: SessionKind::Live(s.clone()),
                });
            }
            for s in st.vod_sessions() {
                out.push(SessionObject {
                    dvr_id: slot.dvr_id.clone(),
                    dvr_name: name.clone(),
                    session: SessionKind::Vod(s.clone()),
                });
            }
        });
    }
    Ok(Json(out))
}

/// `POST /api/v1/dvrs/test`: the doctor's checks against an address before it is saved
/// (the form's "Test connection"). Always 200 with the report; `ok` says if all passed.
pub(crate) async fn test_connection(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DvrTested>, ApiError> {
    let b: DvrTest = parse_body(body)?;
    let host = b.host.trim().to_string();
    let port = b.port.unwrap_or(crate::registry::DEFAULT_PORT);
    crate::registry::validate_host(&host).map_err(|m| ApiError {
        fields: vec![crate::registry::FieldError {
            field: "host",
            message: m.clone(),
        }],
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("host: {m}"),
        )
    })?;
    if port == 0 {
        return Err(ApiError::invalid("port: must be between 1 and 65535"));
    }
    let id = domain::dvr::id::dvr_id(&host, port);
    let api_key = match b.api_key.as_deref() {
        Some(crate::registry::MASK) => match state.services.registry.get(&id).await {
            Ok(r) => r.api_key,
            Err(_) => Default::default(),
        },
        other => domain::dvr::ApiKey::new(other.unwrap_or("")),
    };
    let record = storage::dvrs::DvrRecord {
        dvr_id: id,
        name: b.name.unwrap_or_else(|| host.clone()),
        host,
        port,
        enabled: true,
        staleness_threshold_seconds: crate::registry::DEFAULT_STALENESS_SECONDS,
        managed_by: ManagedBy::Ui,
        api_key,
    };
    let report = crate::doctor::diagnose_with_engine(&state.services.engine, &record).await;
    Ok(Json(DvrTested {
        ok: report.ok(),
        text: report.to_text(),
        report,
    }))
}
