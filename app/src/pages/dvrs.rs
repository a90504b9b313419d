//! DVR management: add, edit, enable, disable and delete, with field messages, a
//! connection test, the soft limit, and entries owned by the YAML file, env or --demo.

use leptos::prelude::*;
use serde_json::json;

use crate::api::{self, ago, use_session};
use crate::layout::{use_dashboard, DiagnoseView};
use wire::discovery::{FoundDvr, Scan};
use wire::dvrs::{DvrCreate, DvrPatch, DvrTest, DvrTested};
use wire::{ApiFailure, DiagnoseReport, DvrCard};

fn owner(managed_by: &str) -> Option<&'static str> {
    match managed_by {
        "file" => Some("Managed by the YAML configuration file"),
        "env" => Some("Managed by CHANNELS_DVR_SERVERS"),
        "demo" => Some("Simulated by --demo"),
        _ => None,
    }
}

#[component]
pub(crate) fn DvrsPage() -> impl IntoView {
    let feed = use_dashboard();
    let session = use_session();
    let settings = Resource::new(
        || (),
        |_| api::get::<wire::settings::SettingsView>("/api/v1/settings"),
    );
    let adding = RwSignal::new(false);
    let limit = move || {
        settings
            .get()
            .and_then(|r| r.ok())
            .map(|v| u64::from(v.dvr_soft_limit))
    };
    view! {
        <h1>"DVRs"</h1>
        <Suspense fallback=|| ()>
            <p class="hint" id="soft-limit">{move || {
                let n = feed.dash.get().dvrs.len();
                match limit() {
                    Some(l) if n as u64 >= l => format!("{n} of {l} DVRs: the limit is reached. Remove a DVR or raise the limit in Settings › Advanced."),
                    Some(l) => format!("{n} of {l} DVRs (a soft limit you can raise in Settings › Advanced)."),
                    None => format!("{n} DVRs."),
                }
            }}</p>
        </Suspense>
        <Show when=move || session.is_admin()>
            <button type="button" id="add-dvr" on:click=move |_| adding.update(|a| *a = !*a)
                aria-expanded=move || adding.get().to_string()>
                {move || if adding.get() { "Close" } else { "Add a DVR" }}
            </button>
        </Show>
        <Show when=move || adding.get()>
            <DvrForm existing=None on_done=Callback::new(move |_| adding.set(false))/>
        </Show>
        <table class="table dvr-table" id="dvr-table">
            <thead><tr><th scope="col">"Name"</th><th scope="col">"Address"</th><th scope="col">"Status"</th>
                <th scope="col">"Last event"</th><th scope="col">"Stale after"</th><th scope="col">"Actions"</th></tr></thead>
            <tbody>
                <For each=move || feed.dash.get().dvrs key=|d| row_key(d) let:card>
                    <DvrRow card=card/>
                </For>
            </tbody>
        </table>
        <Show when=move || session.is_admin()>
            <Discovery/>
        </Show>
    }
}

/// mDNS discovery: the last scan, a Scan button, and one-click add of what answered.
#[component]
fn Discovery() -> impl IntoView {
    let session = use_session();
    let last = Resource::new(|| (), |_| api::get::<Scan>("/api/v1/discovery"));
    let fresh = RwSignal::new(None::<Scan>);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let reread = move || {
        leptos::task::spawn_local(async move {
            if let Ok(v) = api::get::<Scan>("/api/v1/discovery").await {
                fresh.set(Some(v));
            }
        });
    };
    let scan = move |_| {
        busy.set(true);
        error.set(None);
        api::send(
            session,
            "POST",
            "/api/v1/discovery/scan".into(),
            None,
            move |r| {
                busy.set(false);
                match r {
                    Ok(v) => match crate::api::from_value::<Scan>(v) {
                        Ok(scan) => fresh.set(Some(scan)),
                        Err(e) => {
                            error.set(Some(format!("unexpected answer from the server: {e}")))
                        }
                    },
                    Err(e) => error.set(Some(e.message)),
                }
            },
        );
    };
    let add = move |d: FoundDvr| {
        let body = json!(DvrCreate {
            name: d.name,
            host: d.host,
            port: Some(d.port),
            ..DvrCreate::default()
        });
        api::send(
            session,
            "POST",
            "/api/v1/dvrs".into(),
            Some(body),
            move |r| match r {
                Ok(_) => reread(),
                Err(e) => error.set(Some(e.message)),
            },
        );
    };
    let current = move || fresh.get().or_else(|| last.get().and_then(|r| r.ok()));
    view! {
        <section class="card discovery" id="discovery" aria-labelledby="discovery-title">
            <h2 id="discovery-title">"Find DVRs on the network"</h2>
            <p class="hint">"ChannelWatch looks for Channels DVR servers announcing themselves over mDNS (Bonjour) on the local network."</p>
            <button type="button" id="discovery-scan" on:click=scan disabled=move || busy.get()>
                {move || if busy.get() { "Scanning…" } else { "Scan now" }}
            </button>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <Suspense fallback=|| ()>
                {move || current().map(|v| {
                    let when = v.scanned_at.as_deref().map(|t| format!("Last scan {}.", api::clock(t)));
                    view! {
                        <p class="hint" id="discovery-message" role="status">
                            {when}" "{v.message.clone()}
                        </p>
                        <ul class="discovered" id="discovered">
                            {v.dvrs.into_iter().map(|d| {
                                let added = d.added;
                                let label = format!(
                                    "{} — {}:{}{}",
                                    d.name,
                                    d.host,
                                    d.port,
                                    d.version.as_deref().map(|v| format!(" (version {v})")).unwrap_or_default()
                                );
                                let name = d.name.clone();
                                view! {
                                    <li data-dvr-id=d.dvr_id.clone()>
                                        <span>{label}</span>
                                        {if added {
                                            view! { <span class="badge">"Added"</span> }.into_any()
                                        } else {
                                            let d = d.clone();
                                            view! {
                                                <button type="button" class="secondary"
                                                    aria-label=format!("Add {name}")
                                                    on:click=move |_| add(d.clone())>"Add"</button>
                                            }.into_any()
                                        }}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Rows are rebuilt when anything they show changes.
fn row_key(d: &DvrCard) -> String {
    format!(
        "{}|{}|{}:{}|{}|{}|{}|{}|{}",
        d.dvr_id,
        d.name,
        d.host,
        d.port,
        d.enabled,
        d.status,
        d.staleness_threshold_seconds,
        d.last_event_seconds_ago.unwrap_or(u64::MAX),
        d.managed_by
    )
}

#[component]
fn DvrRow(card: DvrCard) -> impl IntoView {
    let session = use_session();
    let editing = RwSignal::new(false);
    let confirm = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let managed = owner(&card.managed_by);
    let editable = card.managed_by == "ui";
    let id = card.dvr_id.clone();
    let toggle = {
        let id = id.clone();
        let enabled = card.enabled;
        move |_| {
            api::send(
                session,
                "PATCH",
                format!("/api/v1/dvrs/{id}"),
                Some(json!(DvrPatch {
                    enabled: Some(!enabled),
                    ..DvrPatch::default()
                })),
                move |r| error.set(r.err().map(|e| e.message)),
            );
        }
    };
    let delete = {
        let id = id.clone();
        move |_| {
            if !confirm.get_untracked() {
                confirm.set(true);
                return;
            }
            api::send(
                session,
                "DELETE",
                format!("/api/v1/dvrs/{id}"),
                None,
                move |r| error.set(r.err().map(|e| e.message)),
            );
        }
    };
    let edit_card = card.clone();
    view! {
        <tr data-dvr-id=card.dvr_id.clone()>
            <th scope="row"><a href=format!("/dvrs/{}", card.dvr_id)>{card.name.clone()}</a>
                {managed.map(|m| view! { <div class="badge managed">{m}</div> })}</th>
            <td>{format!("{}:{}", card.host, card.port)}<div class="meta">{format!("id {}", card.dvr_id)}</div></td>
            <td><span class=format!("pill {}", card.status)>{card.status.clone()}</span></td>
            <td>{card.last_event_seconds_ago.map(ago).unwrap_or_else(|| "never".into())}</td>
            <td>{format!("{} s", card.staleness_threshold_seconds)}</td>
            <td class="actions">
                <Show when=move || session.is_admin() && editable fallback=|| view! { <span class="meta">"read-only"</span> }>
                    <button type="button" class="secondary" on:click=move |_| editing.update(|e| *e = !*e)>"Edit"</button>
                    <button type="button" class="secondary toggle" on:click=toggle.clone()>
                        {if card.enabled { "Disable" } else { "Enable" }}</button>
                    <button type="button" class="danger" on:click=delete.clone()>
                        {move || if confirm.get() { "Confirm delete" } else { "Delete" }}</button>
                </Show>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            </td>
        </tr>
        <Show when=move || editing.get()>
            <tr class="edit-row"><td colspan="6">
                <DvrForm existing=Some(edit_card.clone()) on_done=Callback::new(move |_| editing.set(false))/>
            </td></tr>
        </Show>
    }
}

/// The add/edit form. Errors from the API appear next to their field.
#[component]
fn DvrForm(existing: Option<DvrCard>, on_done: Callback<()>) -> impl IntoView {
    let session = use_session();
    let e = existing.clone().unwrap_or(DvrCard {
        port: wire::dvrs::DEFAULT_PORT,
        staleness_threshold_seconds: wire::dvrs::DEFAULT_STALENESS_SECONDS,
        enabled: true,
        ..Default::default()
    });
    let name = RwSignal::new(e.name.clone());
    let host = RwSignal::new(e.host.clone());
    let port = RwSignal::new(e.port.to_string());
    let threshold = RwSignal::new(e.staleness_threshold_seconds.to_string());
    // Never filled in: the stored key stays on the server. Empty keeps it.
    let api_key = RwSignal::new(String::new());
    let remove_key = RwSignal::new(false);
    let has_key = e.has_api_key;
    let failure = RwSignal::new(None::<ApiFailure>);
    let test = RwSignal::new(None::<Result<DiagnoseReport, String>>);
    let testing = RwSignal::new(false);
    let saving = RwSignal::new(false);
    let edit_id = existing.as_ref().map(|d| d.dvr_id.clone());
    let is_edit = edit_id.is_some();
    let prefix = edit_id.clone().unwrap_or_else(|| "new".into());
    let field_id = move |f: &str| format!("dvr-{prefix}-{f}");
    let err = move |f: &'static str| {
        move || {
            failure
                .get()
                .and_then(|x| x.field(f))
                .map(|m| view! { <span class="field-error" role="alert">{m}</span> })
        }
    };

    let body = move || -> Result<DvrPatch, ApiFailure> {
        let bad = |field: &str, message: &str| ApiFailure {
            error: "validation_failed".into(),
            message: format!("{field}: {message}"),
            fields: vec![wire::FieldMessage {
                field: field.into(),
                message: message.into(),
            }],
            ..Default::default()
        };
        let port: u16 = port
            .get_untracked()
            .trim()
            .parse()
            .map_err(|_| bad("port", "must be a number between 1 and 65535"))?;
        let t: u32 = threshold.get_untracked().trim().parse().map_err(|_| {
            bad(
                "staleness_threshold_seconds",
                "must be a whole number of seconds",
            )
        })?;
        let key = api_key.get_untracked().trim().to_string();
        let api_key = if remove_key.get_untracked() {
            Some(String::new())
        } else if !key.is_empty() {
            Some(key)
        } else if has_key {
            // The server's mask: "the key you already have".
            Some("****".to_string())
        } else {
            None
        };
        Ok(DvrPatch {
            name: Some(name.get_untracked()),
            host: Some(host.get_untracked().trim().to_string()),
            port: Some(port),
            staleness_threshold_seconds: Some(t),
            api_key,
            enabled: None,
        })
    };
    let submit = {
        let edit_id = edit_id.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let b = match body() {
                Ok(b) => b,
                Err(f) => return failure.set(Some(f)),
            };
            saving.set(true);
            let (method, path, b) = match &edit_id {
                Some(id) => ("PATCH", format!("/api/v1/dvrs/{id}"), json!(b)),
                None => {
                    let create = DvrCreate {
                        name: b.name.unwrap_or_default(),
                        host: b.host.unwrap_or_default(),
                        port: b.port,
                        enabled: None,
                        staleness_threshold_seconds: b.staleness_threshold_seconds,
                        api_key: b.api_key,
                    };
                    ("POST", "/api/v1/dvrs".to_string(), json!(create))
                }
            };
            api::send(session, method, path, Some(b), move |r| {
                saving.set(false);
                match r {
                    Ok(_) => {
                        failure.set(None);
                        on_done.run(());
                    }
                    Err(f) => failure.set(Some(f)),
                }
            });
        }
    };
    let run_test = move |_| {
        let form = match body() {
            Ok(b) => b,
            Err(f) => return failure.set(Some(f)),
        };
        testing.set(true);
        let b = json!(DvrTest {
            host: form.host.unwrap_or_default(),
            port: form.port,
            name: form.name,
            api_key: form.api_key,
        });
        api::send(
            session,
            "POST",
            "/api/v1/dvrs/test".into(),
            Some(b),
            move |r| {
                testing.set(false);
                test.set(Some(match r {
                    Ok(v) => crate::api::from_value::<DvrTested>(v)
                        .map(|t| t.report)
                        .map_err(|e| e.to_string()),
                    Err(f) => Err(f.message),
                }));
            },
        );
    };
    view! {
        <form class="form dvr-form" on:submit=submit novalidate>
            <h2>{if is_edit { "Edit DVR" } else { "Add a DVR" }}</h2>
            {move || failure.get().filter(|f| f.fields.is_empty()).map(|f| view! { <p class="error" role="alert" id="dvr-form-error">{f.message}</p> })}
            <div class="field">
                <label for=field_id("name")>"Name"</label>
                <input id=field_id("name") name="name" bind:value=name required/>
                {err("name")}
            </div>
            <div class="field">
                <label for=field_id("host")>"Host or IP address"</label>
                <input id=field_id("host") name="host" bind:value=host required placeholder="192.168.1.10"/>
                {err("host")}
            </div>
            <div class="field">
                <label for=field_id("port")>"Port"</label>
                <input id=field_id("port") name="port" inputmode="numeric" bind:value=port/>
                {err("port")}
            </div>
            <div class="field">
                <label for=field_id("threshold")>{format!("Stale after (seconds, {} or more)", wire::dvrs::MIN_STALENESS_SECONDS)}</label>
                <input id=field_id("threshold") name="staleness_threshold_seconds" inputmode="numeric" bind:value=threshold/>
                {err("staleness_threshold_seconds")}
            </div>
            <div class="field">
                <label for=field_id("api_key")>"API key (only if this DVR requires one)"</label>
                <input id=field_id("api_key") name="api_key" type="password" autocomplete="new-password" bind:value=api_key
                    placeholder=if has_key { "stored; leave empty to keep it" } else { "none" }/>
                {err("api_key")}
                {has_key.then(|| view! {
                    <label class="check"><input type="checkbox" name="remove_api_key" bind:checked=remove_key/>" Remove the stored key"</label>
                })}
            </div>
            {is_edit.then(|| view! { <p class="note">"Changing the host or port starts a new identity: the DVR gets a new id and its sessions, history counters and health start fresh, and its API key (if any) must be entered again."</p> })}
            <div class="buttons">
                <button type="submit" disabled=move || saving.get()>{if is_edit { "Save" } else { "Add DVR" }}</button>
                <button type="button" class="secondary test-connection" on:click=run_test disabled=move || testing.get()>
                    {move || if testing.get() { "Testing…" } else { "Test connection" }}</button>
                <button type="button" class="secondary" on:click=move |_| on_done.run(())>"Cancel"</button>
            </div>
            {move || test.get().map(|r| match r {
                Ok(rep) => view! { <DiagnoseView report=rep/> }.into_any(),
                Err(e) => view! { <p class="error">{e}</p> }.into_any(),
            })}
        </form>
    }
}
