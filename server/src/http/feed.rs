//! The dashboard's live endpoints: the Server-Sent Events feed of frames from
//! [`DashboardHub`](crate::dashboard::DashboardHub), and the charts' activity buckets.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use chrono::Utc;
use futures::Stream;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::debug;
use wire::{Activity, ActivitySeries};

use super::error::ApiError;
use super::session::Caller;
use super::AppState;
use crate::dashboard::{Frame, SAMPLE_DAYS};
use storage::activity;

/// `GET /api/v1/live`: the dashboard as Server-Sent Events. `event: alerts` carries the
/// alert history (a JSON array) whenever it changed since this client's last one, and
/// `event: dashboard` the rest of the frame (its `alerts` empty), first at once and
/// then on every change.
pub async fn feed(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let hub = state.services.dashboard.clone();
    let mut rx = hub.subscribe();
    // The first frame now, even if nobody was watching a moment ago.
    let first = hub.current(state.services.as_ref()).await;
    rx.mark_unchanged();
    let every = state.services.config.live_recheck;
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        rx,
        pending: Some(first),
        alerts_sent: 0,
        alerts_done: false,
        caller,
        recheck,
        closing: hub.closing(),
        db: state.services.db.clone(),
    };
    let stream = futures::stream::unfold(feed, |mut f| async move {
        let frame = match f.pending.take() {
            Some(frame) => frame,
            None => f.next_frame().await?,
        };
        if !f.alerts_done && frame.alerts_seq != f.alerts_sent {
            let event = Event::default().event("alerts").data(&*frame.alerts_json);
            f.alerts_sent = frame.alerts_seq;
            f.alerts_done = true;
            f.pending = Some(frame);
            return Some((Ok(event), f));
        }
        f.alerts_done = false;
        let event = Event::default()
            .event("dashboard")
            .id(frame.seq.to_string())
            .data(&*frame.json);
        Some((Ok(event), f))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// One client's stream state.
struct Feed {
    rx: watch::Receiver<Arc<Frame>>,
    /// A frame whose dashboard event is still to be sent.
    pending: Option<Arc<Frame>>,
    /// The alerts version this client has.
    alerts_sent: u64,
    /// The pending frame's alerts went out already.
    alerts_done: bool,
    /// Who the stream is for, asked again at every `recheck` tick.
    caller: Caller,
    /// `config.live_recheck` (30 s). It lives with the stream, so frames (one a second)
    /// do not restart it.
    recheck: tokio::time::Interval,
    closing: CancellationToken,
    db: storage::Db,
}

impl Feed {
    /// The next frame; `None` ends the stream: the hub is gone, or at a recheck the
    /// caller is no longer let in (signed out, session expired, password changed in
    /// another session, user deleted, API key revoked).
    async fn next_frame(&mut self) -> Option<Arc<Frame>> {
        loop {
            tokio::select! {
                _ = self.closing.cancelled() => return None,
                changed = self.rx.changed() => {
                    changed.ok()?;
                    return Some(self.rx.borrow_and_update().clone());
                }
                _ = self.recheck.tick() => {
                    // A failed lookup keeps the stream; the next tick asks again.
                    if !self.caller.still_valid(&self.db).await.unwrap_or(true) {
                        debug!("a live stream ended: its session or API key is no longer valid");
                        return None;
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ActivityQuery {
    #[serde(default)]
    hours: Option<u32>,
    #[serde(default)]
    dvr_id: Option<String>,
}

/// `GET /api/v1/activity?hours=24&dvr_id=`: the charts' data in 5-minute buckets.
pub async fn activity(
    State(state): State<AppState>,
    Query(q): Query<ActivityQuery>,
) -> Result<Json<Activity>, ApiError> {
    let hours = q.hours.unwrap_or(24).clamp(1, 24 * SAMPLE_DAYS);
    let to = Utc::now().timestamp();
    let from = to - hours as i64 * 3600;
    let names: HashMap<String, String> = state
        .services
        .registry
        .list()
        .await?
        .into_iter()
        .map(|r| (r.dvr_id, r.name))
        .collect();
    let rows = activity::buckets(&state.services.db, q.dvr_id.as_deref(), from, 300).await?;
    let mut series: Vec<ActivitySeries> = Vec::new();
    for (dvr_id, at, sessions, used) in rows {
        // Samples of removed DVRs are not charted.
        let Some(name) = names.get(&dvr_id) else {
            continue;
        };
        if series.last().is_none_or(|s| s.dvr_id != dvr_id) {
            series.push(ActivitySeries {
                dvr_id: dvr_id.clone(),
                dvr_name: name.clone(),
                points: Vec::new(),
            });
        }
        if let Some(s) = series.last_mut() {
            s.points.push((at, sessions, used));
        }
    }
    Ok(Json(Activity { from, to, series }))
}
