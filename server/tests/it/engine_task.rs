//! One DVR's engine task against the simulator: framing, bad input, backoff, keep-alive,
//! staleness, resync, recording resolution, and supervisor restarts.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use domain::session::Change;
use std::sync::Arc;

use engine::{DvrSlot, DvrSpec, Engine, EngineEventKind, Fault};
use sim::{FailMode, Framing, Scenario, Simulator};
use testkit::*;

const T: Duration = Duration::from_secs(10);

/// An engine watching one simulator, returned once its stream is connected.
async fn connected(s: &Simulator, threshold: u32) -> (Engine, DvrSpec, Arc<DvrSlot>) {
    let sp = spec("X", s, threshold);
    let engine = Engine::new(
        fast_settings(),
        engine::dvr::client::DvrClient::build_http().unwrap(),
    );
    engine.reconcile(std::slice::from_ref(&sp));
    let e = engine.clone();
    let id = sp.dvr_id.clone();
    wait_for("connected", T, move || {
        e.slot(&id).is_some_and(|s| s.is_connected())
    })
    .await;
    let slot = engine.slot(&sp.dvr_id).unwrap();
    (engine, sp, slot)
}

const LIVE: (&str, &str, &str) = (
    "activities.set",
    "7-stream-10811DF5-192.168.1.50",
    "Watching ch7 ABC from Living Room (192.168.1.50)",
);

#[tokio::test]
async fn bare_and_sse_framing_give_the_same_state() {
    for framing in [Framing::Bare, Framing::Sse] {
        let s = sim_with(Scenario::Quiet, framing).await;
        let (engine, _sp, slot) = connected(&s, 300).await;
        s.handle().emit(LIVE.0, LIVE.1, LIVE.2);
        s.handle().emit_raw(": keepalive");
        s.handle().emit(
            "activities.set",
            "6-file-12345-192.168.1.100",
            "Watching Crank: High Voltage (2009) from Bedroom (192.168.1.100) at 58m46s",
        );
        wait_for("two sessions", T, || {
            slot.with_state(|st| st.session_count()) == 2
        })
        .await;
        let vod_pos = slot.with_state(|st| st.vod_sessions().next().unwrap().position_seconds);
        assert_eq!(vod_pos, Some(3526), "{framing:?}");
        assert_eq!(
            slot.counters.parse_errors.load(Ordering::Relaxed),
            0,
            "{framing:?}"
        );
        engine.shutdown().await;
        s.shutdown().await;
    }
}

#[tokio::test]
async fn malformed_and_oversized_lines_are_dropped_and_the_stream_continues() {
    let s = sim(Scenario::Quiet).await;
    let (engine, _sp, slot) = connected(&s, 300).await;
    let h = s.handle();
    h.emit_raw("{not json");
    h.emit_raw("[1,2,3]");
    h.emit_raw(r#"{"Type":42}"#);
    h.emit_raw(&format!(
        "{{\"Type\":\"activities.set\",\"Name\":\"x\",\"Value\":\"{}\"}}",
        "y".repeat(1_100_000)
    ));
    h.emit("devices.changed", "x", "y");
    h.emit(LIVE.0, LIVE.1, LIVE.2);
    wait_for("the good event after the bad ones", T, || {
        slot.with_state(|st| st.session_count()) == 1
    })
    .await;
    assert_eq!(slot.counters.parse_errors.load(Ordering::Relaxed), 3);
    assert_eq!(slot.counters.oversized_lines.load(Ordering::Relaxed), 1);
    assert_eq!(slot.counters.unknown_types.load(Ordering::Relaxed), 1);
    assert!(slot.is_connected());
    assert_eq!(h.connections_total(), 1, "no reconnect for bad input");
    engine.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn the_garbage_scenario_never_stops_the_stream() {
    let s = sim::Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        sim::SimConfig {
            scenario: Scenario::Garbage,
            seed: 3,
            time_scale: 20.0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (engine, _sp, slot) = connected(&s, 300).await;
    wait_for(
        "garbage seen and good events applied",
        Duration::from_secs(20),
        || {
            slot.counters.parse_errors.load(Ordering::Relaxed) >= 5
                && slot.counters.events.load(Ordering::Relaxed) >= 10
        },
    )
    .await;
    assert!(slot.is_connected());
    assert_eq!(s.handle().connections_total(), 1);
    engine.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_429_is_honoured_with_its_retry_after() {
    let s = sim(Scenario::Quiet).await;
    let (engine, _sp, slot) = connected(&s, 300).await;
    let h = s.handle();
    h.set_fail_mode(FailMode::TooManyRequests {
        retry_after_secs: 2,
    });
    h.drop_streams();
    let dropped = Instant::now();
    wait_for("the 429 answer", T, || {
        slot.last_error().is_some_and(|e| e.contains("429"))
    })
    .await;
    h.set_fail_mode(FailMode::None);
    wait_for("reconnected", T, || slot.is_connected()).await;
    // Fast test backoff is at most 400 ms: only Retry-After explains a 2 s wait.
    assert!(
        dropped.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        dropped.elapsed()
    );
    assert!(slot.last_error().is_none());
    engine.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_failing_status_poll_reconnects_and_a_stall_turns_stale_then_recovers() {
    let s = sim(Scenario::Quiet).await;
    let (engine, sp, slot) = connected(&s, 2).await;
    let h = s.handle();

    // /status answering 500 closes the stream and reconnects.
    h.set_status_fail(true);
    wait_for("keep-alive failure noticed", T, || {
        h.connections_total() >= 2
    })
    .await;
    h.set_status_fail(false);

    // Connected but silent, /status hung: freshness stops, the DVR turns stale.
    h.set_stall(true);
    wait_for("stale", T, || {
        engine
            .health(&sp.dvr_id)
            .is_some_and(|hl| hl.stale && hl.error.is_some())
    })
    .await;
    h.set_stall(false);
    wait_for("healthy again", T, || {
        engine
            .health(&sp.dvr_id)
            .is_some_and(|hl| hl.connected && !hl.stale && hl.error.is_none())
    })
    .await;
    assert!(slot.counters.reconnects.load(Ordering::Relaxed) >= 1);
    engine.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn reconnect_resyncs_sessions_from_the_activity_map() {
    let s = sim(Scenario::Quiet).await;
    // Already watching before the monitor connects: only /dvr tells us.
    s.handle().emit(LIVE.0, LIVE.1, LIVE.2);
    let sp = spec("X", &s, 300);
    let engine = Engine::new(
        fast_settings(),
        engine::dvr::client::DvrClient::build_http().unwrap(),
    );
    engine.reconcile(std::slice::from_ref(&sp));
    let e = engine.clone();
    let id = sp.dvr_id.clone();
    wait_for("session from the activity map", T, move || {
        e.slot(&id)
            .is_some_and(|s| s.with_state(|st| st.session_count()) == 1)
    })
    .await;
    let slot = engine.slot(&sp.dvr_id).unwrap();
    assert!(slot.disk().is_some(), "disk polled on connect");
    assert!(slot.version().is_some(), "status polled on connect");
    engine.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_completed_recording_is_matched_to_its_job() {
    let s = sim(Scenario::Quiet).await;
    let (engine, _sp, slot) = connected(&s, 300).await;
    let mut feed = engine.subscribe();
    let h = s.handle();
    let job = format!("{}-ch5.1", chrono::Utc::now().timestamp() + 600);
    h.emit("jobs.created", &job, "");
    h.emit("programs.set", "recording", &format!("recording-{job}"));
    wait_for("recording in progress", T, || {
        slot.with_state(|st| st.recordings().count()) == 1
    })
    .await;
    h.emit("programs.set", "recorded", "recorded-99001");
    wait_for("recording finished", T, || {
        slot.with_state(|st| st.recordings().count()) == 0
    })
    .await;
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let ev = tokio::time::timeout_at(deadline, feed.recv())
            .await
            .expect("completion on the feed")
            .expect("feed open");
        if let EngineEventKind::Change(Change::RecordingCompleted {
            job_id: Some(j),
            file_id,
        }) = &ev.kind
        {
            assert_eq!(j, &job);
            assert_eq!(file_id, "99001");
            break;
        }
    }
    engine.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_panicking_or_hung_task_is_restarted_and_counted() {
    let s = sim(Scenario::Quiet).await;
    let (engine, sp, slot) = connected(&s, 300).await;

    slot.inject_fault(Fault::Panic);
    wait_for("restart after panic", T, || {
        slot.counters.task_restarts.load(Ordering::Relaxed) == 1
    })
    .await;
    wait_for("reconnected after panic", T, || {
        slot.is_connected() && s.handle().connections_total() >= 2
    })
    .await;

    slot.inject_fault(Fault::Hang);
    wait_for("restart after hang", T, || {
        slot.counters.task_restarts.load(Ordering::Relaxed) == 2
    })
    .await;
    wait_for("reconnected after hang", T, || {
        slot.is_connected() && s.handle().connections_total() >= 3
    })
    .await;
    assert!(engine.is_alive(&sp.dvr_id));
    engine.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_flapping_dvr_keeps_being_reconnected_without_task_restarts() {
    let s = Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        sim::SimConfig {
            scenario: Scenario::Flapping,
            seed: 5,
            time_scale: 10.0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (engine, _sp, slot) = connected(&s, 300).await;
    let h = s.handle();
    wait_for("several drops survived", Duration::from_secs(20), || {
        h.connections_total() >= 4 && slot.is_connected()
    })
    .await;
    assert!(slot.counters.reconnects.load(Ordering::Relaxed) >= 3);
    assert_eq!(slot.counters.task_restarts.load(Ordering::Relaxed), 0);
    assert!(slot.counters.events.load(Ordering::Relaxed) > 0);
    engine.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_delivering_stream_outlives_a_failing_status_and_a_silent_one_does_not() {
    let s = sim(Scenario::Quiet).await;
    let (engine, _sp, slot) = connected(&s, 300).await;
    let h = s.handle();
    h.set_status_fail(true);
    // Events flow for well past the silence limit (a poll and its timeout: 3.5 s here)
    // while every /status fails: the stream is alive, so it stays.
    let until = Instant::now() + Duration::from_secs(6);
    let mut n = 0;
    while Instant::now() < until {
        h.emit(LIVE.0, LIVE.1, &format!("{} {n}", LIVE.2));
        n += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        h.connections_total(),
        1,
        "a delivering stream was torn down"
    );
    assert!(slot.is_connected());
    assert!(
        slot.counters.status_failures.load(Ordering::Relaxed) >= 3,
        "the failing keep-alives are counted"
    );
    // Silent now, with /status still failing: torn down and reopened.
    wait_for("the silent stream to be reopened", T, || {
        h.connections_total() >= 2
    })
    .await;
    engine.shutdown().await;
    s.shutdown().await;
}

/// The keep-alive polls go over one kept connection, not a new one per poll: at
/// 10,000 idle DVRs a new TCP connection per poll was most of the monitor's CPU.
#[tokio::test]
async fn keep_alive_polls_share_one_kept_connection() {
    let s = sim(Scenario::Quiet).await;
    let (engine, _sp, slot) = connected(&s, 300).await;
    let h = s.handle();
    wait_for("six /status and /dvr polls", T, || {
        h.requests("/status") >= 6 && h.requests("/dvr") >= 6
    })
    .await;
    assert_eq!(
        h.tcp_connections(),
        2,
        "the event stream and one connection for every poll"
    );
    assert!(slot.is_connected());
    assert_eq!(slot.counters.status_failures.load(Ordering::Relaxed), 0);
    engine.shutdown().await;
    s.shutdown().await;
}
