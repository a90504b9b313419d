//! The DVR REST API and probes, through the real server on loopback.

use std::time::Duration;

use serde_json::json;
use sim::Scenario;
use testkit::*;

#[tokio::test]
async fn requests_without_a_valid_key_get_json_401() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let c = client();
    let (status, body) = send(c.get(url(&srv, "/api/v1/dvrs")), None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unauthorized");
    assert!(body["message"].as_str().unwrap().contains("X-API-Key"));
    let (status, body) = send(c.get(url(&srv, "/api/v1/dvrs")), Some("wrong")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_api_key"))
    );
    // Bearer works too.
    let res = c
        .get(url(&srv, "/api/v1/dvrs"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A stored key from `apikey create` works; the env one is not the only way in.
    let key = storage::api_keys::create(&srv.services.db, "ci")
        .await
        .unwrap();
    let (status, _) = send(c.get(url(&srv, "/api/v1/dvrs")), Some(&key)).await;
    assert_eq!(status, 200);
    srv.shutdown().await;
}

#[tokio::test]
async fn dvr_crud_follows_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let c = client();
    let k = Some(API_KEY);
    let port = sim.addr().port();

    let (status, body) = send(c.get(url(&srv, "/api/v1/dvrs")), k).await;
    assert_eq!((status, body), (200, json!([])));

    // Create: 201 with the canonical id, defaults filled in.
    let (status, dvr) = send(
        c.post(url(&srv, "/api/v1/dvrs"))
            .json(&json!({"name": "Den", "host": "127.0.0.1", "port": port})),
        k,
    )
    .await;
    assert_eq!(status, 201, "{dvr}");
    let id = dvr["dvr_id"].as_str().unwrap().to_string();
    assert_eq!(id, domain::dvr::id::dvr_id("127.0.0.1", port));
    assert_eq!(dvr["name"], "Den");
    assert_eq!(dvr["enabled"], true);
    assert_eq!(dvr["staleness_threshold_seconds"], 300);
    assert_eq!(dvr["managed_by"], "ui");
    for key in [
        "status",
        "connected",
        "stale",
        "last_event_at",
        "last_event_seconds_ago",
    ] {
        assert!(
            dvr["health"].get(key).is_some(),
            "health.{key} missing: {dvr}"
        );
    }

    // It connects, and the list and health say so.
    let engine = srv.services.engine.clone();
    wait_for("DVR connected", Duration::from_secs(10), || {
        engine
            .health(&id)
            .is_some_and(|h| h.connected && h.last_event_at.is_some())
    })
    .await;
    let (status, list) = send(c.get(url(&srv, "/api/v1/dvrs")), k).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["health"]["status"], "healthy");
    assert_eq!(list[0]["health"]["connected"], true);
    let (status, health) = send(c.get(url(&srv, &format!("/api/v1/dvrs/{id}/health"))), k).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["dvr_id"], id.as_str());
    assert_eq!(health["dvr_name"], "Den");
    assert!(health["last_event_seconds_ago"].is_u64());
    assert!(health["session_state_size"].is_u64());
    assert_eq!(health["disk_status"], "ok");
    assert!(health["recent_alert_rate"].is_f64());
    assert!(health.get("error").is_none());

    // Duplicate host:port → 409.
    let (status, body) = send(
        c.post(url(&srv, "/api/v1/dvrs"))
            .json(&json!({"name": "Again", "host": "127.0.0.1", "port": port})),
        k,
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (409, Some("dvr_exists")));

    // Bad input → 422 with the field named.
    let (status, body) = send(
        c.post(url(&srv, "/api/v1/dvrs"))
            .json(&json!({"name": "", "host": "http://x", "staleness_threshold_seconds": 5})),
        k,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"], "validation_failed");
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "host", "staleness_threshold_seconds"]);
    let (status, body) = send(
        c.post(url(&srv, "/api/v1/dvrs"))
            .json(&json!({"name": "x", "host": "h", "port": 70000})),
        k,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_request"))
    );
    assert!(
        body["message"].as_str().unwrap().starts_with("port"),
        "{body}"
    );
    let (status, body) = send(c.post(url(&srv, "/api/v1/dvrs")).body("{not json"), k).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_request"))
    );
    let (status, _) = send(
        c.post(url(&srv, "/api/v1/dvrs"))
            .json(&json!({"name": "x", "host": "h", "colour": 1})),
        k,
    )
    .await;
    assert_eq!(status, 422, "unknown fields are refused");

    // Rename and threshold edit: same id, applied in place.
    let (status, dvr) = send(
        c.patch(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .json(&json!({"name": "Family Room", "staleness_threshold_seconds": 120})),
        k,
    )
    .await;
    assert_eq!(status, 200, "{dvr}");
    assert_eq!(dvr["dvr_id"], id.as_str());
    assert_eq!(engine.slot(&id).unwrap().name(), "Family Room");
    assert_eq!(engine.health(&id).unwrap().staleness_threshold_seconds, 120);

    // Disable: task stops, status disabled, health 503.
    let (status, dvr) = send(
        c.patch(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .json(&json!({"enabled": false})),
        k,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(dvr["health"]["status"], "disabled");
    assert!(engine.slot(&id).is_none());
    let (status, health) = send(c.get(url(&srv, &format!("/api/v1/dvrs/{id}/health"))), k).await;
    assert_eq!(status, 503);
    assert!(health["error"].as_str().unwrap().contains("disabled"));

    // Changing the port is a new identity.
    let (status, dvr) = send(
        c.patch(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .json(&json!({"port": port + 1, "enabled": true})),
        k,
    )
    .await;
    assert_eq!(status, 200);
    let new_id = dvr["dvr_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    let (status, body) = send(c.get(url(&srv, &format!("/api/v1/dvrs/{id}"))), k).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    assert!(engine.slot(&new_id).is_some());

    // Delete: 204, task gone, then 404.
    let (status, _) = send(c.delete(url(&srv, &format!("/api/v1/dvrs/{new_id}"))), k).await;
    assert_eq!(status, 204);
    assert!(engine.slot(&new_id).is_none());
    let (status, _) = send(c.delete(url(&srv, &format!("/api/v1/dvrs/{new_id}"))), k).await;
    assert_eq!(status, 404);
    let (status, body) = send(c.get(url(&srv, "/api/v1/nope")), k).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, body) = send(c.put(url(&srv, "/api/v1/dvrs")), k).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );

    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn the_soft_limit_refuses_the_eleventh_dvr() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let c = client();
    for i in 0..10 {
        // Disabled entries count too; nothing needs to listen on these ports.
        let (status, body) = send(
            c.post(url(&srv, "/api/v1/dvrs")).json(
                &json!({"name": format!("DVR {i}"), "host": "127.0.0.1", "port": 40000 + i, "enabled": false}),
            ),
            Some(API_KEY),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = send(
        c.post(url(&srv, "/api/v1/dvrs"))
            .json(&json!({"name": "one too many", "host": "127.0.0.1", "port": 40010})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], "dvr_limit_reached");
    assert!(body["message"].as_str().unwrap().contains("10"));
    // Raising the limit lets it in.
    storage::settings::set(&srv.services.db, "dvr_soft_limit", &11u32)
        .await
        .unwrap();
    let (status, _) = send(
        c.post(url(&srv, "/api/v1/dvrs")).json(
            &json!({"name": "one too many", "host": "127.0.0.1", "port": 40010, "enabled": false}),
        ),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201);
    srv.shutdown().await;
}

#[tokio::test]
async fn health_is_503_when_the_dvr_is_unreachable_and_ready_names_stale_dvrs() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let c = client();
    for probe in ["/healthz/live", "/healthz/startup", "/healthz/ready"] {
        let res = c.get(url(&srv, probe)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{probe}");
        assert_eq!(res.text().await.unwrap(), "ok");
    }
    // Nothing listens on this port: disconnected from the start.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let (status, dvr) = send(
        c.post(url(&srv, "/api/v1/dvrs"))
            .json(&json!({"name": "Gone", "host": "127.0.0.1", "port": port, "staleness_threshold_seconds": 30})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201);
    let id = dvr["dvr_id"].as_str().unwrap();
    let (status, health) = send(
        c.get(url(&srv, &format!("/api/v1/dvrs/{id}/health"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(health["connected"], false);
    assert!(health["last_event_at"].is_null());
    assert!(health["last_event_seconds_ago"].is_null());
    assert!(
        health["error"]
            .as_str()
            .unwrap()
            .starts_with("disconnected"),
        "{health}"
    );
    // Reconnecting but not yet stale keeps the process ready.
    let res = c.get(url(&srv, "/healthz/ready")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let (status, _) = send(
        c.get(url(&srv, "/api/v1/dvrs/ffffffff/health")),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 404);
    srv.shutdown().await;
}

#[tokio::test]
async fn the_routing_matrix_is_stored_validated_and_follows_its_dvr() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let c = client();
    let (status, empty) = send(c.get(url(&srv, "/api/v1/routing")), Some(API_KEY)).await;
    assert_eq!((status, empty), (200, json!({})));
    let (status, dvr) = send(
        c.post(url(&srv, "/api/v1/dvrs"))
            .json(&json!({"name": "Den", "host": "127.0.0.1", "port": closed_port()})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201);
    let id = dvr["dvr_id"].as_str().unwrap().to_string();
    let matrix = json!({ id.clone(): {"channel": {"discord": false, "pushover": true}, "health": {"email": false}} });
    let (status, stored) = send(
        c.put(url(&srv, "/api/v1/routing")).json(&matrix),
        Some(API_KEY),
    )
    .await;
    assert_eq!((status, &stored), (200, &matrix));
    let (_, got) = send(c.get(url(&srv, "/api/v1/routing")), Some(API_KEY)).await;
    assert_eq!(got, matrix);

    for (bad, needle) in [
        (
            json!({ id.clone(): {"weather": {"discord": true}} }),
            "weather",
        ),
        (
            json!({ id.clone(): {"channel": {"pigeon": true}} }),
            ".channel.pigeon",
        ),
        (
            json!({ "ffffffff": {"channel": {"discord": true}} }),
            "ffffffff",
        ),
        (
            json!({ id.clone(): {"channel": {"discord": "yes"}} }),
            "discord",
        ),
    ] {
        let (status, err) = send(
            c.put(url(&srv, "/api/v1/routing")).json(&bad),
            Some(API_KEY),
        )
        .await;
        assert_eq!(status, 422, "{bad} → {err}");
        assert!(
            err["message"].as_str().unwrap().contains(needle),
            "{bad} → {err}"
        );
    }
    // A refused PUT changes nothing.
    let (_, got) = send(c.get(url(&srv, "/api/v1/routing")), Some(API_KEY)).await;
    assert_eq!(got, matrix);
    let (status, _) = send(c.get(url(&srv, "/api/v1/routing")), None).await;
    assert_eq!(status, 401);

    // Deleting the DVR deletes its entries.
    let (status, _) = send(
        c.delete(url(&srv, &format!("/api/v1/dvrs/{id}"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 204);
    let (_, got) = send(c.get(url(&srv, "/api/v1/routing")), Some(API_KEY)).await;
    assert_eq!(got, json!({}));
    srv.shutdown().await;
}

/// A DVR set to require an API key: the key is sent on every request, shown only as
/// `****`, kept when the form echoes the mask, and its removal shows up as a 401.
#[tokio::test]
async fn a_dvr_api_key_is_sent_masked_kept_and_removable() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let sim = sim::Simulator::start(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        sim::SimConfig {
            api_key: Some("dvr-key-5c1e".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let c = client();
    let k = Some(API_KEY);
    let port = sim.addr().port();
    let health = |id: String| {
        let c = c.clone();
        let u = url(&srv, &format!("/api/v1/dvrs/{id}/health"));
        async move { send(c.get(u), k).await }
    };

    // Without the key the DVR refuses us, and health says why.
    let (status, dvr) = send(
        c.post(url(&srv, "/api/v1/dvrs"))
            .json(&json!({"name": "Den", "host": "127.0.0.1", "port": port})),
        k,
    )
    .await;
    assert_eq!(status, 201, "{dvr}");
    assert!(dvr.get("api_key").is_none(), "no key, no field: {dvr}");
    let id = dvr["dvr_id"].as_str().unwrap().to_string();
    // Health says the DVR refuses us (HTTP 401).
    let refused = |what: &'static str| {
        let (health, id) = (&health, id.clone());
        eventually(what, Duration::from_secs(10), move || {
            let h = health(id.clone());
            async move {
                let (status, v) = h.await;
                (status == 503 && v["error"].as_str()?.contains("401")).then_some(())
            }
        })
    };
    refused("a 401 in health").await;

    // Set it: the task restarts with it and connects.
    let (status, dvr) = send(
        c.patch(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .json(&json!({"api_key": "dvr-key-5c1e"})),
        k,
    )
    .await;
    assert_eq!(status, 200, "{dvr}");
    assert_eq!(dvr["api_key"], "****");
    assert!(!dvr.to_string().contains("dvr-key-5c1e"));
    eventually("connected with the key", Duration::from_secs(10), || {
        let h = health(id.clone());
        async move { (h.await.0 == 200).then_some(()) }
    })
    .await;

    // The edit form echoes the mask: the stored key stays.
    let (status, dvr) = send(
        c.patch(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .json(&json!({"name": "Den 2", "api_key": "****"})),
        k,
    )
    .await;
    assert_eq!((status, dvr["name"].as_str()), (200, Some("Den 2")));
    let stored = storage::dvrs::get(&srv.services.db, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.api_key.expose(), "dvr-key-5c1e");
    let raw: String = sqlx::query_scalar("SELECT api_key FROM dvrs")
        .fetch_one(&srv.services.db.pool)
        .await
        .unwrap();
    assert!(raw.starts_with("cw2:") && !raw.contains("dvr-key-5c1e"));

    // Test connection with the mask uses the stored key; without a key it fails on 401
    // with a hint that names the API key.
    let test = |key: Option<&str>| {
        let mut b = json!({"host": "127.0.0.1", "port": port});
        if let Some(key) = key {
            b["api_key"] = json!(key);
        }
        send(c.post(url(&srv, "/api/v1/dvrs/test")).json(&b), k)
    };
    let (_, with) = test(Some("****")).await;
    assert_eq!(with["ok"], true, "{with}");
    let (_, without) = test(None).await;
    assert_eq!(without["ok"], false);
    assert!(
        without["text"].as_str().unwrap().contains("API key"),
        "{without}"
    );

    // A bad key is refused with the field named.
    let (status, body) = send(
        c.patch(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .json(&json!({"api_key": "has a space"})),
        k,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("api_key:"));

    // The key never follows the DVR to another address unless given again.
    let other = closed_port();
    let (status, moved) = send(
        c.patch(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .json(&json!({"port": other, "api_key": "****"})),
        k,
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert!(moved.get("api_key").is_none(), "{moved}");
    let moved_id = moved["dvr_id"].as_str().unwrap().to_string();
    let (status, back) = send(
        c.patch(url(&srv, &format!("/api/v1/dvrs/{moved_id}")))
            .json(&json!({"port": port, "api_key": "dvr-key-5c1e"})),
        k,
    )
    .await;
    assert_eq!((status, back["dvr_id"].as_str()), (200, Some(id.as_str())));

    // Removed: the DVR refuses us again.
    let (status, dvr) = send(
        c.patch(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .json(&json!({"api_key": ""})),
        k,
    )
    .await;
    assert_eq!(status, 200);
    assert!(dvr.get("api_key").is_none());
    refused("a 401 after removal").await;
    srv.shutdown().await;
}

/// Requests to a DVR never follow a redirect, so its API key cannot be bounced to
/// another address (reqwest drops `Authorization` and cookies across hosts, not
/// `X-API-Key`): a 302 to another loopback port is the DVR's answer, and the other
/// port never hears from us.
#[tokio::test]
async fn a_dvr_redirect_is_not_followed_so_its_api_key_stays_with_it() {
    use domain::dvr::ApiKey;
    use engine::dvr::client::{ClientError, DvrClient};
    use std::sync::Arc;
    let elsewhere = FakeProvider::start(Arc::new(|_: &Received| {
        (
            200,
            vec![("content-type".into(), "application/json".into())],
            json!({"name": "elsewhere", "version": "9.9.9", "disk": {"free": 1, "total": 2}})
                .to_string(),
        )
    }))
    .await;
    let to = elsewhere.url("/status");
    let dvr = FakeProvider::start(Arc::new(move |_: &Received| {
        (302, vec![("location".into(), to.clone())], String::new())
    }))
    .await;
    let client = DvrClient::new(
        DvrClient::build_http().unwrap(),
        "127.0.0.1",
        dvr.addr.port(),
    )
    .with_api_key(&ApiKey::new("dvr-key-stays-home"));
    let t = Duration::from_secs(5);
    let status = client.status(t).await;
    assert!(
        matches!(status, Err(ClientError::Status(302))),
        "{status:?}"
    );
    let info = client.dvr_info(t).await;
    assert!(matches!(info, Err(ClientError::Status(302))), "{info:?}");
    let stream = client.subscribe(t).await;
    assert!(
        matches!(stream, Err(ClientError::Status(302))),
        "{stream:?}"
    );
    let asked = dvr.requests();
    assert_eq!(asked.len(), 3);
    assert!(asked
        .iter()
        .all(|r| r.header("x-api-key") == Some("dvr-key-stays-home")));
    let leaked: Vec<_> = elsewhere
        .requests()
        .iter()
        .filter_map(|r| r.header("x-api-key").map(str::to_string))
        .collect();
    assert!(leaked.is_empty(), "the key went elsewhere: {leaked:?}");
    assert!(elsewhere.requests().is_empty(), "a redirect was followed");
}
