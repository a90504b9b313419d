//! The web pages: the Leptos options and site root, the pages' content policy, and the
//! services the app's server functions reach (the `/api/v1` router, in-process).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::services::{ApiCall, AppServices, BoxFuture, SharedServices};
use leptos::prelude::LeptosOptions;
use wire::{ApiReply, Dashboard, DiagnoseReport};

use crate::services::Services;

struct Monitor {
    services: Arc<Services>,
    api: axum::Router,
}

/// Request headers the in-process API call carries over from the browser's request
/// (the forwarding headers count only when its TCP peer, carried over too, is a trusted
/// proxy).
const FORWARDED: [&str; 9] = [
    "cookie",
    "x-api-key",
    "authorization",
    "host",
    "origin",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-for",
    "forwarded",
];

impl AppServices for Monitor {
    fn api(&self, call: ApiCall) -> BoxFuture<'_, ApiReply> {
        Box::pin(async move {
            use tower::ServiceExt;
            let mut req = axum::http::Request::builder()
                .method(call.method.as_str())
                .uri(&call.path);
            for (k, v) in &call.headers {
                if FORWARDED.contains(&k.to_ascii_lowercase().as_str()) {
                    req = req.header(k.as_str(), v.as_str());
                }
            }
            // The browser's TCP peer: the guard and the sign-in limits see the same client
            // as for the browser's own request.
            if let Some(peer) = call
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            {
                req = req.extension(*peer);
            }
            if let Some(csrf) = &call.csrf {
                req = req.header(super::session::CSRF_HEADER, csrf.as_str());
            }
            if call.body.is_some() {
                req = req.header("content-type", "application/json");
            }
            let req = match req.body(axum::body::Body::from(call.body.unwrap_or_default())) {
                Ok(r) => r,
                Err(e) => return ApiReply::failure(400, "invalid_request", &e.to_string()),
            };
            let res = match self.api.clone().oneshot(req).await {
                Ok(r) => r,
                Err(e) => return ApiReply::failure(500, "internal_error", &e.to_string()),
            };
            let status = res.status().as_u16();
            match axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024).await {
                Ok(b) => ApiReply {
                    status,
                    body: String::from_utf8_lossy(&b).into_owned(),
                },
                Err(e) => ApiReply::failure(500, "internal_error", &e.to_string()),
            }
        })
    }

    fn dashboard(&self) -> BoxFuture<'_, Result<Dashboard, String>> {
        Box::pin(async move {
            Ok(self
                .services
                .dashboard
                .current(self.services.as_ref())
                .await
                .dashboard
                .clone())
        })
    }

    fn diagnose(&self, dvr_id: String) -> BoxFuture<'_, Result<DiagnoseReport, String>> {
        Box::pin(self.diagnose_dvr(dvr_id))
    }

    fn setup_needs_token(&self, request: &axum::http::request::Parts) -> bool {
        let client = super::forwarded::Client::of(
            &request.extensions,
            &request.headers,
            &self.services.config.trusted_proxies,
        );
        !super::setup::is_local(&client, &request.headers)
    }

    fn zone_rules(&self) -> Arc<wire::zone::ZoneRules> {
        self.services.alerts.time_zone().rules()
    }
}

impl Monitor {
    async fn diagnose_dvr(&self, dvr_id: String) -> Result<DiagnoseReport, String> {
        let record = self
            .services
            .registry
            .get(&dvr_id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(crate::doctor::diagnose_with_engine(&self.services.engine, &record).await)
    }
}

/// The context value server functions look up; `api` is [`super::api_router`].
pub(crate) fn services_context(services: Arc<Services>, api: axum::Router) -> SharedServices {
    Arc::new(Monitor { services, api })
}

/// The Content-Security-Policy of a server-rendered page whose inline scripts carry
/// `nonce`:
///
/// - scripts: the bundle from `/pkg` (`'self'`) and the inline scripts Leptos writes
///   with this response's nonce (the hydration module in `<head>`, the resource data and
///   out-of-order chunks); `'wasm-unsafe-eval'` lets wasm-bindgen's `--target web` glue
///   compile the module (`WebAssembly.instantiateStreaming`). No `'unsafe-inline'`, no
///   `'unsafe-eval'`: the glue and the app use neither `eval` nor inline handlers.
/// - styles: `/pkg/channelwatch.css` only. The app has no `style` attributes (chart
///   colours are SVG `fill`/`stroke`), so `'unsafe-inline'` is not needed.
/// - images: only ours (`/api/v1/images/...` fetches logos and art on the server).
/// - connections: server functions, the wasm fetch and the live feed, same origin
///   (plus the reload websocket under `cargo leptos watch`).
/// - no plugins, no `<base>` elsewhere, forms post here only, never framed.
pub fn page_policy(nonce: &str) -> String {
    // `AutoReload` (cargo-leptos) renders only with LEPTOS_WATCH set, and then opens a
    // websocket to the reload port.
    let connect = if std::env::var_os("LEPTOS_WATCH").is_some() {
        "'self' ws: wss:"
    } else {
        "'self'"
    };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src {connect}; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Leptos context for every page render: leptos_axum has provided this response's
/// nonce ([`leptos::nonce::use_nonce`]; `HydrationScripts` and every inline script
/// Leptos writes carry it), so the page's policy names the same nonce. Server function
/// calls and static files run this too, without a nonce: they keep the strict
/// [`super::NON_PAGE_POLICY`].
pub(crate) fn provide_page_policy() {
    use leptos::prelude::use_context;
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(value) = axum::http::HeaderValue::from_str(&page_policy(&nonce)) {
        response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Leptos options for serving: cargo-leptos's environment when present, else the
/// built site next to the workspace or the binary.
pub(crate) fn leptos_options(addr: std::net::SocketAddr) -> LeptosOptions {
    let mut options = leptos::config::get_configuration(None)
        .map(|c| c.leptos_options)
        .unwrap_or_else(|_| LeptosOptions::builder().output_name("channelwatch").build());
    if std::env::var_os("LEPTOS_SITE_ROOT").is_none() {
        options.site_root = site_root().display().to_string().into();
    }
    options.site_addr = addr;
    options
}

/// Where the built site (`pkg/channelwatch.{js,wasm,css}`) is: `./target/site` when run
/// from the workspace, `<exe>/../site` or `<exe>/site` when installed (the container).
fn site_root() -> PathBuf {
    let mut candidates = vec![PathBuf::from("target/site")];
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("site"));
            // target/debug/channelwatch → target/site
            candidates.push(dir.join("../site"));
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/site"));
    candidates
        .into_iter()
        .find(|p| p.join("pkg").is_dir())
        .unwrap_or_else(|| PathBuf::from("target/site"))
}
