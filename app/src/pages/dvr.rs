//! One DVR's page (`/dvrs/<id>`): what it runs (version, platform, uptime), its tuners
//! and sources, a week of disk use, its outages with their durations, recent alerts,
//! every upcoming recording, and a calendar link for them.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde_json::json;

use crate::api::{self, bytes, duration, use_session, when};
use crate::charts::polyline;
use wire::dvr_page::{DvrOverview, FeedTokenCreated, OutageRow};
use wire::UpcomingRow;

#[component]
pub(crate) fn DvrPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let overview = Resource::new(
        move || id.get(),
        |id| async move { api::get::<DvrOverview>(&format!("/api/v1/dvrs/{id}/overview")).await },
    );
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || overview.get().map(|r| match r {
                Err(e) => view! { <h1>"DVR"</h1><p class="error" role="alert">{e.message}</p> }.into_any(),
                Ok(o) => view! { <Overview o=o/> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn Overview(o: DvrOverview) -> impl IntoView {
    let c = o.card.clone();
    let disk = match (c.disk_free_bytes, c.disk_total_bytes) {
        (Some(f), Some(t)) if t > 0 => format!(
            "{} free of {} ({}% used)",
            bytes(f),
            bytes(t),
            api::percent(t.saturating_sub(f), t)
        ),
        _ => "not polled yet".into(),
    };
    let uptime = match (o.uptime_seconds, o.started_at.as_deref()) {
        (Some(s), Some(at)) => format!("{} (since {})", long_duration(s), when(at)),
        _ => "not reported".into(),
    };
    let dashboard = format!("/?dvr={}", c.dvr_id);
    view! {
        <h1 class="dvr-title">{c.name.clone()} " " <span class=format!("pill {}", c.status)>{c.status.clone()}</span></h1>
        <p class="muted">
            {format!("{}:{}", c.host, c.port)} " · " <a href=dashboard>"Dashboard for this DVR"</a>
        </p>
        <div class="grid2">
            <section class="panel" aria-labelledby="about-h">
                <h2 id="about-h">"Server"</h2>
                <dl class="facts" id="dvr-facts">
                    <dt>"Version"</dt><dd>{c.version.clone().unwrap_or_else(|| "not reported".into())}</dd>
                    <dt>"Platform"</dt><dd>{o.platform.clone().unwrap_or_else(|| "not reported".into())}</dd>
                    <dt>"Up for"</dt><dd class="uptime">{uptime}</dd>
                    <dt>"Disk"</dt><dd class=format!("disk-{}", c.disk_status)>{disk}</dd>
                    <dt>"Sessions now"</dt><dd>{c.sessions}</dd>
                    <dt>"Recording now"</dt><dd>{c.recordings}</dd>
                </dl>
                <h3>"Tuners and sources"</h3>
                <Sources sources=o.sources.clone()/>
            </section>
            <section class="panel" aria-labelledby="disk-h">
                <h2 id="disk-h">"Disk use, last 7 days"</h2>
                <WeekDisk points=o.disk_trend.clone()/>
                <h2 id="outages-h">"Outages, last 30 days"</h2>
                <Outages rows=o.outages.clone() total=o.outage_seconds_30d/>
            </section>
        </div>
        <section class="panel" aria-labelledby="upcoming-h">
            <h2 id="upcoming-h">{format!("Upcoming recordings ({})", o.upcoming.len())}</h2>
            <CalendarLink dvr_id=c.dvr_id.clone()/>
            <Upcoming rows=o.upcoming.clone()/>
        </section>
        <section class="panel" aria-labelledby="alerts-h">
            <h2 id="alerts-h">"Recent alerts"</h2>
            {if o.alerts.is_empty() {
                view! { <p class="hint">"No alerts yet."</p> }.into_any()
            } else {
                view! { <ol class="alerts" id="alerts">{o.alerts.into_iter().map(crate::pages::dashboard::alert_item).collect_view()}</ol> }.into_any()
            }}
        </section>
    }
}

/// `230 days 4 h`, `3 h 12 min`: an uptime.
fn long_duration(s: u64) -> String {
    match s {
        0..=86_399 => duration(s),
        _ => format!("{} days {} h", s / 86_400, (s / 3600) % 24),
    }
}

#[component]
fn Sources(sources: Option<Vec<wire::dvr_page::DvrSource>>) -> impl IntoView {
    match sources {
        None => view! { <p class="hint">"This DVR does not list its tuners and sources."</p> }
            .into_any(),
        Some(list) if list.is_empty() => {
            view! { <p class="hint">"No tuners or sources."</p> }.into_any()
        }
        Some(list) => view! {
            <table class="sources" id="sources">
                <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Tuners"</th></tr></thead>
                <tbody>{list.into_iter().map(|s| view! {
                    <tr><td title=s.id.clone()>{s.name}</td>
                        <td>{s.kind.map(|k| match k.as_str() {
                            "tve" => "TV Everywhere".to_string(),
                            "m3u" => "M3U".to_string(),
                            "tuner" => "Tuner".to_string(),
                            _ => k,
                        }).unwrap_or_default()}</td>
                        <td>{s.tuners.map(|t| t.to_string()).unwrap_or_default()}</td></tr>
                }).collect_view()}</tbody>
            </table>
        }
        .into_any(),
    }
}

#[component]
fn WeekDisk(points: Vec<(i64, f64)>) -> impl IntoView {
    let (w, h) = (600.0, 120.0);
    let Some(last) = points.last().copied() else {
        return view! { <p class="hint">"No disk samples yet."</p> }.into_any();
    };
    let to = last.0 as f64;
    // A week, or from the first sample when there is less.
    let from = points[0].0.max(last.0 - 7 * 86_400).min(last.0 - 3600) as f64;
    let pts: Vec<(f64, f64)> = points.iter().map(|(t, u)| (*t as f64, *u)).collect();
    let d = polyline(&pts, from, to, 100.0, w, h);
    let level = (last.1.clamp(0.0, 100.0) / 100.0 * h).round() as i64;
    view! {
        <svg class="week-disk" viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none" role="img"
            aria-label=format!("Disk use over the last 7 days, {}% now", last.1.round() as i64)>
            <rect class="disk-level" x="0" y=h as i64 - level width=w height=level/>
            <polyline points=d fill="none" stroke=crate::charts::color(0) stroke-width="2"/>
        </svg>
        <p class="muted">{format!("{}% used now", last.1.round() as i64)}</p>
    }
    .into_any()
}

#[component]
fn Outages(rows: Vec<OutageRow>, total: u64) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="hint" id="no-outages">"No outages in the last 30 days."</p> }
            .into_any();
    }
    view! {
        <p class="muted">{format!("{} outage(s), {} in all", rows.len(), duration(total))}</p>
        <table class="outages" id="outages">
            <thead><tr><th>"From"</th><th>"Until"</th><th>"For"</th><th>"What"</th></tr></thead>
            <tbody>{rows.into_iter().map(|o| {
                let until = match (&o.ended_at, o.ended_by.as_deref()) {
                    (None, _) => "ongoing".to_string(),
                    (Some(t), Some("monitor_restarted")) => format!("{} (monitor restarted)", when(t)),
                    (Some(t), Some("dvr_removed")) => format!("{} (DVR removed)", when(t)),
                    (Some(t), _) => when(t),
                };
                let what = match o.kind.as_str() {
                    "stale" => "no events",
                    _ => "disconnected",
                };
                view! {
                    <tr class=if o.ended_at.is_none() { "ongoing" } else { "" }>
                        <td>{when(&o.started_at)}</td><td>{until}</td>
                        <td>{duration(o.duration_seconds)}</td>
                        <td title=o.detail.clone().unwrap_or_default()>{what}</td>
                    </tr>
                }
            }).collect_view()}</tbody>
        </table>
    }
    .into_any()
}

#[component]
fn Upcoming(rows: Vec<UpcomingRow>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="hint">"No scheduled recordings."</p> }.into_any();
    }
    view! {
        <ul class="upcoming-list" id="upcoming">{rows.into_iter().map(|u| {
            let title = u.title.clone().unwrap_or_else(|| format!("job {}", u.job_id));
            view! {
                <li>
                    {u.image_url.clone().map(|src| view! { <img class="art" src=src alt="" width="48" height="72" loading="lazy"/> })}
                    <div>
                        <strong>{title}</strong>
                        <div class="meta">
                            {u.starts_at.as_deref().map(when).unwrap_or_default()}
                            {u.duration_seconds.map(|d| format!(" · {}", duration(d)))}
                            {u.channel_number.map(|c| format!(" · ch {c}"))}
                        </div>
                        {u.summary.map(|s| view! { <p class="summary">{s}</p> })}
                    </div>
                </li>
            }
        }).collect_view()}</ul>
    }
    .into_any()
}

/// Admins make a feed token here; its links (this DVR, every DVR) are shown once.
#[component]
fn CalendarLink(dvr_id: String) -> impl IntoView {
    let session = use_session();
    if !session.is_admin() {
        return view! { <p class="hint">"An admin can make a calendar link for these recordings."</p> }.into_any();
    }
    let made = RwSignal::new(None::<Result<FeedTokenCreated, String>>);
    let create = move |_| {
        api::send(
            session,
            "POST",
            "/api/v1/feeds/tokens".into(),
            Some(json!({"name": "Calendar feed"})),
            move |r| {
                made.set(Some(
                    api::answer::<FeedTokenCreated>(r).map_err(|e| e.message),
                ));
            },
        );
    };
    view! {
        <div class="calendar-link">
            <button type="button" class="secondary" id="make-calendar-link" on:click=create>"Make a calendar link"</button>
            {move || made.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                Ok(t) => {
                    let one = format!("{}&dvr_id={}", t.url, dvr_id);
                    view! {
                        <p class="hint">"Copy a link into your calendar app now: it is not shown again. Revoke it under Account › API keys."</p>
                        <label>"This DVR" <input type="text" readonly class="feed-url" id="feed-url-dvr" value=absolute(&one)/></label>
                        <label>"Every DVR" <input type="text" readonly class="feed-url" id="feed-url-all" value=absolute(&t.url)/></label>
                    }.into_any()
                }
            })}
        </div>
    }
    .into_any()
}

/// The feed's full address as the browser reaches this page.
fn absolute(path: &str) -> String {
    #[cfg(feature = "hydrate")]
    {
        if let Some(origin) = web_sys::window().and_then(|w| w.location().origin().ok()) {
            return format!("{origin}{path}");
        }
    }
    path.to_string()
}
