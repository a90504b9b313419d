//! `CHANNELWATCH_ALLOWED_HOSTS`: the host names the web app answers to, a guard against
//! DNS rebinding (another site's name made to resolve to this server, so that its
//! pages can read ours as same-origin).
//!
//! When the list is set, a request whose `Host` (or, from a trusted proxy, any
//! `X-Forwarded-Host` entry) is not in it gets `400 host_not_allowed`. Names are
//! compared without the port and without case; IP literals are compared as addresses
//! (`[2001:DB8:0::1]` is `2001:db8::1`). The probes and `/metrics` are exempt: the
//! kubelet and Prometheus address the pod by its IP.

use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::forwarded::Client;
use super::AppState;
use crate::config::net::VARIABLE;

/// The guard, in front of every route but the probes and `/metrics`.
pub async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let config = &state.services.config;
    let path = req.uri().path();
    if config.allowed_hosts.is_empty() || path.starts_with("/healthz/") || path == "/metrics" {
        return next.run(req).await;
    }
    let refused = {
        let headers = req.headers();
        // HTTP/2 carries the host in the URI (`:authority`) instead of `Host`.
        let host = headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        match host {
            None => Some(None),
            Some(host) => {
                let client = Client::of(req.extensions(), headers, &config.trusted_proxies);
                std::iter::once(host)
                    .chain(client.forwarded_hosts(headers))
                    .find(|h| !config.allowed_hosts.allows(h))
                    .map(|h| Some(h.chars().take(100).collect::<String>()))
            }
        }
    };
    match refused {
        None => next.run(req).await,
        Some(host) => {
            let message = match &host {
                Some(h) => format!(
                    "this server does not answer to the host '{h}': it is not listed in {VARIABLE}"
                ),
                None => format!("the request names no host, and {VARIABLE} is set"),
            };
            tracing::debug!(host = ?host, "request refused: host not allowed");
            ApiError::new(StatusCode::BAD_REQUEST, "host_not_allowed", message).into_response()
        }
    }
}
