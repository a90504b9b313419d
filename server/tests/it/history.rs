//! Watch history end to end: plays the simulator reports are kept with how they
//! ended, filtered and paged by the API, exported as CSV, and closed honestly when the
//! DVR goes away or the monitor stops.

use std::time::Duration;

use channelwatch::serve::Server;
use serde_json::{json, Value};
use sim::{Scenario, Simulator};
use testkit::*;

fn watch(sim: &Simulator, ch: &str, call: &str, device: &str, ip: &str) {
    sim.handle().emit(
        "activities.set",
        &format!("{ch}-stream-10811DF5-{ip}"),
        &format!("Watching ch{ch} {call} from {device} ({ip})"),
    );
}

fn stop(sim: &Simulator, ch: &str, ip: &str) {
    sim.handle()
        .emit("activities.set", &format!("{ch}-stream-10811DF5-{ip}"), "");
}

async fn history(srv: &Server, query: &str) -> Value {
    let (status, v) = send(
        client().get(url(srv, &format!("/api/v1/history{query}"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Waits until the history answers `n` items for `query` and every one passes `done`.
async fn items_when(
    srv: &Server,
    query: &str,
    n: usize,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    eventually(
        &format!("{n} plays for {query:?}"),
        Duration::from_secs(20),
        || async {
            let v = history(srv, query).await;
            let items = v["items"].as_array().unwrap().clone();
            (items.len() == n && items.iter().all(&done)).then_some(items)
        },
    )
    .await
}

#[tokio::test]
async fn every_play_is_kept_filtered_paged_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(Scenario::Quiet).await;
    let srv = server(dir.path()).await;
    let dvr = add_connected_dvr(&srv, "Den DVR", &sim).await;

    watch(&sim, "7", "ABC", "Living Room", "192.168.1.50");
    watch(&sim, "9", "KCAL", "Kitchen TV", "192.168.1.60");
    sim.handle().emit(
        "activities.set",
        "6-file-12345-192.168.1.70",
        "Watching Crank: High Voltage (2009) from Bedroom (192.168.1.70) at 1m2s",
    );
    let open = items_when(&srv, "", 3, |i| i["ended_at"].is_null()).await;
    assert!(open.iter().all(|i| i["ended_by"].is_null()), "{open:?}");
    stop(&sim, "7", "192.168.1.50");
    stop(&sim, "9", "192.168.1.60");
    sim.handle()
        .emit("activities.set", "6-file-12345-192.168.1.70", "");
    let items = items_when(&srv, "", 3, |i| i["ended_by"] == "stopped").await;

    // The contract's fields, newest first.
    let abc = items.iter().find(|i| i["channel"] == "7").unwrap();
    assert_eq!(abc["dvr_id"], dvr.as_str());
    assert_eq!(abc["dvr_name"], "Den DVR");
    assert_eq!(abc["kind"], "live");
    assert_eq!(abc["device"], "Living Room");
    assert_eq!(abc["client_ip"], "192.168.1.50");
    assert_eq!(abc["call_sign"], "ABC");
    assert_eq!(abc["source"], "tuner");
    assert!(abc["watched_seconds"].as_u64().is_some(), "{abc}");
    assert!(abc["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(abc["ended_at"].as_str().unwrap().ends_with('Z'));
    let movie = items.iter().find(|i| i["kind"] == "vod").unwrap();
    assert_eq!(movie["channel"], Value::Null);
    assert_eq!(movie["file_id"], "12345");
    assert_eq!(movie["title"], "Crank: High Voltage (2009)");
    let starts: Vec<&str> = items
        .iter()
        .map(|i| i["started_at"].as_str().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {starts:?}"
    );
    // The live play gets its program from the DVR's guide.
    items_when(&srv, "?channel=7", 1, |i| {
        i["title"] == "Good Morning America"
    })
    .await;

    // The DVR's client list adds each app's platform, and names a device the activity
    // gave only by its address.
    items_when(&srv, "?channel=7", 1, |i| {
        i["platform"] == "tvOS" && i["remote"] == false
    })
    .await;
    sim.handle().emit(
        "activities.set",
        "13-stream-10811DF5-192.168.1.77",
        "Watching ch13 KCOP from 192.168.1.77",
    );
    let garage = items_when(&srv, "?channel=13", 1, |i| i["device"] == "Garage Fire TV").await;
    assert_eq!(garage[0]["client_ip"], "192.168.1.77");
    assert_eq!(garage[0]["platform"], "android");
    assert_eq!(garage[0]["app_version"], "2026.09.02");
    sim.handle()
        .emit("activities.set", "13-stream-10811DF5-192.168.1.77", "");
    items_when(&srv, "?channel=13", 1, |i| i["ended_by"] == "stopped").await;

    // Filters narrow; a page holds `limit` and the cursor leads to the rest.
    assert_eq!(
        items_when(&srv, "?kind=vod", 1, |_| true).await[0]["device"],
        "Bedroom"
    );
    assert_eq!(
        items_when(&srv, "?device=Kitchen%20TV", 1, |_| true).await[0]["channel"],
        "9"
    );
    assert_eq!(
        items_when(&srv, "?q=kcal", 1, |_| true).await[0]["channel"],
        "9"
    );
    assert_eq!(
        items_when(&srv, "?q=crank", 1, |_| true).await[0]["kind"],
        "vod"
    );
    items_when(&srv, &format!("?dvr_id={dvr}"), 4, |_| true).await;
    items_when(&srv, "?dvr_id=ffffffff", 0, |_| true).await;
    items_when(&srv, "?from=2999-01-01T00:00:00Z", 0, |_| true).await;
    let first = history(&srv, "?limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_before"].as_str().unwrap().to_string();
    let second = history(&srv, &format!("?limit=2&before={cursor}")).await;
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert_eq!(second["next_before"], Value::Null);

    // Bad filters are named.
    let (status, e) = send(
        client().get(url(&srv, "/api/v1/history?kind=radio")),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 422, "{e}");
    assert!(e["message"].as_str().unwrap().contains("kind"), "{e}");
    let (status, _) = send(client().get(url(&srv, "/api/v1/history")), None).await;
    assert_eq!(status, 401, "history needs a key");

    // The CSV holds exactly what the filter selects, under the contract's header.
    let res = client()
        .get(url(&srv, "/api/v1/history.csv?kind=live"))
        .header("X-API-Key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = res.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "dvr_id,dvr_name,kind,device,client_ip,channel,title,started_at,ended_at,watched_seconds,ended_by"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(
        rows.iter()
            .all(|r| r.contains(",live,") && r.ends_with(",stopped")),
        "{text}"
    );

    let (_, facets) = send(
        client().get(url(&srv, "/api/v1/history/facets")),
        Some(API_KEY),
    )
    .await;
    assert_eq!(
        facets["devices"],
        json!(["Bedroom", "Garage Fire TV", "Kitchen TV", "Living Room"])
    );
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn an_outage_and_a_restart_end_plays_where_they_were_last_known() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(Scenario::Quiet).await;
    let srv = server(dir.path()).await;
    add_connected_dvr(&srv, "Den", &sim).await;

    // The DVR drops its stream and the session is gone when it comes back.
    watch(&sim, "7", "ABC", "Living Room", "192.168.1.50");
    items_when(&srv, "", 1, |i| i["ended_at"].is_null()).await;
    sim.handle().set_fail_mode(sim::FailMode::Status(503));
    sim.handle().drop_streams();
    stop(&sim, "7", "192.168.1.50");
    sim.handle().set_fail_mode(sim::FailMode::None);
    let lost = items_when(&srv, "", 1, |i| i["ended_by"] == "dvr_lost").await;
    assert!(lost[0]["ended_at"].is_string());

    // A play open when the monitor stops is ended by the stop, and the next start
    // does not leave it open.
    watch(&sim, "9", "KCAL", "Kitchen TV", "192.168.1.60");
    items_when(&srv, "?channel=9", 1, |i| i["ended_at"].is_null()).await;
    srv.shutdown().await;
    let srv = server(dir.path()).await;
    let stopped = items_when(&srv, "?channel=9", 1, |i| !i["ended_at"].is_null()).await;
    assert_eq!(stopped[0]["ended_by"], "monitor_restarted", "{stopped:?}");
    srv.shutdown().await;
    sim.shutdown().await;
}

async fn demo(dir: &std::path::Path) -> Server {
    let flags = channelwatch::config::Flags {
        data_dir: Some(dir.to_path_buf()),
        bind: Some("127.0.0.1".into()),
        port: Some(0),
        demo: true,
        ..Default::default()
    };
    let config = channelwatch::config::Config::load(
        &flags,
        &[
            ("CHANNELWATCH_API_KEY", API_KEY),
            ("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0"),
        ],
    )
    .unwrap();
    channelwatch::serve::start_with(config, fast_settings(), Default::default(), fast_dispatch())
        .await
        .unwrap()
}

async fn filled(db: &storage::Db) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM watch_history WHERE ended_by IS NOT NULL AND id <= 480",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_demo_opens_with_days_of_history_filled_once() {
    let dir = tempfile::tempdir().unwrap();
    let srv = demo(dir.path()).await;
    let v = history(&srv, "?sort=oldest&limit=5").await;
    let oldest = v["items"][0]["started_at"].as_str().unwrap().to_string();
    let age = chrono::Utc::now()
        - chrono::DateTime::parse_from_rfc3339(&oldest)
            .unwrap()
            .to_utc();
    assert!(age > chrono::Duration::days(3), "oldest play {oldest}");
    let (_, dvrs) = send(client().get(url(&srv, "/api/v1/dvrs")), Some(API_KEY)).await;
    for d in dvrs.as_array().unwrap() {
        let id = d["dvr_id"].as_str().unwrap();
        let v = history(&srv, &format!("?dvr_id={id}&limit=1")).await;
        assert_eq!(v["items"].as_array().unwrap().len(), 1, "history for {id}");
    }
    let before = filled(&srv.services.db).await;
    assert_eq!(before, 480);
    srv.shutdown().await;
    // The next start keeps what is there and fills nothing more.
    let srv = demo(dir.path()).await;
    let (first, _) = storage::history::resume_point(&srv.services.db)
        .await
        .unwrap();
    assert!(first > 480);
    assert_eq!(filled(&srv.services.db).await, before);
    srv.shutdown().await;
}

#[tokio::test]
async fn watch_history_keeps_the_days_set_in_settings() {
    use domain::history::{EndedBy, Play, PlayKind};
    let dir = tempfile::tempdir().unwrap();
    {
        let db = storage::Db::open(dir.path()).await.unwrap();
        let now = chrono::Utc::now();
        let play = |id: i64, days: i64| {
            let start = now - chrono::Duration::days(days);
            (
                Play {
                    id,
                    dvr_id: "aaaa0001".into(),
                    kind: PlayKind::Live,
                    device: Some("Den".into()),
                    client_ip: None,
                    channel: Some("7".into()),
                    call_sign: Some("ABC".into()),
                    source: Some("tuner".into()),
                    file_id: None,
                    title: Some(format!("{days} days ago")),
                    started_at: start,
                },
                start + chrono::Duration::minutes(30),
                EndedBy::Stopped,
            )
        };
        storage::history::insert_finished(&db, &[play(1, 45), play(2, 10)])
            .await
            .unwrap();
        storage::settings::set(&db, storage::settings::HISTORY_RETENTION_DAYS, &30u32)
            .await
            .unwrap();
        db.pool.close().await;
    }
    let srv = server(dir.path()).await;
    // The sweep runs as the recorder starts: only the play within 30 days stays.
    let left = items_when(&srv, "", 1, |_| true).await;
    assert_eq!(left[0]["title"], "10 days ago");

    let (status, e) = send(
        client()
            .put(url(&srv, "/api/v1/settings"))
            .json(&json!({"history_retention_days": 0})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 422, "{e}");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("history_retention_days"));
    let (status, v) = send(
        client()
            .put(url(&srv, "/api/v1/settings"))
            .json(&json!({"history_retention_days": 7})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["history_retention_days"], 7);
    srv.shutdown().await;
}

#[tokio::test]
async fn statistics_add_up_to_the_history_they_summarise() {
    let dir = tempfile::tempdir().unwrap();
    let srv = demo(dir.path()).await;
    let get = |path: String| {
        let srv = &srv;
        async move {
            let (status, v) = send(client().get(url(srv, &path)), Some(API_KEY)).await;
            assert_eq!(status, 200, "{path}: {v}");
            v
        }
    };
    let s = get("/api/v1/stats".into()).await;
    let plays = s["plays"].as_u64().unwrap();
    assert!(plays >= 480, "the demo's four filled days: {s}");
    let sum = |list: &Value, key: &str| -> u64 {
        list.as_array()
            .unwrap()
            .iter()
            .map(|x| x[key].as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum(&s["by_kind"], "plays"), plays);
    assert_eq!(
        sum(&s["by_kind"], "watched_seconds"),
        s["watched_seconds"].as_u64().unwrap()
    );
    let heat: u64 = s["heatmap"]
        .as_array()
        .unwrap()
        .iter()
        .map(|day| {
            day.as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .sum::<u64>()
        })
        .sum();
    assert_eq!(heat, plays, "every play has its hour");
    assert_eq!(s["heatmap"].as_array().unwrap().len(), 7);
    let channels = s["by_channel"].as_array().unwrap();
    assert!(!channels.is_empty() && channels.len() <= 10);
    assert!(channels
        .windows(2)
        .all(|w| w[0]["watched_seconds"].as_u64() >= w[1]["watched_seconds"].as_u64()));
    assert!(
        channels[0]["label"].as_str().unwrap().contains(' '),
        "number and call sign: {}",
        channels[0]
    );
    assert!(!s["top_programs"].as_array().unwrap().is_empty());
    assert!(!s["by_device"].as_array().unwrap().is_empty());
    assert_eq!(s["streams_step_seconds"], 12 * 3600);
    assert_eq!(
        s["streams"].as_array().unwrap().len(),
        60,
        "30 days in 12-hour points"
    );
    let busy = s["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["total"].as_u64() > Some(0))
        .count();
    assert!(busy >= 6, "the filled days show streams at once: {busy}");
    assert!(s["peak"]["total"].as_u64() >= Some(1), "{}", s["peak"]);

    // One DVR's figures are its own.
    let (_, dvrs) = send(client().get(url(&srv, "/api/v1/dvrs")), Some(API_KEY)).await;
    let id = dvrs[0]["dvr_id"].as_str().unwrap();
    let one = get(format!("/api/v1/stats?dvr_id={id}")).await;
    let mine = one["plays"].as_u64().unwrap();
    assert!(mine > 0 && mine < plays, "{mine} of {plays}");
    assert_eq!(one["dvr_id"], id);
    // A range with nothing in it is empty, not an error.
    let old = get("/api/v1/stats?from=2001-01-01&to=2001-01-31".into()).await;
    assert_eq!(old["plays"], 0);
    assert_eq!(
        (old["from"].as_str(), old["to"].as_str()),
        (Some("2001-01-01"), Some("2001-01-31"))
    );
    let (status, e) = send(
        client().get(url(&srv, "/api/v1/stats?from=2026-02-01&to=2026-01-01")),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 422, "{e}");
    srv.shutdown().await;
}
