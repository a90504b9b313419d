//! Quiet hours, maintenance windows and snoozes (`crate::quiet`):
//! `GET` / `POST /api/v1/quiet-periods`, `PUT` / `DELETE /api/v1/quiet-periods/{id}`,
//! `GET` / `POST /api/v1/snoozes`, `DELETE /api/v1/snoozes/{id}`, and the snooze link
//! a notification carries, `GET` / `POST /snooze/{token}`, which needs no sign-in:
//! its sealed token names the one DVR it may snooze.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::dvrs::{known_dvrs, parse_body};
use super::error::ApiError;
use super::AppState;
use domain::notify::quiet::{Period, Snooze};

/// `{periods: [...], in_force: [{id, label}]}`: every period, and those on now.
pub async fn list_periods(State(state): State<AppState>) -> Json<Value> {
    let q = state.services.alerts.quiet();
    let periods = q.periods();
    let zone = state.services.alerts.time_zone().zone();
    let local = zone.weekday_minute(Utc::now());
    let on: Vec<Value> = periods
        .iter()
        .filter(|p| p.covers(local))
        .map(|p| json!({"id": p.id, "label": p.label()}))
        .collect();
    Json(json!({"periods": *periods, "in_force": on, "time_zone": zone.name()}))
}

pub async fn create_period(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Period>), ApiError> {
    let p: Period = parse_body(body)?;
    known_dvrs(&state.services.db, &p.dvrs, "dvrs").await?;
    let saved = state.services.alerts.quiet().add_period(p).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

pub async fn replace_period(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Period>, ApiError> {
    let p = Period {
        id,
        ..parse_body(body)?
    };
    known_dvrs(&state.services.db, &p.dvrs, "dvrs").await?;
    if !state
        .services
        .alerts
        .quiet()
        .replace_period(p.clone())
        .await?
    {
        return Err(ApiError::not_found("no quiet period with this id"));
    }
    Ok(Json(p))
}

pub async fn delete_period(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.services.alerts.quiet().delete_period(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no quiet period with this id"))
    }
}

/// The snoozes in force, soonest end first.
pub async fn list_snoozes(State(state): State<AppState>) -> Json<Vec<Snooze>> {
    Json(state.services.alerts.quiet().snoozes(Utc::now()))
}

/// `POST /api/v1/snoozes`: `dvr_id` and `kind` (a category or an event type) are both
/// optional (left out: every DVR, every kind); `hours` is required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnoozeBody {
    #[serde(default)]
    dvr_id: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    hours: f64,
    #[serde(default)]
    digest: bool,
    /// `dashboard` when the web app asks; else `api`.
    #[serde(default)]
    source: Option<String>,
}

pub async fn create_snooze(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Snooze>), ApiError> {
    let b: SnoozeBody = parse_body(body)?;
    if let Some(d) = &b.dvr_id {
        known_dvrs(&state.services.db, std::slice::from_ref(d), "dvr_id").await?;
    }
    let source = match b.source.as_deref() {
        Some("dashboard") => "dashboard",
        None | Some("api") => "api",
        Some(_) => return Err(ApiError::invalid("source: dashboard or api")),
    };
    let s = state
        .services
        .alerts
        .quiet()
        .snooze(b.dvr_id, b.kind, b.hours, b.digest, source)
        .await?;
    Ok((StatusCode::CREATED, Json(s)))
}

pub async fn delete_snooze(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.services.alerts.quiet().end_snooze(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no snooze with this id"))
    }
}

/// The link page's own policy: no script, no style, forms back to this origin only.
const LINK_POLICY: &str = "default-src 'none'; form-action 'self'; frame-ancestors 'none'";

/// Hours a link page offers.
const LINK_HOURS: [u32; 4] = [1, 4, 12, 24];

fn page(status: StatusCode, title: &str, body: String) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{} · ChannelWatch</title></head>\
         <body><main><h1>{}</h1>{body}</main></body></html>",
        escape(title),
        escape(title)
    );
    (
        status,
        [
            (header::CONTENT_SECURITY_POLICY, LINK_POLICY),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(html),
    )
        .into_response()
}

/// A link that is not genuine, or expired.
fn refused(why: &str) -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Snooze link",
        format!("<p>{}</p>", escape(why)),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The DVR's name, else its id.
fn dvr_name(state: &AppState, dvr_id: &str) -> String {
    state
        .services
        .engine
        .slot(dvr_id)
        .map(|s| s.name())
        .unwrap_or_else(|| dvr_id.to_string())
}

/// `GET /snooze/{token}`: what the link snoozes, with a button per duration. Opening
/// it changes nothing (mail scanners open links); a button does.
pub async fn link_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let q = state.services.alerts.quiet();
    let t = match q.open_link(&token, Utc::now()) {
        Ok(t) => t,
        Err(e) => return refused(&e),
    };
    let name = dvr_name(&state, &t.dvr_id);
    let mut body = String::new();
    if let Some((_, until)) = q.dvr_snooze(&t.dvr_id, Utc::now()) {
        body.push_str(&format!(
            "<p>Already snoozed until {}.</p>",
            escape(&state.services.alerts.time_zone().zone().date_time(until))
        ));
    }
    body.push_str(&format!(
        "<p>Snoozed, alerts from <strong>{}</strong> are recorded and shown in ChannelWatch but not sent. Snooze for:</p>",
        escape(&name)
    ));
    // Every alert of the DVR, or only the kind of the alert the link came with.
    let mut scopes = vec![("dvr", format!("All alerts from {name}"))];
    if let Some(k) = &t.kind {
        scopes.push(("kind", format!("Only {k} alerts from {name}")));
    }
    for (scope, label) in scopes {
        body.push_str(&format!("<h2>{}</h2>", escape(&label)));
        for h in LINK_HOURS {
            body.push_str(&format!(
                "<form method=\"post\"><input type=\"hidden\" name=\"scope\" value=\"{scope}\">\
                 <input type=\"hidden\" name=\"hours\" value=\"{h}\">\
                 <button type=\"submit\">{h} hour{}</button></form>",
                if h == 1 { "" } else { "s" }
            ));
        }
    }
    page(StatusCode::OK, &format!("Snooze {name}"), body)
}

#[derive(Deserialize)]
pub struct LinkForm {
    hours: String,
    /// `dvr` (every alert of the DVR; the default) or `kind` (the link's kind only).
    #[serde(default)]
    scope: Option<String>,
}

/// `POST /snooze/{token}` (form `hours`): snoozes the link's DVR.
pub async fn link_snooze(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form: Result<axum::Form<LinkForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let q = state.services.alerts.quiet();
    let t = match q.open_link(&token, Utc::now()) {
        Ok(t) => t,
        Err(e) => return refused(&e),
    };
    let form = form.ok().map(|f| f.0);
    let only_kind = form
        .as_ref()
        .is_some_and(|f| f.scope.as_deref() == Some("kind"));
    let hours = form
        .and_then(|f| f.hours.trim().parse::<u32>().ok())
        .filter(|h| LINK_HOURS.contains(h));
    let Some(hours) = hours else {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Snooze link",
            "<p>Choose one of the offered durations.</p>".into(),
        );
    };
    let name = dvr_name(&state, &t.dvr_id);
    let kind = t.kind.filter(|_| only_kind);
    let what = match &kind {
        Some(k) => format!("No {k} alerts"),
        None => "No alerts".to_string(),
    };
    match q
        .snooze(Some(t.dvr_id.clone()), kind, f64::from(hours), false, "link")
        .await
    {
        Ok(s) => page(
            StatusCode::OK,
            &format!("{name} snoozed"),
            format!(
                "<p>{what} from <strong>{}</strong> are sent until {}. They are still recorded and shown in the dashboard's alert history. To end the snooze early, open the dashboard.</p>",
                escape(&name),
                escape(&state.services.alerts.time_zone().zone().date_time(s.until))
            ),
        ),
        Err(e) => {
            tracing::warn!(dvr_id = %t.dvr_id, error = %e, "a snooze link could not snooze");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Snooze link",
                "<p>The snooze could not be saved; try again.</p>".into(),
            )
        }
    }
}
