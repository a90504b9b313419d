//! ChannelWatch web app: pages, components and server functions. The JSON shapes it
//! shares with the server are in the `wire` crate.
//!
//! Server functions never touch storage directly: the server crate provides
//! an [`services::AppServices`] implementation through Leptos context. Reads and
//! writes go through one server function, [`api_call`], that runs the `/api/v1`
//! request in-process: the UI gets exactly the API's authorization (session, CSRF,
//! role) and validation, with no second copy of either.

#![recursion_limit = "256"]

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    lazy_route, path, Lazy, LazyRoute, SsrMode,
};

pub mod api;
pub mod browser;
pub mod charts;
pub mod layout;
pub mod pages;
pub mod zone;

use wire::{ApiReply, Dashboard, DiagnoseReport};

/// Server-side services the web app needs, provided by the server crate.
#[cfg(feature = "ssr")]
pub mod services {
    use std::future::Future;
    use std::pin::Pin;

    use wire::{ApiReply, Dashboard, DiagnoseReport};

    /// A boxed future, so the trait stays object-safe.
    pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

    /// One `/api/v1` request made on behalf of the browser.
    pub struct ApiCall {
        pub method: String,
        /// Starts with `/api/v1/`.
        pub path: String,
        pub body: Option<String>,
        /// The session's CSRF token, sent as `X-CSRF-Token`.
        pub csrf: Option<String>,
        /// The browser request's headers (only credentials, origin and a proxy's
        /// forwarding headers are carried over).
        pub headers: Vec<(String, String)>,
        /// The browser request's extensions (the server carries over its TCP peer).
        pub extensions: http::Extensions,
    }

    /// What server functions may ask of the running monitor.
    pub trait AppServices: Send + Sync + 'static {
        /// Runs an `/api/v1` request through the real API router and its guard.
        fn api(&self, call: ApiCall) -> BoxFuture<'_, ApiReply>;

        /// The newest live dashboard frame (the first render, before the feed connects).
        fn dashboard(&self) -> BoxFuture<'_, Result<Dashboard, String>>;

        /// Runs the doctor's checks against one DVR (the Diagnose button).
        fn diagnose(&self, dvr_id: String) -> BoxFuture<'_, Result<DiagnoseReport, String>>;

        /// Whether first-run setup asks this request for the one-time setup token (it
        /// does unless the request comes straight from the server's own machine, by a
        /// loopback name). Only decides what the setup page shows; `/auth/setup` checks.
        fn setup_needs_token(&self, request: &http::request::Parts) -> bool;

        /// The offsets of the zone times are shown in (see [`crate::zone`]).
        fn zone_rules(&self) -> std::sync::Arc<wire::zone::ZoneRules>;
    }

    /// The context value server functions look up.
    pub type SharedServices = std::sync::Arc<dyn AppServices>;
}

#[cfg(feature = "ssr")]
fn services() -> Result<services::SharedServices, ServerFnError> {
    use_context::<services::SharedServices>()
        .ok_or_else(|| ServerFnError::new("monitor services are not available"))
}

/// The HTML document around the app; rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
                <zone::ZoneMeta/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The root component: the sign-in pages, and the signed-in pages inside the layout.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/channelwatch.css"/>
        <Title text="ChannelWatch"/>
        <Router>
            <Routes fallback=|| view! { <main class="page"><p class="not-found">"Page not found."</p></main> }>
                <Route path=path!("/login") view=pages::login::LoginPage/>
                <Route path=path!("/setup") view=pages::login::SetupPage/>
                <ParentRoute path=path!("") view=layout::Layout ssr=SsrMode::Async>
                    <Route path=path!("/") view={Lazy::<DashboardRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/dvrs") view={Lazy::<DvrsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/dvrs/:id") view={Lazy::<DvrRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/history") view={Lazy::<HistoryRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/stats") view={Lazy::<StatsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/settings") view={Lazy::<SettingsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/account") view={Lazy::<AccountRoute>::new()} ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Runs one `/api/v1` request for the browser (see the crate docs). Only `/api/v1/`
/// paths are accepted; writes must carry the session's CSRF token.
#[server(endpoint = "call")]
pub async fn api_call(
    method: String,
    path: String,
    body: Option<String>,
    csrf: Option<String>,
) -> Result<ApiReply, ServerFnError> {
    if !path.starts_with("/api/v1/") || path.contains("..") || path.starts_with("/api/v1/live") {
        return Ok(ApiReply::failure(
            400,
            "invalid_request",
            "only /api/v1/ requests are allowed here",
        ));
    }
    if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
        return Ok(ApiReply::failure(
            405,
            "method_not_allowed",
            "unsupported method",
        ));
    }
    let (headers, extensions) = use_context::<http::request::Parts>()
        .map(|p| {
            let headers: Vec<(String, String)> = p
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            (headers, p.extensions)
        })
        .unwrap_or_default();
    Ok(services()?
        .api(services::ApiCall {
            method,
            path,
            body,
            csrf,
            headers,
            extensions,
        })
        .await)
}

/// The newest dashboard frame, for the first render.
#[server(endpoint = "dashboard")]
pub(crate) async fn get_dashboard() -> Result<Dashboard, ServerFnError> {
    services()?.dashboard().await.map_err(ServerFnError::new)
}

/// Runs the doctor's checks against one DVR and returns the report (shown inline by
/// the staleness banner's Diagnose button).
#[server(endpoint = "diagnose")]
pub async fn diagnose_dvr(dvr_id: String) -> Result<DiagnoseReport, ServerFnError> {
    services()?
        .diagnose(dvr_id)
        .await
        .map_err(ServerFnError::new)
}

/// Declares a page as a lazy route: its code is a wasm chunk of its own, loaded the
/// first time the page is opened (or with the page, when it is the first one).
macro_rules! lazy_page {
    ($route:ident, $page:path, $what:literal) => {
        #[doc = concat!("The ", $what, " page, loaded as its own wasm chunk.")]
        pub struct $route;
        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }
            fn view(_this: Self) -> AnyView {
                $page().into_any()
            }
        }
    };
}

lazy_page!(DashboardRoute, pages::dashboard::DashboardPage, "Dashboard");
lazy_page!(DvrsRoute, pages::dvrs::DvrsPage, "DVRs");
lazy_page!(DvrRoute, pages::dvr::DvrPage, "one DVR's");
lazy_page!(HistoryRoute, pages::history::HistoryPage, "History");
lazy_page!(StatsRoute, pages::stats::StatsPage, "Statistics");
lazy_page!(SettingsRoute, pages::settings::SettingsPage, "Settings");
lazy_page!(AccountRoute, pages::account::AccountPage, "Account");
