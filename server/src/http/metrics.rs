//! `GET /metrics`: unauthenticated unless `CHANNELWATCH_METRICS_TOKEN` is set, then it
//! wants `Authorization: Bearer <token>` (an API key is not enough: scrapers get their
//! own token).

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth::bearer_token;
use super::error::ApiError;
use super::AppState;
use crate::sign_in::same_secret;

pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = &state.services;
    if let Some(token) = s.config.metrics_token.as_deref() {
        if !bearer_token(&headers).is_some_and(|t| same_secret(t, token)) {
            let mut res = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "metrics need Authorization: Bearer <CHANNELWATCH_METRICS_TOKEN>",
            )
            .into_response();
            res.headers_mut()
                .insert(WWW_AUTHENTICATE, "Bearer".parse().expect("static header"));
            return res;
        }
    }
    let (dvrs, globals) = crate::metrics::gather(
        &s.engine,
        &s.watchdog,
        &s.core_tasks,
        s.dispatcher.queue_depth(),
        s.heartbeat.counts(),
    );
    let body = crate::metrics::render(&dvrs, &globals);
    ([(CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response()
}
