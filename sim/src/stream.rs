//! The body of `GET /dvr/events/subscribe`: hello, then every broadcast line.
//!
//! The body is a plain `Stream` (no task per connection): when the client goes away,
//! hyper drops the body and with it the broadcast receiver and the open-stream guard,
//! so nothing can leak. `drop_streams`/`shutdown` end it through a cancellation token;
//! a stall keeps it pending without writing anything.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::state::Shared;
use super::Framing;

const KEEPALIVE: &[u8] = b": keepalive\n\n";

/// Keeps the open-stream count right however the stream ends (EOF, drop, disconnect).
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.stream_closed();
    }
}

struct EventStream {
    shared: Arc<Shared>,
    rx: broadcast::Receiver<Bytes>,
    cancel: CancellationToken,
    stall_rx: watch::Receiver<bool>,
    hello_pending: bool,
    keepalive: Option<Interval>,
    _guard: OpenGuard,
}

/// Builds one subscriber's body. Subscribes to the broadcast immediately, so events
/// emitted after the handler returns are never missed.
pub(crate) fn event_body(shared: &Arc<Shared>) -> Body {
    let keepalive = match (shared.config.framing, shared.config.keepalive) {
        (Framing::Sse, Some(period)) => {
            let period = period.max(Duration::from_millis(1));
            // An absurdly long period (overflowing the clock) means "never".
            Instant::now().checked_add(period).map(|first| {
                let mut iv = tokio::time::interval_at(first, period);
                iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
                iv
            })
        }
        _ => None,
    };
    shared.stream_opened();
    let state = EventStream {
        rx: shared.subscribe(),
        cancel: shared.stream_token(),
        stall_rx: shared.stall.subscribe(),
        hello_pending: true,
        keepalive,
        _guard: OpenGuard(Arc::clone(shared)),
        shared: Arc::clone(shared),
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        let chunk = st.next_chunk().await?;
        Some((Ok::<Bytes, Infallible>(chunk), st))
    });
    Body::from_stream(stream)
}

async fn keepalive_tick(keepalive: &mut Option<Interval>) {
    match keepalive {
        Some(iv) => {
            iv.tick().await;
        }
        None => std::future::pending::<()>().await,
    }
}

impl EventStream {
    /// The next bytes to write, or `None` to end the body.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        let EventStream {
            shared,
            rx,
            cancel,
            stall_rx,
            hello_pending,
            keepalive,
            ..
        } = self;
        loop {
            if cancel.is_cancelled() {
                return None;
            }
            let stalled = *stall_rx.borrow_and_update();
            if !stalled && *hello_pending {
                *hello_pending = false;
                shared.count_sent();
                return Some(shared.hello());
            }
            let keepalive_on = !stalled && keepalive.is_some();
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return None,
                changed = stall_rx.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                msg = rx.recv() => match msg {
                    Ok(bytes) => {
                        // While stalled, events are consumed and discarded: nothing at
                        // all reaches the wire, like a hung server.
                        if !stalled {
                            shared.count_sent();
                            return Some(bytes);
                        }
                    }
                    Err(RecvError::Lagged(skipped)) => {
                        tracing::debug!(skipped, "simulator subscriber lagged; events lost, stream continues");
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = keepalive_tick(keepalive), if keepalive_on => {
                    return Some(Bytes::from_static(KEEPALIVE));
                }
            }
        }
    }
}
