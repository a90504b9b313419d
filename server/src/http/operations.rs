//! Operator endpoints: the debug bundle download, backup export and import, and a
//! configuration reload (the same as `SIGHUP`). Admins only: each of them exposes or
//! changes the whole install.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::account::admin_only;
use super::dvrs::parse_body;
use super::error::ApiError;
use super::session::Caller;
use super::AppState;
use crate::backup::{self, BackupError};
use crate::services::Services;
use wire::operations::{BackupExport, BackupImport};

/// What the running server knows, for the bundle.
pub async fn snapshot(s: &Services) -> crate::bundle::Snapshot {
    let health: Vec<Value> = s
        .engine
        .slots()
        .iter()
        .map(|slot| serde_json::to_value(s.engine.health_of(slot)).unwrap_or(Value::Null))
        .collect();
    let (dvrs, globals) = crate::metrics::gather(
        &s.engine,
        &s.watchdog,
        &s.core_tasks,
        s.dispatcher.queue_depth(),
        s.heartbeat.counts(),
    );
    let metrics = crate::metrics::render(&dvrs, &globals);
    let records = storage::dvrs::list(&s.db).await.unwrap_or_default();
    let reports = futures::future::join_all(
        records
            .iter()
            .filter(|r| r.enabled)
            .map(|r| crate::doctor::diagnose_with_engine(&s.engine, r)),
    )
    .await;
    let doctor = if reports.is_empty() {
        "No enabled DVRs.\n".to_string()
    } else {
        reports.iter().map(|r| r.to_text()).collect()
    };
    crate::bundle::Snapshot {
        health: json!({
            "ready": s.engine.slots().iter().all(|slot| !s.engine.health_of(slot).stale),
            "dvrs": health,
            "config_file": s.declared.status(),
        }),
        metrics,
        doctor,
    }
}

/// `GET /api/v1/doctor/bundle`: the sanitized debug bundle as a zip download.
pub async fn bundle(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    admin_only(&caller)?;
    let s = &state.services;
    let snap = snapshot(s).await;
    let zip = crate::bundle::build(&s.db, &s.config, snap)
        .await
        .map_err(|e| ApiError::internal("cannot build the debug bundle", e))?;
    let name = crate::bundle::default_name();
    tracing::info!(bytes = zip.len(), "debug bundle downloaded");
    Ok((
        [
            (CONTENT_TYPE, "application/zip".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", name.display()),
            ),
        ],
        zip,
    )
        .into_response())
}

fn backup_error(e: BackupError) -> ApiError {
    match e {
        BackupError::Storage(e) => ApiError::internal("cannot read or write the database", e),
        BackupError::Newer { .. } => {
            ApiError::new(StatusCode::CONFLICT, "backup_too_new", e.to_string())
        }
        BackupError::PassphraseNeeded | BackupError::WrongPassphrase => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "passphrase",
            e.to_string(),
        ),
        other => ApiError::invalid(other.to_string()),
    }
}

/// `POST /api/v1/backup/export` → the backup file (JSON download).
pub async fn export(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    admin_only(&caller)?;
    let empty = body.as_ref().map(|b| b.is_empty()).unwrap_or(false);
    let b: BackupExport = if empty {
        BackupExport::default()
    } else {
        parse_body(body)?
    };
    let backup = backup::export(
        &state.services.db,
        b.passphrase.as_deref().filter(|p| !p.is_empty()),
    )
    .await
    .map_err(backup_error)?;
    let name = format!(
        "channelwatch-backup-{}.json",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    );
    Ok((
        [
            (CONTENT_TYPE, "application/json".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        serde_json::to_string_pretty(&backup).unwrap_or_default(),
    )
        .into_response())
}

/// `POST /api/v1/backup/import` `{backup, passphrase?, without_secrets?}` → what was
/// restored. The DVRs start at once.
pub async fn import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<backup::ImportReport>, ApiError> {
    admin_only(&caller)?;
    let b: BackupImport = parse_body(body)?;
    let s = &state.services;
    let parsed = backup::parse(&b.backup.to_string()).map_err(backup_error)?;
    // Like an edit: a reload cannot interleave, and what the YAML file names stays.
    let _turn = s.declared.edit_turn().await;
    let report = backup::import(&s.db, &parsed, b.passphrase.as_deref(), b.without_secrets)
        .await
        .map_err(backup_error)?;
    s.registry.sync_engine().await?;
    let mut routes = storage::routing::load(&s.db).await?;
    s.declared.pin_routing(&s.parts(), &mut routes).await;
    storage::routing::replace(&s.db, &routes).await?;
    let file = s.declared.file();
    crate::config::declared::write_file_settings(&file, &s.db).await?;
    s.alerts.time_zone().reload(&s.db).await?;
    s.heartbeat.reload().await?;
    s.alerts.quiet().reload().await?;
    // Imported alert settings take effect now.
    if let Some(a) = storage::settings::get(&s.db, crate::alerts::pipeline::SETTINGS_KEY).await? {
        let a = s.declared.pin_alerts(a).map_err(ApiError::invalid)?;
        s.alerts.set_settings(a).await.map_err(ApiError::invalid)?;
    }
    let stored = storage::settings::get(&s.db, storage::settings::DISK_THRESHOLDS).await?;
    if let Some(t) = crate::config::declared::thresholds_in_force(&file, stored) {
        s.engine.set_disk_thresholds(t);
    }
    tracing::info!(
        dvrs = report.dvrs,
        providers = report.providers,
        "backup imported"
    );
    Ok(Json(report))
}

/// `POST /api/v1/config/reload`: rereads the YAML file now (like `SIGHUP`) and answers
/// the diff, or 422 with the reason the file was refused.
pub async fn reload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<wire::operations::Reloaded>, ApiError> {
    admin_only(&caller)?;
    let s = &state.services;
    match s
        .declared
        .reload(s.parts(), &crate::config::ProcessEnv)
        .await
    {
        Ok(diff) => Ok(Json(wire::operations::Reloaded {
            ok: true,
            summary: diff.summary(),
            diff,
        })),
        Err(message) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "config_invalid",
            message,
        )),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScanQuery {
    /// How long to listen, 1–30 s (default 5).
    #[serde(default)]
    seconds: Option<u64>,
}

/// Marks the DVRs already added (by dvr_id, or by host and port).
async fn with_added(
    s: &Services,
    mut scan: crate::discovery::Scan,
) -> Result<crate::discovery::Scan, ApiError> {
    let known = storage::dvrs::list(&s.db).await?;
    for found in &mut scan.dvrs {
        found.added = known.iter().any(|k| {
            k.dvr_id == found.dvr_id
                || (k.port == found.port
                    && (found.addresses.iter().any(|a| {
                        domain::dvr::id::normalize_host(&k.host).trim_matches(['[', ']']) == a
                    }) || k.host.trim_end_matches('.') == found.hostname.trim_end_matches('.')))
        });
    }
    Ok(scan)
}

/// `GET /api/v1/discovery`: the last scan, background or asked for. Reading never
/// starts one (opening the DVRs page sends nothing to the network by itself).
pub async fn discovery(
    State(state): State<AppState>,
) -> Result<Json<crate::discovery::Scan>, ApiError> {
    let s = &state.services;
    let scan = s.discovery.last().unwrap_or(crate::discovery::Scan {
        multicast: crate::discovery::Multicast::Ok,
        message: Some(
            "No scan yet. Scan to look for Channels DVR servers on the local network.".into(),
        ),
        scanned_at: None,
        window_seconds: crate::discovery::WINDOW.as_secs(),
        dvrs: Vec::new(),
        clients: Vec::new(),
    });
    Ok(Json(with_added(s, scan).await?))
}

/// `POST /api/v1/discovery/scan?seconds=N`: browses now and answers what was found.
pub(crate) async fn discovery_scan(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<ScanQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<crate::discovery::Scan>, ApiError> {
    let q = query.map_err(|e| ApiError::invalid(e.body_text()))?.0;
    let seconds = q.seconds.unwrap_or(crate::discovery::WINDOW.as_secs());
    if !(1..=30).contains(&seconds) {
        return Err(ApiError::invalid("seconds: must be between 1 and 30"));
    }
    let s = &state.services;
    let scan = s
        .discovery
        .scan(std::time::Duration::from_secs(seconds))
        .await;
    Ok(Json(with_added(s, scan).await?))
}
