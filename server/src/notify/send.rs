//! Performing a provider's [`Plan`]: its HTTP requests with the provider client, its
//! mail over SMTP, and reading each answer with the provider's judge. What to send and
//! how to read the answers is each provider's module (`domain::notify::providers`).

use std::time::Duration;

use domain::notify::delivery::{
    judge_answer, Ack, Body, EmailSecurity, HttpRequest, Image, Judge, Mail, Method, Plan,
    SendResult, Session,
};
use domain::notify::providers::ProviderConfig;

pub use domain::notify::delivery::{Failure, Outgoing, MAX_PROVIDER_TEXT, MAX_RETRY_AFTER};

/// Per-request timeout for provider calls.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// How much of a provider's answer is read (the rest is never downloaded): enough for
/// any API's JSON reply or error page.
const MAX_ANSWER_BODY: usize = 64 * 1024;

/// A request that did not get an answer: timed out, refused, or not sent at all.
fn network_failure(e: reqwest::Error) -> Failure {
    let message = if e.is_timeout() {
        "timed out waiting for the provider".to_string()
    } else if e.is_connect() {
        format!("cannot connect: {}", root_cause(&e))
    } else {
        root_cause(&e)
    };
    Failure::transient(message)
}

pub(crate) fn root_cause(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

/// Sends `out` to `provider`. The provider's words in the result are cut to
/// [`MAX_PROVIDER_TEXT`] and flattened to one line, here, once: inside, a Matrix token
/// or room id read from an answer must stay whole.
pub async fn send(http: &reqwest::Client, provider: &ProviderConfig, out: &Outgoing) -> SendResult {
    use domain::text::outside_text;
    perform(http, provider.plan(out))
        .await
        .map(|a| Ack {
            message: outside_text(&a.message, MAX_PROVIDER_TEXT),
            ..a
        })
        .map_err(|f| Failure {
            message: outside_text(&f.message, MAX_PROVIDER_TEXT),
            ..f
        })
}

/// Carries out each step of `plan` in order.
async fn perform(http: &reqwest::Client, plan: Plan) -> SendResult {
    match plan {
        Plan::Http(req, judge) => request(http, req, judge).await,
        Plan::WithImage {
            image_url,
            build,
            judge,
        } => {
            let image = fetch_image(http, image_url.as_deref()).await;
            request(http, build(image), judge).await
        }
        Plan::Fallback { first, instead } => match request(http, first.0, first.1).await {
            Err(f) if f.status == Some(400) => request(http, instead.0, instead.1).await,
            other => other,
        },
        Plan::Session(session) => send_in_session(http, &session).await,
        Plan::Mail(mail) => send_mail(*mail).await,
    }
}

/// Sends one described request and judges the answer.
async fn request(http: &reqwest::Client, req: HttpRequest, judge: Judge) -> SendResult {
    let mut b = match req.method {
        Method::Post => http.post(&req.url),
        Method::Put => http.put(&req.url),
    };
    for (k, v) in &req.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b = match req.body {
        Body::Json(v) => b.json(&v),
        Body::Form(pairs) => b.form(&pairs),
        Body::Raw(text) => b.body(text),
    };
    let res = b.timeout(TIMEOUT).send().await.map_err(|e| {
        let mut f = network_failure(e);
        if let Some(hint) = req.unanswered {
            f.message = format!("{}. {hint}", f.message);
        }
        f
    })?;
    answer(res, judge).await
}

/// Reads the answer (its first [`MAX_ANSWER_BODY`] bytes) and judges it.
async fn answer(res: reqwest::Response, judge: Judge) -> SendResult {
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let retry_after = header("retry-after");
    let reset = header("x-limit-app-reset");
    let body = engine::limits::read_text_prefix(res, MAX_ANSWER_BODY)
        .await
        .unwrap_or_default();
    judge_answer(
        status,
        retry_after.as_deref(),
        reset.as_deref(),
        &body,
        judge,
        std::time::SystemTime::now(),
    )
}

/// Downloads an image for providers that need the bytes (bounded in size and time).
async fn fetch_image(http: &reqwest::Client, url: Option<&str>) -> Option<Image> {
    const MAX: usize = 2_500_000;
    let url = url?;
    domain::notify::checks::check_url("image_url", url).ok()?;
    let res = http
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    if !res.status().is_success() {
        return None;
    }
    let mime = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|m| m.starts_with("image/"))?
        .to_string();
    let bytes = engine::limits::read_capped(res, MAX).await.ok()?;
    Some((bytes.to_vec(), mime))
}

/// Logins' tokens, by [`Session::login_key`].
type LoginKey = (String, String, String);
static LOGIN_TOKENS: std::sync::LazyLock<
    parking_lot::Mutex<std::collections::HashMap<LoginKey, String>>,
> = std::sync::LazyLock::new(Default::default);

/// Logs in once per login key (the token is remembered), joins, sends.
async fn send_in_session(http: &reqwest::Client, session: &Session) -> SendResult {
    let key = &session.login_key;
    let cached = session
        .token
        .clone()
        .or_else(|| LOGIN_TOKENS.lock().get(key).cloned());
    let token = match cached {
        Some(t) => t,
        None => {
            let (login, judge) = session.login.clone();
            let t = request(http, login, judge).await?.message;
            LOGIN_TOKENS.lock().insert(key.clone(), t.clone());
            t
        }
    };
    let result = async {
        let (join, judge) = (session.join)(&token);
        let room_id = request(http, join, judge).await?.message;
        let (send, judge) = (session.send)(&token, &room_id);
        request(http, send, judge).await
    }
    .await;
    // A stale remembered login: forget it, so the next attempt logs in again.
    if let Err(f) = &result {
        if session.token.is_none() && f.status == Some(401) {
            LOGIN_TOKENS.lock().remove(key);
        }
    }
    result
}

/// Sends one mail over SMTP, after checking where the server's name resolves.
async fn send_mail(mail: Mail) -> SendResult {
    use lettre::message::{Mailbox, MultiPart};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let host = mail.host.as_str();
    // The SMTP server is resolved and checked like every other destination.
    let resolved = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((host, mail.port)),
    )
    .await
    .map_err(|_| Failure::transient(format!("cannot resolve {host}: timed out")))?
    .map_err(|e| Failure::transient(format!("cannot resolve {host}: {e}")))?;
    if resolved
        .into_iter()
        .any(|a| domain::notify::checks::is_forbidden_ip(a.ip()))
    {
        return Err(Failure::config(format!(
            "smtp_host: {host} resolves to a link-local or cloud-metadata address"
        )));
    }
    let from: Mailbox = mail
        .from
        .parse()
        .map_err(|e| Failure::config(format!("from: {e}")))?;
    let mut builder = Message::builder().from(from).subject(&mail.subject);
    for addr in &mail.to {
        builder = builder.to(addr
            .parse()
            .map_err(|e| Failure::config(format!("to: {addr}: {e}")))?);
    }
    let email = builder
        .multipart(MultiPart::alternative_plain_html(mail.plain, mail.html))
        .map_err(|e| Failure::config(format!("cannot build the message: {e}")))?;

    let tls = |h: &str| {
        let mut b = TlsParameters::builder(h.to_string());
        if let Some(pem) = &mail.ca_certificate {
            let cert = Certificate::from_pem(pem.as_bytes())
                .map_err(|e| Failure::config(format!("ca_certificate: {e}")))?;
            b = b.add_root_certificate(cert);
        }
        b.build()
            .map_err(|e| Failure::config(format!("TLS setup for {h}: {e}")))
    };
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(mail.port);
    let mut transport = match mail.security {
        EmailSecurity::Starttls => transport.tls(Tls::Required(tls(host)?)),
        EmailSecurity::Tls => transport.tls(Tls::Wrapper(tls(host)?)),
        EmailSecurity::Plain => transport.tls(Tls::None),
    };
    if let Some((u, p)) = mail.credentials {
        transport = transport.credentials(Credentials::new(u, p));
    }
    let mailer = transport.timeout(Some(TIMEOUT)).build();
    match mailer.send(email).await {
        Ok(resp) => Ok(Ack {
            status: u16::from(resp.code()),
            message: resp.message().collect::<Vec<_>>().join(" "),
        }),
        Err(e) => Err(Failure {
            status: e.status().map(u16::from),
            message: e.to_string(),
            retry_after: None,
            permanent: e.is_permanent(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::notify::delivery::{
        attr_url, html_escape, json_errors, plain_judge, sign, slack_escape, truncate,
    };
    use serde_json::Value;

    #[tokio::test]
    async fn odd_retry_after_values_never_panic() {
        let cases = [
            ("inf", "{}"),
            ("1e20", "{}"),
            ("-5", "{}"),
            ("NaN", "{}"),
            ("", r#"{"retry_after": 1e300}"#),
            ("", r#"{"retry_after": -1}"#),
            ("", r#"{"parameters": {"retry_after": 1e20}}"#),
            ("", r#"{"retry_after_ms": 18446744073709551615}"#),
        ];
        for (header, body) in cases {
            let mut b = axum::http::Response::builder().status(429);
            if !header.is_empty() {
                b = b.header("retry-after", header);
            }
            let res = reqwest::Response::from(b.body(body.to_string()).unwrap());
            let f = answer(res, |_, _| Err(String::new())).await.unwrap_err();
            assert!(
                f.retry_after.is_none_or(|d| d <= MAX_RETRY_AFTER),
                "{header} {body}: {:?}",
                f.retry_after
            );
        }
    }

    // Fuzz-style properties (the public parsers are in tests/fuzz.rs): whatever a
    // provider, or anything posing as one, answers — any status, `Retry-After`, reset
    // header and body — `answer` returns, only a 2xx is an Ack, a wait is never longer
    // than MAX_RETRY_AFTER, and only a 4xx other than 408/429 is permanent.

    use proptest::prelude::*;

    /// `Retry-After` pieces: numbers at every edge, and the three HTTP date forms.
    const RETRY_AFTER_TOKENS: &[&str] = &[
        "0",
        "1",
        "7",
        ".",
        "5",
        "e",
        "-",
        "+",
        "inf",
        "NaN",
        " ",
        "1e20",
        "18446744073709551616",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ];

    /// JSON bodies as Discord, Telegram, Pushover, Gotify, ntfy and Matrix write them;
    /// `N` is replaced by one of [`RETRY_NUMBERS`].
    const ANSWER_BODIES: &[&str] = &[
        r#"{"retry_after": N}"#,
        r#"{"parameters": {"retry_after": N}, "ok": false, "description": "Too Many Requests"}"#,
        r#"{"retry_after_ms": N}"#,
        r#"{"status": N, "request": N, "errors": [N, "user key is invalid"]}"#,
        r#"{"errcode": N, "error": N, "event_id": N, "room_id": N, "access_token": N}"#,
        r#"{"ok": true, "result": {"message_id": N}}"#,
        r#"{"message": N, "code": N}"#,
        r#"{"error": N, "errorDescription": N, "id": N}"#,
        "ok",
        "",
    ];

    const RETRY_NUMBERS: &[&str] = &[
        "1",
        "1.5",
        "-1",
        "0",
        "1e300",
        "-1e300",
        "1e20",
        "18446744073709551615",
        "18446744073709551616",
        "3600.5",
        "1e-300",
        "\"7\"",
        "null",
        "true",
        "[]",
    ];

    const STATUSES: &[u16] = &[200, 201, 204, 299, 300, 400, 401, 404, 408, 429, 500, 503];

    /// A provider's answer as reqwest hands it over; header values that HTTP cannot
    /// carry are left out.
    fn provider_answer(
        status: u16,
        headers: Vec<(&'static str, Vec<u8>)>,
        body: Vec<u8>,
    ) -> Option<reqwest::Response> {
        let mut b = axum::http::Response::builder().status(status);
        for (name, value) in headers {
            if axum::http::HeaderValue::from_bytes(&value).is_ok() {
                b = b.header(name, &value[..]);
            }
        }
        Some(reqwest::Response::from(b.body(body).ok()?))
    }

    /// `answer` with one of the judges the providers use.
    fn judged(res: reqwest::Response, judge: u8) -> SendResult {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async move {
            match judge {
                0 => answer(res, |_, _| Err(String::new())).await,
                1 => answer(res, domain::notify::providers::matrix::judge_send).await,
                2 => answer(res, domain::notify::providers::pushover::judge).await,
                _ => answer(res, plain_judge).await,
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn provider_answers_never_panic_and_waits_are_capped(
            status in prop_oneof![100u16..1000, prop::sample::select(STATUSES)],
            retry_after in prop::option::of(prop_oneof![
                prop::collection::vec(prop::sample::select(RETRY_AFTER_TOKENS), 0..6)
                    .prop_map(|p| p.concat().into_bytes()),
                prop::collection::vec(any::<u8>(), 0..48),
                (0u64..253_402_300_800).prop_map(|s| {
                    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(s))
                        .into_bytes()
                }),
            ]),
            reset in prop::option::of(prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                "\\PC{0,12}",
            ]),
            body in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..2048),
                (prop::sample::select(ANSWER_BODIES), prop::sample::select(RETRY_NUMBERS))
                    .prop_map(|(b, n)| b.replace('N', n).into_bytes()),
                "\\PC{0,200}".prop_map(String::into_bytes),
            ],
            judge in 0u8..4,
        ) {
            let mut headers = Vec::new();
            if let Some(v) = retry_after {
                headers.push(("retry-after", v));
            }
            if let Some(v) = reset {
                headers.push(("x-limit-app-reset", v.into_bytes()));
            }
            let Some(res) = provider_answer(status, headers, body) else {
                return Ok(());
            };
            match judged(res, judge) {
                Ok(ack) => {
                    prop_assert_eq!(ack.status, status);
                    prop_assert!((200..300).contains(&status));
                }
                Err(f) => {
                    prop_assert_eq!(f.status, Some(status));
                    prop_assert!(
                        f.retry_after.is_none_or(|d| d <= MAX_RETRY_AFTER),
                        "{:?}",
                        f.retry_after
                    );
                    if f.permanent {
                        prop_assert!(
                            (400..500).contains(&status) && status != 429 && status != 408
                        );
                    }
                }
            }
        }

        /// The texts built from a provider's words and an alert's fields.
        #[test]
        fn provider_texts_never_panic(
            s in prop_oneof!["\\PC{0,300}", "(https?|javascript|data)://[a-z\"'<> &.?=#]{0,30}"],
            max in 0usize..600,
            body in "\\PC{0,200}",
        ) {
            prop_assert!(truncate(&s, max).chars().count() <= max.max(1));
            prop_assert!(!html_escape(&s).contains(['<', '>', '"', '\'']));
            prop_assert!(!slack_escape(&s).contains(['<', '>']));
            if let Some(u) = attr_url(&s) {
                prop_assert!(
                    u.starts_with("http") && !u.contains(['<', '>', '"', '\'']),
                    "{u}"
                );
            }
            if let Ok(v) = serde_json::from_str::<Value>(&body) {
                let _ = json_errors(&v);
            }
            prop_assert_eq!(sign(&s, body.as_bytes()).len(), 64);
        }
    }
}
