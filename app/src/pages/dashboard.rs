//! The live dashboard: status cards, sessions, recordings, charts and alert history,
//! all scoped by the server switcher (`?dvr=`).

use leptos::prelude::*;

use crate::api::{self, ago, bytes, clock, position};
use crate::charts::{DiskTrend, SessionsChart};
use crate::layout::{use_dashboard, use_scope};
use wire::{Activity, AlertRow, Dashboard, DvrCard};

/// The frame narrowed to one DVR (or all).
pub(crate) fn scoped(d: &Dashboard, scope: Option<&str>) -> Dashboard {
    let Some(id) = scope else {
        return d.clone();
    };
    Dashboard {
        generated_at: d.generated_at.clone(),
        dvrs: d.dvrs.iter().filter(|x| x.dvr_id == id).cloned().collect(),
        sessions: d
            .sessions
            .iter()
            .filter(|x| x.dvr_id == id)
            .cloned()
            .collect(),
        recordings: d
            .recordings
            .iter()
            .filter(|x| x.dvr_id == id)
            .cloned()
            .collect(),
        upcoming: d
            .upcoming
            .iter()
            .filter(|x| x.dvr_id == id)
            .cloned()
            .collect(),
        alerts: d
            .alerts
            .iter()
            .filter(|x| x.dvr_id == id)
            .cloned()
            .collect(),
    }
}

#[component]
pub(crate) fn DashboardPage() -> impl IntoView {
    let feed = use_dashboard();
    let scope = use_scope();
    let view_ = Memo::new(move |_| scoped(&feed.dash.get(), scope.get().as_deref()));
    super::quiet::provide_snooze();
    let activity = Resource::new(
        move || scope.get(),
        |scope| async move {
            let mut path = "/api/v1/activity?hours=24".to_string();
            if let Some(id) = scope {
                path.push_str(&format!("&dvr_id={id}"));
            }
            api::get::<Activity>(&path).await
        },
    );
    view! {
        <h1>{move || match scope.get() {
            Some(_) => format!("Dashboard: {}", view_.get().dvrs.first().map(|d| d.name.clone()).unwrap_or_default()),
            None => "Dashboard".to_string(),
        }}</h1>
        <Counts d=view_/>
        <section aria-labelledby="dvrs-h">
            <h2 id="dvrs-h">"DVRs"</h2>
            <div class="cards" id="dvr-cards">
                {move || {
                    let d = view_.get();
                    if d.dvrs.is_empty() {
                        view! { <p class="hint">"No DVRs yet. Add one under DVRs."</p> }.into_any()
                    } else {
                        d.dvrs.into_iter().map(|c| view! { <StatusCard card=c/> }).collect_view().into_any()
                    }
                }}
            </div>
        </section>
        <div class="grid2">
            <section aria-labelledby="sessions-h">
                <h2 id="sessions-h">"Active sessions"</h2>
                <Sessions d=view_/>
            </section>
            <section aria-labelledby="rec-h">
                <h2 id="rec-h">"Recordings"</h2>
                <Recordings d=view_/>
            </section>
        </div>
        <section aria-labelledby="activity-h">
            <h2 id="activity-h">"Last 24 hours"</h2>
            <Suspense fallback=|| view! { <p class="hint">"Loading the charts…"</p> }>
                {move || Suspend::new(async move {
                    match activity.await {
                        Ok(a) => {
                            let disk = a.series.clone().into_iter().enumerate()
                                .map(|(i, s)| view! { <DiskTrend series=s from=a.from to=a.to index=i/> })
                                .collect_view();
                            view! {
                                <div class="grid2">
                                    <div><h3>"Sessions per DVR"</h3><SessionsChart series=a.series.clone() from=a.from to=a.to/></div>
                                    <div><h3>"Disk use"</h3><div class="disk-trends">{disk}</div></div>
                                </div>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="error">{format!("Charts unavailable: {e}")}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <super::quiet::SnoozeBar scope=scope/>
        <section aria-labelledby="alerts-h">
            <h2 id="alerts-h">"Alert history"</h2>
            <Alerts d=view_/>
        </section>
    }
}

#[component]
fn Counts(d: Memo<Dashboard>) -> impl IntoView {
    let count = move |f: fn(&Dashboard) -> usize| move || f(&d.get()).to_string();
    view! {
        <dl class="counts" id="counts">
            <div><dt>"DVRs"</dt><dd id="count-dvrs">{count(|d| d.dvrs.len())}</dd></div>
            <div><dt>"Connected"</dt><dd id="count-connected">{count(|d| d.dvrs.iter().filter(|x| x.connected).count())}</dd></div>
            <div><dt>"Sessions"</dt><dd id="count-sessions">{count(|d| d.sessions.len())}</dd></div>
            <div><dt>"Recording"</dt><dd id="count-recordings">{count(|d| d.recordings.len())}</dd></div>
            <div><dt>"Alerts shown"</dt><dd id="count-alerts">{count(|d| d.alerts.len())}</dd></div>
        </dl>
    }
}

#[component]
fn StatusCard(card: DvrCard) -> impl IntoView {
    let disk = match (card.disk_free_bytes, card.disk_total_bytes) {
        (Some(f), Some(t)) if t > 0 => {
            let used = crate::api::percent(t.saturating_sub(f), t);
            format!("{} free of {} ({used}% used)", bytes(f), bytes(t))
        }
        _ => "not polled yet".into(),
    };
    let last = match card.last_event_seconds_ago {
        Some(s) => ago(s),
        None => "never".into(),
    };
    let quiet = card.clone();
    view! {
        <article class=format!("card status-{}", card.status) data-dvr-id=card.dvr_id.clone()>
            <header>
                <h3><a href=format!("/dvrs/{}", card.dvr_id)>{card.name.clone()}</a></h3>
                <span class=format!("pill {}", card.status)>{card.status.clone()}</span>
            </header>
            <dl>
                <dt>"Address"</dt><dd>{format!("{}:{}", card.host, card.port)}</dd>
                <dt>"Last event"</dt><dd class="last-event">{last}</dd>
                <dt>"Sessions"</dt><dd class="card-sessions">{card.sessions}</dd>
                <dt>"Recording"</dt><dd>{card.recordings}</dd>
                <dt>"Disk"</dt><dd class=format!("disk-{}", card.disk_status)>{disk}</dd>
                {card.version.map(|v| view! { <dt>"Version"</dt><dd>{v}</dd> })}
            </dl>
            {card.last_error.filter(|_| !card.connected && card.enabled)
                .map(|e| view! { <p class="card-error">{e}</p> })}
            <super::quiet::CardSnooze card=quiet/>
        </article>
    }
}

#[component]
fn Sessions(d: Memo<Dashboard>) -> impl IntoView {
    move || {
        let rows = d.get().sessions;
        if rows.is_empty() {
            return view! { <p class="hint" id="no-sessions">"Nobody is watching right now."</p> }
                .into_any();
        }
        view! {
            <ul class="sessions" id="sessions">
                {rows.into_iter().map(|s| {
                    let what = if s.kind == "live" {
                        format!("Ch {} {}", s.channel_number.clone().unwrap_or_default(),
                            s.channel_name.clone().unwrap_or_default())
                    } else {
                        "Library".to_string()
                    };
                    view! {
                        <li class=format!("session {}", s.kind) data-dvr-id=s.dvr_id.clone()>
                            // Served by us: the cached logo, else the call sign drawn as
                            // a placeholder, so there is never a broken image.
                            {s.logo_url.clone().map(|u| view! { <img class="logo" src=u alt="" width="40" height="40" loading="lazy"/> })}
                            <div>
                                <strong>{what}</strong>
                                {s.program.clone().map(|p| view! { <span class="program">{format!(" · {p}")}</span> })}
                                <div class="meta">
                                    {format!("{} · {} · since {}", s.dvr_name, s.device.clone().unwrap_or_else(|| "unknown device".into()), clock(&s.started_at))}
                                    {s.position_seconds.map(|p| format!(" · at {}", position(p)))}
                                </div>
                            </div>
                        </li>
                    }
                }).collect_view()}
            </ul>
        }.into_any()
    }
}

#[component]
fn Recordings(d: Memo<Dashboard>) -> impl IntoView {
    move || {
        let dash = d.get();
        view! {
            <h3>"In progress"</h3>
            {if dash.recordings.is_empty() {
                view! { <p class="hint">"Nothing is recording."</p> }.into_any()
            } else {
                view! { <ul class="recordings" id="recordings">{dash.recordings.into_iter().map(|r| view! {
                    <li>{format!("{} · {}{}", r.title.unwrap_or_else(|| format!("job {}", r.job_id)), r.dvr_name,
                        r.started_at.map(|t| format!(" · since {}", clock(&t))).unwrap_or_default())}</li>
                }).collect_view()}</ul> }.into_any()
            }}
            <h3>"Upcoming"</h3>
            {if dash.upcoming.is_empty() {
                view! { <p class="hint">"No scheduled recordings."</p> }.into_any()
            } else {
                view! { <ul class="upcoming">{dash.upcoming.into_iter().map(|u| view! {
                    <li>{format!("{} · {} · {}", u.title.unwrap_or_else(|| format!("job {}", u.job_id)), u.dvr_name,
                        u.starts_at.map(|t| api::when(&t)).unwrap_or_default())}</li>
                }).collect_view()}</ul> }.into_any()
            }}
        }
    }
}

fn outcome(a: &AlertRow) -> (String, &'static str) {
    if a.deliveries.is_empty() {
        let text = match a.status.as_str() {
            "rate_limited" => "held back by the DVR's alert budget",
            "suppressed" => "suppressed",
            "quiet" => "quiet: recorded, not sent",
            _ => "routed nowhere",
        };
        return (text.into(), "muted");
    }
    let parts: Vec<String> = a
        .deliveries
        .iter()
        .map(|d| format!("{} {}", d.provider_type, d.status))
        .collect();
    let class = if a.deliveries.iter().all(|d| d.status == "sent") {
        "ok"
    } else if a.deliveries.iter().any(|d| d.status == "failed") {
        "bad"
    } else {
        "warn"
    };
    (parts.join(", "), class)
}

/// Alerts shown before "Show all".
const FIRST_ALERTS: usize = 15;

#[component]
fn Alerts(d: Memo<Dashboard>) -> impl IntoView {
    let all = RwSignal::new(false);
    move || {
        let alerts = d.get().alerts;
        if alerts.is_empty() {
            return view! { <p class="hint">"No alerts yet."</p> }.into_any();
        }
        let total = alerts.len();
        let shown = if all.get() {
            total
        } else {
            total.min(FIRST_ALERTS)
        };
        view! {
            <ol class="alerts" id="alerts">
                {alerts.into_iter().take(shown).map(alert_item).collect_view()}
            </ol>
            {(total > FIRST_ALERTS).then(|| view! {
                <button type="button" class="secondary" on:click=move |_| all.update(|a| *a = !*a)>
                    {move || if all.get() { "Show fewer".to_string() } else { format!("Show all {total}") }}
                </button>
            })}
        }.into_any()
    }
}

/// One alert with where it went (the dashboard and the DVR page).
pub(crate) fn alert_item(a: AlertRow) -> impl IntoView {
    let (out, class) = outcome(&a);
    view! {
        <li class="alert" data-dvr-id=a.dvr_id.clone() data-alert-type=a.alert_type.clone()>
            <time datetime=a.created_at.clone()>{clock(&a.created_at)}</time>
            <span class="alert-dvr">{a.dvr_name.clone()}</span>
            <strong class="alert-title">{a.title.clone()}</strong>
            <span class=format!("delivery {class}")>{out}</span>
            <details><summary>"Message"</summary><pre>{a.message.clone()}</pre></details>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoping_keeps_only_the_chosen_dvr() {
        let mut d = Dashboard::default();
        for id in ["a", "b"] {
            d.dvrs.push(DvrCard {
                dvr_id: id.into(),
                ..Default::default()
            });
            d.alerts.push(AlertRow {
                dvr_id: id.into(),
                ..Default::default()
            });
        }
        let s = scoped(&d, Some("b"));
        assert_eq!(s.dvrs.len(), 1);
        assert_eq!(s.alerts[0].dvr_id, "b");
        assert_eq!(scoped(&d, None).dvrs.len(), 2);
    }
}
