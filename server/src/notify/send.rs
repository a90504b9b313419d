//! Sending one notification to one destination, the way each provider's real API
//! wants it, and reading its answer: the provider's own status and text on success,
//! and on failure whether to retry and when (429 `Retry-After` and its cousins).

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use domain::notify::target::{EmailSecurity, Target, NTFY_URL, PUSHOVER_URL, TELEGRAM_URL};

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
    fn network(e: reqwest::Error) -> Self {
        let message = if e.is_timeout() {
            "timed out waiting for the provider".to_string()
        } else if e.is_connect() {
            format!("cannot connect: {}", root_cause(&e))
        } else {
            root_cause(&e)
        };
        Failure::transient(message)
    }

    /// A failure worth retrying (network, resolution), with no provider status.
    pub(crate) fn transient(message: impl Into<String>) -> Self {
        Failure {
            status: None,
            message: message.into(),
            retry_after: None,
            permanent: false,
        }
    }

    fn config(message: impl Into<String>) -> Self {
        Failure {
            status: None,
            message: message.into(),
            retry_after: None,
            permanent: true,
        }
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

pub type SendResult = Result<Ack, Failure>;

/// Per-request timeout for provider calls.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The longest wait a provider can ask for (`Retry-After`, `retry_after`): longer is capped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// How much of a provider's answer is read (the rest is never downloaded): enough for
/// any API's JSON reply or error page.
const MAX_ANSWER_BODY: usize = 64 * 1024;

/// The longest provider text kept (the answer's message, an error): it goes to the
/// delivery log, log lines and browsers.
pub const MAX_PROVIDER_TEXT: usize = 500;

/// Sends `out` to `target`. The provider's words in the result are cut to
/// [`MAX_PROVIDER_TEXT`] and flattened to one line, here, once: inside, a Matrix token
/// or room id read from an answer must stay whole.
pub async fn send(http: &reqwest::Client, target: &Target, out: &Outgoing) -> SendResult {
    use domain::text::outside_text;
    send_raw(http, target, out)
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

async fn send_raw(http: &reqwest::Client, target: &Target, out: &Outgoing) -> SendResult {
    match target {
        Target::Pushover {
            user_key,
            token,
            device,
            priority,
            sound,
            base_url,
        } => {
            let base = base_url.as_deref().unwrap_or(PUSHOVER_URL);
            let mut form: Vec<(&str, String)> = vec![
                ("token", token.clone()),
                ("user", user_key.clone()),
                ("title", truncate(&out.title, 250)),
                ("message", truncate(&out.message, 1024)),
                ("timestamp", out.timestamp.timestamp().to_string()),
            ];
            if let Some(d) = device {
                form.push(("device", d.clone()));
            }
            if let Some(p) = priority {
                form.push(("priority", p.to_string()));
                // Emergency priority is refused without its repeat settings.
                if *p == 2 {
                    form.push(("retry", "60".into()));
                    form.push(("expire", "3600".into()));
                }
            }
            if let Some(s) = sound {
                form.push(("sound", s.clone()));
            }
            // Pushover never fetches URLs: the image travels inline, when it can be had.
            if let Some((bytes, mime)) = fetch_image(http, out.image_url.as_deref()).await {
                use base64::Engine as _;
                form.push((
                    "attachment_base64",
                    base64::engine::general_purpose::STANDARD.encode(bytes),
                ));
                form.push(("attachment_type", mime));
            }
            let res = http
                .post(format!("{}/1/messages.json", base.trim_end_matches('/')))
                .form(&form)
                .timeout(TIMEOUT)
                .send()
                .await
                .map_err(Failure::network)?;
            answer(res, pushover_judge).await
        }
        Target::Discord {
            webhook_url,
            username,
        } => {
            let mut embed = json!({
                "title": truncate(&out.title, 256),
                "description": truncate(&out.message, 4096),
                "color": 3447003,
                "timestamp": out.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "footer": {"text": truncate(&out.dvr_name, 2048)},
            });
            if let Some(img) = &out.image_url {
                embed["image"] = json!({ "url": img });
            }
            let body = json!({
                "username": username.as_deref().unwrap_or("ChannelWatch"),
                "content": "",
                "embeds": [embed],
            });
            let res = http
                .post(webhook_url)
                .json(&body)
                .timeout(TIMEOUT)
                .send()
                .await
                .map_err(Failure::network)?;
            answer(res, |status, body| match status {
                204 | 200 => Ok("delivered".to_string()),
                _ => Err(serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| {
                        v["message"]
                            .as_str()
                            .map(|m| format!("{m} (code {})", v["code"]))
                    })
                    .unwrap_or_else(|| body.to_string())),
            })
            .await
        }
        Target::Telegram {
            bot_token,
            chat_id,
            base_url,
        } => {
            let base = base_url.as_deref().unwrap_or(TELEGRAM_URL);
            let text = format!(
                "<b>{}</b>\n{}",
                html_escape(&out.title),
                html_escape(&out.message)
            );
            let base = base.trim_end_matches('/');
            let message =
                json!({"chat_id": chat_id, "text": truncate(&text, 4096), "parse_mode": "HTML"});
            let post = |method: &str, body: &Value| {
                http.post(format!("{base}/bot{bot_token}/{method}"))
                    .json(body)
                    .timeout(TIMEOUT)
                    .send()
            };
            let judge = |status: u16, body: &str| {
                let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                if status == 200 && v["ok"] == true {
                    Ok(format!("message {}", v["result"]["message_id"]))
                } else {
                    Err(v["description"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| body.to_string()))
                }
            };
            // Telegram fetches the photo itself: only a public image URL can work, and a
            // caption holds 1024 characters. Anything else goes as a text message.
            let photo = out
                .image_url
                .as_deref()
                .filter(|u| domain::notify::target::is_public_url(u))
                .filter(|_| text.chars().count() <= 1024);
            if let Some(img) = photo {
                let body = json!({"chat_id": chat_id, "photo": img, "caption": text, "parse_mode": "HTML"});
                let res = post("sendPhoto", &body).await.map_err(Failure::network)?;
                match answer(res, judge).await {
                    // Telegram could not fetch the image: the text still goes out.
                    Err(f) if f.status == Some(400) => {}
                    other => return other,
                }
            }
            let res = post("sendMessage", &message)
                .await
                .map_err(Failure::network)?;
            answer(res, judge).await
        }
        Target::Slack { webhook_url } => {
            let mut blocks = vec![json!({
                "type": "section",
                "text": {"type": "mrkdwn", "text": format!("*{}*\n{}", slack_escape(&out.title), slack_escape(&out.message))}
            })];
            // Slack fetches the image itself: only a public URL can work.
            if let Some(img) = out
                .image_url
                .as_deref()
                .filter(|u| domain::notify::target::is_public_url(u))
            {
                blocks.push(json!({"type": "image", "image_url": img, "alt_text": out.title}));
            }
            let body = json!({
                "text": format!("{}: {}", out.title, out.message),
                "blocks": blocks,
            });
            let res = http
                .post(webhook_url)
                .json(&body)
                .timeout(TIMEOUT)
                .send()
                .await
                .map_err(Failure::network)?;
            answer(res, |status, body| {
                if status == 200 && body.trim() == "ok" {
                    Ok("ok".into())
                } else {
                    Err(body.trim().to_string())
                }
            })
            .await
        }
        Target::Gotify {
            url,
            token,
            priority,
        } => {
            let mut body = json!({
                "title": out.title,
                "message": out.message,
                "priority": priority.unwrap_or(5),
            });
            if let Some(img) = &out.image_url {
                body["extras"] = json!({"client::notification": {"bigImageUrl": img}});
            }
            let res = http
                .post(format!("{}/message", url.trim_end_matches('/')))
                .header("X-Gotify-Key", token)
                .json(&body)
                .timeout(TIMEOUT)
                .send()
                .await
                .map_err(Failure::network)?;
            answer(res, |status, body| {
                let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                if status == 200 {
                    Ok(format!("message {}", v["id"]))
                } else {
                    Err(v["errorDescription"]
                        .as_str()
                        .map(|d| format!("{}: {d}", v["error"].as_str().unwrap_or("error")))
                        .unwrap_or_else(|| body.to_string()))
                }
            })
            .await
        }
        Target::Matrix {
            homeserver,
            room,
            access_token,
            user,
            password,
        } => {
            send_matrix(
                http,
                homeserver,
                room,
                access_token.as_deref(),
                user.as_deref(),
                password.as_deref(),
                out,
            )
            .await
        }
        Target::Ntfy {
            url,
            topic,
            token,
            user,
            password,
            priority,
        } => {
            let base = url.as_deref().unwrap_or(NTFY_URL);
            let mut body = json!({
                "topic": topic,
                "title": out.title,
                "message": out.message,
                "tags": ["tv"],
            });
            if let Some(p) = priority {
                body["priority"] = json!(p);
            }
            if let Some(img) = &out.image_url {
                body["attach"] = json!(img);
            }
            let mut req = http
                .post(format!("{}/", base.trim_end_matches('/')))
                .json(&body)
                .timeout(TIMEOUT);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            } else if let Some(u) = user {
                req = req.basic_auth(u, password.as_deref());
            }
            let res = req.send().await.map_err(Failure::network)?;
            answer(res, |status, body| {
                let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                if status == 200 {
                    Ok(format!("message {}", v["id"].as_str().unwrap_or("")))
                } else {
                    Err(v["error"]
                        .as_str()
                        .map(|e| format!("{e} (code {})", v["code"]))
                        .unwrap_or_else(|| body.to_string()))
                }
            })
            .await
        }
        Target::Webhook { url, secret } => {
            let body = webhook_body(out);
            let signature = sign(secret, body.as_bytes());
            let res = http
                .post(url)
                .header("Content-Type", "application/json")
                .header("X-ChannelWatch-Signature", format!("sha256={signature}"))
                .header("X-ChannelWatch-Delivery", &out.delivery_id)
                .header("X-ChannelWatch-Event", &out.event_type)
                .body(body)
                .timeout(TIMEOUT)
                .send()
                .await
                .map_err(Failure::network)?;
            answer(res, plain_judge).await
        }
        Target::Json { url, headers } => {
            let body = json!({
                "version": "1.0",
                "title": out.title,
                "message": out.message,
                "type": "info",
                "attachments": [],
            });
            let mut req = http.post(url).json(&body).timeout(TIMEOUT);
            for (k, v) in headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let res = req.send().await.map_err(Failure::network)?;
            answer(res, plain_judge).await
        }
        Target::Email {
            smtp_host,
            smtp_port,
            security,
            username,
            password,
            from,
            to,
            ca_certificate,
        } => {
            send_email(
                smtp_host,
                *smtp_port,
                *security,
                username.as_deref(),
                password.as_deref(),
                from,
                to,
                ca_certificate.as_deref(),
                out,
            )
            .await
        }
    }
}

/// The native webhook's compact JSON body (contract §3).
pub fn webhook_body(out: &Outgoing) -> String {
    json!({
        "eventType": out.event_type,
        "timestamp": out.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "instanceName": out.instance_name,
        "instanceUrl": out.instance_url,
        "version": crate::VERSION,
        "deliveryId": out.delivery_id,
        "dvr_id": out.dvr_id,
        "dvr_name": out.dvr_name,
        "data": {"title": out.title, "message": out.message, "imageUrl": out.image_url},
    })
    .to_string()
}

/// Hex HMAC-SHA256 of `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Reads the answer: `judge(status, body)` decides success on a 2xx-ish answer; 429,
/// 5xx and timeouts are retryable, other 4xx are permanent.
async fn answer(
    res: reqwest::Response,
    judge: impl FnOnce(u16, &str) -> Result<String, String>,
) -> SendResult {
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            domain::backoff::parse_retry_after(v, std::time::SystemTime::now(), MAX_RETRY_AFTER)
        });
    let reset = res
        .headers()
        .get("x-limit-app-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let body = engine::limits::read_text_prefix(res, MAX_ANSWER_BODY)
        .await
        .unwrap_or_default();
    match judge(status, &body) {
        Ok(message) if (200..300).contains(&status) => Ok(Ack { status, message }),
        Ok(message) | Err(message) => {
            let mut retry_after = retry_after;
            if status == 429 && retry_after.is_none() {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                // Discord and Telegram say it in the JSON; Pushover gives a reset time.
                retry_after = v["retry_after"]
                    .as_f64()
                    .or(v["parameters"]["retry_after"].as_f64())
                    .and_then(|s| domain::backoff::secs_f64(s, MAX_RETRY_AFTER))
                    .or(v["retry_after_ms"]
                        .as_u64()
                        .map(|ms| Duration::from_millis(ms).min(MAX_RETRY_AFTER)))
                    .or(reset.map(|r| {
                        let secs = r.saturating_sub(Utc::now().timestamp());
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
                retry_after,
                permanent: (400..500).contains(&status) && status != 429 && status != 408,
            })
        }
    }
}

fn json_errors(v: &Value) -> Option<String> {
    let list = v["errors"].as_array()?;
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("; "),
    )
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Pushover's answer: `{"status": 1, "request": …}` on success, `errors` otherwise.
fn pushover_judge(status: u16, body: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if status == 200 && v["status"] == 1 {
        Ok(format!("request {}", v["request"].as_str().unwrap_or("")))
    } else {
        Err(json_errors(&v).unwrap_or_else(|| body.to_string()))
    }
}

/// Any 2xx is success (webhooks, Apprise JSON); the body is the message either way.
fn plain_judge(status: u16, body: &str) -> Result<String, String> {
    if (200..300).contains(&status) {
        Ok(truncate(body.trim(), 200))
    } else {
        Err(truncate(body.trim(), 500))
    }
}

/// Escapes text for HTML element content and quoted attribute values alike.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Slack's mrkdwn control characters (Slack shows any other entity literally).
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An image URL fit for an `src`/`href` attribute: http or https only (never
/// `javascript:` or `data:`), escaped for the quoted attribute.
fn attr_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| html_escape(parsed.as_str()))
}

/// Downloads an image for providers that need the bytes (bounded in size and time).
async fn fetch_image(http: &reqwest::Client, url: Option<&str>) -> Option<(Vec<u8>, String)> {
    const MAX: usize = 2_500_000;
    let url = url?;
    domain::notify::target::check_url("image_url", url).ok()?;
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

async fn send_matrix(
    http: &reqwest::Client,
    homeserver: &str,
    room: &str,
    access_token: Option<&str>,
    user: Option<&str>,
    password: Option<&str>,
    out: &Outgoing,
) -> SendResult {
    let base = format!("{}/_matrix/client/v3", homeserver.trim_end_matches('/'));
    // A password login is done once and its token reused (each login is a new device
    // on the homeserver, and transaction ids only dedupe per token).
    let cache_key = (
        base.clone(),
        user.unwrap_or_default().to_string(),
        hex::encode(<Sha256 as sha2::Digest>::digest(
            password.unwrap_or_default(),
        )),
    );
    let cached = access_token
        .map(str::to_string)
        .or_else(|| MATRIX_TOKENS.lock().get(&cache_key).cloned());
    let token = match cached {
        Some(t) => t,
        None => {
            let res = http
                .post(format!("{base}/login"))
                .json(&json!({
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": user.unwrap_or_default()},
                    "password": password.unwrap_or_default(),
                    "initial_device_display_name": "ChannelWatch",
                }))
                .timeout(TIMEOUT)
                .send()
                .await
                .map_err(Failure::network)?;
            let t = answer(res, matrix_judge("access_token")).await?.message;
            MATRIX_TOKENS.lock().insert(cache_key.clone(), t.clone());
            t
        }
    };
    let result = matrix_post(http, &base, room, &token, out).await;
    // A stale cached login: forget it, so the next attempt logs in again.
    if let Err(f) = &result {
        if access_token.is_none() && f.status == Some(401) {
            MATRIX_TOKENS.lock().remove(&cache_key);
        }
    }
    result
}

type MatrixKey = (String, String, String);

static MATRIX_TOKENS: std::sync::LazyLock<
    parking_lot::Mutex<std::collections::HashMap<MatrixKey, String>>,
> = std::sync::LazyLock::new(Default::default);

async fn matrix_post(
    http: &reqwest::Client,
    base: &str,
    room: &str,
    token: &str,
    out: &Outgoing,
) -> SendResult {
    let room_enc: String =
        percent_encoding::utf8_percent_encode(room, percent_encoding::NON_ALPHANUMERIC).to_string();
    let res = http
        .post(format!("{base}/join/{room_enc}"))
        .bearer_auth(token)
        .json(&json!({}))
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(Failure::network)?;
    let room_id = answer(res, matrix_judge("room_id")).await?.message;
    let mut html = format!(
        "<b>{}</b><br>{}",
        html_escape(&out.title),
        html_escape(&out.message).replace('\n', "<br>")
    );
    if let Some(img) = out.image_url.as_deref().and_then(attr_url) {
        html.push_str(&format!("<br><a href=\"{img}\">image</a>"));
    }
    let rid: String =
        percent_encoding::utf8_percent_encode(&room_id, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    // The delivery id as transaction id: a retried send is the same event, not a second one.
    let res = http
        .put(format!(
            "{base}/rooms/{rid}/send/m.room.message/{}",
            out.delivery_id
        ))
        .bearer_auth(token)
        .json(&json!({
            "msgtype": "m.text",
            "body": format!("{}\n{}", out.title, out.message),
            "format": "org.matrix.custom.html",
            "formatted_body": html,
        }))
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(Failure::network)?;
    answer(res, matrix_judge("event_id")).await
}

fn matrix_judge(field: &'static str) -> impl FnOnce(u16, &str) -> Result<String, String> {
    move |status, body| {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        match (status, v[field].as_str()) {
            (200, Some(x)) => Ok(x.to_string()),
            _ => Err(v["error"]
                .as_str()
                .map(|e| format!("{} {e}", v["errcode"].as_str().unwrap_or("")))
                .unwrap_or_else(|| body.to_string())),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn send_email(
    host: &str,
    port: Option<u16>,
    security: EmailSecurity,
    username: Option<&str>,
    password: Option<&str>,
    from: &str,
    to: &[String],
    ca_certificate: Option<&str>,
    out: &Outgoing,
) -> SendResult {
    use lettre::message::{Mailbox, MultiPart};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    // The SMTP server is resolved and checked like every other destination.
    let resolved = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((host, port.unwrap_or(25))),
    )
    .await
    .map_err(|_| Failure::transient(format!("cannot resolve {host}: timed out")))?
    .map_err(|e| Failure::transient(format!("cannot resolve {host}: {e}")))?;
    if resolved
        .into_iter()
        .any(|a| domain::notify::target::is_forbidden_ip(a.ip()))
    {
        return Err(Failure::config(format!(
            "smtp_host: {host} resolves to a link-local or cloud-metadata address"
        )));
    }
    let from: Mailbox = format!("ChannelWatch <{from}>")
        .parse()
        .map_err(|e| Failure::config(format!("from: {e}")))?;
    let mut builder = Message::builder().from(from).subject(&out.title);
    for addr in to {
        builder = builder.to(addr
            .parse()
            .map_err(|e| Failure::config(format!("to: {addr}: {e}")))?);
    }
    let mut html = format!(
        "<h3>{}</h3><p>{}</p>",
        html_escape(&out.title),
        html_escape(&out.message).replace('\n', "<br>")
    );
    if let Some(img) = out.image_url.as_deref().and_then(attr_url) {
        html.push_str(&format!(
            "<p><img src=\"{img}\" alt=\"\" style=\"max-width:480px\"></p>"
        ));
    }
    html.push_str(&format!(
        "<p style=\"color:#888\">{}</p>",
        html_escape(&out.dvr_name)
    ));
    let email = builder
        .multipart(MultiPart::alternative_plain_html(
            format!("{}\n\n{}\n\n-- {}", out.title, out.message, out.dvr_name),
            html,
        ))
        .map_err(|e| Failure::config(format!("cannot build the message: {e}")))?;

    let tls = |h: &str| {
        let mut b = TlsParameters::builder(h.to_string());
        if let Some(pem) = ca_certificate {
            let cert = Certificate::from_pem(pem.as_bytes())
                .map_err(|e| Failure::config(format!("ca_certificate: {e}")))?;
            b = b.add_root_certificate(cert);
        }
        b.build()
            .map_err(|e| Failure::config(format!("TLS setup for {h}: {e}")))
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host);
    transport = match security {
        EmailSecurity::Starttls => transport
            .port(port.unwrap_or(security.default_port()))
            .tls(Tls::Required(tls(host)?)),
        EmailSecurity::Tls => transport
            .port(port.unwrap_or(security.default_port()))
            .tls(Tls::Wrapper(tls(host)?)),
        EmailSecurity::Plain => transport
            .port(port.unwrap_or(security.default_port()))
            .tls(Tls::None),
    };
    if let (Some(u), Some(p)) = (username, password) {
        transport = transport.credentials(Credentials::new(u.to_string(), p.to_string()));
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

    #[test]
    fn signature_matches_the_rfc_4231_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

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
                1 => answer(res, matrix_judge("event_id")).await,
                2 => answer(res, pushover_judge).await,
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
