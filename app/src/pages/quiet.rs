//! Quiet hours, maintenance windows and snoozes: the Settings › Quiet hours tab, and
//! the dashboard's snooze bar. Both read their lists in the browser (client-only data,
//! loaded after hydration) and reread them after each change.

use leptos::prelude::*;
use serde_json::json;

use super::form::{dvr_namer, dvr_options, edit, options, Checks, Outcome, OutcomeSignal};
use crate::api::{self, use_session};
use wire::quiet::{PeriodView, PeriodsView, SnoozeView, CATEGORIES, DAYS};

/// Hours a snooze may be asked for from the web app.
const SNOOZE_HOURS: [u32; 4] = [1, 4, 12, 24];

fn kind_label(k: &str) -> String {
    CATEGORIES
        .iter()
        .find(|(key, _)| *key == k)
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| k.to_string())
}

/// What a snooze holds back, in words.
fn snooze_text(s: &SnoozeView, dvr_name: impl Fn(&str) -> String) -> String {
    let what = match &s.kind {
        Some(k) => format!("{} alerts", kind_label(k)),
        None => "All alerts".to_string(),
    };
    let from = match &s.dvr_id {
        Some(d) => format!(" from {}", dvr_name(d)),
        None => String::new(),
    };
    format!("{what}{from} until {}", api::when(&s.until))
}

/// Reloads the snoozes into `list`.
fn load_snoozes(list: RwSignal<Vec<SnoozeView>>) {
    leptos::task::spawn_local(async move {
        if let Ok(v) = api::get::<Vec<SnoozeView>>("/api/v1/snoozes").await {
            list.set(v);
        }
    });
}

/// Ends snooze `id` now, then rereads `list`.
fn end_snooze(
    session: api::Session,
    id: i64,
    list: RwSignal<Vec<SnoozeView>>,
    outcome: OutcomeSignal,
) {
    let path = format!("/api/v1/snoozes/{id}");
    edit(
        session,
        "DELETE",
        path,
        None,
        outcome,
        "Snooze ended.",
        move |_| load_snoozes(list),
    );
}

/// The snoozes in force, each with a button that ends it.
#[component]
fn SnoozeList(
    list: RwSignal<Vec<SnoozeView>>,
    outcome: RwSignal<Option<Result<String, String>>>,
) -> impl IntoView {
    let session = use_session();
    let admin = session.is_admin();
    let name_of = dvr_namer();
    let end = move |id: i64| end_snooze(session, id, list, outcome);
    view! {
        <ul class="snoozes" id="snoozes">
            {move || list.get().into_iter().map(|s| {
                let id = s.id;
                view! {
                    <li class="snooze" data-snooze-id=id.to_string()>
                        <span>{snooze_text(&s, name_of)}</span>
                        {admin.then(|| view! {
                            <button type="button" class="secondary end-snooze" on:click=move |_| end(id)>"End"</button>
                        })}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

/// Snoozes a DVR (or every DVR) and a kind (or every kind) for `hours`, then reloads.
fn snooze(
    dvr_id: Option<String>,
    kind: Option<&'static str>,
    hours: u32,
    list: RwSignal<Vec<SnoozeView>>,
    outcome: RwSignal<Option<Result<String, String>>>,
) {
    let session = use_session();
    let name_of = dvr_namer();
    let body = json!({"dvr_id": dvr_id, "kind": kind, "hours": hours, "source": "dashboard"});
    api::send(
        session,
        "POST",
        "/api/v1/snoozes".into(),
        Some(body),
        move |r| {
            outcome.set(Some(
                api::answer::<SnoozeView>(r)
                    .map(|s| format!("Snoozed: {}.", snooze_text(&s, name_of)))
                    .map_err(|e| e.message),
            ));
            load_snoozes(list);
        },
    );
}

/// The dashboard's snooze bar: one click snoozes everything or one kind (of the DVR in
/// scope, else of every DVR) for the chosen hours; the snoozes in force, to end early.
#[component]
pub(crate) fn SnoozeBar(scope: Memo<Option<String>>) -> impl IntoView {
    let admin = use_session().is_admin();
    let SnoozeContext {
        list,
        hours,
        outcome,
    } = use_context::<SnoozeContext>().unwrap_or_else(provide_snooze);
    Effect::new(move |_| load_snoozes(list));
    view! {
        <section aria-labelledby="snooze-h" class="snooze-bar">
            <h2 id="snooze-h">"Snooze"</h2>
            {admin.then(|| view! {
                <div class="snooze-actions">
                    <label for="snooze-hours">"For "</label>
                    <select id="snooze-hours" on:change=move |ev| {
                        if let Ok(h) = event_target_value(&ev).parse() { hours.set(h) }
                    }>
                        {SNOOZE_HOURS.into_iter().map(|h| view! {
                            <option value=h.to_string() selected=h == 4>{format!("{h} h")}</option>
                        }).collect_view()}
                    </select>
                    <button type="button" class="secondary snooze-kind" data-kind="all"
                        on:click=move |_| snooze(scope.get_untracked(), None, hours.get_untracked(), list, outcome)>"Everything"</button>
                    {CATEGORIES.into_iter().map(|(k, label)| view! {
                        <button type="button" class="secondary snooze-kind" data-kind=k
                            on:click=move |_| snooze(scope.get_untracked(), Some(k), hours.get_untracked(), list, outcome)>{label}</button>
                    }).collect_view()}
                </div>
            })}
            <p class="hint">{move || if list.with(Vec::is_empty) {
                "Nothing is snoozed. Snoozed alerts are still recorded and shown here, but not sent."
            } else {
                "Snoozed alerts are still recorded and shown below, but not sent."
            }}</p>
            <SnoozeList list=list outcome=outcome/>
            <Outcome outcome=outcome/>
        </section>
    }
}

/// What the bar shares with the DVR cards' own snooze buttons.
#[derive(Clone, Copy)]
pub(crate) struct SnoozeContext {
    list: RwSignal<Vec<SnoozeView>>,
    hours: RwSignal<u32>,
    outcome: RwSignal<Option<Result<String, String>>>,
}

/// Made by the dashboard, for its bar and its cards.
pub(crate) fn provide_snooze() -> SnoozeContext {
    let c = SnoozeContext {
        list: RwSignal::new(Vec::new()),
        hours: RwSignal::new(4),
        outcome: RwSignal::new(None),
    };
    provide_context(c);
    c
}

/// A DVR card's snooze line: in maintenance, snoozed until (with End), or a button
/// that snoozes the DVR for the bar's hours.
#[component]
pub(crate) fn CardSnooze(card: wire::DvrCard) -> impl IntoView {
    let session = use_session();
    let admin = session.is_admin();
    let ctx = use_context::<SnoozeContext>();
    let dvr_id = card.dvr_id.clone();
    let mut out = Vec::new();
    if let Some(m) = card.maintenance {
        out.push(view! { <p class="card-quiet maintenance">{format!("In {m}: not sent, not called stale")}</p> }.into_any());
    }
    match (card.snooze_id, card.snoozed_until) {
        (Some(id), Some(until)) => out.push(
            view! {
                <p class="card-quiet snoozed">
                    {format!("Snoozed until {}", api::when(&until))}
                    {(admin && ctx.is_some()).then(|| view! {
                        <button type="button" class="secondary end-snooze" on:click=move |_| {
                            if let Some(c) = ctx {
                                end_snooze(session, id, c.list, c.outcome);
                            }
                        }>"End"</button>
                    })}
                </p>
            }
            .into_any(),
        ),
        _ => {
            if let (true, Some(c)) = (admin, ctx) {
                out.push(view! {
                    <button type="button" class="secondary snooze-dvr" on:click=move |_| {
                        snooze(Some(dvr_id.clone()), None, c.hours.get_untracked(), c.list, c.outcome)
                    }>{move || format!("Snooze {} h", c.hours.get())}</button>
                }.into_any());
            }
        }
    }
    out.collect_view()
}

/// A period in words: days, times, DVRs, kinds.
fn period_text(p: &PeriodView, dvr_name: impl Fn(&str) -> String) -> String {
    let days = if p.days.is_empty() {
        "Every day".to_string()
    } else {
        p.days.join(", ")
    };
    let dvrs = if p.dvrs.is_empty() {
        "every DVR".to_string()
    } else {
        p.dvrs
            .iter()
            .map(|d| dvr_name(d))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kinds = if p.kinds.is_empty() {
        "all alerts".to_string()
    } else {
        p.kinds
            .iter()
            .map(|k| kind_label(k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut t = format!("{days} {}–{} · {dvrs} · {kinds}", p.from, p.to);
    if p.digest {
        t.push_str(" · digest after");
    }
    if p.health_breaks_through {
        t.push_str(" · health alerts break through");
    }
    if !p.enabled {
        t.push_str(" · off");
    }
    t
}

/// Settings › Quiet hours: the weekly periods (quiet hours and maintenance windows),
/// a form to add or change one, and the snoozes in force.
#[component]
pub(crate) fn QuietTab() -> impl IntoView {
    let session = use_session();
    let admin = session.is_admin();
    let name_of = dvr_namer();
    let view_now = RwSignal::new(None::<PeriodsView>);
    let snoozes = RwSignal::new(Vec::<SnoozeView>::new());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let reload = move || {
        leptos::task::spawn_local(async move {
            if let Ok(v) = api::get::<PeriodsView>("/api/v1/quiet-periods").await {
                view_now.set(Some(v));
            }
        });
        load_snoozes(snoozes);
    };
    Effect::new(move |_| reload());
    // The form: editing `editing` (0: a new period).
    let editing = RwSignal::new(0i64);
    let name = RwSignal::new(String::new());
    let mode = RwSignal::new("quiet".to_string());
    let from = RwSignal::new("22:00".to_string());
    let to = RwSignal::new("07:00".to_string());
    let days = RwSignal::new(Vec::<String>::new());
    let dvrs = RwSignal::new(Vec::<String>::new());
    let kinds = RwSignal::new(Vec::<String>::new());
    let digest = RwSignal::new(false);
    let health = RwSignal::new(false);
    let enabled = RwSignal::new(true);
    let fill = move |p: PeriodView| {
        editing.set(p.id);
        name.set(p.name);
        mode.set(if p.mode.is_empty() {
            "quiet".into()
        } else {
            p.mode
        });
        from.set(p.from);
        to.set(p.to);
        days.set(p.days);
        dvrs.set(p.dvrs);
        kinds.set(p.kinds);
        digest.set(p.digest);
        health.set(p.health_breaks_through);
        enabled.set(p.enabled);
    };
    let clear = move || {
        fill(PeriodView {
            enabled: true,
            from: "22:00".into(),
            to: "07:00".into(),
            ..Default::default()
        })
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let maintenance = mode.get_untracked() == "maintenance";
        let body = json!({
            "name": name.get_untracked().trim(),
            "enabled": enabled.get_untracked(),
            "mode": mode.get_untracked(),
            "dvrs": dvrs.get_untracked(),
            "kinds": if maintenance { Vec::new() } else { kinds.get_untracked() },
            "days": days.get_untracked(),
            "from": from.get_untracked(),
            "to": to.get_untracked(),
            "digest": digest.get_untracked(),
            "health_breaks_through": !maintenance && health.get_untracked(),
        });
        let id = editing.get_untracked();
        let (method, path) = if id == 0 {
            ("POST", "/api/v1/quiet-periods".to_string())
        } else {
            ("PUT", format!("/api/v1/quiet-periods/{id}"))
        };
        edit(
            session,
            method,
            path,
            Some(body),
            outcome,
            "Period saved.",
            move |ok| {
                if ok {
                    clear();
                    reload();
                }
            },
        );
    };
    let remove = move |id: i64| {
        let path = format!("/api/v1/quiet-periods/{id}");
        edit(
            session,
            "DELETE",
            path,
            None,
            outcome,
            "Period removed.",
            move |_| reload(),
        );
    };
    view! {
        <section id="quiet" class="panel">
            <h2>"Quiet hours and maintenance"</h2>
            <p class="hint">{move || format!(
                "Alerts in a quiet period are recorded and shown in the alert history, not sent; a digest can sum them up when it ends. A maintenance window silences every alert of its DVRs and keeps them out of the staleness banner and readiness. Times are in {}.",
                view_now.get().map(|v| v.time_zone).unwrap_or_default()
            )}</p>
            <ul class="periods" id="periods">
                {move || {
                    let v = view_now.get().unwrap_or_default();
                    if v.periods.is_empty() {
                        return view! { <li class="hint">"No quiet periods yet."</li> }.into_any();
                    }
                    v.periods.into_iter().map(|p| {
                        let on = v.in_force.iter().any(|f| f.id == p.id);
                        let id = p.id;
                        let edit = p.clone();
                        view! {
                            <li class="period" data-period-id=id.to_string()>
                                <strong>{if p.name.is_empty() { "(unnamed)".to_string() } else { p.name.clone() }}</strong>
                                <span class=format!("pill {}", p.mode)>{if p.mode == "maintenance" { "maintenance" } else { "quiet" }}</span>
                                {on.then(|| view! { <span class="pill on-now">"on now"</span> })}
                                <span class="period-text">{period_text(&p, name_of)}</span>
                                {admin.then(|| view! {
                                    <button type="button" class="secondary" on:click=move |_| fill(edit.clone())>"Edit"</button>
                                    <button type="button" class="secondary danger" on:click=move |_| remove(id)>"Remove"</button>
                                })}
                            </li>
                        }
                    }).collect_view().into_any()
                }}
            </ul>
            {admin.then(|| view! {
                <form class="period-form" id="period-form" on:submit=save>
                    <h3>{move || if editing.get() == 0 { "Add a period".to_string() } else { "Change the period".to_string() }}</h3>
                    <div class="field"><label for="period-name">"Name"</label>
                        <input id="period-name" bind:value=name placeholder="Night"/></div>
                    <div class="field"><label for="period-mode">"What it does"</label>
                        <select id="period-mode" prop:value=move || mode.get() on:change=move |ev| mode.set(event_target_value(&ev))>
                            <option value="quiet">"Quiet hours: do not send"</option>
                            <option value="maintenance">"Maintenance: do not send, not called stale"</option>
                        </select></div>
                    <div class="field"><label for="period-from">"From"</label>
                        <input id="period-from" type="time" bind:value=from required/></div>
                    <div class="field"><label for="period-to">"To"</label>
                        <input id="period-to" type="time" bind:value=to required/>
                        <span class="hint">"Earlier than From: into the next day. Equal: all day."</span></div>
                    <fieldset><legend>"Starting on (none: every day)"</legend>
                        <Checks name="days" options=options(&DAYS) chosen=days disabled=false/></fieldset>
                    <fieldset><legend>"DVRs (none: every DVR)"</legend>
                        {move || view! { <Checks name="dvrs" options=dvr_options() chosen=dvrs disabled=false/> }}</fieldset>
                    <fieldset hidden=move || mode.get() == "maintenance"><legend>"Kinds (none: every kind)"</legend>
                        <Checks name="kinds" options=options(&CATEGORIES) chosen=kinds disabled=false/></fieldset>
                    <label class="check"><input type="checkbox" id="period-digest" bind:checked=digest/>" Send a digest of what was held back when it ends"</label>
                    <label class="check" hidden=move || mode.get() == "maintenance"><input type="checkbox" id="period-health" bind:checked=health/>" Health alerts (a DVR unreachable or back) break through"</label>
                    <label class="check"><input type="checkbox" id="period-enabled" bind:checked=enabled/>" On"</label>
                    <div class="actions">
                        <button type="submit" id="period-save">"Save period"</button>
                        <button type="button" class="secondary" on:click=move |_| clear()>"Clear"</button>
                    </div>
                </form>
            })}
            <Outcome outcome=outcome/>
            <h3>"Snoozed now"</h3>
            <p class="hint">"Snooze a DVR or a kind from the dashboard, the API, or the link in a notification."</p>
            <SnoozeList list=snoozes outcome=outcome/>
        </section>
    }
}
