//! Who is calling: a browser session (cookie, CSRF token on writes, role) or an API key.
//!
//! One middleware guards every route except the probes, `/metrics`, the sign-in and
//! setup pages and the static bundle. Pages without a session redirect to `/login`
//! (or `/setup` before the first user exists); API and server-function calls get the
//! contract's 401 JSON.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Form;
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use tracing::{info, warn};

use super::auth::{presented_key, same_secret};
use super::error::ApiError;
use super::AppState;
use crate::storage::api_keys;
use crate::storage::sessions::{self, Session, SESSION_DAYS};
use crate::storage::users::{self, Role};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cw_session";
/// The header a session's writes to `/api/v1` must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller, put in the request's extensions for handlers.
#[derive(Debug, Clone)]
pub enum Caller {
    /// An API key (stored or `CHANNELWATCH_API_KEY`): full access, no CSRF (not a browser).
    ApiKey,
    User(Session),
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        match self {
            Caller::ApiKey => true,
            Caller::User(s) => s.user.role == Role::Admin,
        }
    }
}

/// Failed sign-ins per client address: after [`LoginLimiter::MAX_FAILURES`] within the
/// window, that address waits until the oldest failure leaves the window.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: parking_lot::Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

impl LoginLimiter {
    pub const MAX_FAILURES: usize = 5;
    pub const WINDOW: Duration = Duration::from_secs(300);

    /// How long `ip` must still wait, if it is locked out.
    pub fn locked_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut map = self.failures.lock();
        let list = map.get_mut(&ip)?;
        list.retain(|t| now.duration_since(*t) < Self::WINDOW);
        if list.len() < Self::MAX_FAILURES {
            return None;
        }
        let oldest = *list.first()?;
        Some(Self::WINDOW.saturating_sub(now.duration_since(oldest)))
    }

    pub fn fail(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock();
        // Bounded: forget addresses whose failures are all old.
        if map.len() > 10_000 {
            map.retain(|_, l| l.iter().any(|t| now.duration_since(*t) < Self::WINDOW));
        }
        let list = map.entry(ip).or_default();
        list.push(now);
        if list.len() > Self::MAX_FAILURES {
            list.remove(0);
        }
    }

    pub fn clear(&self, ip: IpAddr) {
        self.failures.lock().remove(&ip);
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
    ) || path.starts_with("/pkg/")
}

/// The cookie token a request carries, if any.
fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| Cookie::parse(c.trim().to_string()).ok())
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// A cross-site request: its `Origin` names another host than the one it was sent to.
/// Browsers send `Origin` on every POST; its absence (curl, server-side) is not a browser
/// attack, and the CSRF token still guards session writes.
fn cross_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
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
        Caller::ApiKey
    } else {
        let session = match session_token(req.headers()) {
            Some(t) => match sessions::lookup(&services.db, &t).await {
                Ok(s) => s,
                Err(e) => return ApiError::internal("cannot check the session", e).into_response(),
            },
            None => None,
        };
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
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().insert(SET_COOKIE, c);
    }
    res
}

/// Only same-site paths, so `next` cannot send a user elsewhere after sign-in.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.services.config.secure_cookies.unwrap_or_else(|| {
        headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
    })
}

fn session_cookie(value: &str, max_age: Duration, secure: bool) -> String {
    Cookie::build((SESSION_COOKIE, value.to_string()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age.as_secs() as i64))
        .build()
        .to_string()
}

fn client_ip(info: Option<axum::Extension<ConnectInfo<SocketAddr>>>) -> IpAddr {
    info.map(|axum::Extension(ConnectInfo(a))| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
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
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
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
    let ip = client_ip(info);
    let limiter = &state.services.logins;
    if let Some(wait) = limiter.locked_for(ip, Instant::now()) {
        warn!(%ip, "sign-in refused: too many failed attempts");
        return back("rate_limited", &format!("&retry={}", wait.as_secs().max(1)));
    }
    let db = &state.services.db;
    let user = match users::authenticate(db, form.username.trim(), &form.password).await {
        Ok(u) => u,
        Err(e) => {
            warn!(error = %e, "cannot check a sign-in");
            return back("unavailable", "");
        }
    };
    let Some(user) = user else {
        limiter.fail(ip, Instant::now());
        warn!(%ip, username = %form.username.trim(), "failed sign-in");
        return back("invalid", "");
    };
    limiter.clear(ip);
    match sessions::create(db, user.id).await {
        Ok((token, _)) => {
            info!(username = %user.username, %ip, "signed in");
            let max_age = Duration::from_secs(SESSION_DAYS as u64 * 86_400);
            redirect(
                &next,
                Some(session_cookie(&token, max_age, secure(&state, &headers))),
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
}

/// `POST /auth/setup`: creates the first admin and signs them in. Once any user exists
/// it only redirects to the sign-in page.
pub async fn setup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Response {
    let back = |message: &str| redirect(&format!("/setup?error={}", encode(message)), None);
    if cross_origin(&headers) {
        return back("this request came from another site and was refused");
    }
    if form.password != form.confirm {
        return back("password: the two passwords differ");
    }
    let db = &state.services.db;
    let username = form.username.trim();
    match users::create_first_admin(db, username, &form.password).await {
        Ok(true) => {}
        Ok(false) => return redirect("/login", None),
        Err(e) => return back(&e.to_string()),
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
                Some(session_cookie(&token, max_age, secure(&state, &headers))),
            )
        }
        Err(_) => redirect("/login", None),
    }
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
    redirect(
        "/login?signed_out=1",
        Some(session_cookie("", Duration::ZERO, secure(&state, &headers))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_locks_after_five_failures_and_releases_after_the_window() {
        let l = LoginLimiter::default();
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let other: IpAddr = "127.0.0.10".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..4 {
            l.fail(ip, t0 + Duration::from_secs(i));
            assert_eq!(l.locked_for(ip, t0 + Duration::from_secs(i)), None);
        }
        l.fail(ip, t0 + Duration::from_secs(10));
        let wait = l.locked_for(ip, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(290));
        assert_eq!(l.locked_for(other, t0), None, "per client");
        assert_eq!(l.locked_for(ip, t0 + Duration::from_secs(301)), None);
        l.fail(ip, t0 + Duration::from_secs(302));
        l.clear(ip);
        assert_eq!(l.locked_for(ip, t0 + Duration::from_secs(302)), None);
    }

    #[test]
    fn next_stays_on_this_site_and_origins_are_compared_with_the_host() {
        assert_eq!(safe_next(Some("/dvrs?x=1")), "/dvrs?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        let mut h = HeaderMap::new();
        h.insert(HOST, "127.0.0.1:8501".parse().unwrap());
        assert!(!cross_origin(&h));
        h.insert(ORIGIN, "http://127.0.0.1:8501".parse().unwrap());
        assert!(!cross_origin(&h));
        h.insert(ORIGIN, "http://evil.example".parse().unwrap());
        assert!(cross_origin(&h));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_on_request() {
        let c = session_cookie("abc", Duration::from_secs(60), false);
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        assert!(!c.contains("Secure"));
        assert!(session_cookie("abc", Duration::from_secs(60), true).contains("Secure"));
        let mut h = HeaderMap::new();
        h.insert(COOKIE, "a=b; cw_session=tok".parse().unwrap());
        assert_eq!(session_token(&h).as_deref(), Some("tok"));
    }
}
