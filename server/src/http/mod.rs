//! The HTTP surface: probes, `/api/v1`, and the Leptos web app, on one port.

pub mod alerts;
pub mod auth;
pub mod dvrs;
pub mod error;
pub mod metrics;
pub mod probes;
pub mod providers;
pub mod routing;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{middleware, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};

use crate::alerts::pipeline::AlertService;
use crate::config::Config;
use crate::engine::watchdog::Watchdog;
use crate::engine::Engine;
use crate::notify::outbox::Dispatcher;
use crate::registry::Registry;
use crate::storage::Db;
use error::ApiError;

/// The long-lived services every handler and server function reaches.
pub struct Services {
    pub config: Config,
    pub db: Db,
    pub engine: Engine,
    pub watchdog: Watchdog,
    pub registry: Registry,
    pub alerts: AlertService,
    pub dispatcher: Dispatcher,
    /// Flipped once config is parsed, the database migrated and DVR tasks started.
    pub started: AtomicBool,
}

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

/// `/api/v1`, behind API-key authentication.
fn api(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/dvrs", get(dvrs::list).post(dvrs::create))
        .route(
            "/dvrs/{id}",
            get(dvrs::get).patch(dvrs::patch).delete(dvrs::delete),
        )
        .route("/dvrs/{id}/health", get(dvrs::health))
        .route("/sessions", get(dvrs::sessions))
        .route("/routing", get(routing::get).put(routing::put))
        .route("/providers", get(providers::list).post(providers::create))
        .route(
            "/providers/{id}",
            axum::routing::patch(providers::patch).delete(providers::delete),
        )
        .route("/providers/{id}/test", axum::routing::post(providers::test))
        .route("/alerts", get(alerts::history))
        .route(
            "/settings",
            get(alerts::get_settings).put(alerts::put_settings),
        )
        .route("/templates/preview", axum::routing::post(alerts::preview))
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_api_key,
        ))
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let services = crate::web::services_context(state.services.clone());
    let options = state.leptos_options.clone();
    Router::new()
        .route("/healthz/live", get(probes::live))
        .route("/healthz/ready", get(probes::ready))
        .route("/healthz/startup", get(probes::startup))
        .route("/metrics", get(metrics::metrics))
        .nest("/api/v1", api(&state))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(services.clone()),
            move || app::shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .with_state(state)
}
