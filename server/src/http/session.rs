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
use crate::storage::sessions::{self, Session, SESSION_DAYS};
use crate::storage::users::{self, Role};
use crate::storage::{api_keys, Db, StorageError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cw_session";
/// The header a session's writes to `/api/v1` must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

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
    pub async fn still_valid(&self, db: &Db) -> Result<bool, StorageError> {
        match self {
            Caller::ApiKey(None) => Ok(true),
            Caller::ApiKey(Some(hash)) => api_keys::active(db, hash).await,
            Caller::User(s) => sessions::alive(db, &s.token_hash).await,
        }
    }
}

/// Sign-in attempts per client: after [`LoginLimiter::MAX_FAILURES`] failures within the
/// window, that client waits until the oldest leaves the window.
///
/// An attempt counts as a failure from the moment it starts ([`LoginLimiter::begin`]),
/// so parallel guesses cannot all slip past the check while argon2 runs; a success
/// takes back only its own attempt, so signing in to one account does not reset the
/// count of guesses at another. IPv6 clients are counted per /64 (one host's share).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    attempts: parking_lot::Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

impl LoginLimiter {
    pub const MAX_FAILURES: usize = 5;
    pub const WINDOW: Duration = Duration::from_secs(300);
    /// Clients tracked at most; past it the stalest are forgotten.
    pub const MAX_CLIENTS: usize = 10_000;

    fn key(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
                }
            },
            v4 => v4,
        }
    }

    /// Starts an attempt: `Err(wait)` when the client is locked out, else the attempt
    /// is recorded (as a failure until [`LoginLimiter::succeeded`] takes it back).
    pub fn begin(&self, ip: IpAddr, now: Instant) -> Result<Instant, Duration> {
        let key = Self::key(ip);
        let mut map = self.attempts.lock();
        if map.len() >= Self::MAX_CLIENTS && !map.contains_key(&key) {
            map.retain(|_, l| l.iter().any(|t| now.duration_since(*t) < Self::WINDOW));
            if map.len() >= Self::MAX_CLIENTS {
                // Still full of live entries: forget the client whose newest attempt is oldest.
                if let Some(stalest) = map
                    .iter()
                    .min_by_key(|(_, l)| l.last().copied())
                    .map(|(k, _)| *k)
                {
                    map.remove(&stalest);
                }
            }
        }
        let list = map.entry(key).or_default();
        list.retain(|t| now.duration_since(*t) < Self::WINDOW);
        if list.len() >= Self::MAX_FAILURES {
            let oldest = list[0];
            return Err(Self::WINDOW.saturating_sub(now.duration_since(oldest)));
        }
        list.push(now);
        Ok(now)
    }

    /// The attempt started at `at` succeeded: it no longer counts.
    pub fn succeeded(&self, ip: IpAddr, at: Instant) {
        let key = Self::key(ip);
        let mut map = self.attempts.lock();
        if let Some(list) = map.get_mut(&key) {
            if let Some(i) = list.iter().rposition(|t| *t == at) {
                list.remove(i);
            }
            if list.is_empty() {
                map.remove(&key);
            }
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
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    // Behind a reverse proxy that rewrites Host, the browser's host is in X-Forwarded-Host.
    let same = [HOST.as_str(), "x-forwarded-host"].iter().any(|h| {
        headers
            .get(*h)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|host| origin_host.eq_ignore_ascii_case(host.trim()))
    });
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
    let attempt = match limiter.begin(ip, Instant::now()) {
        Ok(at) => at,
        Err(wait) => {
            warn!(%ip, "sign-in refused: too many failed attempts");
            return back("rate_limited", &format!("&retry={}", wait.as_secs().max(1)));
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
        // Escaped and cut short: a password typed into the username field stays partly
        // hidden, and a username cannot forge log lines.
        let shown: String = form.username.trim().chars().take(32).collect();
        warn!(%ip, username = ?shown, "failed sign-in");
        return back("invalid", "");
    };
    limiter.succeeded(ip, attempt);
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
        let at = |s: u64| t0 + Duration::from_secs(s);
        for i in 0..4 {
            assert!(l.begin(ip, at(i)).is_ok());
        }
        // A success takes back only its own attempt, not the earlier failures.
        let ok = l.begin(ip, at(5)).unwrap();
        l.succeeded(ip, ok);
        assert!(l.begin(ip, at(10)).is_ok(), "the fifth failure");
        assert_eq!(l.begin(ip, at(10)), Err(Duration::from_secs(290)));
        assert_eq!(l.begin(ip, at(20)), Err(Duration::from_secs(280)));
        assert!(l.begin(other, at(20)).is_ok(), "per client");
        assert!(l.begin(ip, at(301)).is_ok(), "the oldest left the window");
    }

    #[test]
    fn parallel_attempts_count_before_they_finish_and_ipv6_counts_per_64() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "127.0.0.7".parse().unwrap();
        // Five attempts in flight at once: the sixth is refused before any finished.
        for _ in 0..5 {
            assert!(l.begin(ip, t0).is_ok());
        }
        assert!(l.begin(ip, t0).is_err());
        for i in 0..5u16 {
            let ip = IpAddr::from([0x2001, 0xdb8, 1, 2, 0, 0, 0, i + 1]);
            assert!(l.begin(ip, t0).is_ok());
        }
        let same_64 = IpAddr::from([0x2001, 0xdb8, 1, 2, 9, 9, 9, 9]);
        assert!(l.begin(same_64, t0).is_err());
        let other_64 = IpAddr::from([0x2001, 0xdb8, 1, 3, 0, 0, 0, 1]);
        assert!(l.begin(other_64, t0).is_ok());
    }

    #[test]
    fn the_limiter_stays_bounded() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..(LoginLimiter::MAX_CLIENTS as u32 + 50) {
            let _ = l.begin(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(l.attempts.lock().len() <= LoginLimiter::MAX_CLIENTS);
    }

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
        // A proxy that rewrites Host passes the browser's host along.
        h.insert(ORIGIN, "https://tv.example".parse().unwrap());
        assert!(cross_origin(&h));
        h.insert("x-forwarded-host", "tv.example".parse().unwrap());
        assert!(!cross_origin(&h));
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
