//! Settings › Routing › Rules per destination: each provider's rules, a form to add or
//! change one, and a preview of which recent alerts the rule in the form would send.
//! The list is client-only data, loaded after hydration and reread after each change.

use leptos::prelude::*;
use serde_json::{json, Value};

use super::form::{dvr_namer, dvr_options, edit, options, Checks, Outcome};
use crate::api::{self, use_session};
use wire::providers::ProviderView;
use wire::quiet::{CATEGORIES, DAYS};
use wire::rules::{Preview, RuleView, SOURCES};

/// A comma-separated list as its trimmed, non-empty entries.
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A rule in words.
fn rule_text(r: &RuleView, dvr_name: impl Fn(&str) -> String) -> String {
    let mut parts = Vec::new();
    parts.push(if r.dvrs.is_empty() {
        "every DVR".to_string()
    } else {
        r.dvrs
            .iter()
            .map(|d| dvr_name(d))
            .collect::<Vec<_>>()
            .join(", ")
    });
    parts.push(if r.kinds.is_empty() {
        "every kind".to_string()
    } else {
        r.kinds.join(", ")
    });
    let c = &r.conditions;
    if !c.devices.is_empty() {
        parts.push(format!("devices {}", c.devices.join(", ")));
    }
    if !c.exclude_devices.is_empty() {
        parts.push(format!("not {}", c.exclude_devices.join(", ")));
    }
    if !c.channels.is_empty() {
        parts.push(format!("channels {}", c.channels.join(", ")));
    }
    if !c.sources.is_empty() {
        parts.push(format!("sources {}", c.sources.join(", ")));
    }
    if let Some(p) = &c.client {
        parts.push(format!("{p} clients"));
    }
    if let Some(s) = c.min_watched_seconds {
        parts.push(format!("after {s} s of watching"));
    }
    if let Some(t) = &c.time_of_day {
        let days = if t.days.is_empty() {
            String::new()
        } else {
            format!(" on {}", t.days.join(", "))
        };
        parts.push(format!("{}–{}{days}", t.from, t.to));
    }
    if !r.enabled {
        parts.push("off".into());
    }
    parts.join(" · ")
}

/// The rules editor, for `providers` (the list the Providers tab shows).
#[component]
pub(crate) fn RulesEditor(providers: Vec<ProviderView>) -> impl IntoView {
    let session = use_session();
    let admin = session.is_admin();
    let name_of = dvr_namer();
    let rules = RwSignal::new(Vec::<RuleView>::new());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let reload = move || {
        leptos::task::spawn_local(async move {
            if let Ok(v) = api::get::<Vec<RuleView>>("/api/v1/rules").await {
                rules.set(v);
            }
        });
    };
    Effect::new(move |_| reload());
    let providers = StoredValue::new(providers);
    let provider_name = move |id: i64| {
        providers.with_value(|ps| {
            ps.iter()
                .find(|p| p.id == id)
                .map(|p| format!("{} ({})", p.name, p.provider_type))
                .unwrap_or_else(|| format!("provider {id}"))
        })
    };
    // The form.
    let editing = RwSignal::new(0i64);
    let provider = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let enabled = RwSignal::new(true);
    let dvrs = RwSignal::new(Vec::<String>::new());
    let kinds = RwSignal::new(Vec::<String>::new());
    let devices = RwSignal::new(String::new());
    let exclude = RwSignal::new(String::new());
    let channels = RwSignal::new(String::new());
    let sources = RwSignal::new(Vec::<String>::new());
    let client = RwSignal::new(String::new());
    let min_watched = RwSignal::new(String::new());
    let tod_from = RwSignal::new(String::new());
    let tod_to = RwSignal::new(String::new());
    let tod_days = RwSignal::new(Vec::<String>::new());
    let preview = RwSignal::new(None::<Result<Preview, String>>);
    let fill = move |r: RuleView| {
        editing.set(r.id);
        provider.set(if r.provider_id == 0 {
            String::new()
        } else {
            r.provider_id.to_string()
        });
        name.set(r.name);
        enabled.set(r.enabled);
        dvrs.set(r.dvrs);
        kinds.set(r.kinds);
        let c = r.conditions;
        devices.set(c.devices.join(", "));
        exclude.set(c.exclude_devices.join(", "));
        channels.set(c.channels.join(", "));
        sources.set(c.sources);
        client.set(c.client.unwrap_or_default());
        min_watched.set(
            c.min_watched_seconds
                .map(|s| s.to_string())
                .unwrap_or_default(),
        );
        let t = c.time_of_day.unwrap_or_default();
        tod_from.set(t.from);
        tod_to.set(t.to);
        tod_days.set(t.days);
        preview.set(None);
    };
    let clear = move || {
        fill(RuleView {
            enabled: true,
            ..Default::default()
        })
    };
    // The rule in the form, as the API takes it.
    let body = move || -> Value {
        let min: Value = match min_watched.get_untracked().trim() {
            "" => Value::Null,
            t => t
                .parse::<u32>()
                .map(Value::from)
                .unwrap_or(Value::String(t.to_string())),
        };
        let (from, to) = (tod_from.get_untracked(), tod_to.get_untracked());
        let time_of_day = if from.is_empty() && to.is_empty() {
            Value::Null
        } else {
            json!({"from": from, "to": to, "days": tod_days.get_untracked()})
        };
        let client = client.get_untracked();
        json!({
            "provider_id": provider.get_untracked().parse::<i64>().unwrap_or(0),
            "name": name.get_untracked().trim(),
            "enabled": enabled.get_untracked(),
            "dvrs": dvrs.get_untracked(),
            "kinds": kinds.get_untracked(),
            "conditions": {
                "devices": list(&devices.get_untracked()),
                "exclude_devices": list(&exclude.get_untracked()),
                "channels": list(&channels.get_untracked()),
                "sources": sources.get_untracked(),
                "client": if client.is_empty() { Value::Null } else { Value::String(client) },
                "min_watched_seconds": min,
                "time_of_day": time_of_day,
            },
        })
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let id = editing.get_untracked();
        let (method, path) = if id == 0 {
            ("POST", "/api/v1/rules".to_string())
        } else {
            ("PUT", format!("/api/v1/rules/{id}"))
        };
        edit(
            session,
            method,
            path,
            Some(body()),
            outcome,
            "Rule saved.",
            move |ok| {
                if ok {
                    clear();
                    reload();
                }
            },
        );
    };
    let run_preview = move |_| {
        preview.set(None);
        api::send(
            session,
            "POST",
            "/api/v1/rules/preview".into(),
            Some(body()),
            move |r| {
                preview.set(Some(api::answer::<Preview>(r).map_err(|e| e.message)));
            },
        );
    };
    let remove = move |id: i64| {
        let path = format!("/api/v1/rules/{id}");
        edit(
            session,
            "DELETE",
            path,
            None,
            outcome,
            "Rule removed.",
            move |_| reload(),
        );
    };
    view! {
        <section id="rules" class="panel">
            <h2>"Rules per destination"</h2>
            <p class="hint">"The matrix above switches provider types. A destination with rules gets an alert only when one of its rules matches; one without rules gets everything the matrix lets through. Conditions about a client or channel do not match alerts without one (disk, health)."</p>
            <ul class="rules" id="rule-list">
                {move || {
                    let all = rules.get();
                    if all.is_empty() {
                        return view! { <li class="hint">"No rules: every destination gets what the matrix sends it."</li> }.into_any();
                    }
                    all.into_iter().map(|r| {
                        let id = r.id;
                        let edit = r.clone();
                        view! {
                            <li class="rule" data-rule-id=id.to_string()>
                                <strong>{if r.name.is_empty() { "(unnamed)".to_string() } else { r.name.clone() }}</strong>
                                <span class="pill">{provider_name(r.provider_id)}</span>
                                <span class="rule-text">{rule_text(&r, name_of)}</span>
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
                <form class="rule-form" id="rule-form" on:submit=save>
                    <h3>{move || if editing.get() == 0 { "Add a rule".to_string() } else { "Change the rule".to_string() }}</h3>
                    <div class="field"><label for="rule-provider">"Destination"</label>
                        <select id="rule-provider" required prop:value=move || provider.get()
                            on:change=move |ev| provider.set(event_target_value(&ev))>
                            <option value="">"Choose a provider"</option>
                            {providers.get_value().into_iter().map(|p| view! {
                                <option value=p.id.to_string()>{format!("{} ({})", p.name, p.provider_type)}</option>
                            }).collect_view()}
                        </select></div>
                    <div class="field"><label for="rule-name">"Name"</label>
                        <input id="rule-name" bind:value=name placeholder="Not the kitchen"/></div>
                    <fieldset><legend>"DVRs (none: every DVR)"</legend>
                        {move || view! { <Checks name="rule-dvrs" options=dvr_options() chosen=dvrs disabled=false/> }}</fieldset>
                    <fieldset><legend>"Kinds (none: every kind)"</legend>
                        <Checks name="rule-kinds" options=options(&CATEGORIES) chosen=kinds disabled=false/></fieldset>
                    <div class="field"><label for="rule-devices">"Only these devices (names or addresses, comma-separated)"</label>
                        <input id="rule-devices" bind:value=devices placeholder="Living Room, 192.168.1.50"/></div>
                    <div class="field"><label for="rule-exclude">"Never these devices"</label>
                        <input id="rule-exclude" bind:value=exclude placeholder="Kitchen"/></div>
                    <div class="field"><label for="rule-channels">"Only these channels"</label>
                        <input id="rule-channels" bind:value=channels placeholder="7, 9.1"/></div>
                    <fieldset><legend>"Sources (none: any)"</legend>
                        <Checks name="rule-sources" options=options(&SOURCES) chosen=sources disabled=false/></fieldset>
                    <div class="field"><label for="rule-client">"Client"</label>
                        <select id="rule-client" prop:value=move || client.get() on:change=move |ev| client.set(event_target_value(&ev))>
                            <option value="">"Local or remote"</option>
                            <option value="local">"Local only"</option>
                            <option value="remote">"Remote only"</option>
                        </select></div>
                    <div class="field"><label for="rule-min-watched">"Watching alerts after (seconds of watching)"</label>
                        <input id="rule-min-watched" inputmode="numeric" bind:value=min_watched placeholder="120"/></div>
                    <div class="field"><label for="rule-from">"Only from"</label>
                        <input id="rule-from" type="time" bind:value=tod_from/>
                        <label for="rule-to">" to "</label>
                        <input id="rule-to" type="time" bind:value=tod_to/></div>
                    <fieldset><legend>"On days (none: every day)"</legend>
                        <Checks name="rule-days" options=options(&DAYS) chosen=tod_days disabled=false/></fieldset>
                    <label class="check"><input type="checkbox" id="rule-enabled" bind:checked=enabled/>" On"</label>
                    <div class="actions">
                        <button type="submit" id="rule-save">"Save rule"</button>
                        <button type="button" class="secondary" id="rule-preview" on:click=run_preview>"Preview on recent alerts"</button>
                        <button type="button" class="secondary" on:click=move |_| clear()>"Clear"</button>
                    </div>
                </form>
            })}
            <Outcome outcome=outcome/>
            {move || preview.get().map(|p| match p {
                Err(m) => view! { <p class="error" role="alert">{m}</p> }.into_any(),
                Ok(p) if p.items.is_empty() => view! { <p class="hint" id="rule-preview-list">"No recent alerts to judge."</p> }.into_any(),
                Ok(p) => {
                    let sent = p.items.iter().filter(|i| i.sends).count();
                    view! {
                        <div id="rule-preview-list">
                            <p class="hint">{format!("Of the last {} alerts, this rule would have sent {sent}.", p.items.len())}</p>
                            <table class="rule-preview">
                                <thead><tr><th>"When"</th><th>"DVR"</th><th>"Alert"</th><th>"Sent?"</th></tr></thead>
                                <tbody>
                                    {p.items.into_iter().map(|i| view! {
                                        <tr class=if i.sends { "sends" } else { "skips" }>
                                            <td>{api::clock(&i.created_at)}</td>
                                            <td>{i.dvr_name}</td>
                                            <td>{i.title}</td>
                                            <td>{match (i.sends, i.delay_seconds, i.reason) {
                                                (true, Some(d), _) => format!("yes, after {d} s of watching"),
                                                (true, None, _) => "yes".to_string(),
                                                (false, _, r) => format!("no: {}", r.unwrap_or_default()),
                                            }}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any()
                }
            })}
        </section>
    }
}
