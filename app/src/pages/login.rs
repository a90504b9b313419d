//! Sign-in and first-run setup. Plain HTML forms posted to `/auth/*`, so they work
//! before (and without) the WASM bundle.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The message for a `/login?error=` code.
pub(crate) fn login_message(error: &str, retry: Option<&str>) -> String {
    match error {
        "invalid" => "Wrong username or password.".into(),
        "rate_limited" => format!(
            "Too many failed sign-in attempts. Try again in {} seconds.",
            retry.unwrap_or("a few")
        ),
        "busy" => "The server is busy checking other sign-ins. Try again in a moment.".into(),
        "cross_origin" => "That sign-in came from another site and was refused.".into(),
        "unavailable" => "Signing in is not possible right now; see the server log.".into(),
        other => format!("Sign-in failed ({other})."),
    }
}

#[component]
pub(crate) fn LoginPage() -> impl IntoView {
    let q = use_query_map();
    let error = move || {
        q.with(|q| {
            q.get("error")
                .map(|e| login_message(&e, q.get("retry").as_deref()))
        })
    };
    let signed_out = move || q.with(|q| q.get("signed_out").is_some());
    let next = move || q.with(|q| q.get("next").unwrap_or_else(|| "/".into()));
    view! {
        <main class="auth-page">
            <form class="auth-card" method="post" action="/auth/login">
                <h1>"ChannelWatch"</h1>
                <p class="hint">"Sign in to monitor your Channels DVR servers."</p>
                {move || signed_out().then(|| view! { <p class="notice" role="status">"You are signed out."</p> })}
                {move || error().map(|e| view! { <p class="error" role="alert" id="login-error">{e}</p> })}
                <input type="hidden" name="next" value=next/>
                <label for="username">"Username"</label>
                <input id="username" name="username" autocomplete="username" required autofocus/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required/>
                <button type="submit">"Sign in"</button>
            </form>
        </main>
    }
}

/// Whether the setup page asks for the setup token: the server decides from the request
/// (its peer and `Host`), and the answer is carried to the browser for hydration.
#[cfg(feature = "ssr")]
fn setup_needs_token() -> bool {
    let request = use_context::<http::request::Parts>();
    let services = use_context::<crate::services::SharedServices>();
    match (request, services) {
        (Some(request), Some(services)) => services.setup_needs_token(&request),
        _ => true,
    }
}

/// In the browser this runs only outside hydration, which setup (always a full page
/// load) never is.
#[cfg(not(feature = "ssr"))]
fn setup_needs_token() -> bool {
    true
}

#[component]
pub(crate) fn SetupPage() -> impl IntoView {
    let q = use_query_map();
    let error = move || q.with(|q| q.get("error"));
    let token = move || q.with(|q| q.get("token").unwrap_or_default());
    let needs_token = SharedValue::new(setup_needs_token).into_inner();
    let token_field = if needs_token {
        view! {
            <label for="token">"Setup token"</label>
            <input id="token" name="token" autocomplete="off" required value=token/>
            <p class="hint">"It is in the server's log from its latest start (the line First-run setup: open …). A browser on the server itself at http://localhost needs none."</p>
        }
        .into_any()
    } else {
        view! { <input type="hidden" name="token" value=token/> }.into_any()
    };
    view! {
        <main class="auth-page">
            <form class="auth-card" method="post" action="/auth/setup">
                <h1>"Welcome to ChannelWatch"</h1>
                <p class="hint">"Create the admin account. You can add viewers later under Account."</p>
                {move || error().map(|e| view! { <p class="error" role="alert" id="setup-error">{e}</p> })}
                {token_field}
                <label for="username">"Admin username"</label>
                <input id="username" name="username" autocomplete="username" required autofocus/>
                <label for="password">"Password (at least 8 characters)"</label>
                <input id="password" name="password" type="password" autocomplete="new-password" minlength="8" required/>
                <label for="confirm">"Repeat the password"</label>
                <input id="confirm" name="confirm" type="password" autocomplete="new-password" minlength="8" required/>
                <button type="submit">"Create admin and sign in"</button>
            </form>
        </main>
    }
}
