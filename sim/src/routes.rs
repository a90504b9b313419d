//! The HTTP surface of the simulator: the endpoints ChannelWatch calls on a real
//! Channels DVR, answered from the fixtures and the simulator's live state.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::state::Shared;
use super::stream::event_body;
use super::FailMode;

type St = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/dvr/events/subscribe", get(subscribe))
        .route("/status", get(status))
        .route("/dvr", get(dvr))
        .route("/dvr/jobs", get(dvr_jobs))
        .route("/dvr/clients/info", get(clients_info))
        .route("/devices", get(devices))
        .route("/api/v1/channels", get(channels))
        .route("/api/v1/all", get(all))
        .route("/api/v1/recordings", get(recordings))
        .route("/api/v1/recordings/{id}", get(recording))
        .route("/api/v1/jobs", get(jobs))
        // Real DVRs accept a device id here; monitors use `ANY`.
        .route("/devices/{device}/guide/now", get(guide_now))
        .route("/devices/{device}/guide/xmltv", get(guide_xmltv))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            require_api_key,
        ))
        // Images are served without the API key, like a real DVR's uploads.
        .route("/dvr/uploads/{file}", get(upload))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            count_request,
        ))
        // The simulator's own control plane (not a Channels DVR path): lets browser
        // tests and demos drive a simulator running as a separate process.
        .route("/__sim/emit", axum::routing::post(control_emit))
        .route("/__sim/stall", axum::routing::post(control_stall))
        .route("/__sim/disk", axum::routing::post(control_disk))
        .fallback(not_found)
        .with_state(shared)
}

/// Counts each DVR API request by its path (tests ask what a monitor fetched).
async fn count_request(
    State(sh): St,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    sh.count_request(req.uri().path());
    next.run(req).await
}

/// 401 without the configured `X-API-Key` (when one is configured).
async fn require_api_key(
    State(sh): St,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(want) = &sh.config.api_key {
        let given = req.headers().get("x-api-key").and_then(|v| v.to_str().ok());
        if given != Some(want.as_str()) {
            return (StatusCode::UNAUTHORIZED, "API key required").into_response();
        }
    }
    next.run(req).await
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

#[derive(Deserialize)]
struct EmitBody {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Value", default)]
    value: String,
}

/// `POST /__sim/emit {"Type","Name","Value"}`: one event to every open stream.
async fn control_emit(State(sh): St, Json(b): Json<EmitBody>) -> StatusCode {
    sh.emit(&b.kind, &b.name, &b.value);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct StallBody {
    stalled: bool,
}

/// `POST /__sim/stall {"stalled": bool}`: hang like a stuck DVR process, or recover.
async fn control_stall(State(sh): St, Json(b): Json<StallBody>) -> StatusCode {
    sh.set_stall(b.stalled);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct ControlDisk {
    free: u64,
    total: u64,
}

/// `POST /__sim/disk {"free","total"}`: the figures `/dvr` reports from now on.
async fn control_disk(State(sh): St, Json(b): Json<ControlDisk>) -> StatusCode {
    sh.set_disk(b.free, b.total);
    StatusCode::NO_CONTENT
}

/// The Go-style plain-text 404 a Channels DVR (a Go server) answers with.
/// `GET /dvr/uploads/<file>`: a channel logo or program art ([`super::art`]).
async fn upload(State(sh): St, Path(file): Path<String>) -> Response {
    let channels = sh
        .fixtures
        .channels
        .iter()
        .map(|c| (c.logo.as_str(), c.name.as_str()));
    match super::art::upload(channels, &file) {
        Some(svg) => ([(CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        None => not_found().await,
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

async fn subscribe(State(sh): St) -> Response {
    if sh.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match sh.fail_mode() {
        FailMode::None => {}
        FailMode::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = format!(
                "{} {}\n",
                status.as_u16(),
                status.canonical_reason().unwrap_or("simulated failure")
            );
            return (status, body).into_response();
        }
        FailMode::TooManyRequests { retry_after_secs } => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(RETRY_AFTER, retry_after_secs.to_string())],
                "429 Too Many Requests\n",
            )
                .into_response();
        }
    }
    (
        [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-cache"),
        ],
        event_body(&sh),
    )
        .into_response()
}

async fn status(State(sh): St) -> Response {
    // A stalled DVR is a hung process: requests are accepted but not answered until the
    // stall ends (so a monitor's keep-alive cannot mistake it for a healthy one).
    let mut stall = sh.stall.subscribe();
    if stall.wait_for(|s| !*s).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if sh.status_fail() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 Internal Server Error\n",
        )
            .into_response();
    }
    let mut body = sh.fixtures.status.clone();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("name".to_owned(), Value::String(sh.config.name.clone()));
    }
    Json(body).into_response()
}

/// `/dvr` with the field order of a real response.
#[derive(Serialize)]
struct DvrBody {
    path: String,
    disk: DiskBody,
    activity: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct DiskBody {
    free: u64,
    total: u64,
    used: u64,
}

async fn dvr(State(sh): St) -> Response {
    let body = {
        let d = sh.data.lock();
        DvrBody {
            path: sh.fixtures.dvr_path.clone(),
            disk: DiskBody {
                free: d.disk_free,
                total: d.disk_total,
                used: d.disk_total.saturating_sub(d.disk_free),
            },
            activity: d.activity.clone(),
        }
    };
    Json(body).into_response()
}

/// `/dvr/clients/info`: the household's apps as the DVR knows them, with the field
/// names of a real answer.
async fn clients_info(State(_sh): St) -> Response {
    Json(crate::scenario::clients_info(now_unix())).into_response()
}

async fn channels(State(sh): St) -> Response {
    (
        [(CONTENT_TYPE, "application/json")],
        sh.fixtures.channels_text.clone(),
    )
        .into_response()
}

/// `GET /devices`: the tuners and sources the scenario's events name (the two
/// HDHomeRun ids, TV Everywhere, the M3U sources).
async fn devices() -> Response {
    Json(json!([
        {"DeviceID": "10811DF5", "FriendlyName": "HDHomeRun PRIME", "Provider": "tuner", "TunerCount": 3},
        {"DeviceID": "1053C0CA", "FriendlyName": "HDHomeRun FLEX 4K", "Provider": "tuner", "TunerCount": 4},
        {"DeviceID": "TVE", "FriendlyName": "TV Everywhere", "Provider": "tve"},
        {"DeviceID": "M3U-Pluto", "FriendlyName": "Pluto", "Provider": "m3u"},
        {"DeviceID": "M3U-Samsung", "FriendlyName": "Samsung TV Plus", "Provider": "m3u"}
    ]))
    .into_response()
}

async fn guide_now(State(sh): St) -> Response {
    Json(sh.fixtures.guide_now_at(now_unix())).into_response()
}

async fn guide_xmltv(State(sh): St) -> Response {
    (
        [(CONTENT_TYPE, "application/xml")],
        sh.fixtures.xmltv_at(now_unix()),
    )
        .into_response()
}

#[derive(Deserialize)]
struct AllQuery {
    id: Option<String>,
}

async fn all(State(sh): St, Query(q): Query<AllQuery>) -> Response {
    let extra = sh.data.lock().library_extra.clone();
    let items = sh.fixtures.all.iter().cloned().chain(extra);
    let body: Vec<Value> = match q.id {
        Some(id) => items
            .filter(|v| v.get("id").and_then(Value::as_str) == Some(id.as_str()))
            .take(1)
            .collect(),
        None => items.collect(),
    };
    Json(Value::Array(body)).into_response()
}

async fn recordings(State(sh): St) -> Response {
    let list = sh.data.lock().recordings.clone();
    Json(Value::Array(list)).into_response()
}

async fn recording(State(sh): St, Path(id): Path<String>) -> Response {
    let found = sh
        .data
        .lock()
        .recordings
        .iter()
        .find(|r| r.get("id").and_then(Value::as_str) == Some(id.as_str()))
        .cloned();
    match found {
        Some(rec) => Json(rec).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "recording not found"})),
        )
            .into_response(),
    }
}

async fn jobs(State(sh): St) -> Response {
    let list: Vec<Value> = sh.data.lock().jobs.iter().map(|j| j.api_json()).collect();
    Json(Value::Array(list)).into_response()
}

async fn dvr_jobs(State(sh): St) -> Response {
    let list: Vec<Value> = sh.data.lock().jobs.iter().map(|j| j.dvr_json()).collect();
    Json(Value::Array(list)).into_response()
}
