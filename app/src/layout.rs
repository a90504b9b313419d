//! The signed-in frame around every page: top navigation with the server switcher,
//! the staleness banners, and the dashboard feed every page reads.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};
use leptos_router::hooks::{use_location, use_navigate, use_query_map};

use crate::api::{self, Session};
use wire::{Dashboard, DiagnoseReport, DvrCard, Me};

/// The dashboard as the server pushes it (`/api/v1/live`); every page reads it.
#[derive(Clone, Copy)]
pub struct DashboardFeed {
    pub dash: RwSignal<Dashboard>,
    /// True while the push stream is open.
    pub online: RwSignal<bool>,
}

pub(crate) fn use_dashboard() -> DashboardFeed {
    use_context::<DashboardFeed>().unwrap_or(DashboardFeed {
        dash: RwSignal::new(Dashboard::default()),
        online: RwSignal::new(false),
    })
}

/// The DVR the server switcher selected (`?dvr=`), if any.
pub(crate) fn use_scope() -> Memo<Option<String>> {
    let query = use_query_map();
    Memo::new(move |_| query.read().get("dvr").filter(|d| !d.is_empty()))
}

/// Opens the push stream once hydrated; the browser reconnects it by itself. The alert
/// history arrives apart from the rest (`event: alerts`), only when it changed.
#[cfg(feature = "hydrate")]
fn open_feed(feed: DashboardFeed) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let Ok(es) = web_sys::EventSource::new("/api/v1/live") else {
        return;
    };
    let on_frame =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else {
                return;
            };
            match serde_json::from_str::<Dashboard>(&text) {
                Ok(mut d) => {
                    d.alerts = feed.dash.with_untracked(|old| old.alerts.clone());
                    feed.dash.set(d);
                    feed.online.set(true);
                }
                Err(e) => leptos::logging::error!("unreadable dashboard frame: {e}"),
            }
        });
    let _ = es.add_event_listener_with_callback("dashboard", on_frame.as_ref().unchecked_ref());
    on_frame.forget();
    let on_alerts =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else {
                return;
            };
            match serde_json::from_str::<Vec<wire::AlertRow>>(&text) {
                Ok(a) => feed.dash.update(|d| d.alerts = a),
                Err(e) => leptos::logging::error!("unreadable alerts frame: {e}"),
            }
        });
    let _ = es.add_event_listener_with_callback("alerts", on_alerts.as_ref().unchecked_ref());
    on_alerts.forget();
    let on_error = Closure::<dyn FnMut()>::new(move || feed.online.set(false));
    es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    // The stream lives as long as the page.
    std::mem::forget(es);
}

#[component]
pub(crate) fn Layout() -> impl IntoView {
    let session = Session {
        me: RwSignal::new(None),
    };
    provide_context(session);
    let feed = DashboardFeed {
        dash: RwSignal::new(Dashboard::default()),
        online: RwSignal::new(false),
    };
    provide_context(feed);
    let me = Resource::new(|| (), |_| api::get::<Me>("/api/v1/me"));
    let first = Resource::new(|| (), |_| crate::get_dashboard());

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| open_feed(feed));

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let who = me.await.ok();
                session.me.set(who.clone());
                if let Ok(d) = first.await {
                    if feed.dash.with_untracked(|x| x.generated_at.is_empty()) {
                        feed.dash.set(d);
                    }
                }
                view! {
                    <TopBar me=who/>
                    <Banners/>
                    <main class="page">
                        <Outlet/>
                    </main>
                }
            })}
        </Suspense>
    }
}

#[component]
fn TopBar(me: Option<Me>) -> impl IntoView {
    let feed = use_dashboard();
    let scope = use_scope();
    let location = use_location();
    let navigate = use_navigate();
    let q = move || scope.get().map(|d| format!("?dvr={d}")).unwrap_or_default();
    let on_switch = move |ev: leptos::ev::Event| {
        let v = event_target_value(&ev);
        let path = location.pathname.get_untracked();
        let to = if v.is_empty() {
            path
        } else {
            format!("{path}?dvr={v}")
        };
        navigate(&to, Default::default());
    };
    let (username, role, csrf) = match me {
        Some(m) => (
            m.username.unwrap_or_else(|| "API key".into()),
            m.role,
            m.csrf_token.unwrap_or_default(),
        ),
        None => (String::new(), String::new(), String::new()),
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/">"ChannelWatch"</a>
            <nav aria-label="Main">
                <A href=move || format!("/{}", q())>"Dashboard"</A>
                <A href=move || format!("/history{}", q())>"History"</A>
                <A href=move || format!("/stats{}", q())>"Statistics"</A>
                <A href=move || format!("/dvrs{}", q())>"DVRs"</A>
                <A href=move || format!("/settings{}", q())>"Settings"</A>
                <A href=move || format!("/account{}", q())>"Account"</A>
            </nav>
            <label class="switcher">
                <span class="sr-only">"Server"</span>
                <select id="server-switcher" aria-label="Server" on:change=on_switch>
                    <option value="" selected=move || scope.get().is_none()>"All DVRs"</option>
                    {move || {
                        feed.dash
                            .get()
                            .dvrs
                            .into_iter()
                            .map(|d| {
                                let id = d.dvr_id.clone();
                                let selected = scope.get().as_deref() == Some(id.as_str());
                                view! { <option value=id selected=selected>{d.name}</option> }
                            })
                            .collect_view()
                    }}
                </select>
            </label>
            <span class="live-dot" class:online=move || feed.online.get()
                title=move || if feed.online.get() { "Live updates connected" } else { "Live updates reconnecting" }>
                <span class="sr-only">{move || if feed.online.get() { "live" } else { "offline" }}</span>
            </span>
            <span class="who">
                <span id="whoami">{username}</span>
                <span class=format!("role role-{role}")>{role.clone()}</span>
            </span>
            <form method="post" action="/auth/logout" class="logout">
                <input type="hidden" name="csrf" value=csrf/>
                <button type="submit" class="secondary">"Sign out"</button>
            </form>
        </header>
    }
}

/// The contract's banner text.
pub(crate) fn stale_message(d: &DvrCard) -> String {
    let n = d
        .last_event_seconds_ago
        .unwrap_or(d.staleness_threshold_seconds as u64);
    format!(
        "DVR '{}' has not received events for {n} seconds. Monitoring may be degraded.",
        d.name
    )
}

/// One red banner per stale DVR, on every page, gone when it recovers.
#[component]
fn Banners() -> impl IntoView {
    let feed = use_dashboard();
    let stale = Memo::new(move |_| {
        feed.dash
            .get()
            .dvrs
            .into_iter()
            // A DVR in its maintenance window is not called stale.
            .filter(|d| d.enabled && d.stale && d.maintenance.is_none())
            .collect::<Vec<_>>()
    });
    view! {
        <div class="banners" aria-live="polite">
            <For each=move || stale.get() key=|d| d.dvr_id.clone() let:d>
                <StaleBanner dvr_id=d.dvr_id.clone()/>
            </For>
        </div>
    }
}

#[component]
fn StaleBanner(dvr_id: String) -> impl IntoView {
    let feed = use_dashboard();
    let id = dvr_id.clone();
    let text = move || {
        feed.dash
            .get()
            .dvrs
            .iter()
            .find(|d| d.dvr_id == id)
            .map(stale_message)
            .unwrap_or_default()
    };
    let report = RwSignal::new(None::<Result<DiagnoseReport, String>>);
    let running = RwSignal::new(false);
    let id = dvr_id.clone();
    let diagnose = move |_| {
        running.set(true);
        let id = id.clone();
        leptos::task::spawn_local(async move {
            let r = crate::diagnose_dvr(id).await.map_err(|e| e.to_string());
            report.set(Some(r));
            running.set(false);
        });
    };
    view! {
        <div class="banner stale" role="alert" data-dvr-id=dvr_id>
            <p class="banner-text">{text}</p>
            <button type="button" class="diagnose" on:click=diagnose disabled=move || running.get()>
                {move || if running.get() { "Diagnosing…" } else { "Diagnose" }}
            </button>
            {move || report.get().map(|r| match r {
                Ok(rep) => view! { <DiagnoseView report=rep/> }.into_any(),
                Err(e) => view! { <p class="error">{format!("Diagnosis failed: {e}")}</p> }.into_any(),
            })}
        </div>
    }
}

/// A doctor report as a list of OK/FAIL checks with hints.
#[component]
pub(crate) fn DiagnoseView(report: DiagnoseReport) -> impl IntoView {
    let summary = if report.ok() {
        "Every check passed.".to_string()
    } else {
        format!(
            "{} of {} checks failed.",
            report.checks.iter().filter(|c| !c.ok).count(),
            report.checks.len()
        )
    };
    view! {
        <div class="diagnosis">
            <p class="diagnosis-summary">{format!("{} at {}: {summary}", report.dvr_name, report.address)}</p>
            <ul>
                {report.checks.into_iter().map(|c| view! {
                    <li class=if c.ok { "check ok" } else { "check fail" }>
                        <strong>{if c.ok { "OK" } else { "FAIL" }}</strong>" "
                        <code>{c.name}</code>": "{c.detail}
                        {c.hint.filter(|_| !c.ok).map(|h| view! { <span class="hint">{format!(" Hint: {h}")}</span> })}
                    </li>
                }).collect_view()}
            </ul>
        </div>
    }
}

/// Save feedback: success or the API's precise error.
#[component]
pub(crate) fn Outcome(state: RwSignal<Option<Result<String, String>>>) -> impl IntoView {
    move || {
        state.get().map(|r| match r {
            Ok(m) => view! { <p class="success" role="status">{m}</p> }.into_any(),
            Err(m) => view! { <p class="error" role="alert">{m}</p> }.into_any(),
        })
    }
}
