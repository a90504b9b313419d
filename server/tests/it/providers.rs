//! Every provider against a local fake that checks the request the way the real API
//! does (method, path, auth, required fields, content type) and can fail or rate-limit
//! on demand; email against a real SMTP listener; the webhook signature verified by an
//! independent HMAC.

use std::sync::Arc;
use std::time::Duration;

use channelwatch::notify::send::{send as deliver, Outgoing};
use domain::notify::providers::*;
use serde_json::{json, Value};
use testkit::*;

fn out() -> Outgoing {
    Outgoing {
        title: "Channels DVR - Watching TV".into(),
        message: "📺 ABC\nChannel: 7\nDevice: Living Room".into(),
        image_url: Some("https://images.example.com/abc.png".into()),
        event_type: "channel.watching.start".into(),
        dvr_id: "aef6d698".into(),
        dvr_name: "Living Room".into(),
        delivery_id: "0b6f3c2e-1111-4222-8333-944455556666".into(),
        timestamp: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        instance_name: "ChannelWatch".into(),
        instance_url: "http://localhost:8501".into(),
    }
}

fn reply(status: u16, body: Value) -> (u16, Vec<(String, String)>, String) {
    (
        status,
        vec![("content-type".into(), "application/json".into())],
        body.to_string(),
    )
}

fn is_json(r: &Received) -> bool {
    r.header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
}

#[tokio::test]
async fn pushover_form_fields_token_and_errors() {
    let fake = FakeProvider::start(Arc::new(|r: &Received| {
        let f = r.form();
        let form_ct = r
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if r.method != "POST" || r.path != "/1/messages.json" || !form_ct {
            return reply(404, json!({"status": 0, "errors": ["not found"]}));
        }
        if f.get("token").map(String::as_str) != Some("app-token") {
            return reply(400, json!({"token": "invalid", "errors": ["application token is invalid"], "status": 0, "request": "r1"}));
        }
        if !f.contains_key("user") || f.get("message").is_none_or(|m| m.is_empty()) {
            return reply(400, json!({"errors": ["message cannot be blank"], "status": 0, "request": "r2"}));
        }
        reply(200, json!({"status": 1, "request": "5042853c"}))
    }))
    .await;
    let http = channelwatch::notify::http_client();
    let mut t = ProviderConfig::Pushover(Pushover {
        user_key: "user-key".into(),
        token: "app-token".into(),
        device: None,
        priority: Some(1),
        sound: None,
        base_url: Some(fake.url("")),
    });
    let ack = deliver(&http, &t, &out()).await.unwrap();
    assert_eq!(ack.status, 200);
    assert!(ack.message.contains("5042853c"));
    let f = fake.requests()[0].form();
    assert_eq!(f["title"], "Channels DVR - Watching TV");
    assert!(f["message"].contains("Channel: 7"));
    assert_eq!(f["priority"], "1");
    if let ProviderConfig::Pushover(Pushover { token, .. }) = &mut t {
        *token = "wrong".into();
    }
    let err = deliver(&http, &t, &out()).await.unwrap_err();
    assert_eq!(err.status, Some(400));
    assert!(err.permanent);
    assert!(
        err.message.contains("application token is invalid"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn discord_embed_with_image_and_rate_limit() {
    let fake = FakeProvider::start(Arc::new(|r: &Received| {
        if r.method != "POST" || r.path != "/api/webhooks/123/tok-EN" || !is_json(r) {
            return reply(404, json!({"code": 10015, "message": "Unknown Webhook"}));
        }
        let v = r.json();
        let e = &v["embeds"][0];
        if e["title"].as_str().is_none() || e["description"].as_str().is_none() {
            return reply(
                400,
                json!({"code": 50006, "message": "Cannot send an empty message"}),
            );
        }
        (204, vec![], String::new())
    }))
    .await;
    let http = channelwatch::notify::http_client();
    let t = ProviderConfig::Discord(Discord {
        webhook_url: fake.url("/api/webhooks/123/tok-EN"),
        username: None,
    });
    let ack = deliver(&http, &t, &out()).await.unwrap();
    assert_eq!(ack.status, 204);
    let v = fake.requests()[0].json();
    assert_eq!(
        v["embeds"][0]["image"]["url"],
        "https://images.example.com/abc.png"
    );
    assert_eq!(v["embeds"][0]["color"], 3447003);
    fake.set_handler(Arc::new(|_| {
        (
            429,
            vec![
                ("content-type".into(), "application/json".into()),
                ("retry-after".into(), "3".into()),
            ],
            json!({"message": "You are being rate limited.", "retry_after": 2.5, "global": false})
                .to_string(),
        )
    }));
    let err = deliver(&http, &t, &out()).await.unwrap_err();
    assert_eq!(err.status, Some(429));
    assert!(!err.permanent);
    assert_eq!(err.retry_after, Some(Duration::from_secs(3)));
    assert!(err.message.contains("rate limited"), "{}", err.message);
}

#[tokio::test]
async fn telegram_photo_message_and_its_errors() {
    let fake = FakeProvider::start(Arc::new(|r: &Received| {
        let v = r.json();
        let ok_path = r.path == "/bot123:ABC/sendPhoto" || r.path == "/bot123:ABC/sendMessage";
        if !ok_path {
            return reply(401, json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
        }
        if v["chat_id"] != "42" {
            return reply(400, json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}));
        }
        if v["parse_mode"] != "HTML" || (v["text"].is_null() && v["caption"].is_null()) {
            return reply(400, json!({"ok": false, "error_code": 400, "description": "Bad Request: message text is empty"}));
        }
        reply(200, json!({"ok": true, "result": {"message_id": 77}}))
    }))
    .await;
    let http = channelwatch::notify::http_client();
    let t = |chat: &str| {
        ProviderConfig::Telegram(Telegram {
            bot_token: "123:ABC".into(),
            chat_id: chat.into(),
            base_url: Some(fake.url("")),
        })
    };
    let ack = deliver(&http, &t("42"), &out()).await.unwrap();
    assert!(ack.message.contains("77"));
    let r = &fake.requests()[0];
    assert_eq!(r.path, "/bot123:ABC/sendPhoto");
    assert_eq!(r.json()["photo"], "https://images.example.com/abc.png");
    assert!(r.json()["caption"]
        .as_str()
        .unwrap()
        .starts_with("<b>Channels DVR"));
    let mut no_image = out();
    no_image.image_url = None;
    deliver(&http, &t("42"), &no_image).await.unwrap();
    assert_eq!(fake.requests()[1].path, "/bot123:ABC/sendMessage");
    let err = deliver(&http, &t("99"), &out()).await.unwrap_err();
    assert!(
        err.message.contains("chat not found") && err.permanent,
        "{err:?}"
    );
    fake.set_handler(Arc::new(|_| {
        reply(429, json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}}))
    }));
    let err = deliver(&http, &t("42"), &out()).await.unwrap_err();
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn slack_needs_the_ok_body() {
    let fake = FakeProvider::start(Arc::new(|r: &Received| {
        if r.path != "/services/T1/B2/C3" {
            return (404, vec![], "no_service".into());
        }
        let v = r.json();
        if v["text"].as_str().is_none_or(str::is_empty) {
            return (400, vec![], "no_text".into());
        }
        (200, vec![], "ok".into())
    }))
    .await;
    let http = channelwatch::notify::http_client();
    let t = ProviderConfig::Slack(Slack {
        webhook_url: fake.url("/services/T1/B2/C3"),
    });
    assert_eq!(deliver(&http, &t, &out()).await.unwrap().message, "ok");
    let v = fake.requests()[0].json();
    assert_eq!(v["blocks"][1]["type"], "image");
    let bad = ProviderConfig::Slack(Slack {
        webhook_url: fake.url("/services/T1/B2/XX"),
    });
    let err = deliver(&http, &bad, &out()).await.unwrap_err();
    assert!(err.message.contains("no_service"), "{err:?}");
}

#[tokio::test]
async fn gotify_token_header_and_big_image() {
    let fake = FakeProvider::start(Arc::new(|r: &Received| {
        if r.path != "/sub/message" || r.method != "POST" {
            return reply(404, json!({"error": "Not Found", "errorCode": 404, "errorDescription": "page not found"}));
        }
        if r.header("x-gotify-key") != Some("AppTok") {
            return reply(401, json!({"error": "Unauthorized", "errorCode": 401, "errorDescription": "you need to provide a valid access token or user credentials to access this api"}));
        }
        if r.json()["message"].as_str().is_none() {
            return reply(400, json!({"error": "Bad Request", "errorCode": 400, "errorDescription": "Field 'message' is required"}));
        }
        reply(200, json!({"id": 12, "appid": 1}))
    }))
    .await;
    let http = channelwatch::notify::http_client();
    let t = |tok: &str| {
        ProviderConfig::Gotify(Gotify {
            url: fake.url("/sub"),
            token: tok.into(),
            priority: None,
        })
    };
    assert!(deliver(&http, &t("AppTok"), &out())
        .await
        .unwrap()
        .message
        .contains("12"));
    let v = fake.requests()[0].json();
    assert_eq!(v["priority"], 5);
    assert_eq!(
        v["extras"]["client::notification"]["bigImageUrl"],
        "https://images.example.com/abc.png"
    );
    let err = deliver(&http, &t("nope"), &out()).await.unwrap_err();
    assert!(
        err.message.contains("valid access token") && err.permanent,
        "{err:?}"
    );
}

#[tokio::test]
async fn matrix_logs_in_joins_and_sends_once_per_delivery_id() {
    let fake = FakeProvider::start(Arc::new(|r: &Received| {
        let auth = r.header("authorization");
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/_matrix/client/v3/login") => {
                let v = r.json();
                if v["type"] == "m.login.password"
                    && v["identifier"]["user"] == "bot"
                    && v["password"] == "pw"
                {
                    reply(
                        200,
                        json!({"user_id": "@bot:hs", "access_token": "syt_tok", "device_id": "D"}),
                    )
                } else {
                    reply(
                        403,
                        json!({"errcode": "M_FORBIDDEN", "error": "Invalid username or password"}),
                    )
                }
            }
            (_, _) if auth != Some("Bearer syt_tok") => reply(
                401,
                json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token"}),
            ),
            ("POST", "/_matrix/client/v3/join/%23alerts%3Ahs") => {
                reply(200, json!({"room_id": "!r1:hs"}))
            }
            ("PUT", p)
                if p.starts_with("/_matrix/client/v3/rooms/%21r1%3Ahs/send/m.room.message/") =>
            {
                let v = r.json();
                if v["msgtype"] != "m.text" || v["body"].as_str().is_none() {
                    return reply(400, json!({"errcode": "M_BAD_JSON", "error": "bad"}));
                }
                reply(200, json!({"event_id": "$ev1"}))
            }
            _ => reply(
                404,
                json!({"errcode": "M_NOT_FOUND", "error": "Unknown room"}),
            ),
        }
    }))
    .await;
    let http = channelwatch::notify::http_client();
    let t = |pw: &str| {
        ProviderConfig::Matrix(Matrix {
            homeserver: fake.url(""),
            room: "#alerts:hs".into(),
            access_token: None,
            user: Some("bot".into()),
            password: Some(pw.into()),
        })
    };
    let ack = deliver(&http, &t("pw"), &out()).await.unwrap();
    assert_eq!(ack.message, "$ev1");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    assert!(
        reqs[2].path.ends_with(&out().delivery_id),
        "txn id is the delivery id"
    );
    assert!(reqs[2].json()["formatted_body"]
        .as_str()
        .unwrap()
        .contains("<b>Channels DVR"));
    let err = deliver(&http, &t("bad"), &out()).await.unwrap_err();
    assert!(err.message.contains("M_FORBIDDEN"), "{err:?}");
}

#[tokio::test]
async fn ntfy_json_publish_with_token_and_429() {
    let fake = FakeProvider::start(Arc::new(|r: &Received| {
        if r.method != "POST" || r.path != "/" || !is_json(r) {
            return reply(400, json!({"code": 40017, "http": 400, "error": "invalid request: body must be message JSON"}));
        }
        if r.header("authorization") != Some("Bearer tk_secret") {
            return reply(403, json!({"code": 40301, "http": 403, "error": "forbidden"}));
        }
        let v = r.json();
        if v["topic"] != "dvr-alerts" {
            return reply(400, json!({"code": 40009, "http": 400, "error": "invalid topic"}));
        }
        reply(200, json!({"id": "hwQ2YpKdmg", "event": "message", "topic": "dvr-alerts"}))
    }))
    .await;
    let http = channelwatch::notify::http_client();
    let t = ProviderConfig::Ntfy(Ntfy {
        url: Some(fake.url("")),
        topic: "dvr-alerts".into(),
        token: Some("tk_secret".into()),
        user: None,
        password: None,
        priority: Some(4),
    });
    assert!(deliver(&http, &t, &out())
        .await
        .unwrap()
        .message
        .contains("hwQ2YpKdmg"));
    let v = fake.requests()[0].json();
    assert_eq!(
        (v["priority"].as_u64(), v["attach"].as_str()),
        (Some(4), Some("https://images.example.com/abc.png"))
    );
    fake.set_handler(Arc::new(|_| {
        reply(429, json!({"code": 42901, "http": 429, "error": "limit reached: too many requests, please be nice"}))
    }));
    let err = deliver(&http, &t, &out()).await.unwrap_err();
    assert!(!err.permanent && err.message.contains("42901"), "{err:?}");
}

/// HMAC-SHA256 written out from RFC 2104, independent of the product's `hmac` crate.
fn independent_hmac(key: &[u8], msg: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::digest([ipad.as_slice(), msg].concat());
    hex::encode(Sha256::digest([opad.as_slice(), &inner[..]].concat()))
}

#[tokio::test]
async fn webhook_body_headers_and_signature() {
    let fake = FakeProvider::start(Arc::new(|r: &Received| {
        let sig = r.header("x-channelwatch-signature").unwrap_or_default();
        let want = format!("sha256={}", independent_hmac(b"hook-secret", &r.body));
        if sig != want {
            return (401, vec![], "bad signature".into());
        }
        (200, vec![], "accepted".into())
    }))
    .await;
    let http = channelwatch::notify::http_client();
    let t = ProviderConfig::Webhook(Webhook {
        url: fake.url("/hooks/cw"),
        secret: "hook-secret".into(),
    });
    let ack = deliver(&http, &t, &out()).await.unwrap();
    assert_eq!((ack.status, ack.message.as_str()), (200, "accepted"));
    let r = &fake.requests()[0];
    assert_eq!(
        r.header("x-channelwatch-event"),
        Some("channel.watching.start")
    );
    assert_eq!(
        r.header("x-channelwatch-delivery"),
        Some(out().delivery_id.as_str())
    );
    assert!(is_json(r));
    let body = String::from_utf8(r.body.clone()).unwrap();
    let v = r.json();
    assert_eq!(body, serde_json::to_string(&v).unwrap(), "compact JSON");
    for key in [
        "eventType",
        "timestamp",
        "instanceName",
        "instanceUrl",
        "version",
        "deliveryId",
        "dvr_id",
        "dvr_name",
        "data",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    assert_eq!(v["data"]["imageUrl"], "https://images.example.com/abc.png");
    assert_eq!(v["dvr_name"], "Living Room");
    let wrong = ProviderConfig::Webhook(Webhook {
        url: fake.url("/hooks/cw"),
        secret: "other".into(),
    });
    let err = deliver(&http, &wrong, &out()).await.unwrap_err();
    assert_eq!(err.status, Some(401));
}

#[tokio::test]
async fn apprise_json_posts_the_apprise_body_with_extra_headers() {
    let fake = FakeProvider::start(Arc::new(|r: &Received| {
        if r.header("x-token") != Some("abc") {
            return (403, vec![], "no token".into());
        }
        (200, vec![], "{}".into())
    }))
    .await;
    let http = channelwatch::notify::http_client();
    let t = domain::notify::providers::from_apprise_url(&format!(
        "json://{}/notify?+X-Token=abc",
        fake.addr
    ))
    .unwrap();
    deliver(&http, &t, &out()).await.unwrap();
    let v = fake.requests()[0].json();
    assert_eq!(v["version"], "1.0");
    assert_eq!(v["title"], "Channels DVR - Watching TV");
    assert_eq!(v["type"], "info");
    assert_eq!(fake.requests()[0].path, "/notify");
}

#[tokio::test]
async fn email_reaches_a_real_smtp_listener() {
    let smtp = SmtpSink::start().await;
    let t = ProviderConfig::Email(Email {
        smtp_host: "127.0.0.1".into(),
        smtp_port: Some(smtp.addr.port()),
        security: EmailSecurity::Plain,
        username: Some("cw".into()),
        password: Some("pw".into()),
        from: "cw@example.com".into(),
        to: vec!["ops@example.com".into(), "me@example.com".into()],
        ca_certificate: None,
    });
    let http = channelwatch::notify::http_client();
    let ack = deliver(&http, &t, &out()).await.unwrap();
    assert_eq!(ack.status, 250);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.from, "cw@example.com");
    assert_eq!(m.to, ["ops@example.com", "me@example.com"]);
    assert!(
        m.data.contains("Subject: Channels DVR - Watching TV"),
        "{}",
        m.data
    );
    assert!(m.data.contains("multipart/alternative"));
    assert!(m.auth, "credentials were used");
    // A rejected recipient is a permanent failure with the server's text.
    smtp.reject_recipients(true);
    let err = deliver(&http, &t, &out()).await.unwrap_err();
    assert_eq!(err.status, Some(550));
    assert!(
        err.permanent && err.message.contains("No such user"),
        "{err:?}"
    );
    // Nothing listening: a transient failure.
    let closed = ProviderConfig::Email(Email {
        smtp_host: "127.0.0.1".into(),
        smtp_port: Some(closed_port()),
        security: EmailSecurity::Plain,
        username: None,
        password: None,
        from: "cw@example.com".into(),
        to: vec!["ops@example.com".into()],
        ca_certificate: None,
    });
    let err = deliver(&http, &closed, &out()).await.unwrap_err();
    assert!(!err.permanent, "{err:?}");
}

#[tokio::test]
async fn the_providers_api_masks_secrets_keeps_them_on_patch_and_tests_for_real() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let fake = FakeProvider::start(Arc::new(|r: &Received| {
        if r.header("x-gotify-key") == Some("AppTok") {
            reply(200, json!({"id": 5}))
        } else {
            reply(401, json!({"error": "Unauthorized", "errorCode": 401, "errorDescription": "you need to provide a valid access token"}))
        }
    }))
    .await;
    let c = client();
    let (status, p) = send(
        c.post(url(&srv, "/api/v1/providers")).json(&json!({
            "type": "gotify", "name": "Home Gotify", "url": fake.url(""), "token": "AppTok"
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{p}");
    assert_eq!(
        (p["type"].as_str(), p["token"].as_str()),
        (Some("gotify"), Some("****"))
    );
    let id = p["id"].as_i64().unwrap();
    let (_, list) = send(c.get(url(&srv, "/api/v1/providers")), Some(API_KEY)).await;
    assert!(!list.to_string().contains("AppTok"), "{list}");

    // The test answers with the provider's own reply.
    let (status, t) = send(
        c.post(url(&srv, &format!("/api/v1/providers/{id}/test"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (t["ok"].as_bool(), t["status"].as_u64()),
        (Some(true), Some(200)),
        "{t}"
    );
    assert_eq!(
        fake.requests()[0].json()["title"],
        "[TEST] ChannelWatch notification"
    );

    // Echoing the masked answer back keeps the secret; a new one replaces it.
    let mut echoed = p.clone();
    echoed["name"] = json!("Gotify (renamed)");
    let (status, p2) = send(
        c.patch(url(&srv, &format!("/api/v1/providers/{id}")))
            .json(&echoed),
        Some(API_KEY),
    )
    .await;
    assert_eq!(
        (status, p2["name"].as_str()),
        (200, Some("Gotify (renamed)")),
        "{p2}"
    );
    let (_, t) = send(
        c.post(url(&srv, &format!("/api/v1/providers/{id}/test"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(t["ok"], true, "{t}");
    send(
        c.patch(url(&srv, &format!("/api/v1/providers/{id}")))
            .json(&json!({"token": "wrong"})),
        Some(API_KEY),
    )
    .await;
    let (_, t) = send(
        c.post(url(&srv, &format!("/api/v1/providers/{id}/test"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(
        (t["ok"].as_bool(), t["status"].as_u64()),
        (Some(false), Some(401)),
        "{t}"
    );
    assert!(
        t["message"]
            .as_str()
            .unwrap()
            .contains("valid access token"),
        "{t}"
    );

    // Apprise URL form, and its errors.
    let (status, p) = send(
        c.post(url(&srv, "/api/v1/providers"))
            .json(&json!({"type": "pushover", "url": "pover://userkey@apptoken"})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{p}");
    assert_eq!(
        (p["user_key"].as_str(), p["token"].as_str()),
        (Some("****"), Some("****"))
    );
    for (bad, needle) in [
        (
            json!({"type": "pushover", "url": "discord://1/2"}),
            "discord",
        ),
        (json!({"type": "pigeon"}), "type"),
        (
            json!({"type": "webhook", "url": "http://169.254.169.254/", "secret": "s"}),
            "link-local",
        ),
        (json!({"type": "telegram", "bot_token": "1:a"}), "chat_id"),
    ] {
        let (status, e) = send(
            c.post(url(&srv, "/api/v1/providers")).json(&bad),
            Some(API_KEY),
        )
        .await;
        assert_eq!(status, 422, "{bad}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(needle),
            "{bad}: {e}"
        );
    }
    let (status, _) = send(
        c.delete(url(&srv, &format!("/api/v1/providers/{id}"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        c.post(url(&srv, &format!("/api/v1/providers/{id}/test"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 404);
    srv.shutdown().await;
}

/// A stored secret only goes where it was given: a PATCH that moves a provider to
/// another scheme, host or port (SMTP host or port, Matrix homeserver) while leaving
/// a secret masked is refused with the secret named, and changes nothing.
#[tokio::test]
async fn a_masked_secret_does_not_follow_a_provider_to_another_address() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let c = client();
    let k = Some(API_KEY);
    let create = |body: Value| {
        let req = c.post(url(&srv, "/api/v1/providers")).json(&body);
        async move {
            let (status, p) = send(req, k).await;
            assert_eq!(status, 201, "{p}");
            p["id"].as_i64().unwrap()
        }
    };
    let patch = |id: i64, body: Value| {
        send(
            c.patch(url(&srv, &format!("/api/v1/providers/{id}")))
                .json(&body),
            k,
        )
    };
    let stored = |id: i64| {
        let db = srv.services.db.clone();
        async move {
            storage::providers::get(&db, id)
                .await
                .unwrap()
                .unwrap()
                .config
        }
    };
    let refused = |status: u16, e: &Value, field: &str| {
        assert_eq!(
            (status, e["error"].as_str()),
            (422, Some("invalid_request")),
            "{e}"
        );
        let message = e["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}: ")), "{e}");
        assert!(message.contains("enter"), "{e}");
    };

    // The signed webhook: its secret stays with the server it was given for.
    let hook = create(json!({
        "type": "webhook", "name": "Hook", "url": "http://127.0.0.1:9/h", "secret": "hook-secret-1"
    }))
    .await;
    let (status, e) = patch(
        hook,
        json!({"url": "http://127.0.0.2:9/h", "secret": "****"}),
    )
    .await;
    refused(status, &e, "secret");
    assert!(!e.to_string().contains("hook-secret-1"), "{e}");
    for moved in [
        "http://127.0.0.1:10/h",
        "https://127.0.0.1:9/h",
        "http://localhost:9/h",
    ] {
        let (status, e) = patch(hook, json!({"url": moved})).await;
        refused(status, &e, "secret");
    }
    let unchanged = ProviderConfig::Webhook(Webhook {
        url: "http://127.0.0.1:9/h".into(),
        secret: "hook-secret-1".into(),
    });
    assert_eq!(stored(hook).await, unchanged);
    // Another path on the same server keeps it.
    let (status, p) = patch(
        hook,
        json!({"url": "http://127.0.0.1:9/other", "secret": "****"}),
    )
    .await;
    assert_eq!((status, p["secret"].as_str()), (200, Some("****")), "{p}");
    assert!(
        matches!(stored(hook).await, ProviderConfig::Webhook(Webhook { secret, .. }) if secret == "hook-secret-1")
    );
    // Given again, it goes to the new server.
    let (status, p) = patch(
        hook,
        json!({"url": "http://127.0.0.2:9/h", "secret": "hook-secret-2"}),
    )
    .await;
    assert_eq!(
        (status, p["url"].as_str()),
        (200, Some("http://127.0.0.2:9/h")),
        "{p}"
    );
    assert_eq!(
        stored(hook).await,
        ProviderConfig::Webhook(Webhook {
            url: "http://127.0.0.2:9/h".into(),
            secret: "hook-secret-2".into(),
        })
    );

    // Email: the password stays with the SMTP server (host, port and security).
    let mail = create(json!({
        "type": "email", "name": "Mail", "smtp_host": "127.0.0.1", "smtp_port": 2525,
        "security": "plain", "username": "cw", "password": "smtp-password-1",
        "from": "cw@example.com", "to": "ops@example.com"
    }))
    .await;
    let (status, e) = patch(mail, json!({"smtp_host": "127.0.0.2"})).await;
    refused(status, &e, "password");
    let (status, e) = patch(mail, json!({"smtp_port": 2526, "password": "****"})).await;
    refused(status, &e, "password");
    assert!(
        matches!(stored(mail).await, ProviderConfig::Email(Email { smtp_host, smtp_port: Some(2525), password: Some(pw), .. }) if smtp_host == "127.0.0.1" && pw == "smtp-password-1")
    );
    let (status, p) = patch(mail, json!({"to": "other@example.com"})).await;
    assert_eq!(status, 200, "{p}");
    let (status, p) = patch(
        mail,
        json!({"smtp_host": "127.0.0.2", "password": "smtp-password-2"}),
    )
    .await;
    assert_eq!(status, 200, "{p}");

    // Matrix: the access token stays with its homeserver.
    let room = create(json!({
        "type": "matrix", "name": "Room", "homeserver": "http://127.0.0.1:8008",
        "room": "!abc:example.org", "access_token": "matrix-token-1"
    }))
    .await;
    let (status, e) = patch(room, json!({"homeserver": "http://127.0.0.1:8448"})).await;
    refused(status, &e, "access_token");
    let (status, p) = patch(room, json!({"homeserver": "http://127.0.0.1:8008/"})).await;
    assert_eq!(status, 200, "{p}");
    assert!(
        matches!(stored(room).await, ProviderConfig::Matrix(Matrix { homeserver, access_token: Some(t), .. }) if homeserver == "http://127.0.0.1:8008/" && t == "matrix-token-1")
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn email_over_starttls_and_implicit_tls() {
    let http = channelwatch::notify::http_client();
    for (mode, security) in [
        (SmtpTls::Starttls, EmailSecurity::Starttls),
        (SmtpTls::Implicit, EmailSecurity::Tls),
    ] {
        let smtp = SmtpSink::start_with(mode).await;
        let mut t = ProviderConfig::Email(Email {
            smtp_host: "localhost".into(),
            smtp_port: Some(smtp.addr.port()),
            security,
            username: Some("cw".into()),
            password: Some("pw".into()),
            from: "cw@example.com".into(),
            to: vec!["ops@example.com".into()],
            ca_certificate: Some(smtp.cert_pem.clone()),
        });
        let ack = deliver(&http, &t, &out()).await.unwrap();
        assert_eq!(ack.status, 250, "{mode:?}");
        let mails = smtp.mails();
        assert_eq!(mails.len(), 1, "{mode:?}");
        assert!(mails[0].secure && mails[0].auth, "{mode:?}: {:?}", mails[0]);
        // Without trusting the sink's certificate the handshake fails: no plain fallback.
        if let ProviderConfig::Email(Email { ca_certificate, .. }) = &mut t {
            *ca_certificate = None;
        }
        let err = deliver(&http, &t, &out()).await.unwrap_err();
        assert!(!err.message.is_empty(), "{mode:?}");
        assert_eq!(smtp.mails().len(), 1, "{mode:?}: nothing sent in clear");
    }
}

/// The add form's email hint names only security values the API accepts (it offered
/// "none", which the API refuses; the value is `plain`).
#[test]
fn the_email_form_names_the_security_values_the_api_accepts() {
    let fields = wire::providers::provider_type("email")
        .expect("email is a provider type")
        .fields;
    let label = fields
        .iter()
        .find(|f| f.name == "security")
        .expect("the email form has a security field")
        .label;
    let list = label
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .expect("the label lists the values");
    let values: Vec<&str> = list.split(", ").collect();
    assert_eq!(values.len(), 3, "{label}");
    for v in values {
        let parsed: Result<domain::notify::providers::EmailSecurity, _> =
            serde_json::from_value(serde_json::json!(v));
        assert!(
            parsed.is_ok(),
            "the form offers '{v}', which the API refuses"
        );
    }
}

/// Any Apprise service through the user's Apprise API server: the real `apprise`
/// package, behind a front that answers as the Apprise API does, delivers with its own
/// `json://` plugin to a loopback service. Stateless URLs, a saved key with a tag, a
/// key the server does not have, and a service that refuses.
#[tokio::test]
async fn apprise_api_relays_through_the_real_apprise_to_any_service() {
    let service = FakeProvider::start(Arc::new(|r: &Received| {
        if r.path == "/down" {
            return (500, vec![], "down".into());
        }
        (200, vec![], "{}".into())
    }))
    .await;
    let svc = format!("json://127.0.0.1:{}", service.addr.port());
    let front = AppriseFront::start(&[(
        "channelwatch",
        &format!("tv={svc}/tagged\nkitchen={svc}/other"),
    )]);
    let http = channelwatch::notify::http_client();
    let via = |urls: Option<String>, key: Option<&str>, tag: Option<&str>| {
        ProviderConfig::AppriseApi(AppriseApi {
            url: front.url(),
            urls,
            key: key.map(str::to_string),
            tag: tag.map(str::to_string),
        })
    };
    let failing = Outgoing {
        event_type: "recording.failed".into(),
        ..out()
    };

    let ack = deliver(
        &http,
        &via(Some(format!("{svc}/stateless")), None, None),
        &failing,
    )
    .await
    .unwrap();
    assert_eq!(ack.status, 200);
    let got = service.requests_to("/stateless");
    assert_eq!(got.len(), 1, "apprise delivered once");
    let v = got[0].json();
    assert_eq!(v["title"], "Channels DVR - Watching TV");
    assert_eq!(v["message"], "📺 ABC\nChannel: 7\nDevice: Living Room");
    assert_eq!(v["type"], "failure", "the event's Apprise type: {v}");

    // A saved configuration, narrowed to its tag.
    deliver(&http, &via(None, Some("channelwatch"), Some("tv")), &out())
        .await
        .unwrap();
    assert_eq!(service.requests_to("/tagged").len(), 1);
    assert!(
        service.requests_to("/other").is_empty(),
        "another tag's service"
    );

    let e = deliver(&http, &via(None, Some("nosuchkey"), None), &out())
        .await
        .unwrap_err();
    assert!(
        e.message.contains("no configuration under this key"),
        "{e:?}"
    );
    let e = deliver(&http, &via(Some(format!("{svc}/down")), None, None), &out())
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(424));
    assert!(e.message.contains("a service did not take it"), "{e:?}");

    // Through the API: its own type, or Apprise's apprise:// URL for a saved key.
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let (status, p) = send(
        client().post(url(&srv, "/api/v1/providers")).json(&json!({
            "type": "apprise_api", "name": "Everything", "url": front.url(),
            "urls": format!("{svc}/stateless")
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{p}");
    assert_eq!(p["urls"], "****", "the services' tokens are masked");
    let (_, t) = send(
        client().post(url(&srv, &format!("/api/v1/providers/{}/test", p["id"]))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(service.requests_to("/stateless").len(), 2);
    let (status, p) = send(
        client().post(url(&srv, "/api/v1/providers")).json(&json!({
            "type": "apprise",
            "url": format!("apprise://127.0.0.1:{}/channelwatch?tags=tv", front.port)
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{p}");
    let (_, t) = send(
        client().post(url(&srv, &format!("/api/v1/providers/{}/test", p["id"]))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(service.requests_to("/tagged").len(), 2);
    srv.shutdown().await;
}

/// The TV screen: a `channels_app` provider shows alerts on a Channels app (the
/// simulator plays one), says when nothing plays there, says what to do when the app
/// does not answer, and Settings offers the TVs the DVR lists.
#[tokio::test]
async fn the_channels_app_shows_alerts_on_the_tv_and_says_when_it_cannot() {
    let tv = sim::ChannelsClient::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let dvr = sim(sim::Scenario::Quiet).await;
    add_connected_dvr(&srv, "Den", &dvr).await;

    let (_, offered) = send(
        client().get(url(&srv, "/api/v1/providers/channels-clients")),
        Some(API_KEY),
    )
    .await;
    let living = offered
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Living Room")
        .unwrap_or_else(|| panic!("the DVR's client list: {offered}"));
    assert_eq!(
        (&living["address"], &living["source"], &living["dvr_name"]),
        (&json!("192.168.1.50"), &json!("dvr"), &json!("Den"))
    );

    let (status, p) = send(
        client().post(url(&srv, "/api/v1/providers")).json(&json!({
            "type": "channels_app", "name": "Living room TV", "client": tv.addr().to_string()
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{p}");
    let test = |id: Value| {
        let srv = &srv;
        async move {
            send(
                client().post(url(srv, &format!("/api/v1/providers/{id}/test"))),
                Some(API_KEY),
            )
            .await
            .1
        }
    };
    let t = test(p["id"].clone()).await;
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(t["message"], "shown on screen over ABC (playing)");
    let n = tv.notices();
    assert_eq!(n.len(), 1);
    assert!(
        n[0]["title"].as_str().unwrap().contains("[TEST]"),
        "{}",
        n[0]
    );
    assert!(n[0]["message"].is_string());

    // A real alert reaches the screen too.
    dvr.handle().emit(
        "activities.set",
        "7-stream-10811DF5-192.168.1.50",
        "Watching ch7 ABC from Living Room (192.168.1.50)",
    );
    eventually(
        "the watching alert on the TV",
        Duration::from_secs(10),
        || async {
            tv.notices()
                .iter()
                .any(|n| n["message"].as_str().is_some_and(|m| m.contains("ABC")))
                .then_some(())
        },
    )
    .await;

    tv.set_playing(None);
    let t = test(p["id"].clone()).await;
    assert_eq!(t["ok"], true, "{t}");
    assert!(
        t["message"]
            .as_str()
            .unwrap()
            .contains("nothing is playing"),
        "{t}"
    );

    let gone = tv.addr();
    drop(tv);
    eventually("the app stopped", Duration::from_secs(5), || async {
        std::net::TcpStream::connect(gone).is_err().then_some(())
    })
    .await;
    let t = test(p["id"].clone()).await;
    assert_eq!(t["ok"], false, "{t}");
    assert!(
        t["message"]
            .as_str()
            .unwrap()
            .contains("open in the foreground"),
        "{t}"
    );
    srv.shutdown().await;
    dvr.shutdown().await;
}
