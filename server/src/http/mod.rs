//! The HTTP surface: probes, `/api/v1`, and the Leptos web app, on one port.

pub mod account;
pub mod alerts;
pub mod auth;
pub mod dvrs;
pub mod error;
pub mod feed;
pub mod feeds;
pub mod forwarded;
pub mod heartbeat;
pub mod history;
pub mod hosts;
pub mod images;
pub mod listener;
pub mod metrics;
pub mod mqtt;
pub mod operations;
pub mod pages;
pub mod probes;
pub mod providers;
pub mod quiet;
pub mod routing;
pub mod rules;
pub mod session;
pub mod setup;
pub mod stats;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{middleware, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};

use crate::services::Services;
use error::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub services: Arc<Services>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos_options.clone()
    }
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("no such API endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}

/// `/api/v1` (authentication is the caller's layer: [`session::authenticate`]).
fn api() -> Router<AppState> {
    use axum::routing::{delete, post};
    Router::new()
        .route("/dvrs", get(dvrs::list).post(dvrs::create))
        .route("/dvrs/test", post(dvrs::test_connection))
        .route(
            "/dvrs/{id}",
            get(dvrs::get).patch(dvrs::patch).delete(dvrs::delete),
        )
        .route("/dvrs/{id}/health", get(dvrs::health))
        .route("/dvrs/{id}/overview", get(dvrs::overview))
        .route("/feeds/upcoming.ics", get(feeds::upcoming))
        .route("/feeds/tokens", axum::routing::post(feeds::create_token))
        .route("/sessions", get(dvrs::sessions))
        .route("/health", get(probes::health))
        .route("/routing", get(routing::get).put(routing::put))
        .route("/providers", get(providers::list).post(providers::create))
        .route(
            "/providers/{id}",
            axum::routing::patch(providers::patch).delete(providers::delete),
        )
        .route("/providers/{id}/test", axum::routing::post(providers::test))
        .route(
            "/providers/channels-clients",
            get(providers::channels_clients),
        )
        .route("/alerts", get(alerts::history))
        .route("/alerts/test", axum::routing::post(alerts::send_test))
        .route("/history", get(history::list))
        .route("/history.csv", get(history::csv))
        .route("/history/facets", get(history::facets))
        .route("/stats", get(stats::stats))
        .route("/images/{key}", get(images::image))
        .route(
            "/settings",
            get(alerts::get_settings).put(alerts::put_settings),
        )
        .route("/settings/time-zones", get(alerts::time_zones))
        .route(
            "/heartbeat",
            get(heartbeat::get_heartbeat).put(heartbeat::put_heartbeat),
        )
        .route("/heartbeat/test", post(heartbeat::test_heartbeat))
        .route("/mqtt", get(mqtt::get_mqtt).put(mqtt::put_mqtt))
        .route("/rules", get(rules::list).post(rules::create))
        .route("/rules/preview", post(rules::preview))
        .route(
            "/rules/{id}",
            axum::routing::put(rules::replace).delete(rules::delete),
        )
        .route(
            "/quiet-periods",
            get(quiet::list_periods).post(quiet::create_period),
        )
        .route(
            "/quiet-periods/{id}",
            axum::routing::put(quiet::replace_period).delete(quiet::delete_period),
        )
        .route(
            "/snoozes",
            get(quiet::list_snoozes).post(quiet::create_snooze),
        )
        .route("/snoozes/{id}", delete(quiet::delete_snooze))
        .route("/templates/preview", axum::routing::post(alerts::preview))
        .route("/live", get(feed::feed))
        .route("/activity", get(feed::activity))
        .route("/discovery", get(operations::discovery))
        .route("/discovery/scan", post(operations::discovery_scan))
        .route("/doctor/bundle", get(operations::bundle))
        .route("/backup/export", post(operations::export))
        .route("/backup/import", post(operations::import))
        .route("/config/reload", post(operations::reload))
        .route("/me", get(account::me))
        .route("/me/password", post(account::change_password))
        .route(
            "/apikeys",
            get(account::list_keys).post(account::create_key),
        )
        .route("/apikeys/{id}", delete(account::revoke_key))
        .route(
            "/users",
            get(account::list_users).post(account::create_user),
        )
        .route("/users/{id}", delete(account::delete_user))
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// `/api/v1` alone with its guard: what the web app's server functions call in-process,
/// so the browser gets exactly the API's answers, authorization and validation.
pub(crate) fn api_router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::authenticate,
        ))
        .with_state(state)
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let services = pages::services_context(state.services.clone(), api_router(state.clone()));
    let options = state.leptos_options.clone();
    Router::new()
        .route("/healthz/live", get(probes::live))
        .route("/healthz/ready", get(probes::ready))
        .route("/healthz/startup", get(probes::startup))
        .route("/metrics", get(metrics::metrics))
        .nest("/api/v1", api())
        .route(
            "/snooze/{token}",
            get(quiet::link_page).post(quiet::link_snooze),
        )
        .route("/auth/login", axum::routing::post(session::login))
        .route("/auth/setup", axum::routing::post(session::setup))
        .route("/auth/logout", axum::routing::post(session::logout))
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(services.clone());
                pages::provide_page_policy();
            },
            move || app::shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(pages::provide_page_policy, app::shell))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::authenticate,
        ))
        // Before the guard: a request for a host not listed costs no session lookup.
        .layer(middleware::from_fn_with_state(state.clone(), hosts::check))
        .layer(axum::middleware::map_response(security_headers))
        .layer(compression())
        .with_state(state)
}

/// gzip or brotli by the client's `Accept-Encoding`, at a level meant for answers made
/// per request (brotli's best is many times slower for a few percent). The live feed
/// (`text/event-stream`), images and tiny bodies go as they are.
fn compression() -> tower_http::compression::CompressionLayer {
    tower_http::compression::CompressionLayer::new()
        .quality(tower_http::compression::CompressionLevel::Precise(4))
}

/// The Content-Security-Policy of every answer that is not a rendered page (JSON, the
/// live feed, probes, static files, redirects): nothing may load or frame it. Pages set
/// their own with this response's script nonce ([`pages::page_policy`]).
pub(crate) const NON_PAGE_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Headers every answer carries: no framing (clickjacking), no MIME sniffing, no
/// referrer leaking DVR addresses, and a Content-Security-Policy (a page's own, else
/// [`NON_PAGE_POLICY`]).
async fn security_headers(mut res: axum::response::Response) -> axum::response::Response {
    use axum::http::header::CONTENT_SECURITY_POLICY;
    use axum::http::HeaderValue;
    let h = res.headers_mut();
    if !h.contains_key(CONTENT_SECURITY_POLICY) {
        h.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(NON_PAGE_POLICY),
        );
    }
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    res
}
