//! Quiet hours, snoozes and maintenance windows through the real server: alerts held
//! back are recorded and shown but not sent, a digest follows when the quiet time ends,
//! a notification's snooze link snoozes its DVR without signing in, and a maintenance
//! window keeps a stale DVR out of readiness.

use std::sync::Arc;
use std::time::Duration;

use channelwatch::serve::Server;
use engine::watchdog::WatchdogSettings;
use serde_json::{json, Value};
use sim::{Scenario, Simulator};
use testkit::*;

/// Where alerts say this instance is reached (only written into texts, never called).
const PUBLIC: &str = "http://channelwatch.test:8501";

async fn start(dir: &std::path::Path) -> Server {
    server_with(
        dir,
        &[
            ("CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS", "1"),
            ("CHANNELWATCH_INSTANCE_URL", PUBLIC),
        ],
        WatchdogSettings::default(),
    )
    .await
}

async fn alerts(srv: &Server) -> Vec<Value> {
    let (status, v) = send(client().get(url(srv, "/api/v1/alerts")), Some(API_KEY)).await;
    assert_eq!(status, 200, "{v}");
    v["alerts"].as_array().unwrap().clone()
}

/// The newest alert whose title names channel `ch`, once it is recorded.
async fn alert_for(srv: &Server, name: &str) -> Value {
    eventually(
        &format!("the alert for {name}"),
        Duration::from_secs(15),
        || async {
            alerts(srv)
                .await
                .into_iter()
                .find(|a| a["message"].as_str().is_some_and(|m| m.contains(name)))
        },
    )
    .await
}

fn watch(sim: &Simulator, ch: &str, name: &str) {
    sim.handle().emit(
        "activities.set",
        &format!("{ch}-stream-10811DF5-192.168.1.50"),
        &format!("Watching ch{ch} {name} from Den TV (192.168.1.50)"),
    );
}

fn statuses(a: &Value) -> Vec<String> {
    a["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn quiet_hours_hold_alerts_back_and_send_a_digest_when_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let fake = FakeProvider::start(Arc::new(|_: &Received| (200, vec![], "ok".into()))).await;
    let dvr = add_connected_dvr(&srv, "Den", &sim).await;
    let (status, p) = send(
        client().post(url(&srv, "/api/v1/providers")).json(&json!({
            "type": "webhook", "name": "hook", "url": fake.url("/hook"), "secret": "hook-secret"
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{p}");

    // A bad period names its field.
    let (status, e) = send(
        client()
            .post(url(&srv, "/api/v1/quiet-periods"))
            .json(&json!({"from": "25:00", "to": "07:00"})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 422, "{e}");
    assert!(e["message"].as_str().unwrap().starts_with("from:"), "{e}");

    // Quiet all day, every day, for this DVR, with a digest.
    let (status, period) = send(
        client()
            .post(url(&srv, "/api/v1/quiet-periods"))
            .json(&json!({
                "name": "All day", "dvrs": [dvr], "from": "00:00", "to": "00:00",
                "digest": true, "health_breaks_through": true
            })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{period}");
    let (_, list) = send(
        client().get(url(&srv, "/api/v1/quiet-periods")),
        Some(API_KEY),
    )
    .await;
    assert_eq!(
        list["in_force"][0]["label"], "quiet hours 'All day'",
        "{list}"
    );

    watch(&sim, "7", "ABC");
    watch(&sim, "9", "KTLA");
    let abc = alert_for(&srv, "ABC").await;
    let ktla = alert_for(&srv, "KTLA").await;
    for a in [&abc, &ktla] {
        assert_eq!(a["status"], "quiet", "{a}");
        assert_eq!(statuses(a), ["quiet"], "{a}");
    }
    assert!(
        fake.requests_to("/hook").is_empty(),
        "nothing is sent while quiet"
    );

    // The period ends (removed): one digest of both goes out, and the held deliveries
    // are marked as summed up.
    let id = period["id"].as_i64().unwrap();
    let (status, _) = send(
        client().delete(url(&srv, &format!("/api/v1/quiet-periods/{id}"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 204);
    let digest = eventually("the digest", Duration::from_secs(20), || async {
        fake.requests_to("/hook").first().map(|r| r.json())
    })
    .await;
    assert_eq!(digest["eventType"], "quiet.digest", "{digest}");
    assert_eq!(
        digest["data"]["title"], "Den: 2 alerts while quiet",
        "{digest}"
    );
    let body = digest["data"]["message"].as_str().unwrap();
    assert!(body.contains("ABC") && body.contains("KTLA"), "{body}");
    eventually(
        "the held deliveries digested",
        Duration::from_secs(10),
        || async {
            let all = alerts(&srv).await;
            all.iter()
                .filter(|a| a["status"] == "quiet")
                .all(|a| statuses(a) == ["digested"])
                .then_some(())
        },
    )
    .await;
    assert_eq!(fake.requests_to("/hook").len(), 1, "one digest only");

    // A snooze of the DVR without a digest: recorded, no deliveries at all.
    let (status, s) = send(
        client()
            .post(url(&srv, "/api/v1/snoozes"))
            .json(&json!({"dvr_id": dvr, "hours": 1})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["source"], "api");
    watch(&sim, "11", "KABC");
    let kabc = alert_for(&srv, "KABC").await;
    assert_eq!(kabc["status"], "quiet", "{kabc}");
    assert!(statuses(&kabc).is_empty(), "{kabc}");
    let (status, _) = send(
        client().delete(url(&srv, &format!("/api/v1/snoozes/{}", s["id"]))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 204);
    let (_, left) = send(client().get(url(&srv, "/api/v1/snoozes")), Some(API_KEY)).await;
    assert_eq!(left, json!([]));

    // Not quiet any more: sent at once, with a link that snoozes this DVR.
    watch(&sim, "13", "KCOP");
    let sent = eventually("the alert sent", Duration::from_secs(15), || async {
        fake.requests_to("/hook")
            .iter()
            .map(|r| r.json())
            .find(|j| {
                j["data"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("KCOP"))
            })
    })
    .await;
    let message = sent["data"]["message"].as_str().unwrap();
    let link = message
        .lines()
        .find_map(|l| l.strip_prefix("Snooze Den: "))
        .unwrap_or_else(|| panic!("no snooze link in {message}"));
    let path = link.strip_prefix(PUBLIC).unwrap();
    assert!(path.starts_with("/snooze/"), "{link}");

    // The link needs no sign-in; opening it changes nothing, a button snoozes.
    let page = client().get(url(&srv, path)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("form-action 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Snooze Den") && html.contains("name=\"hours\" value=\"4\""),
        "{html}"
    );
    assert!(html.contains("Only channel alerts from Den"), "{html}");
    let (_, none) = send(client().get(url(&srv, "/api/v1/snoozes")), Some(API_KEY)).await;
    assert_eq!(none, json!([]), "a GET snoozes nothing");
    let res = client()
        .post(url(&srv, path))
        .form(&[("hours", "5")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "only the offered durations");
    let res = client()
        .post(url(&srv, path))
        .form(&[("hours", "4")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Den snoozed"));
    let (_, list) = send(client().get(url(&srv, "/api/v1/snoozes")), Some(API_KEY)).await;
    assert_eq!(list[0]["dvr_id"], dvr.as_str(), "{list}");
    assert_eq!(list[0]["source"], "link", "{list}");
    assert_eq!(list[0]["kind"], Value::Null, "{list}");
    // The same link, for the kind of its alert only.
    let res = client()
        .post(url(&srv, path))
        .form(&[("hours", "1"), ("scope", "kind")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("No channel alerts from"));
    let (_, list) = send(client().get(url(&srv, "/api/v1/snoozes")), Some(API_KEY)).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list[0]["kind"], "channel", "{list}");

    // A token changed by one character, or cut short, is refused.
    let mut forged = path.to_string();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [forged.as_str(), &path[..path.len() - 10]] {
        let res = client()
            .post(url(&srv, bad))
            .form(&[("hours", "4")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{bad}");
    }
    let (_, list) = send(client().get(url(&srv, "/api/v1/snoozes")), Some(API_KEY)).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
}

#[tokio::test]
async fn a_maintenance_window_keeps_a_stale_dvr_out_of_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let (status, d) = send(
        client().post(url(&srv, "/api/v1/dvrs")).json(&json!({
            "name": "Attic", "host": "127.0.0.1", "port": sim.addr().port(),
            "staleness_threshold_seconds": 30
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{d}");
    let id = d["dvr_id"].as_str().unwrap().to_string();
    let ready = || async {
        let res = client()
            .get(url(&srv, "/healthz/ready"))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    };
    eventually("ready", Duration::from_secs(20), || async {
        (ready().await.0 == 200).then_some(())
    })
    .await;
    sim.handle().set_stall(true);
    eventually("stale and not ready", Duration::from_secs(60), || async {
        let (code, text) = ready().await;
        (code == 503 && text.contains("stale")).then_some(())
    })
    .await;

    let (status, p) = send(
        client()
            .post(url(&srv, "/api/v1/quiet-periods"))
            .json(&json!({
                "name": "Firmware", "mode": "maintenance", "dvrs": [id],
                "from": "00:00", "to": "00:00"
            })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{p}");
    let (code, text) = ready().await;
    assert_eq!(code, 200, "{text}");
    // Still stale where the DVR's own health is asked.
    let (status, h) = send(
        client().get(url(&srv, &format!("/api/v1/dvrs/{id}/health"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!((status, &h["stale"]), (503, &json!(true)), "{h}");
    // A maintenance window may not name kinds.
    let (status, e) = send(
        client()
            .put(url(&srv, &format!("/api/v1/quiet-periods/{}", p["id"])))
            .json(&json!({
                "mode": "maintenance", "kinds": ["vod"], "from": "00:00", "to": "00:00"
            })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 422, "{e}");

    let (status, _) = send(
        client().delete(url(&srv, &format!("/api/v1/quiet-periods/{}", p["id"]))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 204);
    let (code, text) = ready().await;
    assert_eq!(code, 503, "{text}");
    assert!(text.contains("Attic"), "{text}");
}
