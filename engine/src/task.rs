//! One DVR's connection loop: open the event stream, read lines, poll `/status` and
//! `/dvr` beside it, and reconnect with backoff when anything fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::cadence;
use super::slot::DvrSlot;
#[cfg(feature = "faults")]
use super::slot::Fault;
use super::{EngineEvent, EngineEventKind, EngineSettings};
use crate::dvr::client::{ClientError, DvrClient, DvrInfo, DvrStatus};
use domain::backoff::Backoff;
use domain::disk::DiskSample;
use domain::dvr::event::{parse_line, DvrEvent, Line};
use domain::dvr::framing::{Frame, LineSplitter};
use domain::session::Change;

/// Everything a DVR task needs; cheap to clone for a restart.
#[derive(Clone)]
pub(crate) struct TaskCtx {
    pub slot: Arc<DvrSlot>,
    pub client: DvrClient,
    pub settings: Arc<EngineSettings>,
    pub events: Arc<super::Bus>,
    /// Wakes the watchdog when the supervisor restarts this task.
    pub restarts: Arc<tokio::sync::Notify>,
    pub cancel: CancellationToken,
    /// Bounds concurrent recording lookups, so a flood of `recorded-…` lines cannot
    /// start unbounded requests.
    pub lookups: Arc<tokio::sync::Semaphore>,
    /// Event-stream handshakes in flight, engine-wide ([`super::MAX_CONNECTING`]).
    pub connecting: Arc<tokio::sync::Semaphore>,
}

/// Frames held back while the first `/dvr` snapshot is awaited (then replayed): at
/// most this many, holding at most this many bytes of text (a line may be 1 MiB).
const MAX_HELD_FRAMES: usize = 10_000;
const MAX_HELD_BYTES: usize = 4 * 1024 * 1024;

fn frame_bytes(f: &Frame) -> usize {
    match f {
        Frame::Line(l) => l.len(),
        Frame::Oversized(_) => 0,
    }
}

impl TaskCtx {
    pub(crate) fn publish(&self, kind: EngineEventKind) {
        self.events.send(Arc::new(EngineEvent {
            dvr_id: self.slot.dvr_id.clone(),
            at: Utc::now(),
            kind,
        }));
    }
}

/// How one connection ended.
enum End {
    Cancelled,
    Eof,
    Failed(ClientError),
    StatusFailed(ClientError),
}

impl End {
    fn describe(&self) -> String {
        match self {
            End::Cancelled => "stopped".into(),
            End::Eof => "event stream closed by the DVR".into(),
            End::Failed(e) => e.to_string(),
            End::StatusFailed(e) => format!("/status keep-alive failed: {e}"),
        }
    }
}

enum Poll {
    Status(Result<DvrStatus, ClientError>),
    Dvr(Result<DvrInfo, ClientError>),
}

/// Runs until cancelled: connect, stream, back off, repeat.
pub(crate) async fn run(ctx: TaskCtx) {
    ctx.slot.mark_task_started();
    let s = &ctx.settings;
    let mut backoff = Backoff::new(s.backoff_base, s.backoff_max);
    let mut attempts: u64 = 0;
    loop {
        if attempts > 0 {
            ctx.slot
                .counters
                .reconnects
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        attempts += 1;
        let (connected_at, end) = connect_and_stream(&ctx).await;
        let was_connected = connected_at.is_some();
        ctx.slot.set_connected(false);
        if matches!(end, End::Cancelled) || ctx.cancel.is_cancelled() {
            return;
        }
        if connected_at.is_some_and(|t| t.elapsed() >= s.healthy_reset) {
            backoff.reset();
        }
        // Retry-After is honoured, but never below the backoff step: a `Retry-After: 0`
        // must not turn into a reconnect loop.
        let step = backoff.next_delay();
        let delay = match &end {
            End::Failed(ClientError::RateLimited {
                retry_after: Some(d),
            }) => (*d).max(step),
            _ => step,
        };
        let reason = end.describe();
        ctx.slot.set_error(Some(reason.clone()));
        warn!(
            dvr_id = %ctx.slot.dvr_id,
            error = %reason,
            retry_in_ms = delay.as_millis() as u64,
            "DVR event stream down; reconnecting"
        );
        if was_connected {
            ctx.publish(EngineEventKind::Disconnected { reason });
        }
        if !sleep_alive(&ctx, delay).await {
            return;
        }
    }
}

/// Sleeps while keeping the heartbeat; false when cancelled.
async fn sleep_alive(ctx: &TaskCtx, delay: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + delay;
    loop {
        ctx.slot.beat();
        check_fault(ctx).await;
        let step = ctx.settings.heartbeat_interval;
        let wake =
            cadence::next_on_grid(tokio::time::Instant::now() + step / 2, step).min(deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {
                if wake >= deadline {
                    return true;
                }
            }
            _ = ctx.cancel.cancelled() => return false,
        }
    }
}

/// Acts on an injected fault (the `faults` feature): a panic, or a hang with no
/// heartbeat.
#[cfg(feature = "faults")]
async fn check_fault(ctx: &TaskCtx) {
    match ctx.slot.take_fault() {
        Some(Fault::Panic) => panic!("injected fault in DVR task {}", ctx.slot.dvr_id),
        Some(Fault::Hang) => std::future::pending::<()>().await,
        Some(Fault::Exit) | None => {}
    }
}

#[cfg(not(feature = "faults"))]
async fn check_fault(_: &TaskCtx) {}

/// A descriptor for the event stream: at once, or after waiting (with heartbeats) near
/// the open-file limit. `None` when cancelled while waiting.
async fn stream_descriptor(ctx: &TaskCtx) -> Option<crate::fd_limit::Held> {
    let budget = crate::fd_limit::dvr_connections();
    if let Some(p) = budget.try_stream() {
        return Some(p);
    }
    ctx.slot.set_error(Some(
        "waiting for a free connection: the open-file limit is reached (raise ulimit -n)".into(),
    ));
    let wait = budget.stream();
    tokio::pin!(wait);
    loop {
        tokio::select! {
            p = &mut wait => return Some(p),
            _ = tokio::time::sleep(ctx.settings.heartbeat_interval) => ctx.slot.beat(),
            _ = ctx.cancel.cancelled() => return None,
        }
    }
}

async fn connect_and_stream(ctx: &TaskCtx) -> (Option<Instant>, End) {
    let s = &ctx.settings;
    let Some(_fd) = stream_descriptor(ctx).await else {
        return (None, End::Cancelled);
    };
    // Handshakes in flight are bounded engine-wide, so thousands of DVRs coming back at
    // once queue here instead of stampeding the network and the DVR hosts.
    let res = tokio::select! {
        r = async {
            let _turn = ctx.connecting.acquire().await;
            ctx.client.subscribe(s.header_timeout).await
        } => r,
        _ = ctx.cancel.cancelled() => return (None, End::Cancelled),
    };
    let res = match res {
        Ok(r) => r,
        Err(e) => return (None, End::Failed(e)),
    };
    let connected_at = Instant::now();
    ctx.slot
        .counters
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ctx.slot.set_connected(true);
    ctx.slot.set_error(None);
    info!(dvr_id = %ctx.slot.dvr_id, url = %ctx.client.base(), "DVR event stream connected");
    ctx.publish(EngineEventKind::Connected);

    let (poll_tx, mut poll_rx) = mpsc::channel(4);
    let poller = tokio::spawn(poll_loop(ctx.client.clone(), ctx.settings.clone(), poll_tx));
    let _poller = AbortOnDrop(poller);

    let mut body = res.bytes_stream();
    let mut splitter = LineSplitter::default();
    let mut frames = Vec::new();
    // Until the first `/dvr` snapshot is applied, stream frames are held and replayed
    // after it, so the snapshot can never undo a newer event (an end seen on the stream).
    let mut held: Option<Vec<Frame>> = Some(Vec::new());
    let mut held_bytes = 0;
    // When the stream last delivered bytes (the connect counts).
    let mut last_data = Instant::now();
    loop {
        // Cancellation first, then the stream before the polls: after the runtime was
        // starved (a busy host), bytes already waiting prove the stream delivers and
        // must be read before a failed keep-alive is judged against `last_data`.
        tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => return (Some(connected_at), End::Cancelled),
            chunk = body.next() => match chunk {
                Some(Ok(bytes)) => {
                    last_data = Instant::now();
                    ctx.slot.beat();
                    splitter.push(&bytes, &mut frames);
                    let incoming: usize = frames.iter().map(frame_bytes).sum();
                    match held.as_mut() {
                        Some(buf)
                            if buf.len() + frames.len() <= MAX_HELD_FRAMES
                                && held_bytes + incoming <= MAX_HELD_BYTES =>
                        {
                            if frames.iter().any(|f| !matches!(f, Frame::Line(l) if l.trim().is_empty())) {
                                ctx.slot.mark_event();
                            }
                            held_bytes += incoming;
                            buf.append(&mut frames);
                        }
                        _ => {
                            replay(ctx, held.take());
                            for frame in frames.drain(..) {
                                handle_frame(ctx, frame);
                            }
                        }
                    }
                }
                Some(Err(e)) => return (Some(connected_at), End::Failed(ClientError::Unreachable(format!("event stream read failed: {}", crate::dvr::client::with_sources(&e))))),
                None => return (Some(connected_at), End::Eof),
            },
            // The keep-alive polls are the heartbeat while connected: every one (at least
            // each `status_interval` plus its timeout) proves the task is being run,
            // so an idle DVR needs no timer of its own.
            Some(poll) = poll_rx.recv() => {
                ctx.slot.beat();
                check_fault(ctx).await;
                match poll {
                    Poll::Status(Ok(status)) => {
                        ctx.slot.mark_event();
                        ctx.slot.set_status(status);
                    }
                    Poll::Status(Err(e)) => {
                        // The stream is the judge: one that still delivers is alive, however
                        // slow `/status` is; only a silent stream with a failing `/status`
                        // is torn down (reconnecting a slow DVR adds load and loses events).
                        if last_data.elapsed() > stream_silence_limit(s) {
                            return (Some(connected_at), End::StatusFailed(e));
                        }
                        ctx.slot.counters.status_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        debug!(dvr_id = %ctx.slot.dvr_id, error = %e, "/status keep-alive failed while the stream delivers; keeping the stream");
                    }
                    Poll::Dvr(Ok(info)) => {
                        if let Some(d) = info.disk {
                            let sample = DiskSample { free_bytes: d.free, total_bytes: d.total };
                            ctx.slot.set_disk(sample);
                            ctx.publish(EngineEventKind::Disk(sample));
                        }
                        if held.is_some() {
                            let (changes, playing) = ctx.slot.with_state(|st| {
                                let changes = st.resync(&info.activity, Utc::now());
                                (changes, st.playing_names())
                            });
                            publish_changes(ctx, changes);
                            ctx.publish(EngineEventKind::Resynced { playing });
                            replay(ctx, held.take());
                        }
                    }
                    Poll::Dvr(Err(e)) => {
                        warn!(dvr_id = %ctx.slot.dvr_id, error = %e, "GET /dvr failed; disk figures not updated");
                        replay(ctx, held.take());
                    }
                }
            },
        }
    }
}

/// How long a stream may stay silent and still count as delivering: a keep-alive poll
/// and its timeout.
fn stream_silence_limit(s: &EngineSettings) -> Duration {
    s.status_interval + s.status_timeout
}

/// `/status` on connect and every `status_interval`; `/dvr` on connect and about every
/// `disk_interval`. Runs beside the stream so a slow poll never delays event reading.
async fn poll_loop(client: DvrClient, s: Arc<EngineSettings>, tx: mpsc::Sender<Poll>) {
    let (host, port, api_key) = client.address();
    let mut poller = crate::dvr::poll::Poller::new(host, port, api_key);
    // On the shared grid, thousands of DVRs' polls go out in a few batches a second.
    let mut tick = cadence::aligned_interval(s.status_interval, cadence::SPREAD);
    let every = disk_every(&s);
    for n in 0u64.. {
        tick.tick().await;
        // /status first: it judges the stream, and a hung DVR must not wait behind /dvr.
        let answer = poller.status(s.status_timeout).await;
        if tx.send(Poll::Status(answer)).await.is_err() {
            return;
        }
        if n.is_multiple_of(every) {
            let answer = poller.dvr_info(s.status_timeout).await;
            if tx.send(Poll::Dvr(answer)).await.is_err() {
                return;
            }
        }
    }
}

/// Every how many keep-alive ticks `/dvr` is polled (on connect, then on every
/// `every`-th tick, right after that tick's `/status`): one timer serves both.
fn disk_every(s: &EngineSettings) -> u64 {
    let ratio = s.disk_interval.as_secs_f64() / s.status_interval.as_secs_f64().max(1e-3);
    (ratio.round() as u64).max(1)
}

fn handle_frame(ctx: &TaskCtx, frame: Frame) {
    let slot = &ctx.slot;
    let line = match frame {
        Frame::Line(line) => line,
        Frame::Oversized(bytes) => {
            slot.counters
                .oversized_lines
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(suppressed) = slot.line_warnings.lock().allow(Instant::now()) {
                warn!(dvr_id = %slot.dvr_id, bytes, suppressed, "dropped an event line over 1 MiB");
            }
            return;
        }
    };
    if line.trim().is_empty() {
        return;
    }
    slot.mark_event();
    match parse_line(&line) {
        Ok(Line::Skip) => {}
        Ok(Line::Event(event)) => {
            slot.count_event(event.kind());
            match &event {
                DvrEvent::Unknown { event_type } => {
                    slot.counters
                        .unknown_types
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    debug!(dvr_id = %slot.dvr_id, event_type = %event_type, "ignoring unknown event type");
                }
                DvrEvent::RecordingCompleted { file_id } => {
                    resolve_completed_recording(ctx, file_id.clone());
                }
                _ => {}
            }
            let changes = slot.with_state(|st| st.apply(&event, Utc::now()));
            publish_changes(ctx, changes);
        }
        Err(e) => {
            slot.counters
                .parse_errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(suppressed) = slot.line_warnings.lock().allow(Instant::now()) {
                // The DVR's bytes in our log: one short line, no control characters.
                let sample = domain::text::outside_text(&line, 120);
                warn!(dvr_id = %slot.dvr_id, error = %e, line = %sample, suppressed, "malformed event line skipped");
            }
        }
    }
}

fn replay(ctx: &TaskCtx, held: Option<Vec<Frame>>) {
    for frame in held.into_iter().flatten() {
        handle_frame(ctx, frame);
    }
}

fn publish_changes(ctx: &TaskCtx, changes: Vec<Change>) {
    for change in changes {
        ctx.publish(EngineEventKind::Change(change));
    }
}

/// `recorded-<file>` names only the library file: ask the DVR which job it was, off the
/// stream's path, then end that recording.
fn resolve_completed_recording(ctx: &TaskCtx, file_id: String) {
    let ctx = ctx.clone();
    let permit = ctx.lookups.clone().try_acquire_owned().ok();
    tokio::spawn(async move {
        let timeout = ctx.settings.status_timeout;
        let job = match permit {
            Some(_permit) => tokio::select! {
                r = ctx.client.recording(&file_id, timeout) => match r {
                    Ok(info) => info.job_id,
                    Err(e) => {
                        debug!(dvr_id = %ctx.slot.dvr_id, file_id = %file_id, error = %e, "recording lookup failed");
                        None
                    }
                },
                _ = ctx.cancel.cancelled() => return,
            },
            None => {
                debug!(dvr_id = %ctx.slot.dvr_id, file_id = %file_id, "too many recording lookups in flight; not looked up");
                None
            }
        };
        let job_id = ctx.slot.with_state(|st| {
            let job = job.or_else(|| st.sole_recording())?;
            st.finish_recording(&job).map(|_| job)
        });
        ctx.publish(EngineEventKind::Change(Change::RecordingCompleted {
            file_id,
            job_id,
        }));
    });
}

/// Aborts a helper task when the connection it serves ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod poll_plan_tests {
    use super::*;

    #[test]
    fn dvr_comes_with_every_eighth_status() {
        assert_eq!(disk_every(&EngineSettings::default()), 8);
        let equal = EngineSettings {
            status_interval: Duration::from_millis(500),
            disk_interval: Duration::from_millis(500),
            ..EngineSettings::default()
        };
        assert_eq!(disk_every(&equal), 1);
        let faster_disk = EngineSettings {
            disk_interval: Duration::from_secs(1),
            ..EngineSettings::default()
        };
        assert_eq!(disk_every(&faster_disk), 1, "never less than every tick");
    }
}
