//! Several simulated DVRs over loopback: nothing that happens on one DVR reaches another.

use std::sync::atomic::Ordering;
use std::time::Duration;

use engine::{DvrSpec, Engine};
use sim::{FailMode, Scenario, Simulator};
use testkit::*;

const T: Duration = Duration::from_secs(10);

fn sessions(engine: &Engine, id: &str) -> usize {
    engine
        .slot(id)
        .map(|s| s.with_state(|st| st.session_count()))
        .unwrap_or(usize::MAX)
}

fn connected(engine: &Engine, id: &str) -> bool {
    engine.slot(id).is_some_and(|s| s.is_connected())
}

/// Two quiet simulators and one engine watching both, once both streams are open.
async fn two_connected() -> (Simulator, Simulator, DvrSpec, DvrSpec, Engine) {
    let a = sim(Scenario::Quiet).await;
    let b = sim(Scenario::Quiet).await;
    let (sa, sb) = (spec("A", &a, 300), spec("B", &b, 300));
    let engine = Engine::new(
        fast_settings(),
        engine::dvr::client::DvrClient::build_http().unwrap(),
    );
    engine.reconcile(&[sa.clone(), sb.clone()]);
    wait_for("both connected", T, || {
        connected(&engine, &sa.dvr_id) && connected(&engine, &sb.dvr_id)
    })
    .await;
    (a, b, sa, sb, engine)
}

#[tokio::test]
async fn an_event_on_one_dvr_never_changes_another() {
    let (a, b, sa, sb, engine) = two_connected().await;

    a.handle().emit(
        "activities.set",
        "7-stream-10811DF5-192.168.1.50",
        "Watching ch7 ABC from Living Room (192.168.1.50)",
    );
    wait_for("A tracks the session", T, || {
        sessions(&engine, &sa.dvr_id) == 1
    })
    .await;
    assert_eq!(sessions(&engine, &sb.dvr_id), 0);
    let b_kinds = engine.slot(&sb.dvr_id).unwrap().events_by_kind();
    assert_eq!(b_kinds.keys().copied().collect::<Vec<_>>(), ["hello"]);

    // The same activity name on B is B's own session; ending it on B leaves A's.
    b.handle().emit(
        "activities.set",
        "7-stream-10811DF5-192.168.1.50",
        "Watching ch7 ABC from Living Room (192.168.1.50)",
    );
    wait_for("B tracks its session", T, || {
        sessions(&engine, &sb.dvr_id) == 1
    })
    .await;
    b.handle()
        .emit("activities.set", "7-stream-10811DF5-192.168.1.50", "");
    wait_for("B's session ended", T, || {
        sessions(&engine, &sb.dvr_id) == 0
    })
    .await;
    assert_eq!(sessions(&engine, &sa.dvr_id), 1, "A keeps its session");

    engine.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn one_stream_dropping_leaves_the_other_untouched() {
    let (a, b, sa, sb, engine) = two_connected().await;
    let slot_a = engine.slot(&sa.dvr_id).unwrap();
    let slot_b = engine.slot(&sb.dvr_id).unwrap();

    // A goes down hard: its stream drops and new attempts get 500 for a while.
    a.handle().set_fail_mode(FailMode::Status(500));
    a.handle().drop_streams();
    wait_for("A notices", T, || !slot_a.is_connected()).await;
    wait_for("A retries", T, || {
        slot_a.counters.reconnects.load(Ordering::Relaxed) >= 2
    })
    .await;

    // Meanwhile B streams on as if nothing happened.
    b.handle().emit(
        "activities.set",
        "9-stream-X-10.0.0.9",
        "Watching ch9 KCAL from Den",
    );
    wait_for("B applies its event", T, || {
        sessions(&engine, &sb.dvr_id) == 1
    })
    .await;
    assert!(slot_b.is_connected());

    // A recovers.
    a.handle().set_fail_mode(FailMode::None);
    wait_for("A reconnected", T, || slot_a.is_connected()).await;
    assert_eq!(a.handle().connections_total(), 2);

    assert_eq!(
        slot_b.counters.reconnects.load(Ordering::Relaxed),
        0,
        "no reconnect counted on B"
    );
    assert_eq!(slot_b.counters.connections.load(Ordering::Relaxed), 1);
    assert_eq!(
        b.handle().connections_total(),
        1,
        "B's stream was never reopened"
    );
    assert_eq!(b.handle().open_streams(), 1);

    engine.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn dvrs_are_added_and_removed_while_others_stream() {
    let a = sim(Scenario::FamilyEvening).await;
    let c = sim(Scenario::Quiet).await;
    let (sa, sc) = (spec("A", &a, 300), spec("C", &c, 300));
    let engine = Engine::new(
        fast_settings(),
        engine::dvr::client::DvrClient::build_http().unwrap(),
    );
    engine.reconcile(std::slice::from_ref(&sa));
    wait_for("A connected", T, || connected(&engine, &sa.dvr_id)).await;
    let slot_a = engine.slot(&sa.dvr_id).unwrap();
    let events_before = slot_a.counters.events.load(Ordering::Relaxed);

    // Add C at runtime.
    engine.reconcile(&[sa.clone(), sc.clone()]);
    wait_for("C connected", T, || connected(&engine, &sc.dvr_id)).await;
    assert!(
        Engine::slot(&engine, &sa.dvr_id).is_some_and(|s| std::sync::Arc::ptr_eq(&s, &slot_a)),
        "A's slot is the same"
    );

    // Rename A in place: no reconnect.
    let mut renamed = sa.clone();
    renamed.name = "A renamed".into();
    engine.reconcile(&[renamed, sc.clone()]);
    assert_eq!(slot_a.name(), "A renamed");

    // Remove A: its stream closes on the simulator; C is untouched.
    engine.reconcile(std::slice::from_ref(&sc));
    assert!(engine.slot(&sa.dvr_id).is_none());
    let ah = a.handle();
    wait_for("A's stream closed", T, || ah.open_streams() == 0).await;
    c.handle().emit(
        "activities.set",
        "5-stream-X-10.0.0.5",
        "Watching ch5 KTLA from Den",
    );
    wait_for("C applies events", T, || sessions(&engine, &sc.dvr_id) == 1).await;

    assert_eq!(a.handle().connections_total(), 1, "A was never reconnected");
    assert_eq!(c.handle().connections_total(), 1);
    assert_eq!(
        engine
            .slot(&sc.dvr_id)
            .unwrap()
            .counters
            .reconnects
            .load(Ordering::Relaxed),
        0
    );
    assert!(slot_a.counters.events.load(Ordering::Relaxed) >= events_before);

    engine.shutdown().await;
    a.shutdown().await;
    c.shutdown().await;
}
