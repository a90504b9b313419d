//! One delivery as data: what goes out ([`Outgoing`]), the request a provider's module
//! describes for it ([`Plan`], [`HttpRequest`]), and how an answer is read into an
//! [`Ack`] or a [`Failure`] (retry or not, and when). The server performs the requests;
//! everything here is pure, so each provider's requests are testable without a server.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use serde::{Deserialize, Serialize};

/// What goes out: the alert's text and the context the webhook and templates carry.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub title: String,
    pub message: String,
    pub image_url: Option<String>,
    /// The contract's `eventType`.
    pub event_type: String,
    pub dvr_id: String,
    pub dvr_name: String,
    /// Stable per outbox row: the webhook's `deliveryId`, Matrix's transaction id.
    pub delivery_id: String,
    pub timestamp: DateTime<Utc>,
    pub instance_name: String,
    pub instance_url: String,
}

/// The provider accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// HTTP status, or the SMTP reply code.
    pub status: u16,
    pub message: String,
}

/// The provider did not accept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: Option<u16>,
    pub message: String,
    /// When the provider said to come back (429 and friends).
    pub retry_after: Option<Duration>,
    /// Retrying the same request cannot help (bad token, unknown chat, 4xx).
    pub permanent: bool,
}

impl Failure {
    /// A failure worth retrying (network, resolution), with no provider status.
    pub fn transient(message: impl Into<String>) -> Self {
        Failure {
            status: None,
            message: message.into(),
            retry_after: None,
            permanent: false,
        }
    }

    /// A destination that cannot work as configured: retrying cannot help.
    pub fn config(message: impl Into<String>) -> Self {
        Failure {
            status: None,
            message: message.into(),
            retry_after: None,
            permanent: true,
        }
    }
}

pub type SendResult = Result<Ack, Failure>;

/// The longest wait a provider can ask for (`Retry-After`, `retry_after`): longer is capped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The longest provider text kept (the answer's message, an error): it goes to the
/// delivery log, log lines and browsers.
pub const MAX_PROVIDER_TEXT: usize = 500;

/// An HTTP method a provider is called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
}

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Json(Value),
    /// `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
    /// Sent byte for byte (its `Content-Type` is among the headers): what is signed is
    /// exactly what goes out.
    Raw(String),
}

/// One HTTP request, described: the server sends it with its provider client.
#[derive(Clone, PartialEq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Added to the failure when the destination does not answer at all: what the
    /// user can do about it (a TV app that answers only in the foreground).
    pub unanswered: Option<&'static str>,
}

/// Requests carry secrets (in the URL, the headers and the body): debug output names
/// only the method and the path's first segment.
impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = url::Url::parse(&self.url)
            .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")))
            .unwrap_or_default();
        write!(f, "HttpRequest({:?} {shown}/…)", self.method)
    }
}

impl HttpRequest {
    pub fn post(url: impl Into<String>, body: Body) -> Self {
        HttpRequest {
            method: Method::Post,
            url: url.into(),
            headers: Vec::new(),
            body,
            unanswered: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// `Authorization: Bearer …`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// `Authorization: Basic …` (an absent password is empty, as RFC 7617 reads it).
    pub(crate) fn basic(self, user: &str, password: Option<&str>) -> Self {
        use base64::Engine as _;
        let pair = format!("{user}:{}", password.unwrap_or(""));
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        self.header("Authorization", format!("Basic {encoded}"))
    }

    /// The body's field or header value, for tests that read what would be sent.
    #[cfg(test)]
    pub(crate) fn form_value(&self, name: &str) -> Option<&str> {
        match &self.body {
            Body::Form(pairs) => pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a provider's answer: `Ok(message)` when it took the notification, `Err(the
/// provider's words)` otherwise. Only a 2xx status can be a success.
pub type Judge = fn(u16, &str) -> Result<String, String>;

/// An image's bytes and MIME type, for a provider that cannot fetch URLs.
pub type Image = (Vec<u8>, String);

/// SMTP connection security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmailSecurity {
    /// Plain connect, then STARTTLS (submission, 587).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, 465).
    Tls,
    /// No TLS at all (a relay on the local network, or a test listener).
    Plain,
}

impl EmailSecurity {
    /// The port used when `smtp_port` is not set.
    pub(crate) fn default_port(self) -> u16 {
        match self {
            EmailSecurity::Starttls => 587,
            EmailSecurity::Tls => 465,
            EmailSecurity::Plain => 25,
        }
    }
}

/// One message to send over SMTP, with where and how.
#[derive(Clone, PartialEq)]
pub struct Mail {
    pub host: String,
    pub port: u16,
    pub security: EmailSecurity,
    /// User and password, when the server wants a login.
    pub credentials: Option<(String, String)>,
    pub ca_certificate: Option<String>,
    /// `ChannelWatch <address>`.
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub plain: String,
    pub html: String,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mail({}:{} {:?})", self.host, self.port, self.security)
    }
}

/// One request and how to read its answer.
pub type Step = (HttpRequest, Judge);
/// The join request for a token.
pub type JoinStep = Box<dyn Fn(&str) -> Step + Send + Sync>;
/// The send request for a token and a room id.
pub type SendStep = Box<dyn Fn(&str, &str) -> Step + Send + Sync>;

/// A provider that works in a session (Matrix): log in unless a token is known or was
/// remembered, join the room, send. The server remembers a login's token under
/// `login_key` (each login is a new device on the server).
pub struct Session {
    /// A token given in the settings; `None` means a login.
    pub token: Option<String>,
    /// Who a login is for (server, user, a digest of the password).
    pub login_key: (String, String, String),
    /// The login; its judge answers the token.
    pub login: Step,
    /// Joining with a token; its judge answers the room id.
    pub join: JoinStep,
    /// Sending with a token into a room id.
    pub send: SendStep,
}

/// How a provider delivers one notification: the steps the server performs.
pub enum Plan {
    /// One request.
    Http(HttpRequest, Judge),
    /// Download the image first (when there is one), then send the request built with
    /// its bytes (Pushover never fetches URLs).
    WithImage {
        image_url: Option<String>,
        build: Box<dyn FnOnce(Option<Image>) -> HttpRequest + Send>,
        judge: Judge,
    },
    /// Send `first`; when it is refused with 400, send `instead` (Telegram, when it
    /// cannot fetch a photo: the text still goes out).
    Fallback {
        first: (HttpRequest, Judge),
        instead: (HttpRequest, Judge),
    },
    /// Log in (unless a token is known or remembered), join, send.
    Session(Session),
    /// One message over SMTP.
    Mail(Box<Mail>),
}

/// Reads an HTTP answer into the delivery's result: `judge` decides success on a 2xx;
/// 429, 5xx and 408 are worth retrying, other 4xx are permanent. The wait comes from
/// `Retry-After`, then from the JSON body (Discord and Telegram) or Pushover's reset
/// time, capped at [`MAX_RETRY_AFTER`].
pub fn judge_answer(
    status: u16,
    retry_after: Option<&str>,
    reset: Option<&str>,
    body: &str,
    judge: Judge,
    now: SystemTime,
) -> SendResult {
    match judge(status, body) {
        Ok(message) if (200..300).contains(&status) => Ok(Ack { status, message }),
        Ok(message) | Err(message) => {
            let mut wait = retry_after
                .and_then(|v| crate::backoff::parse_retry_after(v, now, MAX_RETRY_AFTER));
            if status == 429 && wait.is_none() {
                let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                let now_secs = now
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                wait = v["retry_after"]
                    .as_f64()
                    .or(v["parameters"]["retry_after"].as_f64())
                    .and_then(|s| crate::backoff::secs_f64(s, MAX_RETRY_AFTER))
                    .or(v["retry_after_ms"]
                        .as_u64()
                        .map(|ms| Duration::from_millis(ms).min(MAX_RETRY_AFTER)))
                    .or(reset.and_then(|r| r.parse::<i64>().ok()).map(|r| {
                        let secs = r.saturating_sub(now_secs);
                        Duration::from_secs(u64::try_from(secs).unwrap_or(0)).min(MAX_RETRY_AFTER)
                    }));
            }
            Err(Failure {
                status: Some(status),
                message: if message.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {message}")
                },
                retry_after: wait,
                permanent: (400..500).contains(&status) && status != 429 && status != 408,
            })
        }
    }
}

/// Any 2xx is success (webhooks, Apprise JSON); the body is the message either way.
pub fn plain_judge(status: u16, body: &str) -> Result<String, String> {
    if (200..300).contains(&status) {
        Ok(truncate(body.trim(), 200))
    } else {
        Err(truncate(body.trim(), 500))
    }
}

/// A JSON answer's `errors: [..]` list, joined.
pub fn json_errors(v: &Value) -> Option<String> {
    let list = v["errors"].as_array()?;
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// At most `max` characters, the last one an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Escapes text for HTML element content and quoted attribute values alike.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Slack's mrkdwn control characters (Slack shows any other entity literally).
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An image URL fit for an `src`/`href` attribute: http or https only (never
/// `javascript:` or `data:`), escaped for the quoted attribute.
pub fn attr_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| html_escape(parsed.as_str()))
}

/// Hex HMAC-SHA256 of `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// What provider modules' tests send.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::Outgoing;

    pub fn outgoing() -> Outgoing {
        Outgoing {
            title: "Now watching".into(),
            message: "Kitchen & den".into(),
            image_url: Some("https://img.example/p.png".into()),
            event_type: "channel_watching".into(),
            dvr_id: "aef6d698".into(),
            dvr_name: "Living Room".into(),
            delivery_id: "d-1".into(),
            timestamp: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("a time"),
            instance_name: "ChannelWatch".into(),
            instance_url: "http://127.0.0.1:8501".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_rfc_4231_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn texts_are_truncated_and_escaped() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(html_escape("<b>&"), "&lt;b&gt;&amp;");
        assert_eq!(
            html_escape(r#"a" onerror='x'"#),
            "a&quot; onerror=&#39;x&#39;"
        );
    }

    #[test]
    fn image_urls_cannot_leave_their_attribute_or_run_script() {
        let out = attr_url(r#"https://img.example/a.png" onerror="alert(1)"#).unwrap();
        assert!(!out.contains('"'), "{out}");
        assert_eq!(attr_url("javascript:alert(1)"), None);
        assert_eq!(attr_url("data:text/html,<script>"), None);
        assert_eq!(
            attr_url("https://img.example/a.png?x=1&y=2").as_deref(),
            Some("https://img.example/a.png?x=1&amp;y=2")
        );
    }

    #[test]
    fn waits_come_from_the_header_the_body_or_the_reset_time() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let refuse: Judge = |_, _| Err(String::new());
        let f = judge_answer(429, Some("7"), None, "{}", refuse, now).unwrap_err();
        assert_eq!(f.retry_after, Some(Duration::from_secs(7)));
        assert!(!f.permanent);
        let f = judge_answer(429, None, None, r#"{"retry_after": 2.5}"#, refuse, now).unwrap_err();
        assert_eq!(f.retry_after, Some(Duration::from_millis(2500)));
        let f = judge_answer(429, None, Some("1000030"), "{}", refuse, now).unwrap_err();
        assert_eq!(f.retry_after, Some(Duration::from_secs(30)));
        let f = judge_answer(401, None, None, "bad token", plain_judge, now).unwrap_err();
        assert!(f.permanent);
        assert_eq!(f.message, "HTTP 401: bad token");
        let ack = judge_answer(204, None, None, "", plain_judge, now).unwrap();
        assert_eq!(ack.status, 204);
        // A judge's "yes" outside 2xx is not a success.
        let f = judge_answer(302, None, None, "moved", plain_judge, now).unwrap_err();
        assert!(!f.permanent);
    }

    #[test]
    fn debug_output_hides_the_request() {
        let r = HttpRequest::post(
            "https://api.telegram.org/bot123:SECRET/sendMessage",
            Body::Raw("x".into()),
        )
        .bearer("tok");
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("SECRET") && !shown.contains("tok"),
            "{shown}"
        );
        assert_eq!(
            HttpRequest::post("http://h/", Body::Raw(String::new()))
                .basic("u", None)
                .header_value("authorization"),
            Some("Basic dTo=")
        );
    }
}
