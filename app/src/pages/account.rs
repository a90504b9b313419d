//! Account: change my password; admins manage API keys (shown once) and users.

use leptos::prelude::*;
use serde_json::json;
use wire::account::{ApiKeyCreated, ApiKeyRow, Done, NewApiKey, NewUser, PasswordChange, UserRow};

use crate::api::{self, use_session};
use crate::layout::Outcome;

#[component]
pub(crate) fn AccountPage() -> impl IntoView {
    let session = use_session();
    let admin = session.is_admin();
    // Made at the top of the page (not inside a suspended child) so hydration finds
    // their server-rendered data; viewers do not ask for lists they may not see.
    let keys_version = RwSignal::new(0u32);
    let keys = Resource::new(
        move || keys_version.get(),
        move |_| async move {
            if admin {
                api::get::<Vec<ApiKeyRow>>("/api/v1/apikeys").await
            } else {
                Ok(Vec::new())
            }
        },
    );
    let users_version = RwSignal::new(0u32);
    let users = Resource::new(
        move || users_version.get(),
        move |_| async move {
            if admin {
                api::get::<Vec<UserRow>>("/api/v1/users").await
            } else {
                Ok(Vec::new())
            }
        },
    );
    view! {
        <h1>"Account"</h1>
        <ChangePassword/>
        {admin.then(|| view! {
            <ApiKeys keys=keys version=keys_version/>
            <Users users=users version=users_version/>
        })}
    }
}

type List<T> = Resource<Result<Vec<T>, wire::ApiFailure>>;

#[component]
fn ChangePassword() -> impl IntoView {
    let session = use_session();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = json!(PasswordChange {
            current_password: current.get_untracked(),
            new_password: new.get_untracked(),
        });
        api::send(
            session,
            "POST",
            "/api/v1/me/password".into(),
            Some(body),
            move |r| {
                if r.is_ok() {
                    current.set(String::new());
                    new.set(String::new());
                }
                outcome.set(Some(
                    r.map(|v| {
                        crate::api::from_value::<Done>(v)
                            .map_or_else(|_| "Password changed.".to_string(), |d| d.message)
                    })
                    .map_err(|e| e.message),
                ));
            },
        );
    };
    view! {
        <section class="panel">
            <h2>"Change password"</h2>
            <form class="form" on:submit=submit>
                <div class="field"><label for="current-password">"Current password"</label>
                    <input id="current-password" type="password" autocomplete="current-password" bind:value=current required/></div>
                <div class="field"><label for="new-password">"New password (at least 8 characters)"</label>
                    <input id="new-password" type="password" autocomplete="new-password" bind:value=new required/></div>
                <button type="submit">"Change password"</button>
                <Outcome state=outcome/>
            </form>
        </section>
    }
}

#[component]
fn ApiKeys(keys: List<ApiKeyRow>, version: RwSignal<u32>) -> impl IntoView {
    let session = use_session();
    let name = RwSignal::new(String::new());
    let created = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        api::send(
            session,
            "POST",
            "/api/v1/apikeys".into(),
            Some(json!(NewApiKey {
                name: name.get_untracked()
            })),
            move |r| match r {
                Ok(v) => {
                    created.set(
                        crate::api::from_value::<ApiKeyCreated>(v)
                            .ok()
                            .map(|c| c.key),
                    );
                    error.set(None);
                    name.set(String::new());
                    version.update(|v| *v += 1);
                }
                Err(e) => error.set(Some(e.message)),
            },
        );
    };
    view! {
        <section class="panel">
            <h2>"API keys"</h2>
            <p class="hint">"For scripts and Prometheus-style tools: send the key as X-API-Key. It is shown once; only its hash is kept."</p>
            <form class="form inline" on:submit=create>
                <div class="field"><label for="key-name">"Key name"</label><input id="key-name" bind:value=name required/></div>
                <button type="submit">"Create key"</button>
            </form>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || created.get().map(|k| view! {
                <div class="notice" role="status"><p>"Copy this key now; it will not be shown again:"</p><code id="new-key">{k}</code></div>
            })}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(ks) => view! { <ul class="keys">{ks.into_iter().map(|k| {
                            let id = k.id;
                            let revoke = move |_| api::send(session, "DELETE", format!("/api/v1/apikeys/{id}"), None, move |_| version.update(|v| *v += 1));
                            view! { <li>{format!("{} ({}…) created {}", k.name, k.prefix, k.created_at)}
                                " "<button type="button" class="danger mini" on:click=revoke>"Revoke"</button></li> }
                        }).collect_view()}</ul> }.into_any(),
                        Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Users(users: List<UserRow>, version: RwSignal<u32>) -> impl IntoView {
    let session = use_session();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new("viewer".to_string());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = json!(NewUser {
            username: username.get_untracked(),
            password: password.get_untracked(),
            role: Some(role.get_untracked()),
        });
        api::send(
            session,
            "POST",
            "/api/v1/users".into(),
            Some(body),
            move |r| {
                if r.is_ok() {
                    username.set(String::new());
                    password.set(String::new());
                    version.update(|v| *v += 1);
                }
                outcome.set(Some(
                    r.map(|_| "User added.".to_string()).map_err(|e| e.message),
                ));
            },
        );
    };
    view! {
        <section class="panel">
            <h2>"Users"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(us) => view! { <ul class="users" id="user-list">{us.into_iter().map(|u| {
                            let id = u.id;
                            let remove = move |_| api::send(session, "DELETE", format!("/api/v1/users/{id}"), None, move |r| {
                                outcome.set(r.err().map(|e| Err(e.message)));
                                version.update(|v| *v += 1);
                            });
                            view! { <li>{format!("{} ({})", u.username, u.role)}
                                " "<button type="button" class="danger mini" on:click=remove>"Remove"</button></li> }
                        }).collect_view()}</ul> }.into_any(),
                        Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <form class="form" on:submit=create id="add-user">
                <h3>"Add a user"</h3>
                <div class="field"><label for="new-username">"Username"</label><input id="new-username" bind:value=username required/></div>
                <div class="field"><label for="new-user-password">"Password"</label><input id="new-user-password" type="password" autocomplete="new-password" bind:value=password required/></div>
                <div class="field"><label for="new-user-role">"Role"</label>
                    <select id="new-user-role" on:change=move |ev| role.set(event_target_value(&ev))>
                        <option value="viewer" selected=true>"viewer (read-only)"</option>
                        <option value="admin">"admin"</option>
                    </select></div>
                <button type="submit">"Add user"</button>
                <Outcome state=outcome/>
            </form>
        </section>
    }
}
