//! Who is calling: a browser session (cookie, CSRF token on writes, role) or an API key.
//!
//! One middleware guards every route except the probes, `/metrics`, the sign-in and
//! setup pages and the static bundle. Pages without a session redirect to `/login`
//! (or `/setup` before the first user exists); API and server-function calls get the
//! contract's 401 JSON.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::{COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Form;
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use tracing::{info, warn};

use super::auth::presented_key;
use super::error::ApiError;
use super::forwarded::Client;
use super::AppState;
use crate::sign_in::{same_secret, Refusal};
use storage::sessions::{self, Session, SESSION_DAYS};
use storage::users::{self, Role};
use storage::{api_keys, Db, StorageError};

/// The session cookie's name when it is not `Secure` (plain HTTP on a home network).
pub(crate) const SESSION_COOKIE: &str = "cw_session";
/// Its name when it is `Secure`. Browsers keep a `__Host-` cookie only when it is
/// `Secure`, has `Path=/` and no `Domain`, so a sibling subdomain or a plain-HTTP page
/// can neither plant nor overwrite it (session fixation).
pub(crate) const SECURE_SESSION_COOKIE: &str = "__Host-cw_session";
/// The header a session's writes to `/api/v1` must carry.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller, put in the request's extensions for handlers.
#[derive(Debug, Clone)]
pub enum Caller {
    /// An API key: full access, no CSRF (not a browser). The stored key's hash, or `None`
    /// for `CHANNELWATCH_API_KEY` (which cannot be revoked).
    ApiKey(Option<String>),
    User(Session),
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        match self {
            Caller::ApiKey(_) => true,
            Caller::User(s) => s.user.role == Role::Admin,
        }
    }

    /// Whether the guard would still let this caller in: the session exists and has not
    /// expired (sign-out, a password change and deleting the user remove it), or the
    /// stored key is not revoked. Long-lived responses (the live feed) ask again.
    pub(crate) async fn still_valid(&self, db: &Db) -> Result<bool, StorageError> {
        match self {
            Caller::ApiKey(None) => Ok(true),
            Caller::ApiKey(Some(hash)) => api_keys::active(db, hash).await,
            Caller::User(s) => sessions::alive(db, &s.token_hash).await,
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Locked(wait) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many wrong passwords; try again in {} seconds",
                    wait.as_secs().max(1)
                ),
            ),
            Refusal::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many password checks are in progress; try again in a moment",
            ),
        }
    }
}

/// Paths anyone may reach.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/healthz/live"
            | "/healthz/ready"
            | "/healthz/startup"
            | "/metrics"
            | "/login"
            | "/setup"
            | "/auth/login"
            | "/auth/setup"
            | "/favicon.svg"
            // Calendar apps cannot sign in: the feed checks its own token.
            | super::feeds::FEED_PATH
    ) || path.starts_with("/pkg/")
        // A notification's snooze link: its sealed token is the permission.
        || path.starts_with("/snooze/")
}

/// The session tokens a request carries: the `__Host-` cookie's first, then the plain
/// one's, at most one of each. Both names are read, so sessions survive a deployment
/// switching between `Secure` and plain cookies (and a browser may hold both).
fn session_tokens(headers: &HeaderMap) -> Vec<String> {
    let cookies: Vec<Cookie<'static>> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| Cookie::parse(c.trim().to_string()).ok())
        .collect();
    [SECURE_SESSION_COOKIE, SESSION_COOKIE]
        .into_iter()
        .filter_map(|name| {
            cookies
                .iter()
                .find(|c| c.name() == name)
                .map(|c| c.value().to_string())
                .filter(|v| !v.is_empty())
        })
        .collect()
}

/// A cross-site request: its `Origin` names another host than the one it was sent to.
/// Browsers send `Origin` on every POST; its absence (curl, server-side) is not a browser
/// attack, and the CSRF token still guards session writes.
fn cross_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    // Behind a reverse proxy that rewrites Host, the browser's host is in
    // X-Forwarded-Host. Read here from any peer: another site's page cannot make a
    // browser send that header (it is not CORS-safelisted), so it cannot forge a
    // same-site write with it, and a proxy nobody listed in
    // CHANNELWATCH_TRUSTED_PROXIES (nginx rewrites Host by default) still works.
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let same = host
        .into_iter()
        .chain(super::forwarded::all_forwarded_hosts(headers))
        .any(|h| origin_host.eq_ignore_ascii_case(h.trim()));
    origin == "null" || !same
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The guard in front of every route.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if is_public(&path) {
        // Setup exists only before the first user; sign-in only after it.
        if req.method() == Method::GET && (path == "/setup" || path == "/login") {
            let no_users = users::count(&state.services.db).await.is_ok_and(|n| n == 0);
            if no_users && path == "/login" {
                return redirect("/setup", None);
            }
            if !no_users && path == "/setup" {
                return redirect("/login", None);
            }
        }
        return next.run(req).await;
    }
    let services = &state.services;
    let api = path.starts_with("/api/");
    let caller = if let Some(key) = presented_key(req.headers()) {
        let env_ok = services
            .config
            .api_key
            .as_deref()
            .is_some_and(|k| same_secret(k, &key));
        let ok = env_ok
            || match api_keys::verify(&services.db, &key).await {
                Ok(ok) => ok,
                Err(e) => return ApiError::internal("cannot check the API key", e).into_response(),
            };
        if !ok {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "the API key is not valid or was revoked",
            )
            .into_response();
        }
        Caller::ApiKey((!env_ok).then(|| api_keys::hash_key(&key)))
    } else {
        let mut session = None;
        for token in session_tokens(req.headers()) {
            match sessions::lookup(&services.db, &token).await {
                Ok(Some(s)) => {
                    session = Some(s);
                    break;
                }
                Ok(None) => {}
                Err(e) => return ApiError::internal("cannot check the session", e).into_response(),
            }
        }
        match session {
            Some(s) => Caller::User(s),
            None if api => return ApiError::unauthorized().into_response(),
            None => return to_sign_in(&state, req.uri()).await,
        }
    };

    if let Caller::User(session) = &caller {
        let writes = !is_read(req.method());
        if writes && cross_origin(req.headers()) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "this request came from another site and was refused",
            )
            .into_response();
        }
        if writes && path.starts_with("/api/v1/") {
            let token = req
                .headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same_secret(token, &session.csrf) {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "the CSRF token is missing or wrong; reload the page and try again",
                )
                .into_response();
            }
            // A viewer may change their own password and nothing else.
            if session.user.role != Role::Admin && path != "/api/v1/me/password" {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "viewers have read-only access; ask an admin to make this change",
                )
                .into_response();
            }
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Where a page request without a session goes: setup before the first user, else sign-in.
async fn to_sign_in(state: &AppState, uri: &axum::http::Uri) -> Response {
    let no_users = users::count(&state.services.db).await.map(|n| n == 0);
    let target = match no_users {
        Ok(true) => "/setup".to_string(),
        _ => {
            let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            if next == "/" {
                "/login".to_string()
            } else {
                format!("/login?next={}", encode(next))
            }
        }
    };
    redirect(&target, None)
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A 303 to `to`, optionally setting a cookie.
fn redirect(to: &str, cookie: Option<String>) -> Response {
    redirect_setting(to, cookie.as_slice())
}

/// A 303 to `to` setting each of `cookies`.
fn redirect_setting(to: &str, cookies: &[String]) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            res.headers_mut().append(SET_COOKIE, v);
        }
    }
    res
}

/// Only same-site paths, so `next` cannot send a user elsewhere after sign-in.
fn safe_next(next: Option<&str>) -> &str {
    // Browsers drop tabs and newlines from `Location`, which would turn `/<tab>/evil`
    // into `//evil`: only URL characters are let through.
    let ok = |n: &str| {
        n.starts_with('/')
            && !n.starts_with("//")
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.~?=&%+:,;@!$'()*".contains(&b))
    };
    match next {
        Some(n) if ok(n) => n,
        _ => "/",
    }
}

/// Whether the session cookie is `Secure`: as configured, else when the browser reached
/// a trusted proxy over TLS.
fn secure(state: &AppState, client: &Client, headers: &HeaderMap) -> bool {
    state
        .services
        .config
        .secure_cookies
        .unwrap_or_else(|| client.https(headers))
}

/// The session cookie: `__Host-cw_session` when `Secure` (with `Path=/` and no `Domain`,
/// as that prefix demands), else `cw_session`.
fn session_cookie(value: &str, max_age: Duration, secure: bool) -> String {
    let name = if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    };
    Cookie::build((name, value.to_string()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age.as_secs() as i64))
        .build()
        .to_string()
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /auth/login` (the sign-in form; works without JavaScript).
pub async fn login(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref()).to_string();
    let back = |error: &str, extra: &str| {
        let mut to = format!("/login?error={error}{extra}");
        if next != "/" {
            to.push_str(&format!("&next={}", encode(&next)));
        }
        redirect(&to, None)
    };
    if cross_origin(&headers) {
        return back("cross_origin", "");
    }
    let ip = client.ip;
    let limiter = &state.services.logins;
    let attempt = match limiter.begin(ip, form.username.trim(), Instant::now()) {
        Ok(a) => a,
        Err(Refusal::Locked(wait)) => {
            warn!(%ip, "sign-in refused: too many failed attempts");
            return back("rate_limited", &format!("&retry={}", wait.as_secs().max(1)));
        }
        Err(Refusal::Busy) => {
            warn!(%ip, "sign-in refused: too many password checks in progress");
            return back("busy", "");
        }
    };
    let db = &state.services.db;
    let user = match users::authenticate(db, form.username.trim(), &form.password).await {
        Ok(u) => u,
        Err(e) => {
            warn!(error = %e, "cannot check a sign-in");
            return back("unavailable", "");
        }
    };
    let Some(user) = user else {
        // Only a name that is an account is logged (escaped): anything else may be a
        // password typed into the username field, so only its length is.
        let name = form.username.trim();
        if users::exists(db, name).await.unwrap_or(false) {
            warn!(%ip, username = ?name, "failed sign-in: wrong password");
        } else {
            warn!(%ip, username_chars = name.chars().count(), "failed sign-in: no such user");
        }
        return back("invalid", "");
    };
    limiter.succeeded(attempt);
    match sessions::create(db, user.id).await {
        Ok((token, _)) => {
            info!(username = %user.username, %ip, "signed in");
            let max_age = Duration::from_secs(SESSION_DAYS as u64 * 86_400);
            redirect(
                &next,
                Some(session_cookie(
                    &token,
                    max_age,
                    secure(&state, &client, &headers),
                )),
            )
        }
        Err(e) => {
            warn!(error = %e, "cannot start a session");
            back("unavailable", "")
        }
    }
}

#[derive(Deserialize)]
pub struct SetupForm {
    username: String,
    password: String,
    confirm: String,
    /// The one-time setup token from the log (not needed straight from this machine:
    /// [`super::setup::is_local`]).
    #[serde(default)]
    token: String,
}

/// `POST /auth/setup`: creates the first admin and signs them in. Once any user exists
/// it only redirects to the sign-in page. Unless the request comes straight from this
/// machine, it must carry the setup token; wrong tokens count as failed sign-ins of the
/// client's.
pub async fn setup(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Response {
    // Past the token check, errors keep the token in the page's address, so the form
    // can be sent again without pasting it.
    let back = |message: &str, token: &str| {
        let mut to = format!("/setup?error={}", encode(message));
        if !token.is_empty() {
            to.push_str(&format!("&token={}", encode(token)));
        }
        redirect(&to, None)
    };
    if cross_origin(&headers) {
        return back("this request came from another site and was refused", "");
    }
    let token = form.token.trim();
    if !super::setup::is_local(&client, &headers) {
        if let Some(refused) = setup_token_refused(&state, &client, token).await {
            return refused;
        }
    }
    if form.password != form.confirm {
        return back("password: the two passwords differ", token);
    }
    let db = &state.services.db;
    let username = form.username.trim();
    match users::create_first_admin(db, username, &form.password).await {
        Ok(true) => state.services.setup.void(),
        Ok(false) => {
            state.services.setup.void();
            return redirect("/login", None);
        }
        Err(e) => return back(&e.to_string(), token),
    }
    info!(%username, "created the first admin on the setup page");
    let user = match users::authenticate(db, username, &form.password).await {
        Ok(Some(u)) => u,
        _ => return redirect("/login", None),
    };
    match sessions::create(db, user.id).await {
        Ok((token, _)) => {
            let max_age = Duration::from_secs(SESSION_DAYS as u64 * 86_400);
            redirect(
                "/",
                Some(session_cookie(
                    &token,
                    max_age,
                    secure(&state, &client, &headers),
                )),
            )
        }
        Err(_) => redirect("/login", None),
    }
}

/// The answer to a setup request from elsewhere than this machine whose token is
/// missing or wrong, or `None` when it is right. A wrong token counts as a failed
/// sign-in of the client's ([`LoginLimiter`]), so it cannot be guessed.
async fn setup_token_refused(state: &AppState, client: &Client, token: &str) -> Option<Response> {
    let services = &state.services;
    let back = |message: &str| redirect(&format!("/setup?error={}", encode(message)), None);
    if services.setup.get().is_none() {
        // Void: a user exists (setup is closed), or the users were removed while this
        // process ran (a new start makes a new token).
        return Some(match users::count(&services.db).await {
            Ok(0) => back(
                "setup token: this server has none; restart it and use the one in its log, \
                 or create the admin with `channelwatch user create`",
            ),
            _ => redirect("/login", None),
        });
    }
    if token.is_empty() {
        return Some(back(
            "setup token: required when this page is not opened on the server itself; \
             it is in the server log (the line \"First-run setup: open …\")",
        ));
    }
    let ip = client.ip;
    let limiter = &services.logins;
    let attempt = match limiter.begin(ip, "", Instant::now()) {
        Ok(a) => a,
        Err(Refusal::Locked(wait)) => {
            warn!(%ip, "setup refused: too many failed attempts");
            return Some(back(&format!(
                "setup token: too many wrong tokens or passwords from your address; \
                 try again in {} seconds",
                wait.as_secs().max(1)
            )));
        }
        Err(Refusal::Busy) => {
            return Some(back(
                "setup token: the server is busy checking sign-ins; try again in a moment",
            ))
        }
    };
    if !services.setup.matches(token) {
        // The attempt stays counted as a failure.
        warn!(%ip, "setup refused: wrong setup token");
        return Some(back(
            "setup token: wrong; use the one in the server log from its latest start",
        ));
    }
    limiter.succeeded(attempt);
    None
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /auth/logout`: ends this session (the form carries the CSRF token).
pub async fn logout(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let Caller::User(session) = caller else {
        return redirect("/login", None);
    };
    if !same_secret(&form.csrf, &session.csrf) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "the CSRF token is missing or wrong; reload the page and try again",
        )
        .into_response();
    }
    if let Err(e) = sessions::delete(&state.services.db, &session.token_hash).await {
        warn!(error = %e, "cannot end a session");
    }
    info!(username = %session.user.username, "signed out");
    // Both names are cleared: the browser may hold either. The `__Host-` one can only be
    // cleared by a `Secure` cookie (a browser ignores that over plain HTTP, where it
    // never sends a `Secure` cookie anyway); the plain one is cleared without `Secure`,
    // which works over either.
    let secure = secure(&state, &client, &headers);
    redirect_setting(
        "/login?signed_out=1",
        &[
            session_cookie("", Duration::ZERO, secure),
            session_cookie("", Duration::ZERO, !secure),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site_and_origins_are_compared_with_the_host() {
        assert_eq!(safe_next(Some("/dvrs?x=1")), "/dvrs?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/%09/x")), "/%09/x", "encoded stays a path");
        let mut h = HeaderMap::new();
        h.insert(HOST, "127.0.0.1:8501".parse().unwrap());
        assert!(!cross_origin(&h));
        h.insert(ORIGIN, "http://127.0.0.1:8501".parse().unwrap());
        assert!(!cross_origin(&h));
        h.insert(ORIGIN, "http://evil.example".parse().unwrap());
        assert!(cross_origin(&h));
        // A proxy that rewrites Host passes the browser's host along (a header no
        // other site can make a browser send).
        h.insert(ORIGIN, "https://tv.example".parse().unwrap());
        assert!(cross_origin(&h));
        h.insert("x-forwarded-host", "tv.example".parse().unwrap());
        assert!(!cross_origin(&h));
        h.insert(ORIGIN, "null".parse().unwrap());
        assert!(cross_origin(&h));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_on_request() {
        let c = session_cookie("abc", Duration::from_secs(60), false);
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        assert!(c.starts_with("cw_session=abc"), "{c}");
        assert!(!c.contains("Secure"));
        // Secure: the __Host- prefix, whose rules are Secure, Path=/ and no Domain.
        let c = session_cookie("abc", Duration::from_secs(60), true);
        assert!(c.starts_with("__Host-cw_session=abc"), "{c}");
        assert!(c.contains("Secure") && c.contains("Path=/"), "{c}");
        assert!(!c.to_ascii_lowercase().contains("domain"), "{c}");
        let mut h = HeaderMap::new();
        h.insert(COOKIE, "a=b; cw_session=tok".parse().unwrap());
        assert_eq!(session_tokens(&h), ["tok"]);
        // Either name is read, the __Host- one first; an empty value is no token.
        h.insert(
            COOKIE,
            "cw_session=plain; __Host-cw_session=secure; cw_session=again"
                .parse()
                .unwrap(),
        );
        assert_eq!(session_tokens(&h), ["secure", "plain"]);
        h.insert(COOKIE, "__Host-cw_session=; x=y".parse().unwrap());
        assert!(session_tokens(&h).is_empty());
    }
}
