//! `/api/v1/providers`: shared notification providers (secrets masked in every answer)
//! and `POST /api/v1/providers/{id}/test`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Map, Value};

use super::dvrs::parse_body;
use super::error::ApiError;
use super::session::Caller;
use super::AppState;
use crate::notify::providers::{api_object, config_from_body, test_message, viewer_object};
use storage::providers::{self as store, ProviderRecord};
use wire::providers::{ChannelsClientRow, ProviderView, TestOutcome};

fn take_str(m: &mut Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match m.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!("{key}: must be a string"))),
    }
}

fn take_bool(m: &mut Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match m.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(_) => Err(ApiError::invalid(format!("{key}: must be true or false"))),
    }
}

fn provider_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no provider with id {raw}")))
}

async fn load(state: &AppState, raw: &str) -> Result<ProviderRecord, ApiError> {
    store::get(&state.services.db, provider_id(raw)?)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no provider with id {raw}")))
}

/// Providers the YAML file declares change only there (a reload would undo the edit).
fn refuse_file_managed(r: &ProviderRecord) -> Result<(), ApiError> {
    if r.managed_by == storage::dvrs::ManagedBy::File {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "managed_by_file",
            format!(
                "provider {} ('{}') is declared in the configuration file; change it there",
                r.id, r.name
            ),
        ));
    }
    Ok(())
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<ProviderView>>, ApiError> {
    let all = store::list(&state.services.db).await?;
    let view = if caller.is_admin() {
        api_object
    } else {
        viewer_object
    };
    Ok(Json(all.iter().map(view).collect()))
}

pub async fn create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut m: Map<String, Value> = parse_body(body)?;
    let kind = take_str(&mut m, "type")?.ok_or_else(|| ApiError::invalid("type: is required"))?;
    let name = take_str(&mut m, "name")?.unwrap_or_else(|| kind.clone());
    if name.trim().is_empty() {
        return Err(ApiError::invalid("name: must not be empty"));
    }
    let enabled = take_bool(&mut m, "enabled")?.unwrap_or(true);
    let target = config_from_body(&kind, m, None).map_err(ApiError::invalid)?;
    let r = store::insert(&state.services.db, &kind, name.trim(), enabled, &target).await?;
    tracing::info!(provider_id = r.id, provider_type = %kind, "notification provider added");
    Ok((StatusCode::CREATED, Json(api_object(&r))).into_response())
}

pub async fn patch(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ProviderView>, ApiError> {
    let mut r = load(&state, &raw).await?;
    refuse_file_managed(&r)?;
    let mut m: Map<String, Value> = parse_body(body)?;
    // An echoed answer object carries its id (and an Apprise provider's scheme).
    if let Some(id) = m.remove("id") {
        if id.as_i64() != Some(r.id) {
            return Err(ApiError::invalid(
                "id: does not match the provider in the URL",
            ));
        }
    }
    m.remove("scheme");
    m.remove("managed_by");
    if let Some(kind) = take_str(&mut m, "type")? {
        if kind != r.kind {
            return Err(ApiError::invalid(
                "type: cannot change; delete the provider and add a new one",
            ));
        }
    }
    if let Some(name) = take_str(&mut m, "name")? {
        if name.trim().is_empty() {
            return Err(ApiError::invalid("name: must not be empty"));
        }
        r.name = name.trim().to_string();
    }
    if let Some(enabled) = take_bool(&mut m, "enabled")? {
        r.enabled = enabled;
    }
    if !m.is_empty() {
        // Fields not given keep their stored values; masked ones keep the secret.
        let replaces_url = m.get("url").and_then(Value::as_str).is_some_and(|u| {
            r.kind == "apprise" || crate::notify::providers::is_apprise_url(&r.kind, u)
        });
        let mut fields = if replaces_url {
            Map::new()
        } else {
            r.config.masked()
        };
        fields.extend(m);
        // A masked secret is only kept for the destination it was given for: a new
        // scheme, host or port (SMTP host, security or port) needs it given again, or
        // the answer is 422 naming it (`ProviderConfig::carried_secrets`).
        r.config = config_from_body(&r.kind, fields, Some(&r.config)).map_err(ApiError::invalid)?;
    }
    store::update(&state.services.db, &r).await?;
    Ok(Json(api_object(&r)))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = provider_id(&raw)?;
    refuse_file_managed(&load(&state, &raw).await?)?;
    if store::delete(&state.services.db, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no provider with id {raw}")))
    }
}

/// Sends a test notification now and answers with the provider's own reply.
pub async fn test(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<TestOutcome>, ApiError> {
    let r = load(&state, &raw).await?;
    let out = test_message(&r, &state.services.config.instance_url);
    let http = crate::notify::http_client();
    Ok(Json(
        match crate::notify::send::send(&http, &r.config, &out).await {
            Ok(ack) => TestOutcome {
                ok: true,
                status: Some(ack.status),
                message: ack.message,
            },
            Err(f) => {
                tracing::warn!(provider_id = r.id, provider_type = %r.kind, error = %f.message, "test notification failed");
                TestOutcome {
                    ok: false,
                    status: f.status,
                    message: f.message,
                }
            }
        },
    ))
}

/// `GET /api/v1/providers/channels-clients`: the TVs a `channels_app` provider can
/// show alerts on: the Channels apps each running DVR lists (on its own network), and
/// those the last mDNS scan found, one entry per address.
pub async fn channels_clients(State(state): State<AppState>) -> Json<Vec<ChannelsClientRow>> {
    let s = &state.services;
    let mut rows: Vec<ChannelsClientRow> = Vec::new();
    let mut add = |row: ChannelsClientRow| {
        if !rows.iter().any(|r| r.address == row.address) {
            rows.push(row);
        }
    };
    for slot in s.engine.slots() {
        let Some(e) = s.alerts.enrichers().get(&s.engine, &slot.dvr_id) else {
            continue;
        };
        let list = e.lock().await.clients().await;
        for c in list.into_iter().filter(|c| c.remote != Some(true)) {
            let Some(ip) = c.ip else { continue };
            let host = match ip {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            };
            add(ChannelsClientRow {
                name: c.name.unwrap_or_else(|| host.clone()),
                address: host,
                platform: c.platform,
                dvr_name: Some(slot.name()),
                source: "dvr".into(),
            });
        }
    }
    if let Some(scan) = s.discovery.last() {
        for c in scan.clients {
            add(ChannelsClientRow {
                name: c.name,
                address: format!("{}:{}", c.host, c.port),
                platform: None,
                dvr_name: None,
                source: "mdns".into(),
            });
        }
    }
    Json(rows)
}
