//! The wire contract shared by the server and the browser: the JSON shapes of the
//! dashboard, diagnoses, alerts, the caller and API errors. serde only, so it builds
//! for wasm too. Nothing here holds a secret.

pub mod account;
pub mod discovery;
pub mod dvr_page;
pub mod dvrs;
pub mod history;
pub mod operations;
pub mod providers;
pub mod quiet;
pub mod rules;
pub mod settings;
pub mod zone;

use serde::{Deserialize, Serialize};

/// One check of a DVR diagnosis (`channelwatch doctor diagnose`, the UI's Diagnose).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseCheck {
    /// `dns`, `tcp`, `status`, `version`, `event_stream`, `disk` or `clock_skew`.
    pub name: String,
    pub ok: bool,
    /// What was found, e.g. `answered in 3 ms`.
    pub detail: String,
    /// What to do about a failure.
    pub hint: Option<String>,
}

/// The diagnosis of one DVR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseReport {
    pub dvr_id: String,
    pub dvr_name: String,
    /// `host:port` as configured.
    pub address: String,
    pub checks: Vec<DiagnoseCheck>,
}

impl DiagnoseReport {
    /// True when every check passed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The report as text: a heading, then one `OK`/`FAIL` line per check with its hint.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "DVR '{}' ({}) at {}\n",
            self.dvr_name, self.dvr_id, self.address
        );
        for c in &self.checks {
            let mark = if c.ok { "OK  " } else { "FAIL" };
            out.push_str(&format!("{mark} {} {}: {}", self.dvr_id, c.name, c.detail));
            if let (false, Some(h)) = (c.ok, &c.hint) {
                out.push_str(&format!(" | hint: {h}"));
            }
            out.push('\n');
        }
        out
    }
}

/// Everything the live dashboard shows, pushed whole on every change (`/api/v1/live`).
/// The browser scopes it to one DVR itself, so one frame serves every viewer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Dashboard {
    /// RFC 3339, when the server built this frame.
    pub generated_at: String,
    pub dvrs: Vec<DvrCard>,
    pub sessions: Vec<SessionRow>,
    pub recordings: Vec<RecordingRow>,
    pub upcoming: Vec<UpcomingRow>,
    pub alerts: Vec<AlertRow>,
}

/// One DVR's status card.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DvrCard {
    pub dvr_id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub enabled: bool,
    /// `ui`, `file`, `env` or `demo`.
    pub managed_by: String,
    /// `healthy`, `stale`, `disconnected` or `disabled`.
    pub status: String,
    pub connected: bool,
    pub stale: bool,
    pub last_event_at: Option<String>,
    pub last_event_seconds_ago: Option<u64>,
    pub staleness_threshold_seconds: u32,
    pub sessions: usize,
    pub recordings: usize,
    /// `ok`, `warning`, `critical` (or `unknown` before the first disk poll).
    pub disk_status: String,
    pub disk_free_bytes: Option<u64>,
    pub disk_total_bytes: Option<u64>,
    pub version: Option<String>,
    pub last_error: Option<String>,
    /// The DVR has an API key (the key itself never leaves the server).
    #[serde(default)]
    pub has_api_key: bool,
    /// The maintenance window it is in (its label): no alerts, not called stale.
    #[serde(default)]
    pub maintenance: Option<String>,
    /// A snooze holding all its alerts back: its id and end (RFC 3339).
    #[serde(default)]
    pub snooze_id: Option<i64>,
    #[serde(default)]
    pub snoozed_until: Option<String>,
}

/// An active live-TV or library session.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SessionRow {
    pub dvr_id: String,
    pub dvr_name: String,
    /// `live` or `vod`.
    pub kind: String,
    pub channel_number: Option<String>,
    pub channel_name: Option<String>,
    pub logo_url: Option<String>,
    /// The program on air (live) or the title played (VOD).
    pub program: Option<String>,
    pub device: Option<String>,
    pub started_at: String,
    pub position_seconds: Option<u64>,
}

/// A recording in progress.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RecordingRow {
    pub dvr_id: String,
    pub dvr_name: String,
    pub job_id: String,
    pub title: Option<String>,
    pub channel_number: Option<String>,
    pub started_at: Option<String>,
}

/// A scheduled recording that has not started.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpcomingRow {
    pub dvr_id: String,
    pub dvr_name: String,
    pub job_id: String,
    pub title: Option<String>,
    pub channel_number: Option<String>,
    /// RFC 3339, when known.
    pub starts_at: Option<String>,
    #[serde(default)]
    pub duration_seconds: Option<u64>,
    #[serde(default)]
    pub summary: Option<String>,
    /// The program's art through our image cache (a placeholder when it has none).
    #[serde(default)]
    pub image_url: Option<String>,
}

/// `POST /api/v1/alerts/test`: the test alert and the providers it went to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TestAlertSent {
    pub alert_id: i64,
    pub dvr_id: String,
    pub title: String,
    /// The provider types it was queued for.
    pub providers: Vec<String>,
}

/// An alert with where it went.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertRow {
    pub id: i64,
    pub dvr_id: String,
    pub dvr_name: String,
    pub alert_type: String,
    pub title: String,
    pub message: String,
    pub created_at: String,
    /// `sent`, `rate_limited`, `suppressed`, …
    pub status: String,
    pub deliveries: Vec<DeliveryRow>,
}

/// One provider's delivery of an alert.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub provider_type: String,
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// The 24-hour charts (`GET /api/v1/activity`): sessions per DVR and disk use per DVR,
/// in 5-minute buckets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Activity {
    /// Unix seconds of the window's start and end.
    pub from: i64,
    pub to: i64,
    pub series: Vec<ActivitySeries>,
}

/// One DVR's points: `(unix seconds, sessions, disk used percent)`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ActivitySeries {
    pub dvr_id: String,
    pub dvr_name: String,
    pub points: Vec<(i64, u32, Option<f64>)>,
}

/// Who is signed in (`GET /api/v1/me`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Me {
    pub username: Option<String>,
    /// `admin` or `viewer`.
    pub role: String,
    /// `session` or `api_key`.
    pub via: String,
    pub csrf_token: Option<String>,
}

impl Me {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// An `/api/v1` answer as the app's `api_call` returns it: the status and the raw body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApiReply {
    pub status: u16,
    pub body: String,
}

impl ApiReply {
    /// A contract-shaped error answer made without reaching the API.
    pub fn failure(status: u16, error: &str, message: &str) -> Self {
        let body = ErrorBody {
            error: error.to_string(),
            message: message.to_string(),
            fields: Vec::new(),
        };
        Self {
            status,
            body: serde_json::to_string(&body).unwrap_or_default(),
        }
    }
}

/// The one body of every `/api/v1` error answer (contract §2): a stable snake_case
/// code, a message for people, and the fields it is about when a form was refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldMessage>,
}

/// An API error ([`ErrorBody`] and the answer's status) for showing next to a form or
/// field.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApiFailure {
    #[serde(default)]
    pub status: u16,
    pub error: String,
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldMessage>,
}

impl ApiFailure {
    /// The failure an error answer with `status` and `body` means.
    pub fn of(status: u16, body: ErrorBody) -> Self {
        Self {
            status,
            error: body.error,
            message: body.message,
            fields: body.fields,
        }
    }

    /// The message for one field, when the API named it.
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|f| f.field == name)
            .map(|f| f.message.clone())
    }
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FieldMessage {
    pub field: String,
    pub message: String,
}

/// `POST /api/v1/templates/preview`: a template rendered from sample data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplatePreview {
    pub title: String,
    pub message: String,
    /// Why the user's template could not be used (the default layout was), if so.
    pub problem: Option<String>,
    pub variables: Vec<String>,
}
