//! Alerts end to end: simulator events → rules → outbox → a fake provider's received
//! request, through the real server. Dedup, cooldowns, routing on and off, per-DVR
//! isolation, per-DVR alert budgets, retries with Retry-After, templates, and a restart
//! that neither loses nor duplicates a pending notification.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use channelwatch::serve::Server;
use engine::watchdog::WatchdogSettings;
use serde_json::{json, Value};
use sim::{Scenario, Simulator};
use testkit::*;

const SECRET: &str = "hook-secret";

/// A webhook receiver that checks the signature like a real consumer would.
async fn webhook_fake() -> FakeProvider {
    FakeProvider::start(Arc::new(|r: &Received| {
        let want = format!("sha256={}", domain::notify::delivery::sign(SECRET, &r.body));
        if r.header("x-channelwatch-signature") != Some(want.as_str()) {
            return (401, vec![], "bad signature".into());
        }
        (200, vec![], "ok".into())
    }))
    .await
}

async fn start(dir: &std::path::Path) -> Server {
    server_with(
        dir,
        &[("CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS", "1")],
        WatchdogSettings::default(),
    )
    .await
}

async fn add_webhook(srv: &Server, fake: &FakeProvider) -> i64 {
    let (status, p) = send(
        client().post(url(srv, "/api/v1/providers")).json(&json!({
            "type": "webhook", "name": "Hook", "url": fake.url("/hook"), "secret": SECRET
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{p}");
    p["id"].as_i64().unwrap()
}

/// Webhook bodies received so far with the given eventType.
fn received(fake: &FakeProvider, event: &str) -> Vec<Value> {
    fake.requests_to("/hook")
        .iter()
        .filter(|r| r.header("x-channelwatch-event") == Some(event))
        .map(Received::json)
        .collect()
}

async fn wait_received(fake: &FakeProvider, event: &str, n: usize) -> Vec<Value> {
    eventually(
        &format!("{n} {event} webhook(s)"),
        Duration::from_secs(20),
        || async {
            let got = received(fake, event);
            (got.len() >= n).then_some(got)
        },
    )
    .await
}

async fn alerts(srv: &Server, query: &str) -> Vec<Value> {
    let (status, v) = send(
        client().get(url(srv, &format!("/api/v1/alerts{query}"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v["alerts"].as_array().unwrap().clone()
}

fn watch(sim: &Simulator, ch: &str, name: &str, device: &str) {
    sim.handle().emit(
        "activities.set",
        &format!("{ch}-stream-10811DF5-192.168.1.50"),
        &format!("Watching ch{ch} {name} from {device} (192.168.1.50)"),
    );
}

fn stop_watching(sim: &Simulator, ch: &str) {
    sim.handle().emit(
        "activities.set",
        &format!("{ch}-stream-10811DF5-192.168.1.50"),
        "",
    );
}

#[tokio::test]
async fn a_channel_alert_travels_from_the_dvr_to_the_provider_with_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    let id = add_connected_dvr(&srv, "Living Room", &sim).await;
    add_webhook(&srv, &fake).await;

    watch(&sim, "7", "ABC", "Den TV");
    let got = wait_received(&fake, "channel.watching.start", 1).await;
    let w = &got[0];
    assert_eq!(w["dvr_id"], id.as_str());
    assert_eq!(w["dvr_name"], "Living Room");
    assert_eq!(w["data"]["title"], "Channels DVR - Watching TV");
    let msg = w["data"]["message"].as_str().unwrap();
    assert!(msg.starts_with("📺 ABC\nChannel: 7"), "{msg}");
    assert!(
        msg.contains("Device: Den TV") && msg.contains("Device IP: 192.168.1.50"),
        "{msg}"
    );
    assert!(msg.contains("Source: "), "{msg}");
    assert!(msg.ends_with("DVR: Living Room"), "{msg}");
    assert!(!msg.contains("Unknown resolution"));
    assert!(
        w["data"]["imageUrl"].as_str().is_some(),
        "enriched with artwork: {w}"
    );

    // Same device, same channel again within the cooldown: no second alert.
    stop_watching(&sim, "7");
    watch(&sim, "7", "ABC", "Den TV");
    // A different channel is a different key: it alerts.
    watch(&sim, "9", "KCAL", "Den TV");
    let got = wait_received(&fake, "channel.watching.start", 2).await;
    assert!(got[1]["data"]["message"].as_str().unwrap().contains("KCAL"));
    // Give a duplicate every chance to show up, then make sure it did not.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received(&fake, "channel.watching.start").len(), 2);

    // The history has both, newest first, each with its delivered webhook.
    let h = alerts(&srv, &format!("?dvr_id={id}")).await;
    assert_eq!(h.len(), 2);
    assert!(h[0]["message"].as_str().unwrap().contains("KCAL"));
    assert_eq!(h[0]["dvr_name"], "Living Room");
    assert_eq!(h[0]["alert_type"], "channel.watching.start");
    assert_eq!(h[0]["deliveries"][0]["status"], "sent");
    let m = reqwest::get(url(&srv, "/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("channelwatch_alerts_total{alert_type=\"channel.watching.start\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("channelwatch_notifications_total{outcome=\"sent\",provider=\"webhook\"} 2")
            || m.contains(
                "channelwatch_notifications_total{provider=\"webhook\",outcome=\"sent\"} 2"
            )
    );
    srv.shutdown().await;
    sim.shutdown().await;
}

/// A removed DVR's alert state (its worker, cooldowns and budget) goes with it: a
/// monitor whose DVRs come and go does not grow without bound.
#[tokio::test]
async fn a_removed_dvr_leaves_no_alert_state_behind() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    let id = add_connected_dvr(&srv, "Guest Room", &sim).await;
    add_webhook(&srv, &fake).await;
    watch(&sim, "7", "ABC", "Den TV");
    wait_received(&fake, "channel.watching.start", 1).await;
    assert!(srv.services.alerts.tracked_dvrs().contains(&id));
    let (status, _) = send(
        client().delete(url(&srv, &format!("/api/v1/dvrs/{id}"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 204);
    eventually(
        "the DVR's alert state dropped",
        Duration::from_secs(10),
        || async { (!srv.services.alerts.tracked_dvrs().contains(&id)).then_some(()) },
    )
    .await;
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn dvrs_are_isolated_and_routing_decides_per_dvr() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let (a, b) = (sim(Scenario::Quiet).await, sim(Scenario::Quiet).await);
    let fake = webhook_fake().await;
    let ida = add_connected_dvr(&srv, "Den", &a).await;
    let idb = add_connected_dvr(&srv, "Attic", &b).await;
    add_webhook(&srv, &fake).await;

    // The same event on two DVRs is two alerts, each naming its DVR.
    watch(&a, "7", "ABC", "TV");
    watch(&b, "7", "ABC", "TV");
    let got = wait_received(&fake, "channel.watching.start", 2).await;
    let mut names: Vec<&str> = got
        .iter()
        .map(|w| w["dvr_name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Attic", "Den"]);

    // Routing off for one DVR's channel alerts: recorded, not delivered.
    let (status, _) = send(
        client()
            .put(url(&srv, "/api/v1/routing"))
            .json(&json!({ ida.clone(): {"channel": {"webhook": false}} })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    watch(&a, "9", "KCAL", "TV");
    watch(&b, "9", "KCAL", "TV");
    let got = wait_received(&fake, "channel.watching.start", 3).await;
    assert_eq!(got[2]["dvr_id"], idb.as_str());
    let h = eventually(
        "the routed-off alert in history",
        Duration::from_secs(10),
        || async {
            let h = alerts(&srv, &format!("?dvr_id={ida}")).await;
            (h.len() == 2).then_some(h)
        },
    )
    .await;
    assert!(h[0]["message"].as_str().unwrap().contains("KCAL"));
    assert_eq!(h[0]["deliveries"], json!([]), "recorded with no deliveries");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received(&fake, "channel.watching.start").len(), 3);
    srv.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
}

async fn put_alert_settings(srv: &Server, alerts: Value) {
    let (status, s) = send(
        client()
            .put(url(srv, "/api/v1/settings"))
            .json(&json!({ "alerts": alerts })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{s}");
}

/// One DVR, a webhook, the given alert settings, then three channel alerts at once;
/// answers them as recorded (newest first).
async fn three_channel_alerts(
    settings: Value,
) -> (
    tempfile::TempDir,
    Server,
    Simulator,
    FakeProvider,
    Vec<Value>,
) {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    add_connected_dvr(&srv, "Den", &sim).await;
    add_webhook(&srv, &fake).await;
    put_alert_settings(&srv, settings).await;
    for ch in ["2", "4", "5.1"] {
        watch(&sim, ch, "X", "TV");
    }
    let h = eventually("three alerts recorded", Duration::from_secs(10), || async {
        let h = alerts(&srv, "").await;
        (h.len() == 3).then_some(h)
    })
    .await;
    (dir, srv, sim, fake, h)
}

#[tokio::test]
async fn a_dvr_budget_delays_what_it_holds_back_then_delivers_it() {
    let (_dir, srv, sim, fake, h) =
        three_channel_alerts(json!({"rate_limit": {"count": 2, "window_seconds": 4}})).await;
    let statuses: Vec<&str> = h.iter().map(|a| a["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["delayed", "sent", "sent"]);
    assert_eq!(h[0]["deliveries"].as_array().unwrap().len(), 1, "{}", h[0]);
    wait_received(&fake, "channel.watching.start", 2).await;
    // The held-back one goes out once the window has room again, not before.
    wait_received(&fake, "channel.watching.start", 3).await;
    let at: Vec<_> = fake
        .requests()
        .iter()
        .filter(|r| r.header("x-channelwatch-event") == Some("channel.watching.start"))
        .map(|r| r.at)
        .collect();
    let waited = at[2].duration_since(at[0]);
    assert!(
        waited >= Duration::from_secs(3),
        "the third went out {waited:?} after the first"
    );
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn an_alert_the_budget_would_hold_too_long_is_recorded_as_rate_limited() {
    let (_dir, srv, sim, fake, h) = three_channel_alerts(
        json!({"rate_limit": {"count": 2, "window_seconds": 300}, "delivery": {"max_age_seconds": 60}}),
    )
    .await;
    let statuses: Vec<&str> = h.iter().map(|a| a["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["rate_limited", "sent", "sent"]);
    assert_eq!(h[0]["deliveries"], json!([]));
    wait_received(&fake, "channel.watching.start", 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received(&fake, "channel.watching.start").len(), 2);
    srv.shutdown().await;
    sim.shutdown().await;
}

/// A storm on one DVR neither mutes another DVR's alerts nor any DVR's health alerts.
#[tokio::test]
async fn a_busy_dvr_cannot_crowd_out_another_dvrs_alerts_or_health_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    put_alert_settings(
        &srv,
        json!({"rate_limit": {"count": 3, "window_seconds": 1800},
               "health": {"unreachable_delay_seconds": 30}}),
    )
    .await;
    let a = sim(Scenario::Quiet).await;
    let b = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    add_webhook(&srv, &fake).await;
    let ida = add_connected_dvr(&srv, "Busy", &a).await;
    let idb = add_connected_dvr(&srv, "Quiet", &b).await;
    // DVR A surfs channels: its budget is used up and more alerts wait behind it.
    for ch in ["2", "4", "5.1", "7", "9", "11"] {
        watch(&a, ch, "X", "TV");
    }
    eventually("A's budget used up", Duration::from_secs(10), || async {
        let h = alerts(&srv, &format!("?dvr_id={ida}")).await;
        (h.iter().filter(|x| x["status"] == "delayed").count() == 3).then_some(())
    })
    .await;
    // B's own alert goes out at once.
    watch(&b, "7", "ABC", "Den");
    eventually(
        "B's channel alert delivered",
        Duration::from_secs(10),
        || async {
            received(&fake, "channel.watching.start")
                .iter()
                .any(|w| w["dvr_id"] == idb.as_str())
                .then_some(())
        },
    )
    .await;
    // B goes dark, then comes back: both health alerts arrive.
    b.handle().set_fail_mode(sim::FailMode::Status(503));
    b.handle().drop_streams();
    let u = eventually("B's dvr.unreachable", Duration::from_secs(90), || async {
        let got = received(&fake, "dvr.unreachable");
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(u[0]["dvr_id"], idb.as_str());
    b.handle().set_fail_mode(sim::FailMode::None);
    let r = eventually("B's dvr.recovered", Duration::from_secs(60), || async {
        let got = received(&fake, "dvr.recovered");
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(r[0]["dvr_id"], idb.as_str());
    let h = alerts(&srv, &format!("?dvr_id={idb}")).await;
    assert!(
        h.iter().all(|x| x["status"] == "sent"),
        "nothing of B's was held back: {h:?}"
    );
    srv.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn retry_after_is_honoured_and_every_attempt_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c2 = calls.clone();
    let fake = FakeProvider::start(Arc::new(move |_r: &Received| {
        if c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            (
                429,
                vec![("retry-after".into(), "1".into())],
                "slow down".into(),
            )
        } else {
            (200, vec![], "ok".into())
        }
    }))
    .await;
    add_connected_dvr(&srv, "Den", &sim).await;
    add_webhook(&srv, &fake).await;
    watch(&sim, "7", "ABC", "TV");
    eventually("a retried delivery", Duration::from_secs(15), || async {
        (fake.requests_to("/hook").len() >= 2).then_some(())
    })
    .await;
    let reqs = fake.requests_to("/hook");
    assert_eq!(
        reqs[0].header("x-channelwatch-delivery"),
        reqs[1].header("x-channelwatch-delivery")
    );
    let h = eventually("sent after the retry", Duration::from_secs(10), || async {
        let h = alerts(&srv, "").await;
        (h[0]["deliveries"][0]["status"] == "sent").then_some(h)
    })
    .await;
    assert_eq!(h[0]["deliveries"][0]["attempts"], 2);
    srv.shutdown().await;
    sim.shutdown().await;
}

/// A server whose deliveries keep retrying quickly and never give up within a test.
async fn patient(dir: &std::path::Path) -> Server {
    server_full(
        dir,
        &[("CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS", "1")],
        WatchdogSettings::default(),
        channelwatch::notify::outbox::DispatchSettings {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            max_attempts: 1000,
            circuit_threshold: 1000,
            ..fast_dispatch()
        },
    )
    .await
}

#[tokio::test]
async fn pending_notifications_survive_a_restart_and_go_out_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(Scenario::Quiet).await;
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let d2 = down.clone();
    let fake = FakeProvider::start(Arc::new(move |_r: &Received| {
        if d2.load(std::sync::atomic::Ordering::SeqCst) {
            (503, vec![], "maintenance".into())
        } else {
            (200, vec![], "ok".into())
        }
    }))
    .await;
    let srv = patient(dir.path()).await;
    add_connected_dvr(&srv, "Den", &sim).await;
    add_webhook(&srv, &fake).await;
    for ch in ["2", "4", "7"] {
        watch(&sim, ch, "X", "TV");
    }
    eventually("three alerts pending", Duration::from_secs(10), || async {
        let h = alerts(&srv, "").await;
        (h.len() == 3 && fake.requests_to("/hook").len() >= 3).then_some(())
    })
    .await;
    srv.shutdown().await;

    // The provider recovers while ChannelWatch is down; a new process delivers.
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    let before = fake.requests_to("/hook").len();
    let srv = patient(dir.path()).await;
    eventually(
        "all three delivered after the restart",
        Duration::from_secs(15),
        || async {
            let h = alerts(&srv, "").await;
            h.iter()
                .all(|a| a["deliveries"][0]["status"] == "sent")
                .then_some(())
        },
    )
    .await;
    srv.shutdown().await;
    // A third start sends nothing more: acknowledged rows are never sent again.
    let srv = patient(dir.path()).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    srv.shutdown().await;

    let mut ok_per_delivery: HashMap<String, usize> = HashMap::new();
    for r in &fake.requests_to("/hook")[before..] {
        *ok_per_delivery
            .entry(r.header("x-channelwatch-delivery").unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(ok_per_delivery.len(), 3, "{ok_per_delivery:?}");
    assert!(
        ok_per_delivery.values().all(|n| *n == 1),
        "{ok_per_delivery:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn user_templates_apply_and_preview_shows_the_variables() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let (status, p) = send(
        client()
            .post(url(&srv, "/api/v1/templates/preview"))
            .json(&json!({
                "alert_type": "channel.watching.start",
                "title": "{{ dvr_name }}: {{ channel_name }}",
                "body": "{{ device_name }} is watching {{ program_title }}"
            })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["title"], "Living Room: ABC");
    assert_eq!(
        p["message"],
        "Living Room TV is watching Good Morning America"
    );
    assert!(p["variables"]
        .as_array()
        .unwrap()
        .contains(&json!("channel_number")));
    let (status, e) = send(
        client()
            .post(url(&srv, "/api/v1/templates/preview"))
            .json(&json!({
                "alert_type": "channel.watching.start", "title": "{% if %}"
            })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 422, "{e}");

    let sim = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    add_connected_dvr(&srv, "Den", &sim).await;
    add_webhook(&srv, &fake).await;
    let (status, s) = send(
        client().put(url(&srv, "/api/v1/settings")).json(
            &json!({"alerts": {"channel": {"template": {
                "title": "{{ dvr_name }} tuned {{ channel_name }}",
                "body": "ch {{ channel_number }} on {{ device_name }}"
            }}}}),
        ),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{s}");
    let (status, e) = send(
        client()
            .put(url(&srv, "/api/v1/settings"))
            .json(&json!({"alerts": {"channel": {"template": {"title": "{% for %}"}}}})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("channel.template.title"),
        "{e}"
    );
    // Valid syntax that fails on the sample event (an unknown variable, a string
    // repeated without bound) is refused when saved, not found out at 3 a.m.
    for bad in ["{{ no_such_variable }}", "{{ channel_name * 100000000 }}"] {
        let (status, e) = send(
            client()
                .put(url(&srv, "/api/v1/settings"))
                .json(&json!({"alerts": {"channel": {"template": {"body": bad}}}})),
            Some(API_KEY),
        )
        .await;
        assert_eq!(status, 422, "{bad}: {e}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("channel.template.body"),
            "{e}"
        );
    }
    watch(&sim, "7", "ABC", "Den TV");
    let got = wait_received(&fake, "channel.watching.start", 1).await;
    assert_eq!(got[0]["data"]["title"], "Den tuned ABC");
    assert_eq!(got[0]["data"]["message"], "ch 7 on Den TV");
    // A partial PUT changes only what it names.
    let (status, s) = send(
        client()
            .put(url(&srv, "/api/v1/settings"))
            .json(&json!({"alerts": {"vod": {"enabled": false}}})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["alerts"]["vod"]["enabled"], false);
    assert_eq!(
        s["alerts"]["channel"]["template"]["title"],
        "{{ dvr_name }} tuned {{ channel_name }}"
    );
    let (status, e) = send(
        client()
            .put(url(&srv, "/api/v1/settings"))
            .json(&json!({"alerts": {"vod": {"enabeld": true}}})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 422);
    assert!(e["message"].as_str().unwrap().contains("enabeld"), "{e}");
    // A template that leaves the DVR out still gets it named.
    let (status, _) = send(
        client().put(url(&srv, "/api/v1/settings")).json(
            &json!({"alerts": {"channel": {"template": {
                "title": "{{ channel_name }}", "body": "tuned"
            }}}}),
        ),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    watch(&sim, "9", "KCAL", "Den TV");
    let got = wait_received(&fake, "channel.watching.start", 2).await;
    assert_eq!(got[1]["data"]["message"], "tuned\nDVR: Den");
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_filling_disk_alerts_warning_then_critical() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let (status, _) = send(
        client()
            .put(url(&srv, "/api/v1/settings"))
            .json(&json!({"alerts": {"disk": {"startup_grace_seconds": 0}}})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    let sim = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    add_webhook(&srv, &fake).await;
    add_connected_dvr(&srv, "Garage", &sim).await;
    const G: u64 = 1 << 30;
    sim.handle().set_disk(90 * G, 1000 * G);
    let w = wait_received(&fake, "disk.space.warning", 1).await;
    assert_eq!(w[0]["data"]["title"], "⚠️ Low Disk Space Warning");
    assert!(w[0]["data"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Free Space: 90.00 GB / 1000.00 GB (9.0%)"));
    sim.handle().set_disk(40 * G, 1000 * G);
    let c = wait_received(&fake, "disk.space.critical", 1).await;
    assert_eq!(c[0]["data"]["title"], "🚨 Low Disk Space Critical");
    assert_eq!(c[0]["dvr_name"], "Garage");
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn vod_and_recording_lifecycle_alerts_carry_their_own_event_types() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    add_connected_dvr(&srv, "Den", &sim).await;
    add_webhook(&srv, &fake).await;
    let h = sim.handle();

    // VOD: enriched from one library item; progress and the end do not re-alert.
    let vod = "6-file-12345-192.168.1.100";
    h.emit(
        "activities.set",
        vod,
        "Watching Crank: High Voltage (2009) from Bedroom (192.168.1.100) at 1h15m42s",
    );
    h.emit(
        "activities.set",
        vod,
        "Watching Crank: High Voltage (2009) from Bedroom (192.168.1.100) at 1h16m12s",
    );
    h.emit("activities.set", vod, "");
    let v = wait_received(&fake, "vod.playback.start", 1).await;
    assert_eq!(
        v[0]["data"]["title"],
        "🎬 Channels DVR - Watching DVR Content"
    );
    let msg = v[0]["data"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Crank: High Voltage (2009)\nDuration: 1h 15m 42s / 1h 42m 11s"),
        "{msg}"
    );
    assert!(
        msg.contains("Device Name: Bedroom\n"),
        "no ' (ip)' in the name: {msg}"
    );
    assert!(
        msg.contains("Rating: R · Genres: Action, Thriller"),
        "{msg}"
    );
    assert!(
        msg.contains("Cast: Jason Statham, Amy Smart, Dwight Yoakam, ..."),
        "{msg}"
    );

    // A recording: scheduled, started (labelled started, and scheduled), completed.
    let start = chrono::Utc::now().timestamp() + 3600;
    let job = format!("{start}-ch7");
    h.emit("jobs.created", &job, "");
    let s = wait_received(&fake, "recording.scheduled", 1).await;
    let msg = s[0]["data"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Status: 📅 Scheduled") && msg.contains("Channel: 7"),
        "{msg}"
    );
    assert!(msg.contains("Scheduled: "), "{msg}");
    h.emit("programs.set", "recording", &format!("recording-{job}"));
    let st = wait_received(&fake, "recording.started", 1).await;
    assert!(st[0]["data"]["message"]
        .as_str()
        .unwrap()
        .contains("Status: 🔴 Recording (Scheduled)"));
    h.emit("programs.set", "recorded", "recorded-50001");
    let c = wait_received(&fake, "recording.completed", 1).await;
    assert!(
        c[0]["data"]["message"]
            .as_str()
            .unwrap()
            .contains("Status: ✅ Completed"),
        "{}",
        c[0]
    );

    // A scheduled job deleted before it starts: cancelled.
    let other = format!("{}-ch9", start + 7200);
    h.emit("jobs.created", &other, "");
    wait_received(&fake, "recording.scheduled", 2).await;
    h.emit("jobs.deleted", &other, "");
    let x = wait_received(&fake, "recording.cancelled", 1).await;
    assert!(x[0]["data"]["message"]
        .as_str()
        .unwrap()
        .contains("🚫 Cancelled"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received(&fake, "vod.playback.start").len(), 1);
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_dark_dvr_alerts_unreachable_after_the_delay_then_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let (status, _) = send(
        client()
            .put(url(&srv, "/api/v1/settings"))
            .json(&json!({"alerts": {"health": {"unreachable_delay_seconds": 30}}})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    let sim = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    add_webhook(&srv, &fake).await;
    let (status, d) = send(
        client().post(url(&srv, "/api/v1/dvrs")).json(&json!({
            "name": "Cabin", "host": "127.0.0.1", "port": sim.addr().port(),
            "staleness_threshold_seconds": 30
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201);
    let id = d["dvr_id"].as_str().unwrap().to_string();
    eventually("connected", Duration::from_secs(20), || async {
        let (s, _) = send(
            client().get(url(&srv, &format!("/api/v1/dvrs/{id}/health"))),
            Some(API_KEY),
        )
        .await;
        (s == 200).then_some(())
    })
    .await;
    sim.handle().set_stall(true);
    let u = eventually("dvr.unreachable", Duration::from_secs(90), || async {
        let got = received(&fake, "dvr.unreachable");
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(u[0]["data"]["title"], "🔌 DVR unreachable: Cabin");
    assert_eq!(u[0]["dvr_id"], id.as_str());
    sim.handle().set_stall(false);
    let r = eventually("dvr.recovered", Duration::from_secs(30), || async {
        let got = received(&fake, "dvr.recovered");
        (!got.is_empty()).then_some(got)
    })
    .await;
    let msg = r[0]["data"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Back after ") && msg.contains("down from "),
        "{msg}"
    );
    assert_eq!(
        received(&fake, "dvr.unreachable").len(),
        1,
        "one alert per outage"
    );
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_reload_that_does_not_come_back_is_notified() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server_with(
        dir.path(),
        &[("CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS", "1")],
        WatchdogSettings {
            restart_grace: Duration::from_secs(2),
            ..WatchdogSettings::default()
        },
    )
    .await;
    let sim = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    add_webhook(&srv, &fake).await;
    let id = add_connected_dvr(&srv, "Den", &sim).await;
    let (status, d) = send(
        client()
            .patch(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .json(&json!({"port": closed_port()})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    let f = wait_received(&fake, "dvr.reload_failed", 1).await;
    assert_eq!(f[0]["dvr_id"], d["dvr_id"]);
    assert!(
        f[0]["data"]["message"]
            .as_str()
            .unwrap()
            .contains("did not come back"),
        "{}",
        f[0]
    );
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failing_or_hanging_provider_never_holds_up_another_and_its_circuit_opens() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let good = webhook_fake().await;
    let failing = FakeProvider::start(Arc::new(|_| (503, vec![], "down".into()))).await;
    // Accepts connections and never answers.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = hang.accept().await {
            held.push(sock);
        }
    });
    add_connected_dvr(&srv, "Den", &sim).await;
    add_webhook(&srv, &good).await;
    for (name, dest) in [
        ("Failing", failing.url("/hook")),
        ("Hanging", format!("http://{hang_addr}/hook")),
    ] {
        let (status, p) = send(
            client().post(url(&srv, "/api/v1/providers")).json(&json!({
                "type": "webhook", "name": name, "url": dest, "secret": SECRET
            })),
            Some(API_KEY),
        )
        .await;
        assert_eq!(status, 201, "{p}");
    }
    let started = std::time::Instant::now();
    for ch in ["2", "4", "5.1", "7", "9"] {
        watch(&sim, ch, "X", "TV");
    }
    wait_received(&good, "channel.watching.start", 5).await;
    // Not a timed assertion: the point is that it happened while the other provider
    // hangs (10 s per request), which the log shows.
    eprintln!(
        "good provider got 5 alerts in {:?} while another hangs",
        started.elapsed()
    );
    let h = eventually(
        "the failing provider's circuit opens",
        Duration::from_secs(20),
        || async {
            let h = alerts(&srv, "").await;
            let open = h
                .iter()
                .flat_map(|a| a["deliveries"].as_array().unwrap().clone())
                .any(|d| {
                    d["provider_type"] == "webhook"
                        && d["last_error"]
                            .as_str()
                            .is_some_and(|e| e.contains("circuit open"))
                });
            open.then_some(h)
        },
    )
    .await;
    assert_eq!(h.len(), 5);
    let m = reqwest::get(url(&srv, "/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("outcome=\"circuit_open\""), "{m}");
    srv.shutdown().await;
    sim.shutdown().await;
}

/// Records an alert for the first provider straight into the running server's outbox,
/// as a process would have (for ages and claims a test cannot wait for).
async fn planted(srv: &Server, created_at: chrono::DateTime<chrono::Utc>, provider_id: i64) -> i64 {
    use storage::outbox::{self, NewAlert, ProviderRef};
    let a = NewAlert {
        dvr_id: "aef6d698".into(),
        dvr_name: "Den".into(),
        alert_type: "channel.watching.start".into(),
        title: "planted".into(),
        message: "planted".into(),
        image_url: None,
        dedup_key: None,
        status: "sent",
        created_at,
        send_at: created_at,
        route: None,
    };
    let to = [ProviderRef {
        provider_id,
        provider_type: "webhook".into(),
        hold: None,
    }];
    outbox::record(&srv.services.db, &a, &to).await.unwrap()
}

async fn outbox_status(db: &storage::Db, alert_id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM outbox WHERE alert_id = ?")
        .bind(alert_id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_claim_whose_sender_died_is_released_while_the_process_runs() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let fake = webhook_fake().await;
    let provider = add_webhook(&srv, &fake).await;
    // Claimed ten minutes ago by a sender that never came back.
    let id = planted(&srv, chrono::Utc::now(), provider).await;
    let old = (chrono::Utc::now() - chrono::Duration::minutes(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    sqlx::query(
        "UPDATE outbox SET status = 'sending', claim = 'gone', claimed_at = ? WHERE alert_id = ?",
    )
    .bind(&old)
    .bind(id)
    .execute(&srv.services.db.pool)
    .await
    .unwrap();
    wait_received(&fake, "channel.watching.start", 1).await;
    eventually("marked sent", Duration::from_secs(10), || async {
        (outbox_status(&srv.services.db, id).await == "sent").then_some(())
    })
    .await;
    srv.shutdown().await;
}

#[tokio::test]
async fn an_alert_older_than_the_maximum_age_expires_instead_of_going_out_late() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let fake = webhook_fake().await;
    let provider = add_webhook(&srv, &fake).await;
    put_alert_settings(&srv, json!({"delivery": {"max_age_seconds": 600}})).await;
    let old = planted(
        &srv,
        chrono::Utc::now() - chrono::Duration::minutes(20),
        provider,
    )
    .await;
    let fresh = planted(
        &srv,
        chrono::Utc::now() - chrono::Duration::minutes(5),
        provider,
    )
    .await;
    srv.services.dispatcher.wake();
    wait_received(&fake, "channel.watching.start", 1).await;
    eventually("the old one expired", Duration::from_secs(15), || async {
        (outbox_status(&srv.services.db, old).await == "expired").then_some(())
    })
    .await;
    assert_eq!(outbox_status(&srv.services.db, fresh).await, "sent");
    let got = received(&fake, "channel.watching.start");
    assert_eq!(got.len(), 1, "only the fresh alert went out");
    let h = alerts(&srv, "").await;
    let expired = h.iter().find(|a| a["id"] == old).unwrap();
    assert_eq!(expired["deliveries"][0]["status"], "expired");
    srv.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_live_streams_and_releases_sends_in_flight_within_the_deadline() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    // A provider that accepts the connection and never answers.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = hang.accept().await {
            held.push(sock);
        }
    });
    let (status, p) = send(
        client().post(url(&srv, "/api/v1/providers")).json(&json!({
            "type": "webhook", "name": "Hanging", "url": format!("http://{hang_addr}/hook"), "secret": SECRET
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{p}");
    let id = planted(&srv, chrono::Utc::now(), p["id"].as_i64().unwrap()).await;
    srv.services.dispatcher.wake();
    eventually("the send is in flight", Duration::from_secs(10), || async {
        (outbox_status(&srv.services.db, id).await == "sending").then_some(())
    })
    .await;
    let live = reqwest::Client::new()
        .get(url(&srv, "/api/v1/live"))
        .header("X-API-Key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let mut live = live.bytes_stream();
    assert!(live.next().await.is_some(), "the first frame");
    let stream_end = tokio::spawn(async move { while let Some(Ok(_)) = live.next().await {} });
    // Docker sends SIGKILL 10 s after SIGTERM: everything must be done before.
    tokio::time::timeout(Duration::from_secs(10), srv.shutdown())
        .await
        .expect("shutdown finished within 10 s");
    tokio::time::timeout(Duration::from_secs(2), stream_end)
        .await
        .expect("the live stream ended")
        .unwrap();
    let db = storage::Db::open(dir.path()).await.unwrap();
    assert_eq!(
        outbox_status(&db, id).await,
        "pending",
        "the unfinished send is released for the next start"
    );
}

#[tokio::test]
async fn a_dvr_that_connects_has_its_channels_and_guide_fetched_before_anyone_watches() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    add_connected_dvr(&srv, "Study", &sim).await;
    // Nothing has been watched: only the connect explains these lookups.
    eventually(
        "the channel list and the guide fetched on connect",
        Duration::from_secs(10),
        || async {
            (sim.handle().requests("/api/v1/channels") >= 1
                && sim.handle().requests("/devices/ANY/guide/now") >= 1)
                .then_some(())
        },
    )
    .await;
    let (channels, guide) = (
        sim.handle().requests("/api/v1/channels"),
        sim.handle().requests("/devices/ANY/guide/now"),
    );
    // The first channel alert is built from the cache: no lookup of its own.
    let fake = webhook_fake().await;
    add_webhook(&srv, &fake).await;
    watch(&sim, "7", "ABC", "Den TV");
    let got = wait_received(&fake, "channel.watching.start", 1).await;
    let msg = got[0]["data"]["message"].as_str().unwrap();
    assert!(msg.starts_with("📺 ABC\nChannel: 7"), "{msg}");
    assert_eq!(
        sim.handle().requests("/api/v1/channels"),
        channels,
        "channels fetched again"
    );
    assert_eq!(
        sim.handle().requests("/devices/ANY/guide/now"),
        guide,
        "guide fetched again"
    );
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_test_alert_of_a_kind_goes_where_routing_sends_that_kind() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let fake = webhook_fake().await;
    let test = |body: Value| {
        let srv = &srv;
        async move {
            send(
                client().post(url(srv, "/api/v1/alerts/test")).json(&body),
                Some(API_KEY),
            )
            .await
        }
    };
    // No DVR yet: nothing to route it from.
    let (status, v) = test(json!({"alert_type": "disk.space.warning"})).await;
    assert_eq!(status, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("add a DVR"), "{v}");

    let a = testkit::sim(Scenario::Quiet).await;
    let id = add_connected_dvr(&srv, "Den", &a).await;
    // A DVR but no provider: the answer says what to do.
    let (status, v) = test(json!({"alert_type": "disk.space.warning"})).await;
    assert_eq!(status, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("Providers"), "{v}");

    add_webhook(&srv, &fake).await;
    // Sent with the template being edited, from sample data, whatever the module
    // switch says (the disk module is switched off here).
    let (status, _) = send(
        client()
            .put(url(&srv, "/api/v1/settings"))
            .json(&json!({"alerts": {"disk": {"enabled": false}}})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    let (status, v) = test(json!({
        "alert_type": "disk.space.warning",
        "title": "Disk on {{ dvr_name }}",
    }))
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["providers"], json!(["webhook"]));
    assert_eq!(v["dvr_id"], id.as_str());
    assert_eq!(v["title"], "[Test] Disk on Den");
    let got = wait_received(&fake, "disk.space.warning", 1).await;
    assert_eq!(got[0]["data"]["title"], "[Test] Disk on Den", "{}", got[0]);

    // Routed off for this DVR's disk alerts: the test says so instead of sending.
    let (status, _) = send(
        client()
            .put(url(&srv, "/api/v1/routing"))
            .json(&json!({ id.clone(): {"disk": {"webhook": false}} })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    let (status, v) = test(json!({"alert_type": "disk.space.warning"})).await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = test(json!({"alert_type": "no.such.kind"})).await;
    assert_eq!(status, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("alert_type"), "{v}");
    srv.shutdown().await;
}

/// `TZ` decides the zone of alert texts, the web page and calendar feeds until the
/// `time_zone` setting names another; a zone not in the database is refused by name.
#[tokio::test]
async fn times_are_in_tz_until_the_time_zone_setting_names_another() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server_with(
        dir.path(),
        &[("TZ", "America/New_York")],
        WatchdogSettings::default(),
    )
    .await;
    let sim = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    add_connected_dvr(&srv, "Den", &sim).await;
    add_webhook(&srv, &fake).await;
    let (_, s) = send(client().get(url(&srv, "/api/v1/settings")), Some(API_KEY)).await;
    assert_eq!(
        s["time_zone_in_force"],
        json!({"name": "America/New_York", "source": "env", "warning": null})
    );
    assert_eq!(s["time_zone"], "");

    // A recording an hour from now: its time in New York, not in UTC.
    let start = chrono::Utc::now().timestamp() + 3600;
    sim.handle()
        .emit("jobs.created", &format!("{start}-ch7"), "");
    let got = wait_received(&fake, "recording.scheduled", 1).await;
    let msg = got[0]["data"]["message"].as_str().unwrap();
    let at = chrono::DateTime::from_timestamp(start, 0).unwrap();
    let ny = domain::zone::Zone::parse("America/New_York").unwrap();
    assert!(msg.contains(&format!(" at {}", ny.clock(at))), "{msg}");
    assert!(
        !msg.contains(&format!(" at {}", domain::zone::Zone::UTC.clock(at))),
        "{msg}"
    );

    // The setting wins over TZ, at once.
    let put = |body: Value| {
        let srv = &srv;
        async move {
            send(
                client().put(url(srv, "/api/v1/settings")).json(&body),
                Some(API_KEY),
            )
            .await
        }
    };
    let (status, s) = put(json!({"time_zone": "europe/berlin"})).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["time_zone_in_force"]["name"], "Europe/Berlin");
    assert_eq!(s["time_zone_in_force"]["source"], "setting");
    let (status, e) = put(json!({"time_zone": "Mars/Olympus"})).await;
    assert_eq!(status, 422, "{e}");
    let m = e["message"].as_str().unwrap();
    assert!(
        m.starts_with("time_zone: 'Mars/Olympus' is not a time zone"),
        "{m}"
    );

    // The page carries the zone's offsets for the browser; feeds name the zone.
    let (_, _, page) = get_text(&srv, "/login", None).await;
    assert!(page.contains("name=\"cw-zone\""), "{page}");
    assert!(page.contains("Europe/Berlin"), "the page's zone");
    let (_, t) = send(
        client()
            .post(url(&srv, "/api/v1/feeds/tokens"))
            .json(&json!({"name": "Phone"})),
        Some(API_KEY),
    )
    .await;
    let token = t["token"].as_str().unwrap();
    let (_, _, ics) = get_text(
        &srv,
        &format!("/api/v1/feeds/upcoming.ics?token={token}"),
        None,
    )
    .await;
    assert!(ics.contains("X-WR-TIMEZONE:Europe/Berlin"), "{ics}");
    let (_, names) = send(
        client().get(url(&srv, "/api/v1/settings/time-zones")),
        Some(API_KEY),
    )
    .await;
    assert!(names
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "America/New_York"));

    // Cleared: TZ again.
    let (_, s) = put(json!({"time_zone": ""})).await;
    assert_eq!(s["time_zone_in_force"]["name"], "America/New_York");
    srv.shutdown().await;
    sim.shutdown().await;
}

/// Recording alerts carry the program's art until the switch says the channel logo,
/// for every DVR or for one.
#[tokio::test]
async fn the_program_image_switch_gives_recording_alerts_the_channel_logo() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    let id = add_connected_dvr(&srv, "Den", &sim).await;
    add_webhook(&srv, &fake).await;
    let start = chrono::Utc::now().timestamp() + 3600;
    let image = |n: usize| {
        let fake = &fake;
        async move {
            let got = wait_received(fake, "recording.scheduled", n).await;
            got[n - 1]["data"]["imageUrl"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    sim.handle()
        .emit("jobs.created", &format!("{start}-ch5.1"), "");
    let art = image(1).await;
    assert!(art.ends_with("/news.jpg"), "the program's art: {art}");

    put_alert_settings(
        &srv,
        json!({"recording": {"program_image_per_dvr": {id.clone(): false}}}),
    )
    .await;
    sim.handle()
        .emit("jobs.created", &format!("{}-ch5.1", start + 60), "");
    let logo = image(2).await;
    assert!(logo.ends_with("/dvr/uploads/ch5.png"), "the logo: {logo}");

    // The DVR's own choice wins over the global one.
    put_alert_settings(
        &srv,
        json!({"recording": {"program_image": false, "program_image_per_dvr": {id.clone(): true}}}),
    )
    .await;
    sim.handle()
        .emit("jobs.created", &format!("{}-ch5.1", start + 120), "");
    assert_eq!(image(3).await, art);
    srv.shutdown().await;
    sim.shutdown().await;
}

/// Home Assistant over a real `mosquitto`: each DVR is a discovered device with its
/// states, alerts are events; when the broker goes away other deliveries go on
/// undelayed, and when it comes back the monitor reconnects and publishes again.
#[tokio::test]
async fn home_assistant_sees_each_dvr_over_mqtt_and_a_broker_outage_delays_nothing() {
    let broker = Mosquitto::start(0).await;
    let port = broker.port;
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    let id = add_connected_dvr(&srv, "Den", &sim).await;
    add_webhook(&srv, &fake).await;
    let sub = Subscriber::start(port).await;
    let (status, m) = send(
        client().put(url(&srv, "/api/v1/mqtt")).json(&json!({
            "enabled": true, "url": broker.url()
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{m}");

    let config = format!("homeassistant/binary_sensor/channelwatch_{id}/connected/config");
    let state = |o: &str| format!("channelwatch/{id}/{o}");
    eventually("discovery and states", Duration::from_secs(15), || async {
        (sub.last(&config).is_some()
            && sub.last(&state("connected")).as_deref() == Some("ON")
            && sub.last("channelwatch/status").as_deref() == Some("online"))
        .then_some(())
    })
    .await;
    let c: Value = serde_json::from_str(&sub.last(&config).unwrap()).unwrap();
    assert_eq!(c["device"]["name"], "Den");
    assert_eq!(c["state_topic"], state("connected"));
    for o in ["streams", "recordings", "disk_free_percent", "last_alert"] {
        let t = format!("homeassistant/sensor/channelwatch_{id}/{o}/config");
        assert!(sub.last(&t).is_some(), "{t}");
    }
    assert_eq!(sub.last(&state("streams")).as_deref(), Some("0"));

    // Someone watches: the stream count moves and the alert is an event.
    watch(&sim, "7", "ABC", "Living Room");
    eventually(
        "the event and the count",
        Duration::from_secs(10),
        || async {
            let event = sub.last(&state("alert"))?;
            let v: Value = serde_json::from_str(&event).ok()?;
            (v["event_type"] == "channel.watching.start"
                && sub.last(&state("streams")).as_deref() == Some("1"))
            .then_some(())
        },
    )
    .await;

    // The broker goes away: the monitor says so, and alerts still go out at once.
    drop(sub);
    drop(broker);
    eventually("disconnected", Duration::from_secs(15), || async {
        let (_, m) = send(client().get(url(&srv, "/api/v1/mqtt")), Some(API_KEY)).await;
        (m["status"]["connected"] == false && m["status"]["last_error"].is_string()).then_some(())
    })
    .await;
    // Delivered while the broker is still away: nothing waits on it.
    let before = received(&fake, "channel.watching.start").len();
    watch(&sim, "9", "KTLA", "Kitchen");
    wait_received(&fake, "channel.watching.start", before + 1).await;

    // Back on the same port: reconnected, and everything published again.
    let broker = Mosquitto::start(port).await;
    let sub = Subscriber::start(broker.port).await;
    eventually(
        "republished after the broker came back",
        Duration::from_secs(40),
        || async {
            (sub.last(&config).is_some() && sub.last(&state("connected")).as_deref() == Some("ON"))
                .then_some(())
        },
    )
    .await;
    let (_, m) = send(client().get(url(&srv, "/api/v1/mqtt")), Some(API_KEY)).await;
    assert_eq!(m["status"]["connected"], true, "{m}");
    assert!(m["status"]["reconnects"].as_u64().unwrap() >= 1, "{m}");
    srv.shutdown().await;
    sim.shutdown().await;
}

/// Routing rules per destination: two webhooks of one type get different alerts by
/// device, a third waits for a minimum watching time (and a play that ended by then
/// is not sent to it), and the preview judges recent alerts as the rule would.
#[tokio::test]
async fn rules_route_by_device_and_watching_time_to_one_destination_each() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let fake = webhook_fake().await;
    add_connected_dvr(&srv, "Den", &sim).await;
    let mut ids = Vec::new();
    for path in ["/a", "/b", "/c"] {
        let (status, p) = send(
            client().post(url(&srv, "/api/v1/providers")).json(&json!({
                "type": "webhook", "name": path, "url": fake.url(path), "secret": SECRET
            })),
            Some(API_KEY),
        )
        .await;
        assert_eq!(status, 201, "{p}");
        ids.push(p["id"].as_i64().unwrap());
    }
    let rule = |body: Value| {
        let srv = &srv;
        async move {
            send(
                client().post(url(srv, "/api/v1/rules")).json(&body),
                Some(API_KEY),
            )
            .await
        }
    };
    let (status, e) = rule(json!({"provider_id": ids[0], "kinds": ["tv"]})).await;
    assert_eq!(status, 422);
    assert!(
        e["message"].as_str().unwrap().starts_with("kinds: 'tv'"),
        "{e}"
    );
    let (status, _) = rule(json!({"provider_id": ids[0], "name": "Not the kitchen",
        "conditions": {"exclude_devices": ["Kitchen"]}}))
    .await;
    assert_eq!(status, 201);
    let kitchen = json!({"provider_id": ids[1], "name": "Kitchen only", "kinds": ["channel"],
        "conditions": {"devices": ["Kitchen"]}});
    assert_eq!(rule(kitchen.clone()).await.0, 201);
    assert_eq!(
        rule(json!({"provider_id": ids[2], "conditions": {"min_watched_seconds": 2}}))
            .await
            .0,
        201
    );
    let on_path = |path: &str| {
        fake.requests_to(path)
            .iter()
            .map(|r| {
                r.json()["data"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect::<Vec<_>>()
    };
    let play = |key: &str, text: &str| sim.handle().emit("activities.set", key, text);

    // The kitchen plays for a moment only; the living room keeps playing.
    play(
        "9-stream-10811DF5-192.168.1.51",
        "Watching ch9 KTLA from Kitchen (192.168.1.51)",
    );
    play(
        "7-stream-10811DF5-192.168.1.50",
        "Watching ch7 ABC from Living Room (192.168.1.50)",
    );
    eventually(
        "the first two destinations",
        Duration::from_secs(10),
        || async {
            let (a, b) = (on_path("/a"), on_path("/b"));
            (a.len() == 1 && b.len() == 1).then_some(())
        },
    )
    .await;
    play("9-stream-10811DF5-192.168.1.51", "");
    assert!(
        on_path("/a")[0].contains("Living Room"),
        "{:?}",
        on_path("/a")
    );
    assert!(on_path("/b")[0].contains("Kitchen"), "{:?}", on_path("/b"));
    eventually(
        "the held delivery after two seconds",
        Duration::from_secs(15),
        || async { (on_path("/c").len() == 1).then_some(()) },
    )
    .await;
    assert!(
        on_path("/c")[0].contains("Living Room"),
        "{:?}",
        on_path("/c")
    );
    let hist = eventually(
        "the kitchen's held delivery suppressed",
        Duration::from_secs(15),
        || async {
            let all = alerts(&srv, "").await;
            let kitchen = all
                .iter()
                .find(|a| a["message"].as_str().is_some_and(|m| m.contains("Kitchen")))?
                .clone();
            kitchen["deliveries"]
                .as_array()?
                .iter()
                .any(|d| d["status"] == "suppressed")
                .then_some(kitchen)
        },
    )
    .await;
    assert_eq!(hist["deliveries"].as_array().unwrap().len(), 2, "{hist}");

    // The preview judges the recent alerts by the kitchen rule.
    let (status, p) = send(
        client()
            .post(url(&srv, "/api/v1/rules/preview"))
            .json(&kitchen),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    let items = p["items"].as_array().unwrap();
    let watching: Vec<&Value> = items
        .iter()
        .filter(|i| i["alert_type"] == "channel.watching.start")
        .collect();
    assert_eq!(watching.len(), 2, "{p}");
    let (k, l) = if watching[0]["id"] == hist["id"] {
        (watching[0], watching[1])
    } else {
        (watching[1], watching[0])
    };
    assert_eq!(
        (k["sends"].clone(), l["sends"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(l["reason"], "another device");
    srv.shutdown().await;
    sim.shutdown().await;
}
