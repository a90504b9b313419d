//! The DVR page end to end: what the DVR's `/status` and `/devices` say, its outages
//! with their durations, every upcoming recording (not the dashboard's first twenty),
//! and the calendar feeds a token opens.

use std::time::Duration;

use engine::watchdog::WatchdogSettings;
use serde_json::{json, Value};
use sim::{FailMode, Scenario};
use testkit::*;

async fn overview(srv: &channelwatch::serve::Server, id: &str) -> Value {
    let (status, v) = send(
        client().get(url(srv, &format!("/api/v1/dvrs/{id}/overview"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn the_dvr_page_shows_uptime_sources_outages_and_every_upcoming_recording() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server_with(
        dir.path(),
        &[("CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS", "1")],
        WatchdogSettings::default(),
    )
    .await;
    let sim = sim(Scenario::Quiet).await;
    let id = add_connected_dvr(&srv, "Den DVR", &sim).await;
    // 25 recordings scheduled: more than the dashboard's twenty.
    let now = chrono::Utc::now().timestamp();
    for i in 0..25 {
        sim.handle().emit(
            "jobs.created",
            &format!("{}-ch5.1", now + 3600 * (i + 1)),
            "",
        );
    }

    let v = eventually(
        "status, sources and recordings",
        Duration::from_secs(20),
        || async {
            let v = overview(&srv, &id).await;
            (v["started_at"].is_string() && v["upcoming"].as_array().is_some_and(|u| u.len() == 25))
                .then_some(v)
        },
    )
    .await;
    assert_eq!(v["card"]["name"], "Den DVR");
    assert_eq!(v["platform"], "linux-x86_64");
    // The fixture's DVR started at 1776600000 (April 2026).
    assert_eq!(v["started_at"], "2026-04-19T12:00:00Z");
    assert!(v["uptime_seconds"].as_u64().unwrap() > 86_400 * 200);
    let sources = v["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 5);
    assert_eq!(
        sources[0],
        json!({"id": "10811DF5", "name": "HDHomeRun PRIME", "kind": "tuner", "tuners": 3})
    );
    let up = v["upcoming"].as_array().unwrap();
    assert!(
        up.windows(2)
            .all(|w| w[0]["starts_at"].as_str() < w[1]["starts_at"].as_str()),
        "soonest first"
    );
    assert!(up[0]["image_url"]
        .as_str()
        .unwrap()
        .starts_with("/api/v1/images/"));
    assert_eq!(v["outages"], json!([]));

    // The DVR goes away, then comes back: one outage, ended, with its length.
    sim.handle().set_status_fail(true);
    sim.handle().set_fail_mode(FailMode::Status(503));
    sim.handle().drop_streams();
    eventually("an outage opens", Duration::from_secs(20), || async {
        let v = overview(&srv, &id).await;
        (v["outages"].as_array().unwrap().len() == 1 && v["outages"][0]["ended_at"].is_null())
            .then_some(())
    })
    .await;
    sim.handle().set_status_fail(false);
    sim.handle().set_fail_mode(FailMode::None);
    let v = eventually("the outage ends", Duration::from_secs(30), || async {
        let v = overview(&srv, &id).await;
        v["outages"][0]["ended_at"].is_string().then_some(v)
    })
    .await;
    let o = &v["outages"][0];
    assert_eq!(o["kind"], "disconnected");
    assert!(o["ended_by"].is_null(), "{o}");
    assert!(o["detail"].is_string(), "{o}");
    assert!(v["outage_seconds_30d"].as_u64().unwrap() >= o["duration_seconds"].as_u64().unwrap());

    let (status, _) = send(
        client().get(url(&srv, "/api/v1/dvrs/nope/overview")),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 404);
    srv.shutdown().await;
}

#[tokio::test]
async fn calendar_feeds_open_with_a_feed_token_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let id = add_connected_dvr(&srv, "Den DVR", &sim).await;
    let start = chrono::Utc::now().timestamp() / 60 * 60 + 7200;
    sim.handle()
        .emit("jobs.created", &format!("{start}-ch5.1"), "");

    let (status, created) = send(
        client()
            .post(url(&srv, "/api/v1/feeds/tokens"))
            .json(&json!({"name": "kitchen calendar"})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    let feed = created["url"].as_str().unwrap().to_string();
    assert!(
        feed.starts_with("/api/v1/feeds/upcoming.ics?token=cwf_"),
        "{feed}"
    );

    let ics = eventually(
        "the recording is in the feed",
        Duration::from_secs(20),
        || async {
            let (status, kind, body) = get_text(&srv, &feed, None).await;
            assert_eq!(status, 200, "{body}");
            assert!(kind.starts_with("text/calendar"), "{kind}");
            body.contains("BEGIN:VEVENT").then_some(body)
        },
    )
    .await;
    let when = chrono::DateTime::from_timestamp(start, 0)
        .unwrap()
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    assert!(ics.contains(&format!("DTSTART:{when}")), "{ics}");
    assert!(
        ics.contains(&format!("UID:{id}-{start}-ch5.1@channelwatch")),
        "{ics}"
    );
    assert!(
        ics.contains("X-WR-CALNAME:ChannelWatch: upcoming recordings"),
        "{ics}"
    );

    // One DVR's feed is named for it.
    let (status, _, one) = get_text(&srv, &format!("{feed}&dvr_id={id}"), None).await;
    assert_eq!(status, 200);
    assert!(
        one.contains("X-WR-CALNAME:Den DVR: upcoming recordings"),
        "{one}"
    );

    // No token, a wrong one, an API key: refused. The feed token opens nothing else.
    for bad in ["", "?token=cwf_wrong", &format!("?token={API_KEY}")] {
        let (status, _, body) =
            get_text(&srv, &format!("/api/v1/feeds/upcoming.ics{bad}"), None).await;
        assert_eq!(status, 401, "{bad}: {body}");
    }
    let (status, _) = send(client().get(url(&srv, "/api/v1/dvrs")), Some(&token)).await;
    assert_eq!(status, 401, "a feed token is no API key");

    // Listed with the API keys as a feed token, and revoked there.
    let (_, keys) = send(client().get(url(&srv, "/api/v1/apikeys")), Some(API_KEY)).await;
    let row = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "kitchen calendar")
        .cloned()
        .unwrap();
    assert_eq!(row["scope"], "feed");
    let (status, _) = send(
        client().delete(url(&srv, &format!("/api/v1/apikeys/{}", row["id"]))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(get_text(&srv, &feed, None).await.0, 401, "revoked");
    srv.shutdown().await;
}

#[tokio::test]
async fn a_recording_scheduled_after_the_page_was_read_shows_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let id = add_connected_dvr(&srv, "Den DVR", &sim).await;
    // No recording alerts: nothing else looks the new job up.
    let (status, _) = send(
        client()
            .put(url(&srv, "/api/v1/settings"))
            .json(&json!({"alerts": {"recording": {"enabled": false}}})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    let before = overview(&srv, &id).await["upcoming"]
        .as_array()
        .unwrap()
        .len();
    // Scheduled now: the job list read a moment ago (and cached) lacks it.
    let start = chrono::Utc::now().timestamp() + 7200;
    sim.handle()
        .emit("jobs.created", &format!("{start}-ch5.1"), "");
    eventually(
        "the new recording on the DVR page",
        Duration::from_secs(10),
        || async {
            let v = overview(&srv, &id).await;
            (v["upcoming"].as_array().unwrap().len() == before + 1).then_some(())
        },
    )
    .await;
    srv.shutdown().await;
}
