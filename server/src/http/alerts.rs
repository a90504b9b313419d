//! `GET /api/v1/alerts` (history, newest first, cursor paging), `GET/PUT
//! /api/v1/settings`, and `POST /api/v1/templates/preview`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::dvrs::parse_body;
use super::error::ApiError;
use super::AppState;
use crate::config::declared::managed_key_in;
use domain::alerts::kind::AlertKind;
use domain::alerts::settings::Template;
use domain::alerts::template;
use domain::settings::SettingsPatch;
use storage::outbox::{self, AlertView};
use storage::settings as store;
use wire::settings::{ConfigFile, SettingsView};

#[derive(Deserialize)]
pub struct HistoryQuery {
    dvr_id: Option<String>,
    limit: Option<i64>,
    before: Option<i64>,
}

#[derive(Serialize)]
pub struct History {
    alerts: Vec<AlertView>,
    next_before: Option<i64>,
}

pub async fn history(
    State(state): State<AppState>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<History>, ApiError> {
    let Query(q) =
        query.map_err(|r| ApiError::new(r.status(), "invalid_request", r.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit: must be between 1 and 500"));
    }
    let alerts = outbox::history(&state.services.db, q.dvr_id.as_deref(), limit, q.before).await?;
    let next_before = (alerts.len() as i64 == limit)
        .then(|| alerts.last().map(|a| a.id))
        .flatten();
    Ok(Json(History {
        alerts,
        next_before,
    }))
}

/// The settings keys the YAML file sets (dotted paths, alert leaves included): the UI
/// shows them as the file's.
fn file_keys(file: &crate::config::FileConfig) -> Vec<String> {
    fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, x) in m {
                    leaves(x, format!("{at}.{k}"), out);
                }
            }
            _ => out.push(at),
        }
    }
    let mut out = Vec::new();
    for (key, set) in [
        ("dvr_soft_limit", file.dvr_soft_limit.is_some()),
        ("retention_days", file.retention_days.is_some()),
        (
            "history_retention_days",
            file.history_retention_days.is_some(),
        ),
        ("disk_thresholds", file.disk_thresholds.is_some()),
        ("time_zone", file.time_zone.is_some()),
    ] {
        if set {
            out.push(key.to_string());
        }
    }
    if let Some(a) = &file.alerts {
        leaves(a, "alerts".into(), &mut out);
    }
    out
}

async fn current(state: &AppState) -> Result<SettingsView, ApiError> {
    let s = &state.services;
    Ok(SettingsView {
        managed_by_file: file_keys(&s.declared.file()),
        dvr_soft_limit: store::dvr_soft_limit(&s.db).await?,
        alerts: s.alerts.settings(),
        retention_days: store::retention_days(&s.db).await?,
        history_retention_days: store::history_retention_days(&s.db).await?,
        time_zone: store::time_zone(&s.db).await?,
        time_zone_in_force: {
            let r = s.alerts.time_zone().resolved();
            wire::settings::ZoneInForce {
                name: r.zone.name().to_string(),
                source: r.source.as_str().to_string(),
                warning: r.warning,
            }
        },
        disk_thresholds: s.engine.disk_thresholds(),
        disk_thresholds_managed_by_file: s.declared.file().disk_thresholds.is_some(),
        config_file: ConfigFile {
            path: s.declared.path.display().to_string(),
            last_apply: s.declared.status(),
        },
    })
}

pub(crate) async fn get_settings(
    State(state): State<AppState>,
) -> Result<Json<SettingsView>, ApiError> {
    Ok(Json(current(&state).await?))
}

/// `GET /api/v1/settings/time-zones`: every zone name of the bundled database, for the
/// time zone picker.
pub(crate) async fn time_zones() -> Json<Vec<&'static str>> {
    let mut names: Vec<&'static str> = domain::zone::Zone::names().collect();
    names.sort_unstable();
    Json(names)
}

/// Any part may be given; what is given is validated whole (`SettingsPatch::check`,
/// as the YAML file and backups are) before anything changes.
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SettingsView>, ApiError> {
    let b: SettingsPatch = parse_body(body)?;
    if let Some(key) = managed_key_in(&state.services.declared.file(), &b) {
        let it = if key == "disk_thresholds" {
            "them"
        } else {
            "it"
        };
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "managed_by_file",
            format!("{key}: set in the YAML configuration file; change {it} there"),
        ));
    }
    // Alert edits and reloads take turns: each merges into the settings it read.
    let _turn = state.services.declared.edit_turn().await;
    let alerts = match b
        .check(&state.services.alerts.settings())
        .map_err(|e| ApiError::invalid(e.to_string()))?
    {
        // What the YAML file names wins over the edit.
        Some(a) => Some(
            state
                .services
                .declared
                .pin_alerts(a)
                .map_err(ApiError::invalid)?,
        ),
        None => None,
    };
    if let Some(limit) = b.dvr_soft_limit {
        store::set(&state.services.db, store::DVR_SOFT_LIMIT, &limit).await?;
    }
    if let Some(days) = b.retention_days {
        store::set(&state.services.db, store::RETENTION_DAYS, &days).await?;
    }
    if let Some(days) = b.history_retention_days {
        store::set(&state.services.db, store::HISTORY_RETENTION_DAYS, &days).await?;
    }
    if let Some(zone) = &b.time_zone {
        store::set(&state.services.db, store::TIME_ZONE, &zone.trim()).await?;
        state
            .services
            .alerts
            .time_zone()
            .reload(&state.services.db)
            .await?;
    }
    if let Some(t) = b.disk_thresholds {
        store::set(&state.services.db, store::DISK_THRESHOLDS, &t).await?;
        state.services.engine.set_disk_thresholds(t);
    }
    if let Some(a) = alerts {
        state
            .services
            .alerts
            .set_settings(a)
            .await
            .map_err(ApiError::invalid)?;
    }
    Ok(Json(current(&state).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewBody {
    alert_type: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

/// The alert kind named, with the template parts given checked (a 422 names what is
/// wrong).
fn kind_and_template(
    alert_type: &str,
    title: &Option<String>,
    body: &Option<String>,
) -> Result<AlertKind, ApiError> {
    let kind = AlertKind::parse(alert_type).ok_or_else(|| {
        ApiError::invalid(format!("alert_type: '{alert_type}' is not an alert type"))
    })?;
    for (part, t) in [("title", title), ("body", body)] {
        if let Some(t) = t {
            template::check_syntax(t).map_err(|e| ApiError::invalid(format!("{part}: {e}")))?;
        }
    }
    Ok(kind)
}

/// Renders a template against a sample event of the type, with the variable list.
pub async fn preview(body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, ApiError> {
    let b: PreviewBody = parse_body(body)?;
    let kind = kind_and_template(&b.alert_type, &b.title, &b.body)?;
    let vars = template::sample(kind);
    let user = Template {
        title: b.title,
        body: b.body,
    };
    let (title, message, problem) =
        crate::alerts::render::render_async(kind, vars.clone(), Some(user)).await;
    let variables: Vec<&str> = template::SHARED_VARS
        .iter()
        .chain(kind.category().map(template::variables).unwrap_or_default())
        .copied()
        .collect();
    Ok(Json(json!({
        "title": title,
        "message": message,
        "problem": problem,
        "variables": variables,
        "sample": vars,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestAlertBody {
    alert_type: String,
    /// The DVR it comes from (default: the first running one by name).
    #[serde(default)]
    dvr_id: Option<String>,
    /// The template being edited (default: the saved one).
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

/// `POST /api/v1/alerts/test {alert_type, dvr_id?, title?, body?}`: sends an alert of
/// that kind made from sample data, routed like a real one from the DVR.
pub async fn send_test(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<wire::TestAlertSent>, ApiError> {
    let b: TestAlertBody = parse_body(body)?;
    let kind = kind_and_template(&b.alert_type, &b.title, &b.body)?;
    let engine = &state.services.engine;
    let dvr_id = match b.dvr_id {
        Some(id) => engine
            .slot(&id)
            .map(|s| s.dvr_id.clone())
            .ok_or_else(|| ApiError::invalid(format!("dvr_id: no running DVR with id {id}")))?,
        None => {
            let mut slots = engine.slots();
            slots.sort_by_key(|s| s.name().to_lowercase());
            slots.first().map(|s| s.dvr_id.clone()).ok_or_else(|| {
                ApiError::invalid(
                    "add a DVR first: a test alert is routed like a real one from a DVR",
                )
            })?
        }
    };
    let user = (b.title.is_some() || b.body.is_some()).then_some(Template {
        title: b.title,
        body: b.body,
    });
    let (alert_id, title, providers) = state
        .services
        .alerts
        .send_test(&dvr_id, kind, user)
        .await
        .map_err(ApiError::invalid)?;
    Ok(Json(wire::TestAlertSent {
        alert_id,
        dvr_id,
        title,
        providers,
    }))
}
