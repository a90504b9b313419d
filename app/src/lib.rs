//! ChannelWatch web app: pages, components, server functions and the types
//! that cross the wire between the server and the browser.
//!
//! Server functions never touch storage directly: the server crate provides
//! an [`services::AppServices`] implementation through Leptos context.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    StaticSegment,
};

pub mod types;

use types::Overview;

/// Server-side services the web app needs, provided by the server crate.
#[cfg(feature = "ssr")]
pub mod services {
    use std::future::Future;
    use std::pin::Pin;

    use crate::types::{DiagnoseReport, Overview};

    /// A boxed future, so the trait stays object-safe.
    pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

    /// What server functions may ask of the running monitor.
    pub trait AppServices: Send + Sync + 'static {
        /// A point-in-time summary of every configured DVR.
        fn overview(&self) -> BoxFuture<'_, Result<Overview, String>>;

        /// Runs the doctor's checks against one DVR (the Diagnose button).
        fn diagnose(&self, dvr_id: String) -> BoxFuture<'_, Result<DiagnoseReport, String>>;
    }

    /// The context value server functions look up.
    pub type SharedServices = std::sync::Arc<dyn AppServices>;
}

/// The HTML document around the app; rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The root component.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/channelwatch.css"/>
        <Title text="ChannelWatch"/>
        <Router>
            <header class="topbar">
                <span class="brand">"ChannelWatch"</span>
            </header>
            <main>
                <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                    <Route path=StaticSegment("") view=HomePage/>
                </Routes>
            </main>
        </Router>
    }
}

/// Reads the monitor's DVR summary on the server.
#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, ServerFnError> {
    let services = use_context::<services::SharedServices>()
        .ok_or_else(|| ServerFnError::new("monitor services are not available"))?;
    services.overview().await.map_err(ServerFnError::new)
}

/// Runs the doctor's checks against one DVR and returns the report (shown inline by
/// the staleness banner's Diagnose button).
#[server(endpoint = "diagnose")]
pub async fn diagnose_dvr(dvr_id: String) -> Result<types::DiagnoseReport, ServerFnError> {
    let services = use_context::<services::SharedServices>()
        .ok_or_else(|| ServerFnError::new("monitor services are not available"))?;
    services.diagnose(dvr_id).await.map_err(ServerFnError::new)
}

/// The landing page: the DVR overview, refreshed on demand through a server function.
#[component]
fn HomePage() -> impl IntoView {
    // Effects run only in the browser, after hydration: tests wait on this marker.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));

    let refresh = ServerAction::<GetOverview>::new();
    let result = refresh.value();

    view! {
        <section class="overview" data-hydrated=move || hydrated.get().to_string()>
            <h1>"DVR overview"</h1>
            <button id="refresh" on:click=move |_| { refresh.dispatch(GetOverview {}); }>
                "Refresh"
            </button>
            <div id="overview-result">
                {move || match result.get() {
                    None => view! { <p class="hint">"Press Refresh to load the live DVR status."</p> }.into_any(),
                    Some(Err(e)) => view! { <p class="error">{format!("Could not load: {e}")}</p> }.into_any(),
                    Some(Ok(overview)) => view! { <OverviewTable overview/> }.into_any(),
                }}
            </div>
        </section>
    }
}

#[component]
fn OverviewTable(overview: Overview) -> impl IntoView {
    let summary = format!(
        "{} DVR(s), {} connected, {} active session(s)",
        overview.dvrs.len(),
        overview.dvrs.iter().filter(|d| d.connected).count(),
        overview.dvrs.iter().map(|d| d.sessions).sum::<usize>()
    );
    view! {
        <p id="overview-summary">{summary}</p>
        <table class="dvrs">
            <thead>
                <tr><th>"Name"</th><th>"Address"</th><th>"Status"</th><th>"Sessions"</th></tr>
            </thead>
            <tbody>
                {overview
                    .dvrs
                    .into_iter()
                    .map(|d| view! {
                        <tr data-dvr-id=d.dvr_id.clone()>
                            <td>{d.name}</td>
                            <td>{format!("{}:{}", d.host, d.port)}</td>
                            <td class=format!("status {}", d.status)>{d.status.clone()}</td>
                            <td>{d.sessions}</td>
                        </tr>
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
