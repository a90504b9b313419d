//! Settings: alert modules, providers, the routing matrix and Advanced.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde_json::{json, Map, Value};

use crate::api::{self, use_session, Session};
use crate::layout::{use_dashboard, Outcome};

use wire::operations::{BackupExport, BackupImport};
use wire::providers::{
    provider_type, ProviderInput, ProviderType, ProviderView, RoutingMatrix, TestOutcome,
    PROVIDER_TYPES,
};
use wire::settings::{Category, Preset, SettingsView};

/// The routing matrix's categories, by their API names.
const CATEGORIES: [&str; Category::ALL.len()] = {
    let mut names = [""; Category::ALL.len()];
    let mut i = 0;
    while i < Category::ALL.len() {
        names[i] = Category::ALL[i].as_str();
        i += 1;
    }
    names
};
/// The add form's fields for a provider type (none for an unknown one).
fn provider_fields(kind: &str) -> &'static [wire::providers::Field] {
    provider_type(kind).map_or(&[], |t: &ProviderType| t.fields)
}

fn humanize(key: &str) -> String {
    let s = key.replace('_', " ");
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[component]
pub(crate) fn SettingsPage() -> impl IntoView {
    // Every resource is made here, at the top of the page, never inside a suspended
    // child: hydration then finds each one's server-rendered data in the same order.
    let settings = Resource::new(|| (), |_| api::get::<SettingsView>("/api/v1/settings"));
    let version = RwSignal::new(0u32);
    let providers = Resource::new(
        move || version.get(),
        |_| api::get::<Vec<ProviderView>>("/api/v1/providers"),
    );
    let routing = Resource::new(|| (), |_| api::get::<Matrix>("/api/v1/routing"));
    let failed = |e: wire::ApiFailure| view! { <p class="error">{e.message}</p> }.into_any();
    // The open tab lives in the address (`?tab=`), so a link or a reload opens it, and
    // the server renders it before the app runs. Every tab is rendered; others hidden.
    let query = use_query_map();
    let tab = Memo::new(move |_| {
        query
            .read()
            .get("tab")
            .filter(|t| TABS.iter().any(|(k, _)| k == t))
            .unwrap_or_else(|| TABS[0].0.to_string())
    });
    let hidden = move |key: &'static str| move || tab.get() != key;
    view! {
        <h1>"Settings"</h1>
        <nav class="tabs" role="tablist" aria-label="Settings sections">
            {TABS.into_iter().map(|(key, label)| view! {
                <a href=format!("/settings?tab={key}") role="tab" class="tab" id=format!("tab-{key}")
                    aria-controls=key aria-selected=move || (tab.get() == key).to_string()>{label}</a>
            }).collect_view()}
        </nav>
        <div class="tab-panel" role="tabpanel" aria-labelledby="tab-alerts" hidden=hidden("alerts")>
            <Suspense fallback=|| view! { <p class="hint">"Loading settings…"</p> }>
                {move || Suspend::new(async move {
                    match settings.await {
                        Ok(s) => view! { <AlertSettings initial=s.alerts/> }.into_any(),
                        Err(e) => failed(e),
                    }
                })}
            </Suspense>
        </div>
        <div class="tab-panel" role="tabpanel" aria-labelledby="tab-providers" hidden=hidden("providers")>
            <Providers list=providers version=version/>
        </div>
        <div class="tab-panel" role="tabpanel" aria-labelledby="tab-routing" hidden=hidden("routing")>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match (routing.await, providers.await) {
                        (Ok(r), Ok(p)) => view! {
                            <RoutingEditor routing=r providers=p.clone()/>
                            <super::rules::RulesEditor providers=p/>
                        }.into_any(),
                        (Err(e), _) | (_, Err(e)) => failed(e),
                    }
                })}
            </Suspense>
        </div>
        <div class="tab-panel" role="tabpanel" aria-labelledby="tab-quiet" hidden=hidden("quiet")>
            <super::quiet::QuietTab/>
        </div>
        <div class="tab-panel" role="tabpanel" aria-labelledby="tab-dvrs" hidden=hidden("dvrs")>
            <DvrTab/>
        </div>
        <div class="tab-panel" role="tabpanel" aria-labelledby="tab-advanced" hidden=hidden("advanced")>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match settings.await {
                        Ok(s) => view! { <Advanced initial=s/> }.into_any(),
                        Err(e) => failed(e),
                    }
                })}
            </Suspense>
        </div>
    }
}

/// The Settings tabs: (key in `?tab=`, label).
const TABS: [(&str, &str); 6] = [
    ("alerts", "Alerts"),
    ("providers", "Providers"),
    ("routing", "Routing"),
    ("quiet", "Quiet hours"),
    ("dvrs", "DVRs"),
    ("advanced", "Advanced"),
];

/// Per-DVR settings: how long each may stay silent before it counts as stale, with a
/// way to its page. Adding and removing DVRs is on the DVRs page.
#[component]
fn DvrTab() -> impl IntoView {
    let session = use_session();
    let feed = use_dashboard();
    let admin = session.is_admin();
    view! {
        <section id="dvrs" class="panel">
            <h2>"DVRs"</h2>
            <p class="hint">"Add, edit or remove DVRs on the " <a href="/dvrs">"DVRs page"</a>
                ". A module can be switched off for one DVR under Alerts."</p>
            <h3>"Staleness thresholds per DVR"</h3>
            <table class="table">
                <thead><tr><th scope="col">"DVR"</th><th scope="col">"Stale after (seconds)"</th></tr></thead>
                <tbody>
                    {move || feed.dash.get().dvrs.into_iter().map(|d| view! { <ThresholdRow id=d.dvr_id name=d.name value=d.staleness_threshold_seconds editable=admin && d.managed_by == "ui"/> }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

fn set_at(v: &mut Value, path: &[String], new: Value) {
    let mut cur = v;
    for k in path {
        cur = &mut cur[k.as_str()];
    }
    *cur = new;
}

/// Renders one settings object as a form: switches for booleans, number fields for
/// numbers, nested groups for objects. Every module and option is covered this way.
fn fields(model: RwSignal<Value>, value: &Value, path: Vec<String>, disabled: bool) -> AnyView {
    let Value::Object(map) = value else {
        return ().into_any();
    };
    map.iter()
        // Per-DVR maps have their own table (`PerDvrModules`).
        .filter(|(k, _)| !matches!(k.as_str(), "per_dvr" | "program_image_per_dvr"))
        .map(|(k, v)| {
            let mut p = path.clone();
            p.push(k.clone());
            let id = format!("set-{}", p.join("-"));
            // Words from the option table (label, help, unit), else the key humanized.
            let text = wire::settings::option_text(&p.join("."));
            let label = text.map_or_else(|| humanize(k), |t| t.label.to_string());
            let label = match text.and_then(|t| t.unit) {
                Some(unit) => format!("{label} ({unit})"),
                None => label,
            };
            let help = text
                .map(|t| t.help)
                .filter(|h| !h.is_empty())
                .map(|h| view! { <span class="help">{h}</span> });
            match v {
                Value::Bool(_) => {
                    let p2 = p.clone();
                    let checked = move || {
                        let mut cur = model.get();
                        for k in &p2 { cur = cur[k.as_str()].clone(); }
                        cur.as_bool().unwrap_or(false)
                    };
                    view! {
                        <div class="field check">
                            <input type="checkbox" id=id.clone() checked=checked.clone() prop:checked=checked disabled=disabled
                                on:change=move |ev| { let on = event_target_checked(&ev); model.update(|m| set_at(m, &p, json!(on))); }/>
                            <label for=id>{label}</label>
                            {help}
                        </div>
                    }.into_any()
                }
                Value::Number(n) => {
                    let start = n.to_string();
                    view! {
                        <div class="field">
                            <label for=id.clone()>{label}</label>
                            <input id=id inputmode="decimal" value=start disabled=disabled
                                on:change=move |ev| {
                                    let t = event_target_value(&ev);
                                    let v = t.trim().parse::<i64>().map(Value::from)
                                        .or_else(|_| t.trim().parse::<f64>().map(Value::from))
                                        .unwrap_or(Value::String(t));
                                    model.update(|m| set_at(m, &p, v));
                                }/>
                            {help}
                        </div>
                    }.into_any()
                }
                Value::String(s) => {
                    let start = s.clone();
                    view! {
                        <div class="field">
                            <label for=id.clone()>{label}</label>
                            <input id=id value=start disabled=disabled
                                on:change=move |ev| { let t = event_target_value(&ev); model.update(|m| set_at(m, &p, json!(t))); }/>
                            {help}
                        </div>
                    }.into_any()
                }
                Value::Object(_) => {
                    // A module's template shows its text rendered from sample data.
                    let preview = (k == "template" && !disabled)
                        .then(|| path.last().and_then(|m| sample_alert(m)))
                        .flatten()
                        .map(|alert_type| view! { <TemplatePreview model=model path=p.clone() alert_type=alert_type/> });
                    view! {
                        <fieldset class="group"><legend>{label}</legend>{help}{fields(model, v, p, disabled)}{preview}</fieldset>
                    }.into_any()
                }
                // Unset template parts: empty means the default layout.
                Value::Null => view! {
                    <div class="field">
                        <label for=id.clone()>{label}</label>
                        {help}
                        <textarea id=id rows="2" disabled=disabled
                            on:change=move |ev| {
                                let t = event_target_value(&ev);
                                let v = if t.trim().is_empty() { Value::Null } else { json!(t) };
                                model.update(|m| set_at(m, &p, v));
                            }></textarea>
                    </div>
                }.into_any(),
                _ => ().into_any(),
            }
        })
        .collect_view()
        .into_any()
}

/// The alert type a module's template preview renders.
fn sample_alert(module: &str) -> Option<&'static str> {
    match module {
        "channel" => Some("channel.watching.start"),
        "vod" => Some("vod.playback.start"),
        "recording" => Some("recording.started"),
        "disk" => Some("disk.space.warning"),
        "health" => Some("dvr.unreachable"),
        _ => None,
    }
}

/// What a template makes of sample data, re-rendered by the server as it is edited
/// (`POST /api/v1/templates/preview`): the title, the message, a problem if any, and
/// the variables it may use. Filled in the browser once the page runs.
#[component]
fn TemplatePreview(
    model: RwSignal<Value>,
    path: Vec<String>,
    alert_type: &'static str,
) -> impl IntoView {
    let session = use_session();
    let shown = RwSignal::new(None::<Result<wire::TemplatePreview, String>>);
    let read = move || {
        model.with(|m| {
            let mut t = m;
            for k in &path {
                t = &t[k.as_str()];
            }
            (t["title"].clone(), t["body"].clone())
        })
    };
    // Only this template's own edits render it again.
    let parts = Memo::new(move |_| read());
    // A real alert of this kind from sample data and this template, routed like one.
    let sent = RwSignal::new(None);
    let send_test = move |_| {
        let (title, body) = parts.get_untracked();
        sent.set(Some(Ok("Sending…".to_string())));
        api::send(
            session,
            "POST",
            "/api/v1/alerts/test".into(),
            Some(json!({"alert_type": alert_type, "title": title, "body": body})),
            move |r| {
                sent.set(Some(
                    api::answer::<wire::TestAlertSent>(r)
                        .map(|t| format!("Test alert sent to {}.", t.providers.join(", ")))
                        .map_err(|e| e.message),
                ));
            },
        );
    };
    Effect::new(move |_| {
        let (title, body) = parts.get();
        let csrf = session.csrf();
        leptos::task::spawn_local(async move {
            let r = api::call::<wire::TemplatePreview>(
                csrf,
                "POST",
                "/api/v1/templates/preview",
                Some(json!({"alert_type": alert_type, "title": title, "body": body})),
            )
            .await;
            shown.set(Some(r.map_err(|e| e.message)));
        });
    });
    view! {
        <div class="template-preview" data-alert-type=alert_type>
            <span class="help">"Preview with sample data"</span>
            {move || shown.get().map(|r| match r {
                Ok(p) => view! {
                    <div class="preview-card">
                        <strong class="preview-title">{p.title}</strong>
                        <pre class="preview-message">{p.message}</pre>
                        {p.problem.map(|m| view! { <p class="error">{m}</p> })}
                        <p class="help">{format!("Variables: {}", p.variables.join(", "))}</p>
                    </div>
                }.into_any(),
                Err(m) => view! { <p class="error preview-error">{m}</p> }.into_any(),
            })}
            <Show when=move || session.is_admin()>
                <button type="button" class="secondary send-test" on:click=send_test
                    title="Sends an alert of this kind made from sample data to the providers routing sends it to">
                    "Send a test alert"</button>
            </Show>
            <Outcome state=sent/>
        </div>
    }
}

/// The alert modules: the form is built from the settings' own shape (every module and
/// option, whatever is added later), edited as a tree, and read back into that shape
/// before it is sent, so a value of the wrong kind is named here.
#[component]
fn AlertSettings(initial: wire::settings::AlertSettings) -> impl IntoView {
    let session = use_session();
    let initial = serde_json::to_value(&initial).unwrap_or(Value::Null);
    let model = RwSignal::new(initial.clone());
    let outcome = RwSignal::new(None);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let alerts =
            match crate::api::from_value::<wire::settings::AlertSettings>(model.get_untracked()) {
                Ok(a) => a,
                Err(e) => {
                    outcome.set(Some(Err(format!("alerts: {e}"))));
                    return;
                }
            };
        api::send(
            session,
            "PUT",
            "/api/v1/settings".into(),
            Some(json!({"alerts": alerts})),
            move |r| {
                outcome.set(Some(
                    r.map(|_| "Alert settings saved.".to_string())
                        .map_err(|e| e.message),
                ));
            },
        );
    };
    let disabled = !session.is_admin();
    // The policy the switches match now (None: Custom), and one click to set another.
    let current = Memo::new(move |_| {
        crate::api::from_value::<wire::settings::AlertSettings>(model.get())
            .ok()
            .and_then(|a| Preset::of(&a))
    });
    let choose = move |p: Preset| {
        if let Ok(mut a) =
            crate::api::from_value::<wire::settings::AlertSettings>(model.get_untracked())
        {
            p.apply(&mut a);
            if let Ok(v) = serde_json::to_value(&a) {
                model.set(v);
            }
        }
    };
    view! {
        <section id="alerts" class="panel">
            <h2>"Alerts"</h2>
            <p class="hint">"Switch alert modules and their options on or off. DVR reload failures are always reported."</p>
            <div class="presets" role="group" aria-label="Alert policy" id="presets">
                {Preset::ALL.into_iter().map(|p| view! {
                    <button type="button" class="preset secondary" disabled=disabled
                        id=format!("preset-{}", p.name().to_lowercase().replace(' ', "-"))
                        aria-pressed=move || (current.get() == Some(p)).to_string()
                        title=p.help() on:click=move |_| choose(p)>{p.name()}</button>
                }).collect_view()}
                <span class="preset-custom" id="preset-custom" class:active=move || current.get().is_none()>"Custom"</span>
                <span class="hint" id="preset-help">{move || match current.get() {
                    Some(p) => p.help().to_string(),
                    None => "Your own choice of modules; pick a policy to start again.".to_string(),
                }}</span>
            </div>
            <form class="form settings-form" on:submit=save>
                {fields(model, &initial, Vec::new(), disabled)}
                <PerDvrModules model=model disabled=disabled/>
                <button type="submit" disabled=disabled>"Save alert settings"</button>
                <Outcome state=outcome/>
            </form>
        </section>
    }
}

/// Per-DVR module switches (`alerts.per_dvr`): a module can be off for one DVR only.
#[component]
fn PerDvrModules(model: RwSignal<Value>, disabled: bool) -> impl IntoView {
    let feed = use_dashboard();
    let dvrs = Memo::new(move |_| {
        feed.dash
            .get()
            .dvrs
            .into_iter()
            .map(|d| (d.dvr_id, d.name))
            .collect::<Vec<_>>()
    });
    let on = move |dvr: &str, module: &str| {
        model.with(|m| m["per_dvr"][dvr][module].as_bool().unwrap_or(true))
    };
    // Program art in recording alerts: the DVR's own choice, else the global one.
    let art = move |dvr: &str| {
        model.with(|m| {
            let r = &m["recording"];
            r["program_image_per_dvr"][dvr]
                .as_bool()
                .or(r["program_image"].as_bool())
                .unwrap_or(true)
        })
    };
    view! {
        <fieldset class="group per-dvr">
            <legend>"Modules per DVR"</legend>
            <table class="table">
                <thead><tr><th scope="col">"DVR"</th>
                    {CATEGORIES.iter().map(|e| view! { <th scope="col">{humanize(e)}</th> }).collect_view()}
                    <th scope="col">"Program art"</th></tr></thead>
                <tbody>
                    {move || dvrs.get().into_iter().map(|(id, name)| {
                        let id = StoredValue::new(id);
                        view! {
                            <tr><th scope="row">{name.clone()}</th>
                                {CATEGORIES.iter().map(|e| view! {
                                    <td><input type="checkbox" disabled=disabled
                                        aria-label=format!("{e} alerts for {name}")
                                        checked=move || on(&id.get_value(), e)
                                        prop:checked=move || on(&id.get_value(), e)
                                        on:change=move |ev| {
                                            let v = event_target_checked(&ev);
                                            model.update(|m| {
                                                if !m["per_dvr"].is_object() { m["per_dvr"] = json!({}); }
                                                if !m["per_dvr"][id.get_value()].is_object() { m["per_dvr"][id.get_value()] = json!({}); }
                                                m["per_dvr"][id.get_value()][*e] = json!(v);
                                            });
                                        }/></td>
                                }).collect_view()}
                                <td><input type="checkbox" disabled=disabled class="program-art"
                                    aria-label=format!("program art in recording alerts for {name}")
                                    checked=move || art(&id.get_value())
                                    prop:checked=move || art(&id.get_value())
                                    on:change=move |ev| {
                                        let v = event_target_checked(&ev);
                                        model.update(|m| {
                                            let r = &mut m["recording"];
                                            if !r["program_image_per_dvr"].is_object() { r["program_image_per_dvr"] = json!({}); }
                                            r["program_image_per_dvr"][id.get_value()] = json!(v);
                                        });
                                    }/></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </fieldset>
    }
}

#[component]
fn Providers(
    list: Resource<Result<Vec<ProviderView>, wire::ApiFailure>>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let session = use_session();
    let reload = move || version.update(|v| *v += 1);
    view! {
        <section id="providers" class="panel">
            <h2>"Providers"</h2>
            <p class="hint">"Where notifications go. Secrets are shown as ****; leave them as **** to keep them."</p>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(ps) if ps.is_empty() => view! { <p class="hint" id="no-providers">"No providers yet."</p> }.into_any(),
                        Ok(ps) => view! { <ul class="providers" id="provider-list">{ps.into_iter().map(|p| view! {
                            <ProviderItem p=p on_change=Callback::new(move |_| reload())/> }).collect_view()}</ul> }.into_any(),
                        Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <Show when=move || session.is_admin()>
                <AddProvider on_added=Callback::new(move |_| reload())/>
            </Show>
        </section>
    }
}

#[component]
fn ProviderItem(p: ProviderView, on_change: Callback<()>) -> impl IntoView {
    let session = use_session();
    let id = p.id;
    let kind = p.provider_type.clone();
    let name = p.name.clone();
    let enabled = p.enabled;
    // Declared in the YAML file: changed there, so no edit buttons here.
    let from_file = p.managed_by == "file";
    let test = RwSignal::new(None::<Result<String, String>>);
    let testing = RwSignal::new(false);
    let details: Vec<(String, String)> = p
        .scheme
        .iter()
        .map(|s| ("scheme".to_string(), s.clone()))
        .chain(p.fields.iter().map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            )
        }))
        .collect();
    let run_test = move |_| {
        testing.set(true);
        api::send(
            session,
            "POST",
            format!("/api/v1/providers/{id}/test"),
            None,
            move |r| {
                testing.set(false);
                test.set(Some(match r {
                    Ok(v) => {
                        let outcome: TestOutcome = crate::api::from_value(v).unwrap_or_default();
                        let status = outcome
                            .status
                            .map_or_else(|| "null".to_string(), |s| s.to_string());
                        let text = format!("{status} {}", outcome.message);
                        if outcome.ok {
                            Ok(format!("Sent. Provider answered: {text}"))
                        } else {
                            Err(format!("Failed. Provider answered: {text}"))
                        }
                    }
                    Err(e) => Err(e.message),
                }));
            },
        );
    };
    let toggle = move |_| {
        api::send(
            session,
            "PATCH",
            format!("/api/v1/providers/{id}"),
            Some(json!(ProviderInput {
                enabled: Some(!enabled),
                ..ProviderInput::default()
            })),
            move |_| on_change.run(()),
        )
    };
    let remove = move |_| {
        api::send(
            session,
            "DELETE",
            format!("/api/v1/providers/{id}"),
            None,
            move |_| on_change.run(()),
        )
    };
    view! {
        <li class="provider" data-provider-id=id.to_string() data-provider-type=kind.clone()>
            <strong>{format!("{name} ({kind})")}</strong>
            <span class=if enabled { "pill healthy" } else { "pill disabled" }>{if enabled { "enabled" } else { "disabled" }}</span>
            {from_file.then(|| view! { <span class="badge managed">"Managed by the YAML configuration file"</span> })}
            <dl class="provider-fields">{details.into_iter().map(|(k, v)| view! { <dt>{humanize(&k)}</dt><dd>{v}</dd> }).collect_view()}</dl>
            <div class="buttons">
                <Show when=move || session.is_admin()>
                    <button type="button" class="secondary provider-test" on:click=run_test disabled=move || testing.get()>
                        {move || if testing.get() { "Testing…" } else { "Test" }}</button>
                    <Show when=move || !from_file>
                        <button type="button" class="secondary" on:click=toggle>{if enabled { "Disable" } else { "Enable" }}</button>
                        <button type="button" class="danger" on:click=remove>"Delete"</button>
                    </Show>
                </Show>
            </div>
            {move || test.get().map(|r| match r {
                Ok(m) => view! { <p class="success provider-answer" role="status">{m}</p> }.into_any(),
                Err(m) => view! { <p class="error provider-answer" role="alert">{m}</p> }.into_any(),
            })}
        </li>
    }
}

#[component]
fn AddProvider(on_added: Callback<()>) -> impl IntoView {
    let session = use_session();
    let kind = RwSignal::new("webhook".to_string());
    let name = RwSignal::new(String::new());
    let values = RwSignal::new(BTreeMap::<String, String>::new());
    let outcome = RwSignal::new(None);
    // The TVs a Channels app provider can use, once that type is picked.
    let tvs = RwSignal::new(Vec::<wire::providers::ChannelsClientRow>::new());
    Effect::new(move |_| {
        if kind.get() == "channels_app" && tvs.with_untracked(Vec::is_empty) {
            leptos::task::spawn_local(async move {
                if let Ok(list) = api::get::<Vec<wire::providers::ChannelsClientRow>>(
                    "/api/v1/providers/channels-clients",
                )
                .await
                {
                    tvs.set(list);
                }
            });
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let k = kind.get_untracked();
        let given = name.get_untracked().trim().to_string();
        let mut body = ProviderInput {
            provider_type: Some(k.clone()),
            name: (!given.is_empty()).then_some(given),
            ..ProviderInput::default()
        };
        for (f, v) in values.get_untracked() {
            let v = v.trim().to_string();
            if v.is_empty() || !provider_fields(&k).iter().any(|field| field.name == f) {
                continue;
            }
            let value = match f.as_str() {
                "to" => json!(v
                    .split(',')
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()),
                "smtp_port" | "priority" => v.parse::<i64>().map(Value::from).unwrap_or(json!(v)),
                _ => json!(v),
            };
            body.fields.insert(f, value);
        }
        api::send(
            session,
            "POST",
            "/api/v1/providers".into(),
            Some(json!(body)),
            move |r| match r {
                Ok(_) => {
                    values.set(BTreeMap::new());
                    name.set(String::new());
                    outcome.set(Some(Ok("Provider added.".to_string())));
                    on_added.run(());
                }
                Err(e) => outcome.set(Some(Err(e.message))),
            },
        );
    };
    view! {
        <form class="form add-provider" id="add-provider" on:submit=submit>
            <h3>"Add a provider"</h3>
            <div class="field">
                <label for="provider-type">"Type"</label>
                <select id="provider-type" on:change=move |ev| kind.set(event_target_value(&ev))>
                    {PROVIDER_TYPES.iter().map(|t| view! { <option value=t.name selected=move || kind.get() == t.name>{t.label}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="provider-name">"Name (optional)"</label>
                <input id="provider-name" bind:value=name/>
            </div>
            {move || provider_fields(&kind.get()).iter().map(|field| {
                let (label, secret) = (field.label, field.secret);
                let f = field.name.to_string();
                let id = format!("provider-{f}");
                let f2 = f.clone();
                // The Channels app's address: the TVs the DVRs list or mDNS found.
                let list = (f == "client").then_some("channels-clients");
                view! {
                    <div class="field">
                        <label for=id.clone()>{label}</label>
                        <input id=id type=if secret { "password" } else { "text" } autocomplete="off" list=list
                            prop:value=move || values.with(|v| v.get(&f2).cloned().unwrap_or_default())
                            on:input=move |ev| { let t = event_target_value(&ev); values.update(|v| { v.insert(f.clone(), t); }); }/>
                    </div>
                }
            }).collect_view()}
            <datalist id="channels-clients">
                {move || tvs.get().into_iter().map(|c| {
                    let from = match (&c.dvr_name, c.source.as_str()) {
                        (Some(d), _) => format!("{} (listed by {d})", c.name),
                        (None, _) => format!("{} (found on the network)", c.name),
                    };
                    view! { <option value=c.address>{from}</option> }
                }).collect_view()}
            </datalist>
            <button type="submit">"Add provider"</button>
            <Outcome state=outcome/>
        </form>
    }
}

type Matrix = RoutingMatrix;

fn cell(m: &Matrix, dvr: &str, event: &str, provider: &str) -> bool {
    m.get(dvr)
        .and_then(|e| e.get(event))
        .and_then(|p| p.get(provider))
        .copied()
        .unwrap_or(true)
}

fn set_cell(m: &mut Matrix, dvr: &str, event: &str, provider: &str, on: bool) {
    m.entry(dvr.into())
        .or_default()
        .entry(event.into())
        .or_default()
        .insert(provider.into(), on);
}

#[component]
fn RoutingEditor(routing: Matrix, providers: Vec<ProviderView>) -> impl IntoView {
    let session = use_session();
    let feed = use_dashboard();
    let mut types: Vec<String> = providers.iter().map(|p| p.provider_type.clone()).collect();
    types.sort();
    types.dedup();
    if types.is_empty() {
        types = PROVIDER_TYPES.iter().map(|t| t.name.to_string()).collect();
    }
    // Only the DVR list, so the grid is rebuilt when DVRs change, not on every frame.
    let dvrs = Memo::new(move |_| {
        feed.dash
            .get()
            .dvrs
            .into_iter()
            .map(|d| (d.dvr_id, d.name))
            .collect::<Vec<_>>()
    });
    view! {
        <section id="routing" class="panel">
            <h2>"Routing"</h2>
            <p class="hint">"Which alerts go to which provider type, per DVR. A cell that was never set is on."</p>
            <MatrixGrid initial=routing types=types session=session dvrs=dvrs.into()/>
        </section>
    }
}

#[component]
fn MatrixGrid(
    initial: Matrix,
    types: Vec<String>,
    session: Session,
    dvrs: Signal<Vec<(String, String)>>,
) -> impl IntoView {
    let m = RwSignal::new(initial);
    let outcome = RwSignal::new(None);
    let admin = session.is_admin();
    let types = StoredValue::new(types);
    let save = move |_| {
        let body = serde_json::to_value(m.get_untracked()).unwrap_or(Value::Null);
        api::send(
            session,
            "PUT",
            "/api/v1/routing".into(),
            Some(body),
            move |r| {
                outcome.set(Some(
                    r.map(|_| "Routing saved.".to_string())
                        .map_err(|e| e.message),
                ));
            },
        );
    };
    view! {
        <div class="matrix" id="routing-matrix">
            {move || dvrs.get().into_iter().map(|(dvr, name)| {
                let dvr = StoredValue::new(dvr);
                view! {
                    <table class="table matrix-table" data-dvr-id=dvr.get_value()>
                        <caption>{name}</caption>
                        <thead><tr>
                            <th scope="col">"Event"</th>
                            {types.get_value().into_iter().map(|t| {
                                let t2 = t.clone();
                                let toggle_col = move |_| {
                                    let d = dvr.get_value();
                                    m.update(|mm| {
                                        let all = CATEGORIES.iter().all(|e| cell(mm, &d, e, &t2));
                                        for e in CATEGORIES { set_cell(mm, &d, e, &t2, !all); }
                                    });
                                };
                                view! { <th scope="col">{t.clone()}<br/>
                                    <button type="button" class="mini col-toggle" disabled=!admin
                                        aria-label=format!("Toggle {t} for every event") on:click=toggle_col>"all"</button></th> }
                            }).collect_view()}
                        </tr></thead>
                        <tbody>
                            {CATEGORIES.iter().map(|e| {
                                let toggle_row = move |_| {
                                    let d = dvr.get_value();
                                    m.update(|mm| {
                                        let ts = types.get_value();
                                        let all = ts.iter().all(|t| cell(mm, &d, e, t));
                                        for t in &ts { set_cell(mm, &d, e, t, !all); }
                                    });
                                };
                                view! {
                                    <tr>
                                        <th scope="row">{*e}" "
                                            <button type="button" class="mini row-toggle" disabled=!admin
                                                aria-label=format!("Toggle {e} for every provider") on:click=toggle_row>"all"</button></th>
                                        {types.get_value().into_iter().map(|t| {
                                            let t2 = t.clone();
                                            let id = format!("route-{}-{e}-{t}", dvr.get_value());
                                            view! {
                                                <td><input type="checkbox" id=id.clone() disabled=!admin
                                                    aria-label=format!("{e} alerts to {t}")
                                                    checked={let t = t.clone(); move || m.with(|mm| cell(mm, &dvr.get_value(), e, &t))}
                                                    prop:checked=move || m.with(|mm| cell(mm, &dvr.get_value(), e, &t))
                                                    on:change=move |ev| { let on = event_target_checked(&ev); m.update(|mm| set_cell(mm, &dvr.get_value(), e, &t2, on)); }/></td>
                                            }
                                        }).collect_view()}
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }
            }).collect_view()}
            <button type="button" id="save-routing" on:click=save disabled=!admin>"Save routing"</button>
            <Outcome state=outcome/>
        </div>
    }
}

#[component]
fn Advanced(initial: SettingsView) -> impl IntoView {
    let session = use_session();
    let limit = RwSignal::new(initial.dvr_soft_limit.to_string());
    let retention = RwSignal::new(initial.retention_days.to_string());
    let history_retention = RwSignal::new(initial.history_retention_days.to_string());
    let time_zone = RwSignal::new(initial.time_zone.clone());
    let in_force = RwSignal::new(initial.time_zone_in_force.clone());
    // The zone names for the picker, fetched by the browser once the page is live.
    let zone_names = RwSignal::new(Vec::<String>::new());
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(names) = api::get::<Vec<String>>("/api/v1/settings/time-zones").await {
                zone_names.set(names);
            }
        });
    });
    let t = initial.disk_thresholds;
    // Written as JSON writes them (`10.0`), as the form always showed them.
    let shown = |v: f64| serde_json::to_string(&v).unwrap_or_default();
    let thresholds: Vec<(&'static str, &'static str, RwSignal<String>)> = vec![
        (
            "warning_percent",
            "Disk warning below (% free)",
            RwSignal::new(shown(t.warning_percent)),
        ),
        (
            "warning_gib",
            "Disk warning below (GiB free)",
            RwSignal::new(shown(t.warning_gib)),
        ),
        (
            "critical_percent",
            "Disk critical below (% free)",
            RwSignal::new(shown(t.critical_percent)),
        ),
        (
            "critical_gib",
            "Disk critical below (GiB free)",
            RwSignal::new(shown(t.critical_gib)),
        ),
    ];
    let file_thresholds = initial.disk_thresholds_managed_by_file;
    let file_keys: Vec<String> = initial.managed_by_file.clone();
    let file_sets = |k: &str| file_keys.iter().any(|x| x == k);
    let (file_limit, file_retention) = (file_sets("dvr_soft_limit"), file_sets("retention_days"));
    let file_history = file_sets("history_retention_days");
    let file_zone = file_sets("time_zone");
    let outcome = RwSignal::new(None);
    let admin = session.is_admin();
    let config_path = initial.config_file.path.clone();
    let last_apply = RwSignal::new(initial.config_file.last_apply.clone());
    let reload_outcome = RwSignal::new(None);
    let reload = move |_| {
        api::send(
            session,
            "POST",
            "/api/v1/config/reload".into(),
            None,
            move |r| {
                reload_outcome.set(Some(
                    r.map(|v| {
                        let summary = crate::api::from_value::<wire::operations::Reloaded>(v)
                            .map(|r| r.summary)
                            .unwrap_or_default();
                        format!("Configuration file reloaded: {summary}.")
                    })
                    .map_err(|e| e.message),
                ));
                leptos::task::spawn_local(async move {
                    if let Ok(v) = api::get::<SettingsView>("/api/v1/settings").await {
                        last_apply.set(v.config_file.last_apply);
                    }
                });
            },
        );
    };
    let th = thresholds.clone();
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let num = |s: String| {
            s.trim()
                .parse::<f64>()
                .map(Value::from)
                .unwrap_or(Value::String(s))
        };
        // Numbers as numbers; anything else as typed, so the server names what is wrong.
        let whole = |s: RwSignal<String>| {
            let t = s.get_untracked();
            t.trim()
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or(Value::String(t))
        };
        let mut body = json!({
            "dvr_soft_limit": whole(limit),
            "retention_days": whole(retention),
            "history_retention_days": whole(history_retention),
        });
        if !file_zone {
            body["time_zone"] = Value::String(time_zone.get_untracked().trim().to_string());
        }
        if !file_thresholds {
            let mut d = Map::new();
            for (k, _, s) in &th {
                d.insert(k.to_string(), num(s.get_untracked()));
            }
            body["disk_thresholds"] = Value::Object(d);
        }
        api::send(
            session,
            "PUT",
            "/api/v1/settings".into(),
            Some(body),
            move |r| {
                outcome.set(Some(
                    r.map(|v| {
                        if let Ok(v) = crate::api::from_value::<SettingsView>(v) {
                            in_force.set(v.time_zone_in_force);
                        }
                        "Advanced settings saved.".to_string()
                    })
                    .map_err(|e| e.message),
                ));
            },
        );
    };
    view! {
        <section id="advanced" class="panel">
            <h2>"Advanced"</h2>
            <form class="form" on:submit=save>
                <div class="field"><label for="soft-limit-input">"DVR soft limit"</label>
                    <input id="soft-limit-input" inputmode="numeric" bind:value=limit disabled=!admin || file_limit/></div>
                <div class="field"><label for="retention-input">"Keep alert history (days)"</label>
                    <input id="retention-input" inputmode="numeric" bind:value=retention disabled=!admin || file_retention/></div>
                <div class="field"><label for="history-retention-input">"Keep watch history (days)"</label>
                    <input id="history-retention-input" inputmode="numeric" bind:value=history_retention disabled=!admin || file_history/></div>
                <div class="field"><label for="time-zone-input">"Time zone"</label>
                    <input id="time-zone-input" list="time-zones" placeholder="Empty: TZ, then the host's zone" autocomplete="off" bind:value=time_zone disabled=!admin || file_zone/>
                    <datalist id="time-zones">
                        {move || zone_names.get().into_iter().map(|n| view! { <option value=n/> }).collect_view()}
                    </datalist>
                    <p class="hint" id="time-zone-in-force">{move || in_force.with(|z| {
                        let from = match z.source.as_str() {
                            "setting" => "this setting",
                            "env" => "TZ",
                            "host" => "the host",
                            _ => "nothing set: UTC",
                        };
                        format!("Times are shown in {} (from {from}); pages show a change once reloaded.", z.name)
                    })}</p>
                    {move || in_force.with(|z| z.warning.clone()).map(|w| view! { <p class="error" id="time-zone-warning">{w}</p> })}
                </div>
                {thresholds.into_iter().map(|(k, label, s)| view! {
                    <div class="field"><label for=format!("disk-{k}")>{label}</label>
                        <input id=format!("disk-{k}") inputmode="decimal" bind:value=s disabled=!admin || file_thresholds/></div>
                }).collect_view()}
                {file_thresholds.then(|| view! { <p class="note">"Disk thresholds are set in the YAML configuration file."</p> })}
                <button type="submit" disabled=!admin>"Save advanced settings"</button>
                <Outcome state=outcome/>
            </form>
            <HeartbeatPanel/>
            <MqttPanel/>
            <h3>"Configuration file"</h3>
            <p class="hint" id="config-file">{format!("{config_path} is read at start, on SIGHUP and whenever it changes.")}</p>
            {(!file_keys.is_empty()).then(|| view! {
                <p class="note" id="file-keys">{format!("Set by the file, which wins over edits here: {}.", file_keys.join(", "))}</p>
            })}
            <p id="config-status" class=move || if last_apply.with(|a| a.as_ref().is_some_and(|a| !a.ok)) { "error" } else { "note" } role="status">
                {move || last_apply.with(|a| a.as_ref().map(|a| a.message.clone()))}
            </p>
            <Show when=move || admin>
                <button type="button" class="secondary" id="config-reload" on:click=reload>"Reload now"</button>
            </Show>
            <Outcome state=reload_outcome/>
            <Show when=move || admin>
                <h3>"Support"</h3>
                <p class="hint">"A debug bundle holds the version, settings, health, doctor report, metrics and recent log lines, with every secret, URL and address removed."</p>
                <a class="button secondary" id="bundle-download" href="/api/v1/doctor/bundle" download>"Download debug bundle"</a>
                <BackupRestore/>
            </Show>
        </section>
    }
}

/// The heartbeat (`/api/v1/heartbeat`): a push URL pinged while every DVR is healthy,
/// so an outside service notices when the monitor itself stops. Read by the browser
/// once the page is live; the URL is never shown whole.
#[component]
fn HeartbeatPanel() -> impl IntoView {
    use wire::operations::HeartbeatView;
    let session = use_session();
    let admin = session.is_admin();
    let view_now = RwSignal::new(None::<HeartbeatView>);
    let url = RwSignal::new(String::new());
    let interval = RwSignal::new(String::new());
    let enabled = RwSignal::new(true);
    let outcome = RwSignal::new(None);
    let show = move |v: HeartbeatView| {
        url.set(v.url.clone().unwrap_or_default());
        interval.set(v.interval_seconds.to_string());
        enabled.set(v.enabled || !v.configured);
        view_now.set(Some(v));
    };
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(v) = api::get::<HeartbeatView>("/api/v1/heartbeat").await {
                show(v);
            }
        });
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // A URL still shown masked keeps the stored one.
        let typed = url.get_untracked();
        let keep = typed.ends_with("/****");
        let body = json!({
            "url": if keep { "****".to_string() } else { typed.trim().to_string() },
            "interval_seconds": interval.get_untracked().trim().parse::<u64>().map(Value::from).unwrap_or(Value::String(interval.get_untracked())),
            "enabled": enabled.get_untracked(),
        });
        api::send(
            session,
            "PUT",
            "/api/v1/heartbeat".into(),
            Some(body),
            move |r| {
                outcome.set(Some(
                    r.map(|v| {
                        if let Ok(v) = crate::api::from_value::<HeartbeatView>(v) {
                            let text = if v.configured {
                                "Heartbeat saved."
                            } else {
                                "Heartbeat removed."
                            };
                            show(v);
                            text.to_string()
                        } else {
                            "Heartbeat saved.".to_string()
                        }
                    })
                    .map_err(|e| e.message),
                ));
            },
        );
    };
    let test = move |_| {
        api::send(
            session,
            "POST",
            "/api/v1/heartbeat/test".into(),
            None,
            move |r| {
                outcome.set(Some(match r {
                    Ok(v) => {
                        let message = v["message"].as_str().unwrap_or_default().to_string();
                        if v["ok"].as_bool() == Some(true) {
                            Ok(format!("Pinged: {message}"))
                        } else {
                            Err(format!("The ping failed: {message}"))
                        }
                    }
                    Err(e) => Err(e.message),
                }));
                leptos::task::spawn_local(async move {
                    if let Ok(v) = api::get::<HeartbeatView>("/api/v1/heartbeat").await {
                        view_now.set(Some(v));
                    }
                });
            },
        );
    };
    view! {
        <h3>"Heartbeat"</h3>
        <p class="hint">"A push URL (healthchecks.io, Uptime Kuma's push monitor, ...) pinged while every DVR is healthy. When ChannelWatch stops, or a DVR goes stale, the pings stop and that service alerts you."</p>
        <form class="form" id="heartbeat" on:submit=save>
            <div class="field"><label for="heartbeat-url">"Push URL"</label>
                <input id="heartbeat-url" type="url" autocomplete="off" placeholder="https://hc-ping.com/…" bind:value=url disabled=!admin/>
                <span class="help">"Shown by its host only: the rest is a secret. Empty and saved: no heartbeat."</span></div>
            <div class="field"><label for="heartbeat-interval">"Every (seconds)"</label>
                <input id="heartbeat-interval" inputmode="numeric" bind:value=interval disabled=!admin/></div>
            <div class="field check"><input type="checkbox" id="heartbeat-enabled" bind:checked=enabled disabled=!admin/>
                <label for="heartbeat-enabled">"Send pings"</label></div>
            <p class="note" id="heartbeat-status" role="status">{move || view_now.get().map(|v| match (v.configured, v.last_outcome.as_deref()) {
                (false, _) => "No heartbeat is set.".to_string(),
                (true, None) => "Not pinged yet.".to_string(),
                (true, Some(o)) => format!("Last {o} at {}: {} ({} sent, {} failed, {} skipped).",
                    v.last_at.as_deref().map(api::when).unwrap_or_default(),
                    v.last_message.unwrap_or_default(), v.pings_ok, v.pings_failed, v.skipped),
            })}</p>
            <Show when=move || admin>
                <button type="submit">"Save heartbeat"</button>
                <button type="button" class="secondary" id="heartbeat-test" on:click=test
                    disabled=move || !view_now.get().is_some_and(|v| v.configured)>"Ping now"</button>
            </Show>
            <Outcome state=outcome/>
        </form>
    }
}

/// Home Assistant over MQTT (`/api/v1/mqtt`): the broker, and how the connection is
/// doing. Read by the browser once the page is live; the password is never shown.
#[component]
fn MqttPanel() -> impl IntoView {
    let session = use_session();
    let admin = session.is_admin();
    let enabled = RwSignal::new(false);
    let url = RwSignal::new(String::new());
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let status = RwSignal::new(None::<Value>);
    let outcome = RwSignal::new(None);
    let show = move |v: &Value| {
        let s = &v["settings"];
        enabled.set(s["enabled"].as_bool().unwrap_or(false));
        url.set(s["url"].as_str().unwrap_or_default().to_string());
        username.set(s["username"].as_str().unwrap_or_default().to_string());
        password.set(s["password"].as_str().unwrap_or_default().to_string());
        status.set(Some(v["status"].clone()));
    };
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(v) = api::get::<Value>("/api/v1/mqtt").await {
                show(&v);
            }
        });
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = |s: RwSignal<String>| {
            let t = s.get_untracked().trim().to_string();
            if t.is_empty() {
                Value::Null
            } else {
                Value::String(t)
            }
        };
        let body = json!({
            "enabled": enabled.get_untracked(),
            "url": url.get_untracked().trim(),
            "username": text(username),
            "password": text(password),
        });
        api::send(
            session,
            "PUT",
            "/api/v1/mqtt".into(),
            Some(body),
            move |r| {
                outcome.set(Some(
                    r.map(|v| {
                        show(&v);
                        "MQTT saved; it connects in the background.".to_string()
                    })
                    .map_err(|e| e.message),
                ));
            },
        );
    };
    view! {
        <h3>"Home Assistant (MQTT)"</h3>
        <p class="hint">"Each DVR appears in Home Assistant as a device (connected, streams, recordings, disk free, last alert) through MQTT discovery, and every alert is an event."</p>
        <form class="form" id="mqtt" on:submit=save>
            <div class="field check"><input type="checkbox" id="mqtt-enabled" bind:checked=enabled disabled=!admin/>
                <label for="mqtt-enabled">"Connect to the broker"</label></div>
            <div class="field"><label for="mqtt-url">"Broker"</label>
                <input id="mqtt-url" placeholder="mqtt://homeassistant.local:1883" autocomplete="off" bind:value=url disabled=!admin/></div>
            <div class="field"><label for="mqtt-username">"Username (optional)"</label>
                <input id="mqtt-username" autocomplete="off" bind:value=username disabled=!admin/></div>
            <div class="field"><label for="mqtt-password">"Password (optional)"</label>
                <input id="mqtt-password" type="password" autocomplete="new-password" bind:value=password disabled=!admin/></div>
            <p class="note" id="mqtt-status" role="status">{move || status.get().map(|s| {
                if s["connected"].as_bool() == Some(true) {
                    format!("Connected; {} messages published.", s["published"])
                } else if let Some(e) = s["last_error"].as_str() {
                    format!("Not connected: {e}")
                } else {
                    "Not connected.".to_string()
                }
            })}</p>
            <Show when=move || admin>
                <button type="submit">"Save MQTT"</button>
            </Show>
            <Outcome state=outcome/>
        </form>
    }
}

/// Backup to a file and restore from one (admins): `/api/v1/backup/export|import`.
#[component]
fn BackupRestore() -> impl IntoView {
    let session = use_session();
    let pass = RwSignal::new(String::new());
    let restore_pass = RwSignal::new(String::new());
    let without = RwSignal::new(false);
    let exported = RwSignal::new(None);
    let restored = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let export = move |_| {
        let p = pass.get_untracked();
        let body = json!(BackupExport {
            passphrase: (!p.is_empty()).then_some(p),
        });
        busy.set(true);
        api::send(
            session,
            "POST",
            "/api/v1/backup/export".into(),
            Some(body),
            move |r| {
                busy.set(false);
                exported.set(Some(r.map_err(|e| e.message).and_then(|v| {
                    let stamp: String = v["created_at"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .collect();
                    let text = serde_json::to_string_pretty(&v).unwrap_or_default();
                    crate::browser::download_text(
                        &format!("channelwatch-backup-{stamp}.json"),
                        "application/json",
                        &text,
                    )?;
                    Ok(if v["sealed_secrets"].is_null() {
                        "Backup downloaded, without secrets.".to_string()
                    } else {
                        "Backup downloaded, secrets sealed with the passphrase.".to_string()
                    })
                })));
            },
        );
    };
    let restore = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            let text = match crate::browser::chosen_file_text("restore-file").await {
                Ok(t) => t,
                Err(e) => {
                    busy.set(false);
                    return restored.set(Some(Err(e)));
                }
            };
            let backup: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    busy.set(false);
                    return restored.set(Some(Err(format!("not a backup file: {e}"))));
                }
            };
            let p = restore_pass.get_untracked();
            let body = json!(BackupImport {
                backup,
                passphrase: (!p.is_empty()).then_some(p),
                without_secrets: without.get_untracked(),
            });
            api::send(
                session,
                "POST",
                "/api/v1/backup/import".into(),
                Some(body),
                move |r| {
                    busy.set(false);
                    restored.set(Some(r.map_err(|e| e.message).map(|v| {
                        let v: wire::operations::ImportReport =
                            crate::api::from_value(v).unwrap_or_default();
                        let mut m = format!(
                            "Restored {} DVR(s), {} provider(s) and {} routing entries.",
                            v.dvrs, v.providers, v.routing_entries
                        );
                        for (list, what) in [
                            (&v.providers_without_secrets, "Providers"),
                            (&v.dvrs_without_api_key, "DVRs"),
                        ] {
                            let names = list.join(", ");
                            if !names.is_empty() {
                                m.push_str(&format!(
                                    " {what} that came in disabled until their secrets are entered again: {names}."
                                ));
                            }
                        }
                        m
                    })));
                },
            );
        });
    };
    view! {
        <h3>"Backup and restore"</h3>
        <p class="hint">"One file with the settings, the DVRs and providers added here, and routing. With a passphrase, provider secrets and DVR API keys go in sealed; without one they are left out. Users, API keys and alert history are not included."</p>
        <div class="form">
            <div class="field"><label for="backup-passphrase">"Passphrase (optional, 8 characters or more)"</label>
                <input id="backup-passphrase" type="password" autocomplete="new-password" bind:value=pass/></div>
            <button type="button" class="secondary" id="backup-export" on:click=export disabled=move || busy.get()>"Download backup"</button>
            <Outcome state=exported/>
            <div class="field"><label for="restore-file">"Backup file to restore"</label>
                <input id="restore-file" type="file" accept="application/json,.json"/></div>
            <div class="field"><label for="restore-passphrase">"Its passphrase"</label>
                <input id="restore-passphrase" type="password" autocomplete="off" bind:value=restore_pass/></div>
            <div class="field check"><input id="restore-without-secrets" type="checkbox" bind:checked=without/>
                <label for="restore-without-secrets">"Restore without its secrets"</label></div>
            <button type="button" class="secondary" id="backup-import" on:click=restore disabled=move || busy.get()>"Restore"</button>
            <Outcome state=restored/>
        </div>
    }
}

#[component]
fn ThresholdRow(id: String, name: String, value: u32, editable: bool) -> impl IntoView {
    let session = use_session();
    let v = RwSignal::new(value.to_string());
    let outcome = RwSignal::new(None);
    let input_id = format!("threshold-{id}");
    let save = move |_| {
        let body = match v.get_untracked().trim().parse::<u32>() {
            Ok(n) => json!(wire::dvrs::DvrPatch {
                staleness_threshold_seconds: Some(n),
                ..Default::default()
            }),
            Err(_) => {
                return outcome.set(Some(Err(
                    "staleness_threshold_seconds: must be a whole number".to_string(),
                )))
            }
        };
        api::send(
            session,
            "PATCH",
            format!("/api/v1/dvrs/{id}"),
            Some(body),
            move |r| {
                outcome.set(Some(r.map(|_| "Saved.".to_string()).map_err(|e| e.message)));
            },
        );
    };
    view! {
        <tr>
            <th scope="row"><label for=input_id.clone()>{name}</label></th>
            <td>
                <input id=input_id inputmode="numeric" bind:value=v disabled=!editable/>
                <button type="button" class="secondary" on:click=save disabled=!editable>"Save"</button>
                <Outcome state=outcome/>
            </td>
        </tr>
    }
}
