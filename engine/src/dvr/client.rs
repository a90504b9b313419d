//! The HTTP client for one Channels DVR: the event stream and the polled endpoints.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::limits::{read_capped, ReadError};
use domain::backoff::parse_retry_after;
use domain::dvr::id::base_url;
use domain::dvr::ApiKey;

/// Caps on a DVR's answers, enforced while they stream in: `/status`; `/dvr` (disk
/// and the activity map); one object (a recording, a library item); and the lists
/// enrichment reads (channels, the guide's now-playing, jobs).
pub const MAX_STATUS_BODY: usize = 64 * 1024;
pub(crate) const MAX_DVR_BODY: usize = 4 * 1024 * 1024;
pub const MAX_OBJECT_BODY: usize = 1024 * 1024;
pub const MAX_LIST_BODY: usize = 8 * 1024 * 1024;

/// Why a DVR request failed, phrased for an operator.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach DVR: {0}")]
    Unreachable(String),
    #[error("DVR answered HTTP {0}")]
    Status(u16),
    #[error("DVR is rate limiting us (HTTP 429)")]
    RateLimited { retry_after: Option<Duration> },
    #[error("DVR sent an unexpected response: {0}")]
    Decode(String),
    #[error("DVR did not answer within {0:?}")]
    Timeout(Duration),
    #[error("DVR's answer to {0} is larger than {1} bytes")]
    TooLarge(String, usize),
}

impl ClientError {
    /// The error for a failed request, naming the timeout when that was the cause.
    pub fn from_reqwest(e: reqwest::Error, timeout: Duration) -> Self {
        if e.is_timeout() {
            ClientError::Timeout(timeout)
        } else if e.is_decode() {
            ClientError::Decode(e.to_string())
        } else {
            ClientError::Unreachable(with_sources(&e))
        }
    }
}

/// An error with its source chain, which holds the useful part (connection refused,
/// DNS, a TLS root that would not load).
pub(crate) fn with_sources(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

/// The DVR HTTP client could not be built (TLS roots, resolver, out of descriptors).
/// Only start-up builds it, so this stops the start with a clear message.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client for DVR requests: {0}")]
pub struct HttpSetupError(String);

/// `GET /status`.
#[derive(Debug, Clone, Deserialize)]
pub struct DvrStatus {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub start_time: Option<i64>,
    #[serde(default)]
    pub platform: Option<String>,
}

/// `GET /dvr`: disk figures and the activity map.
#[derive(Debug, Clone, Deserialize)]
pub struct DvrInfo {
    #[serde(default)]
    pub path: Option<String>,
    pub disk: Option<DiskInfo>,
    #[serde(default)]
    pub activity: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct DiskInfo {
    pub free: u64,
    pub total: u64,
    #[serde(default)]
    pub used: u64,
}

/// `GET /api/v1/recordings/{id}` (only the fields the engine needs).
#[derive(Debug, Clone, Deserialize)]
pub struct RecordingInfo {
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
}

/// A cheap handle: clones share the process-wide connection pool.
#[derive(Debug, Clone)]
pub struct DvrClient {
    http: reqwest::Client,
    host: String,
    port: u16,
    base: String,
    api_key: ApiKey,
}

/// Idle time before TCP keep-alive probes a DVR connection.
pub(crate) const STREAM_KEEPALIVE: Duration = Duration::from_secs(60);

/// Connect timeout for every DVR request (the stream has no read timeout).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl DvrClient {
    pub fn new(http: reqwest::Client, host: &str, port: u16) -> Self {
        Self {
            http,
            host: host.to_string(),
            port,
            base: base_url(host, port),
            api_key: ApiKey::default(),
        }
    }

    /// The DVR's host, port and API key (the keep-alive poller connects on its own).
    pub(crate) fn address(&self) -> (&str, u16, &ApiKey) {
        (&self.host, self.port, &self.api_key)
    }

    /// Sends `key` as `X-API-Key` on every request (nothing when it is empty).
    pub fn with_api_key(mut self, key: &ApiKey) -> Self {
        self.api_key = key.clone();
        self
    }

    /// A GET with the API key, when there is one.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.get(format!("{}{path}", self.base));
        if self.api_key.is_set() {
            req.header("X-API-Key", self.api_key.expose())
        } else {
            req
        }
    }

    /// Builds the one HTTP client all DVR traffic shares (the process builds it once,
    /// at start; per-DVR API keys go on each request). It never follows a redirect:
    /// the DVR's `X-API-Key` goes to the address it was given for and nowhere else
    /// (reqwest drops only `Authorization` and cookies on a cross-host redirect), so a
    /// 3xx is the DVR's answer ([`ClientError::Status`]). It keeps no idle connection:
    /// a DVR holds one descriptor, its event stream, and a poll's connection closes
    /// when the poll ends, so the open-file budget is one per DVR plus what is in
    /// flight (see `fd_limit`).
    pub fn build_http() -> Result<reqwest::Client, HttpSetupError> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_max_idle_per_host(0)
            .tcp_nodelay(true)
            // TCP keep-alive finds a stream whose DVR vanished without a word (a reboot,
            // a dropped NAT entry). reqwest's defaults (a probe after 15 s, and a 30 s
            // user timeout) aborted healthy streams at scale: thousands of streams opened
            // together probe together, a burst past the network queue loses some probes,
            // and two lost probes ended the connection ("Connection timed out"; 159 of
            // 10,000 idle streams in one run). A probe a minute, given up after three
            // unanswered ones, without the user timeout.
            .tcp_keepalive(STREAM_KEEPALIVE)
            .tcp_keepalive_interval(Duration::from_secs(20))
            .tcp_keepalive_retries(3)
            .tcp_user_timeout(None)
            .user_agent(concat!("ChannelWatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpSetupError(with_sources(&e)))
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        timeout: Duration,
        max: usize,
    ) -> Result<T, ClientError> {
        // Held until the body is read: near the open-file limit the request waits.
        let _fd = crate::fd_limit::dvr_connections().request().await;
        let res = self
            .get(path)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ClientError::from_reqwest(e, timeout))?;
        let status = res.status();
        if !status.is_success() {
            return Err(ClientError::Status(status.as_u16()));
        }
        let bytes = read_capped(res, max).await.map_err(|e| match e {
            ReadError::TooLarge(max) => ClientError::TooLarge(path.to_string(), max),
            ReadError::Http(e) => ClientError::from_reqwest(e, timeout),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(format!("{path}: {e}")))
    }

    /// Any JSON endpoint, read leniently (enrichment tolerates field-name variants),
    /// refused past `max` bytes.
    pub async fn get_value(
        &self,
        path: &str,
        timeout: Duration,
        max: usize,
    ) -> Result<serde_json::Value, ClientError> {
        self.get_json(path, timeout, max).await
    }

    /// `GET /status` (keep-alive and version).
    pub async fn status(&self, timeout: Duration) -> Result<DvrStatus, ClientError> {
        self.get_json("/status", timeout, MAX_STATUS_BODY).await
    }

    /// `GET /dvr` (disk and activity map).
    pub async fn dvr_info(&self, timeout: Duration) -> Result<DvrInfo, ClientError> {
        self.get_json("/dvr", timeout, MAX_DVR_BODY).await
    }

    /// `GET /api/v1/recordings/{id}`.
    pub async fn recording(
        &self,
        file_id: &str,
        timeout: Duration,
    ) -> Result<RecordingInfo, ClientError> {
        let id: String = file_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        self.get_json(
            &format!("/api/v1/recordings/{id}"),
            timeout,
            MAX_OBJECT_BODY,
        )
        .await
    }

    /// Opens `GET /dvr/events/subscribe`; the caller reads the body as a byte stream,
    /// holding a stream descriptor of `fd_limit::dvr_connections` while it does.
    pub async fn subscribe(
        &self,
        header_timeout: Duration,
    ) -> Result<reqwest::Response, ClientError> {
        let req = self
            .get("/dvr/events/subscribe")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .header(reqwest::header::CACHE_CONTROL, "no-cache")
            .send();
        let res = tokio::time::timeout(header_timeout, req)
            .await
            .map_err(|_| ClientError::Timeout(header_timeout))?
            .map_err(|e| ClientError::from_reqwest(e, CONNECT_TIMEOUT))?;
        let status = res.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let retry_after = res
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now(), Duration::from_secs(60)));
            return Err(ClientError::RateLimited { retry_after });
        }
        if !status.is_success() {
            return Err(ClientError::Status(status.as_u16()));
        }
        Ok(res)
    }
}
