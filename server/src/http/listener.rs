//! The HTTP listener. When `accept` fails for want of descriptors (EMFILE, ENFILE) or
//! memory, it backs off (5 ms, doubling to 1 s) and tries again, rather than spinning
//! or giving up; the failures are counted (`channelwatch_http_accept_errors_total`)
//! and said at most once a minute. A freed descriptor is picked up within a second.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_secs(1);

pub(crate) struct BackoffListener {
    inner: TcpListener,
    last_said: Option<Instant>,
}

impl BackoffListener {
    pub fn new(inner: TcpListener) -> Self {
        Self {
            inner,
            last_said: None,
        }
    }
}

/// Errors that end one connection attempt, not the listener's ability to accept.
fn is_per_connection(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

impl axum::serve::Listener for BackoffListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        let mut pause = FIRST_PAUSE;
        loop {
            match self.inner.accept().await {
                Ok((io, addr)) => {
                    let _ = io.set_nodelay(true);
                    return (io, addr);
                }
                Err(e) if is_per_connection(&e) => {}
                Err(e) => {
                    let n = crate::metrics::count_accept_error();
                    if self
                        .last_said
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
                    {
                        self.last_said = Some(Instant::now());
                        tracing::error!(error = %e, accept_errors = n, "the HTTP listener cannot accept a connection (out of descriptors?); retrying with back-off");
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}
