//! Health you can trust, through the real server and simulators on loopback: the
//! watchdog, the health endpoint, the DVR list, the probes and `/metrics` must tell the
//! same story when a DVR stalls, goes away, crashes, restarts or fills its disk.

use std::net::SocketAddr;
use std::time::Duration;

use channelwatch::serve::Server;
use engine::watchdog::WatchdogSettings;
use engine::{EngineEventKind, Fault, RestartCause, Verdict};
use serde_json::{json, Value};
use sim::{Framing, Scenario, SimConfig, Simulator};
use testkit::*;

/// The watchdog checks every second in these tests (the contract's test knob).
const FAST_WATCHDOG: (&str, &str) = ("CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS", "1");

async fn fast_server(dir: &std::path::Path) -> Server {
    server_with(dir, &[FAST_WATCHDOG], WatchdogSettings::default()).await
}

async fn add_dvr(srv: &Server, name: &str, port: u16, threshold: u32, enabled: bool) -> String {
    let (status, dvr) = send(
        client().post(url(srv, "/api/v1/dvrs")).json(&json!({
            "name": name, "host": "127.0.0.1", "port": port,
            "staleness_threshold_seconds": threshold, "enabled": enabled
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{dvr}");
    dvr["dvr_id"].as_str().unwrap().to_string()
}

async fn health(srv: &Server, id: &str) -> (u16, Value) {
    send(
        client().get(url(srv, &format!("/api/v1/dvrs/{id}/health"))),
        Some(API_KEY),
    )
    .await
}

async fn listed(srv: &Server, id: &str) -> Value {
    let (status, list) = send(client().get(url(srv, "/api/v1/dvrs")), Some(API_KEY)).await;
    assert_eq!(status, 200);
    list.as_array()
        .unwrap()
        .iter()
        .find(|d| d["dvr_id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not listed: {list}"))
}

async fn probe(srv: &Server, path: &str) -> (u16, String) {
    let res = client().get(url(srv, path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn scrape(srv: &Server) -> String {
    let res = client().get(url(srv, "/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

/// The value of the series `name` whose labels include every one of `labels`
/// (`dvr_id="…"`); with no labels, the aggregate series without any.
fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, v) = l.rsplit_once(' ')?;
        let matches = if labels.is_empty() {
            series == name
        } else {
            series.starts_with(&format!("{name}{{")) && labels.iter().all(|x| series.contains(x))
        };
        matches.then(|| v.parse().unwrap())
    })
}

fn dvr_label(id: &str) -> String {
    format!("dvr_id=\"{id}\"")
}

#[tokio::test]
async fn a_stalled_dvr_turns_stale_everywhere_then_healthy_again() {
    let dir = tempfile::tempdir().unwrap();
    let srv = fast_server(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let mut feed = srv.services.engine.subscribe();
    let id = add_dvr(&srv, "Attic", sim.addr().port(), 30, true).await;
    let l = dvr_label(&id);
    eventually("the DVR to be healthy", Duration::from_secs(20), || async {
        (health(&srv, &id).await.0 == 200).then_some(())
    })
    .await;

    sim.handle().set_stall(true);
    let h = eventually("the DVR to turn stale", Duration::from_secs(60), || async {
        let (status, h) = health(&srv, &id).await;
        (status == 503 && h["stale"] == true).then_some(h)
    })
    .await;
    assert!(h["last_event_seconds_ago"].as_u64().unwrap() > 30, "{h}");
    assert!(h["error"].as_str().unwrap().contains("stale"), "{h}");
    // Everyone agrees: the list, the probe (naming the DVR), the gauges.
    assert_eq!(listed(&srv, &id).await["health"]["stale"], true);
    let (code, text) = probe(&srv, "/healthz/ready").await;
    assert_eq!(code, 503);
    assert!(
        text.contains("Attic") && text.contains(&id) && text.contains("stale"),
        "{text}"
    );
    let m = scrape(&srv).await;
    let ago = value(&m, "channelwatch_dvr_last_event_seconds_ago", &[&l]).unwrap();
    assert!(ago > 30.0, "{ago}");
    assert_eq!(value(&m, "channelwatch_dvr_up", &[&l]), Some(0.0));
    assert_eq!(value(&m, "channelwatch_dvr_stale", &[&l]), Some(1.0));
    assert!(value(&m, "channelwatch_dvr_last_event_seconds_ago", &[]).unwrap() >= ago);
    eventually(
        "the gauge to keep rising",
        Duration::from_secs(5),
        || async {
            let m = scrape(&srv).await;
            (value(&m, "channelwatch_dvr_last_event_seconds_ago", &[&l]).unwrap() > ago)
                .then_some(())
        },
    )
    .await;
    // The watchdog published the change.
    next_event(&mut feed, "watchdog: stale", Duration::from_secs(5), |e| {
        e.dvr_id == id
            && matches!(&e.kind, EngineEventKind::HealthChanged { to, .. } if *to != Verdict::Healthy)
    })
    .await;

    sim.handle().set_stall(false);
    eventually("the DVR to recover", Duration::from_secs(20), || async {
        (health(&srv, &id).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(probe(&srv, "/healthz/ready").await, (200, "ok".into()));
    assert_eq!(
        value(&scrape(&srv).await, "channelwatch_dvr_up", &[&l]),
        Some(1.0)
    );
    next_event(
        &mut feed,
        "watchdog: healthy again",
        Duration::from_secs(5),
        |e| {
            e.dvr_id == id
                && matches!(
                    &e.kind,
                    EngineEventKind::HealthChanged {
                        to: Verdict::Healthy,
                        ..
                    }
                )
        },
    )
    .await;
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_stopped_simulator_shows_disconnected_but_keeps_ready_until_stale() {
    let dir = tempfile::tempdir().unwrap();
    let srv = fast_server(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let id = add_dvr(&srv, "Den", sim.addr().port(), 300, true).await;
    let l = dvr_label(&id);
    eventually("connected", Duration::from_secs(20), || async {
        (health(&srv, &id).await.0 == 200).then_some(())
    })
    .await;
    sim.shutdown().await;
    let h = eventually("disconnected", Duration::from_secs(20), || async {
        let (status, h) = health(&srv, &id).await;
        (status == 503 && h["connected"] == false).then_some(h)
    })
    .await;
    assert_eq!(h["stale"], false);
    assert!(
        h["error"].as_str().unwrap().starts_with("disconnected"),
        "{h}"
    );
    assert!(
        h["last_event_at"].is_string(),
        "the last event is kept: {h}"
    );
    let summary = &listed(&srv, &id).await["health"];
    assert_eq!(summary["status"], "disconnected");
    assert_eq!(summary["connected"], false);
    let m = scrape(&srv).await;
    assert_eq!(value(&m, "channelwatch_dvr_connected", &[&l]), Some(0.0));
    assert_eq!(value(&m, "channelwatch_dvr_up", &[&l]), Some(0.0));
    assert!(value(&m, "channelwatch_dvr_reconnects_total", &[&l]).is_some());
    // Reconnecting but not yet stale: still ready.
    assert_eq!(probe(&srv, "/healthz/ready").await, (200, "ok".into()));
    srv.shutdown().await;
}

#[tokio::test]
async fn a_crashed_task_is_restarted_counted_and_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let srv = fast_server(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let id = add_dvr(&srv, "Den", sim.addr().port(), 300, true).await;
    let l = dvr_label(&id);
    eventually("connected", Duration::from_secs(20), || async {
        (health(&srv, &id).await.0 == 200).then_some(())
    })
    .await;
    let mut feed = srv.services.engine.subscribe();
    srv.services
        .engine
        .slot(&id)
        .unwrap()
        .inject_fault(Fault::Panic);
    eventually(
        "the restart to be counted",
        Duration::from_secs(10),
        || async {
            let m = scrape(&srv).await;
            (value(&m, "channelwatch_dvr_task_restarts_total", &[&l]) == Some(1.0)
                && value(&m, "channelwatch_dvr_task_restarts_total", &[]) == Some(1.0))
            .then_some(())
        },
    )
    .await;
    let ev = next_event(
        &mut feed,
        "restart confirmed",
        Duration::from_secs(20),
        |e| e.dvr_id == id && matches!(e.kind, EngineEventKind::RestartChecked(_)),
    )
    .await;
    let EngineEventKind::RestartChecked(check) = &ev.kind else {
        unreachable!()
    };
    assert!(check.ok, "{check:?}");
    assert_eq!(check.cause, RestartCause::Crash);
    eventually("healthy again", Duration::from_secs(20), || async {
        (health(&srv, &id).await.0 == 200).then_some(())
    })
    .await;
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn the_watchdog_revives_a_dvr_left_without_a_task() {
    let dir = tempfile::tempdir().unwrap();
    let srv = fast_server(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let id = add_dvr(&srv, "Den", sim.addr().port(), 300, true).await;
    eventually("connected", Duration::from_secs(20), || async {
        (health(&srv, &id).await.0 == 200).then_some(())
    })
    .await;
    let mut feed = srv.services.engine.subscribe();
    srv.services
        .engine
        .slot(&id)
        .unwrap()
        .inject_fault(Fault::Exit);
    let ev = next_event(
        &mut feed,
        "revival confirmed",
        Duration::from_secs(20),
        |e| e.dvr_id == id && matches!(e.kind, EngineEventKind::RestartChecked(_)),
    )
    .await;
    let EngineEventKind::RestartChecked(check) = &ev.kind else {
        unreachable!()
    };
    assert_eq!(check.cause, RestartCause::Watchdog);
    assert!(check.ok, "{check:?}");
    let m = scrape(&srv).await;
    assert_eq!(
        value(&m, "channelwatch_watchdog_task_revivals_total", &[]),
        Some(1.0)
    );
    assert!(value(&m, "channelwatch_watchdog_runs_total", &[]).unwrap() >= 1.0);
    eventually("healthy again", Duration::from_secs(20), || async {
        (health(&srv, &id).await.0 == 200).then_some(())
    })
    .await;
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn reloads_are_confirmed_or_reported_by_the_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server_with(
        dir.path(),
        &[FAST_WATCHDOG],
        WatchdogSettings {
            restart_grace: Duration::from_secs(3),
            ..WatchdogSettings::default()
        },
    )
    .await;
    let (a, b) = (sim(Scenario::Quiet).await, sim(Scenario::Quiet).await);
    let id = add_dvr(&srv, "Den", a.addr().port(), 300, true).await;
    let mut feed = srv.services.engine.subscribe();
    // A port change is a reload: a new identity whose task must come back.
    let patch = |id: String, port: u16| {
        let srv = &srv;
        async move {
            let (status, d) = send(
                client()
                    .patch(url(srv, &format!("/api/v1/dvrs/{id}")))
                    .json(&json!({ "port": port })),
                Some(API_KEY),
            )
            .await;
            assert_eq!(status, 200, "{d}");
            d["dvr_id"].as_str().unwrap().to_string()
        }
    };
    let moved = patch(id.clone(), b.addr().port()).await;
    let ev = next_event(
        &mut feed,
        "reload confirmed",
        Duration::from_secs(10),
        |e| e.dvr_id == moved && matches!(e.kind, EngineEventKind::RestartChecked(_)),
    )
    .await;
    let EngineEventKind::RestartChecked(check) = &ev.kind else {
        unreachable!()
    };
    assert!(check.ok && check.cause == RestartCause::Reload, "{check:?}");

    let broken = patch(moved, closed_port()).await;
    let ev = next_event(&mut feed, "reload failure", Duration::from_secs(10), |e| {
        e.dvr_id == broken && matches!(e.kind, EngineEventKind::RestartChecked(_))
    })
    .await;
    let EngineEventKind::RestartChecked(check) = &ev.kind else {
        unreachable!()
    };
    assert!(!check.ok, "{check:?}");
    assert!(
        check.detail.contains("did not come back"),
        "{}",
        check.detail
    );
    let recorded = srv
        .services
        .engine
        .slot(&broken)
        .unwrap()
        .last_restart_check();
    assert_eq!(recorded.as_ref(), Some(check));
    let m = scrape(&srv).await;
    assert_eq!(
        value(
            &m,
            "channelwatch_watchdog_restart_checks_total",
            &["result=\"failed\""]
        ),
        Some(1.0)
    );
    srv.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn health_list_probes_and_metrics_agree() {
    let dir = tempfile::tempdir().unwrap();
    let srv = fast_server(dir.path()).await;
    let sim = sim(Scenario::FamilyEvening).await;
    let up = add_dvr(&srv, "Living Room", sim.addr().port(), 300, true).await;
    let down = add_dvr(&srv, "Cabin", closed_port(), 300, true).await;
    let off = add_dvr(&srv, "Garage", sim.addr().port() ^ 1, 300, false).await;
    eventually(
        "the live DVR to connect",
        Duration::from_secs(20),
        || async { (health(&srv, &up).await.0 == 200).then_some(()) },
    )
    .await;

    let m = scrape(&srv).await;
    for id in [&up, &down] {
        let (code, h) = health(&srv, id).await;
        let summary = listed(&srv, id).await["health"].clone();
        let l = dvr_label(id);
        for key in ["connected", "stale", "last_event_at"] {
            assert_eq!(summary[key], h[key], "{id} {key}");
        }
        let healthy = h["connected"] == true && h["stale"] == false;
        assert_eq!(code == 200, healthy, "{h}");
        assert_eq!(summary["status"] == "healthy", healthy);
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        assert_eq!(
            value(&m, "channelwatch_dvr_connected", &[&l]),
            Some(flag(h["connected"] == true))
        );
        assert_eq!(value(&m, "channelwatch_dvr_up", &[&l]), Some(flag(healthy)));
        assert_eq!(
            value(&m, "channelwatch_active_sessions", &[&l]),
            Some(h["session_state_size"].as_f64().unwrap()),
        );
        assert!(m.contains(&format!("dvr_name=\"{}\"", h["dvr_name"].as_str().unwrap())));
    }
    assert_eq!(health(&srv, &up).await.1["connected"], true);
    assert_eq!(health(&srv, &down).await.1["connected"], false);
    // Disabled: no series, a 503 saying so, `disabled` in the list.
    let (code, h) = health(&srv, &off).await;
    assert_eq!(code, 503);
    assert!(h["error"].as_str().unwrap().starts_with("disabled"), "{h}");
    assert_eq!(listed(&srv, &off).await["health"]["status"], "disabled");
    assert!(!m.contains(&dvr_label(&off)));
    // One connected of two monitored; nothing stale, so ready.
    assert_eq!(value(&m, "channelwatch_dvr_connected", &[]), Some(1.0));
    assert_eq!(value(&m, "channelwatch_dvrs_monitored", &[]), Some(2.0));
    assert_eq!(probe(&srv, "/healthz/ready").await, (200, "ok".into()));
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_filling_disk_moves_disk_status_ok_warning_critical() {
    let dir = tempfile::tempdir().unwrap();
    let srv = fast_server(dir.path()).await;
    // Twenty times faster: one disk step every 0.25 s.
    let sim = Simulator::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SimConfig {
            scenario: Scenario::DiskFilling,
            seed: 3,
            name: "Garage".into(),
            time_scale: 20.0,
            framing: Framing::Bare,
            keepalive: None,
            api_key: None,
        },
    )
    .await
    .unwrap();
    let id = add_dvr(&srv, "Garage", sim.addr().port(), 300, true).await;
    let mut seen: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.last().map(String::as_str) != Some("critical") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "disk_status never reached critical: {seen:?}"
        );
        let s = health(&srv, &id).await.1["disk_status"]
            .as_str()
            .unwrap()
            .to_string();
        if seen.last() != Some(&s) {
            seen.push(s);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_critical = seen.iter().position(|s| s == "critical").unwrap();
    assert_eq!(
        &seen[..first_critical + 1],
        &["ok", "warning", "critical"],
        "disk_status went {seen:?}"
    );
    let m = scrape(&srv).await;
    let l = dvr_label(&id);
    let free = value(&m, "channelwatch_disk_free_bytes", &[&l]).unwrap();
    let total = value(&m, "channelwatch_disk_total_bytes", &[&l]).unwrap();
    assert!(free < total * 0.10, "{free} of {total}");
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn metrics_follow_the_contract_pass_promtool_and_honour_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = "scrape-token-42";
    let srv = server_with(
        dir.path(),
        &[FAST_WATCHDOG, ("CHANNELWATCH_METRICS_TOKEN", token)],
        WatchdogSettings::default(),
    )
    .await;
    let sim = sim(Scenario::FamilyEvening).await;
    let id = add_dvr(&srv, "Tom's \"Den\"", sim.addr().port(), 300, true).await;
    let l = dvr_label(&id);
    let c = client();

    let res = c.get(url(&srv, "/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let res = c
        .get(url(&srv, "/metrics"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let get = || async {
        let res = c
            .get(url(&srv, "/metrics"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"));
        res.text().await.unwrap()
    };
    let m = eventually(
        "events and disk figures",
        Duration::from_secs(30),
        || async {
            let m = get().await;
            (value(&m, "channelwatch_events_total", &[&l, "type=\"hello\""]).is_some()
                && value(&m, "channelwatch_disk_free_bytes", &[&l]).is_some())
            .then_some(m)
        },
    )
    .await;
    // The contract's series, per DVR and as aggregates.
    for name in [
        "channelwatch_dvr_last_event_seconds_ago",
        "channelwatch_dvr_connected",
        "channelwatch_dvr_up",
        "channelwatch_active_sessions",
        "channelwatch_dvr_reconnects_total",
        "channelwatch_dvr_task_restarts_total",
        "channelwatch_disk_free_bytes",
        "channelwatch_disk_total_bytes",
    ] {
        assert!(value(&m, name, &[&l]).is_some(), "{name} for the DVR");
        assert!(value(&m, name, &[]).is_some(), "{name} aggregate");
        assert!(m.contains(&format!(
            "{name}{{dvr_id=\"{id}\",dvr_name=\"Tom's \\\"Den\\\"\"}}"
        )));
    }
    assert!(value(&m, "channelwatch_events_total", &["type=\"hello\""]).is_some());
    for name in [
        "channelwatch_alerts_total",
        "channelwatch_notifications_total",
    ] {
        assert!(m.contains(&format!("# TYPE {name} counter")), "{name}");
    }
    assert_eq!(
        value(&m, "channelwatch_notification_queue_depth", &[]),
        Some(0.0)
    );
    assert!(m.contains(&format!(
        "channelwatch_build_info{{version=\"{}\"}} 1",
        channelwatch::VERSION
    )));
    assert!(m.contains("process_resident_memory_bytes"));

    // promtool (Debian's prometheus package, installed by scripts/setup.sh) agrees.
    let promtool = which("promtool").expect("promtool not found: run scripts/setup.sh");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(m.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Removing the DVR removes its series.
    let (status, _) = send(
        c.delete(url(&srv, &format!("/api/v1/dvrs/{id}"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 204);
    let m = get().await;
    assert!(!m.contains(&l), "series of a removed DVR remain");
    assert_eq!(value(&m, "channelwatch_dvrs_monitored", &[]), Some(0.0));
    srv.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn the_diagnose_server_function_returns_the_doctor_report() {
    let dir = tempfile::tempdir().unwrap();
    let srv = fast_server(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let id = add_dvr(&srv, "Den", sim.addr().port(), 300, true).await;
    // Server functions sit behind the same guard as the API.
    let anonymous = client()
        .post(url(&srv, "/api/diagnose"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("dvr_id={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let res = client()
        .post(url(&srv, "/api/diagnose"))
        .header("x-api-key", API_KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("dvr_id={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let report: wire::DiagnoseReport = res.json().await.unwrap();
    assert_eq!(report.dvr_id, id);
    assert_eq!(report.dvr_name, "Den");
    assert!(report.ok(), "{}", report.to_text());
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "dns",
            "tcp",
            "status",
            "version",
            "event_stream",
            "disk",
            "clock_skew"
        ]
    );
    srv.shutdown().await;
    sim.shutdown().await;
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

/// Reads SSE bytes until `text` shows up; false at the deadline or the stream's end.
async fn feed_shows(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    text: &str,
    timeout: Duration,
) -> bool {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = String::new();
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, stream.next()).await {
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if seen.contains(text) {
            return true;
        }
        // Keep only a tail long enough to hold `text` across chunks.
        if seen.len() > 1 << 20 {
            seen = seen.split_off(seen.len() - text.len());
        }
    }
    false
}

#[tokio::test]
async fn a_core_task_that_panics_is_started_again_counted_and_shown_in_health() {
    let dir = tempfile::tempdir().unwrap();
    let srv = fast_server(dir.path()).await;
    let names: Vec<String> = srv
        .services
        .core_tasks
        .statuses()
        .into_iter()
        .map(|t| t.name)
        .collect();
    for want in [
        "watchdog",
        "alert_router",
        "outbox",
        "live_hub",
        "config_watcher",
        "history",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} not supervised: {names:?}"
        );
    }
    let (status, h) = send(client().get(url(&srv, "/api/v1/health")), Some(API_KEY)).await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["status"], "ok", "{h}");

    // The dashboard feed is open when the hub dies.
    let res = reqwest::Client::new()
        .get(url(&srv, "/api/v1/live"))
        .header("X-API-Key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut live = Box::pin(res.bytes_stream());
    assert!(srv.services.core_tasks.inject_panic("live_hub"));
    eventually(
        "the restart in /metrics",
        Duration::from_secs(10),
        || async {
            let m = scrape(&srv).await;
            (value(
                &m,
                "channelwatch_core_task_restarts_total",
                &["task=\"live_hub\""],
            ) == Some(1.0)
                && value(&m, "channelwatch_core_task_up", &["task=\"live_hub\""]) == Some(1.0))
            .then_some(())
        },
    )
    .await;
    let (_, h) = send(client().get(url(&srv, "/api/v1/health")), Some(API_KEY)).await;
    let hub = h["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "live_hub")
        .cloned()
        .unwrap();
    assert_eq!(hub["running"], true, "{h}");
    assert_eq!(hub["restarts"], 1, "{h}");
    assert!(
        hub["last_failure"]
            .as_str()
            .is_some_and(|f| f.contains("panicked")),
        "{h}"
    );
    let m = scrape(&srv).await;
    assert_eq!(
        value(
            &m,
            "channelwatch_core_task_restarts_total",
            &["task=\"outbox\""]
        ),
        Some(0.0),
        "only the hub failed"
    );

    // The restarted hub still feeds the open dashboard: a new DVR shows up in it.
    let sim = sim(Scenario::Quiet).await;
    add_dvr(&srv, "Garage after the panic", sim.addr().port(), 300, true).await;
    assert!(
        feed_shows(&mut live, "Garage after the panic", Duration::from_secs(15)).await,
        "the live feed stopped with the hub"
    );
    srv.shutdown().await;
    sim.shutdown().await;
}

/// The heartbeat pings the push URL every interval while the monitor is ready, skips
/// while a DVR has no task (so the outside service notices), resumes once ready, and
/// never shows, stores in clear or backs up in clear the URL's token.
#[tokio::test]
async fn the_heartbeat_pings_while_ready_skips_while_not_and_keeps_its_url_secret() {
    let dir = tempfile::tempdir().unwrap();
    // The watchdog at its default 30 s: a DVR left without a task stays so for a while.
    let srv = server_with(
        dir.path(),
        &[("CHANNELWATCH_HEARTBEAT_MIN_INTERVAL_SECONDS", "1")],
        WatchdogSettings::default(),
    )
    .await;
    let sim = sim(Scenario::Quiet).await;
    let id = add_dvr(&srv, "Den", sim.addr().port(), 300, true).await;
    eventually("connected", Duration::from_secs(20), || async {
        (health(&srv, &id).await.0 == 200).then_some(())
    })
    .await;
    let push = FakeProvider::start(std::sync::Arc::new(|_r: &Received| {
        (200, vec![], "OK".into())
    }))
    .await;
    const TOKEN: &str = "6f1c0a52-push-token";
    let path = format!("/ping/{TOKEN}");
    let put = |body: Value| {
        let srv = &srv;
        async move {
            send(
                client().put(url(srv, "/api/v1/heartbeat")).json(&body),
                Some(API_KEY),
            )
            .await
        }
    };
    let view = || async {
        send(client().get(url(&srv, "/api/v1/heartbeat")), Some(API_KEY))
            .await
            .1
    };

    let (status, e) = put(json!({"url": "http://169.254.169.254/ping"})).await;
    assert_eq!(status, 422, "{e}");
    assert!(e["message"].as_str().unwrap().starts_with("url: "), "{e}");
    let (status, e) = put(json!({"url": push.url(&path), "interval_seconds": 0})).await;
    assert_eq!(status, 422, "{e}");
    let (status, v) = put(json!({"url": push.url(&path), "interval_seconds": 1})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["url"], format!("http://{}/****", push.addr));
    assert!(!v.to_string().contains(TOKEN), "{v}");

    eventually("two pings", Duration::from_secs(10), || async {
        (push.requests_to(&path).len() >= 2).then_some(())
    })
    .await;
    let v = view().await;
    assert_eq!(v["last_outcome"], "ok", "{v}");
    assert_eq!(v["last_message"], "HTTP 200: OK");

    // A DVR without a task: not ready, so no pings, until it is ready again.
    srv.services
        .engine
        .slot(&id)
        .unwrap()
        .inject_fault(Fault::Exit);
    let skipped = eventually("a skipped ping", Duration::from_secs(10), || async {
        let v = view().await;
        (v["last_outcome"] == "skipped").then_some(v)
    })
    .await;
    let why = skipped["last_message"].as_str().unwrap();
    assert!(
        why.contains("DVR 'Den'") && why.contains("task not running"),
        "{why}"
    );
    let pinged = push.requests_to(&path).len();
    let s0 = skipped["skipped"].as_u64().unwrap();
    eventually("two more skips", Duration::from_secs(10), || async {
        (view().await["skipped"].as_u64().unwrap() >= s0 + 2).then_some(())
    })
    .await;
    assert_eq!(
        push.requests_to(&path).len(),
        pinged,
        "no ping while not ready"
    );
    let (status, _) = send(
        client()
            .patch(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .json(&json!({"enabled": false})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    eventually("pings again", Duration::from_secs(10), || async {
        (push.requests_to(&path).len() > pinged).then_some(())
    })
    .await;
    let m = scrape(&srv).await;
    assert!(
        value(
            &m,
            "channelwatch_heartbeat_pings_total",
            &["outcome=\"ok\""]
        )
        .unwrap()
            >= 3.0
    );
    assert!(
        value(
            &m,
            "channelwatch_heartbeat_pings_total",
            &["outcome=\"skipped\""]
        )
        .unwrap()
            >= 2.0
    );

    // The test button pings at once and answers with the service's reply.
    let (status, t) = send(
        client().post(url(&srv, "/api/v1/heartbeat/test")),
        Some(API_KEY),
    )
    .await;
    assert_eq!(
        (status, t),
        (200, json!({"ok": true, "message": "HTTP 200: OK"}))
    );

    // The token is sealed at rest and in backups; a "****" edit keeps it.
    let raw: String = sqlx::query_scalar("SELECT url FROM heartbeat")
        .fetch_one(&srv.services.db.pool)
        .await
        .unwrap();
    assert!(!raw.contains(TOKEN), "{raw}");
    for body in [json!({}), json!({"passphrase": "a long passphrase"})] {
        let (status, b) = send(
            client()
                .post(url(&srv, "/api/v1/backup/export"))
                .json(&body),
            Some(API_KEY),
        )
        .await;
        assert_eq!(status, 200, "{b}");
        assert!(!b.to_string().contains(TOKEN), "{b}");
        assert_eq!(b["settings"]["heartbeat"]["url"], "****");
    }
    let (_, v) = put(json!({"url": "****", "interval_seconds": 30})).await;
    assert_eq!(
        (v["configured"].clone(), v["interval_seconds"].clone()),
        (json!(true), json!(30))
    );
    let (_, v) = put(json!({"url": ""})).await;
    assert_eq!(v["configured"], false);
    srv.shutdown().await;
    sim.shutdown().await;
}
