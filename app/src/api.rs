//! Calling `/api/v1` from components: typed answers, contract errors, the CSRF token.

use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;

use wire::{ApiFailure, ErrorBody, Me};

/// The signed-in caller, provided by the layout.
#[derive(Clone, Copy)]
pub struct Session {
    pub me: RwSignal<Option<Me>>,
}

impl Session {
    pub fn csrf(&self) -> Option<String> {
        self.me.get_untracked().and_then(|m| m.csrf_token)
    }

    /// The role is fixed for the page's life, so this read is untracked.
    pub fn is_admin(&self) -> bool {
        self.me
            .with_untracked(|m| m.as_ref().is_some_and(|m| m.is_admin()))
    }
}

/// The session context (a default, signed-out one outside the layout).
pub(crate) fn use_session() -> Session {
    use_context::<Session>().unwrap_or(Session {
        me: RwSignal::new(None),
    })
}

/// One API request. `body` is sent as JSON; a 204 parses as `null`.
pub async fn call<T: DeserializeOwned>(
    csrf: Option<String>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<T, ApiFailure> {
    let (status, text) = call_text(csrf, method.to_string(), path.to_string(), body).await?;
    parse(status, &text)
}

/// The request itself, compiled once (only the parse is generic).
async fn call_text(
    csrf: Option<String>,
    method: String,
    path: String,
    body: Option<Value>,
) -> Result<(u16, String), ApiFailure> {
    let reply = crate::api_call(method, path, body.map(|b| b.to_string()), csrf)
        .await
        .map_err(|e| ApiFailure {
            status: 0,
            error: "unreachable".into(),
            message: format!("the server could not be reached: {e}"),
            fields: Vec::new(),
        })?;
    if (200..300).contains(&reply.status) {
        Ok((reply.status, reply.body))
    } else {
        let text = if reply.body.trim().is_empty() {
            "null"
        } else {
            reply.body.as_str()
        };
        let body: ErrorBody = serde_json::from_str(text).unwrap_or_else(|_| ErrorBody {
            error: "http_error".into(),
            message: format!("the server answered {}", reply.status),
            fields: Vec::new(),
        });
        Err(ApiFailure::of(reply.status, body))
    }
}

fn parse<T: DeserializeOwned>(status: u16, body: &str) -> Result<T, ApiFailure> {
    let text = if body.trim().is_empty() { "null" } else { body };
    serde_json::from_str(text).map_err(|e| bad_answer(status, e))
}

#[inline(never)]
fn bad_answer(status: u16, e: serde_json::Error) -> ApiFailure {
    ApiFailure {
        status,
        error: "bad_answer".into(),
        message: format!("unexpected answer from the server: {e}"),
        fields: Vec::new(),
    }
}

/// `crate::api::from_value` through the text parser, so each type's `Deserialize` is
/// compiled for one deserializer only (the one `call` uses).
pub fn from_value<T: DeserializeOwned>(v: Value) -> serde_json::Result<T> {
    serde_json::from_str(&v.to_string())
}

/// A write's answer read as `T` (a body of another shape is a `bad_answer`).
pub fn answer<T: DeserializeOwned>(r: Result<Value, ApiFailure>) -> Result<T, ApiFailure> {
    r.and_then(|v| parse(200, &v.to_string()))
}

/// A GET for a resource.
pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiFailure> {
    call(None, "GET", path, None).await
}

/// Runs a write in the background and reports the outcome to `done`.
pub fn send(
    session: Session,
    method: &'static str,
    path: String,
    body: Option<Value>,
    done: impl FnOnce(Result<Value, ApiFailure>) + 'static,
) {
    send_boxed(session, method, path, body, Box::new(done));
}

/// One copy of the request task for every caller (a generic one would be compiled
/// again for each of the app's callbacks, which the browser bundle pays for).
fn send_boxed(
    session: Session,
    method: &'static str,
    path: String,
    body: Option<Value>,
    done: Box<dyn FnOnce(Result<Value, ApiFailure>)>,
) {
    let csrf = session.csrf();
    leptos::task::spawn_local(async move {
        done(call::<Value>(csrf, method, &path, body).await);
    });
}

/// Human-readable size in GiB/TiB. Integer arithmetic only: float formatting would
/// add its own code to the browser bundle.
pub fn bytes(n: u64) -> String {
    let gib = (n + (1 << 29)) >> 30;
    if gib >= 1024 {
        let tenths = (n * 10 + (1 << 39)) >> 40;
        format!("{}.{} TiB", tenths / 10, tenths % 10)
    } else {
        format!("{gib} GiB")
    }
}

/// `used / total` as a whole percentage.
pub fn percent(used: u64, total: u64) -> u64 {
    if total == 0 {
        0
    } else {
        ((used as u128 * 100 + total as u128 / 2) / total as u128) as u64
    }
}

/// `47 s ago`, `3 min ago`, `2 h ago`.
pub fn ago(seconds: u64) -> String {
    match seconds {
        0..=59 => format!("{seconds} s ago"),
        60..=3599 => format!("{} min ago", seconds / 60),
        _ => format!("{} h ago", seconds / 3600),
    }
}

/// `2026-12-05 18:04` from an RFC 3339 time, in the monitor's zone.
pub fn when(rfc3339: &str) -> String {
    crate::zone::short(rfc3339)
}

/// `a=1&b=2`, values encoded, pairs without a value left out.
pub fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, &v);
        }
    }
    s.finish()
}

/// `HH:MM` of an RFC 3339 time in the monitor's zone, for compact lists.
pub fn clock(rfc3339: &str) -> String {
    crate::zone::clock(rfc3339)
}

/// `45 s`, `12 min`, `1 h 05 min`: how long something lasted.
pub fn duration(s: u64) -> String {
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        _ => format!("{} h {:02} min", s / 3600, (s / 60) % 60),
    }
}

/// `1:02:03` from seconds.
pub fn position(s: u64) -> String {
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(500 * (1 << 30)), "500 GiB");
        assert_eq!(bytes(2048 * (1 << 30)), "2.0 TiB");
        assert_eq!(bytes(1843 * (1 << 30)), "1.8 TiB");
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(2, 3), 67);
        assert_eq!(percent(5, 0), 0);
        assert_eq!(ago(47), "47 s ago");
        assert_eq!(ago(180), "3 min ago");
        assert_eq!(clock("2026-04-19T14:32:01Z"), "14:32");
        assert_eq!(position(3723), "1:02:03");
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(754), "12 min");
        assert_eq!(duration(3900), "1 h 05 min");
        assert_eq!(when("2026-12-05T18:04:00Z"), "2026-12-05 18:04");
        assert_eq!(
            query_string([("q", "a b&c".to_string()), ("kind", String::new())]),
            "q=a+b%26c"
        );
    }
}
