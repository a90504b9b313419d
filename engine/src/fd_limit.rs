//! The open-file limit. Containers often start with a soft limit of 1024, which a few
//! hundred DVRs exhaust (each holds its event stream open); the hard limit is usually
//! far higher, so it is raised at start and the log says how many DVRs it allows.
//!
//! DVR connections then draw from a budget below the limit ([`dvr_connections`]), so
//! near it a new DVR connection waits for a free descriptor instead of taking the
//! ones the HTTP listener, the database and the log files need: the probes and
//! `/metrics` keep answering with more DVRs configured than the limit carries.
//!
//! What the streams leave free keeps DVRs' poll connections open between polls
//! ([`DvrConnections::try_keep`]): a kept connection makes a keep-alive poll a write
//! and a read instead of a new TCP connection, and it never takes a descriptor a
//! configured DVR's stream may need.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Descriptors kept for everything but DVR connections: the HTTP listener and its
/// clients, the database and its WAL, log files, provider sends. A quarter of a
/// small limit.
pub(crate) const RESERVED: u64 = 256;

fn reserved(limit: u64) -> u64 {
    RESERVED.min(limit / 4)
}

/// Of the DVR budget, what only requests (polls, lookups) may use, so event streams
/// can never starve the polls that judge them.
fn request_share(budget: u64) -> u64 {
    (budget / 16).max(8).min(budget / 2)
}

/// How many DVRs a limit carries: one descriptor each (its event stream; a poll's
/// connection is short and draws from the request share).
pub fn dvr_capacity(limit: u64) -> u64 {
    let budget = limit.saturating_sub(reserved(limit));
    budget - request_share(budget)
}

/// The limit before and after raising it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    pub before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft open-file limit as far as the hard one allows.
pub fn raise() -> std::io::Result<FdLimit> {
    let (before, hard) = rlimit::Resource::NOFILE.get()?;
    let soft = rlimit::increase_nofile_limit(u64::MAX)?;
    Ok(FdLimit { before, soft, hard })
}

/// The soft limit now (0 when it cannot be read).
pub fn soft_limit() -> u64 {
    rlimit::Resource::NOFILE.get().map(|l| l.0).unwrap_or(0)
}

/// Descriptors this process has open (Linux; `None` elsewhere).
pub fn open_now() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

/// The descriptors DVR connections may hold: event streams (one per connected DVR,
/// held while it streams) and requests (held while one is in flight).
pub struct DvrConnections {
    /// Event streams and kept poll connections.
    streams: Semaphore,
    requests: Semaphore,
    stream_cap: usize,
    waiting: AtomicUsize,
    /// DVRs the engine runs: each may need a stream descriptor at any time.
    dvrs: AtomicUsize,
    /// Poll connections kept open between polls.
    kept: AtomicUsize,
    /// Stream descriptors kept connections leave free besides every DVR's stream: a
    /// request's socket closes a moment after its permit returns (its connection task
    /// closes it), and a burst of thousands (lookups as 10,000 DVRs connect) must not
    /// meet a limit filled by kept connections ("Too many open files" in one run).
    keep_margin: usize,
    last_warned: Mutex<Option<Instant>>,
}

/// A held descriptor; released when dropped.
pub type Held = SemaphorePermit<'static>;

static BUDGET: OnceLock<DvrConnections> = OnceLock::new();

/// The process's budget, sized on first use from the soft limit then in force
/// (`serve` raises it before any DVR connects).
pub fn dvr_connections() -> &'static DvrConnections {
    BUDGET.get_or_init(|| DvrConnections::for_limit(soft_limit().max(64)))
}

impl DvrConnections {
    fn for_limit(limit: u64) -> Self {
        let budget = limit.saturating_sub(reserved(limit));
        let requests = request_share(budget);
        let streams = (budget - requests) as usize;
        Self {
            streams: Semaphore::new(streams),
            requests: Semaphore::new(requests as usize),
            stream_cap: streams,
            waiting: AtomicUsize::new(0),
            dvrs: AtomicUsize::new(0),
            kept: AtomicUsize::new(0),
            keep_margin: requests as usize,
            last_warned: Mutex::new(None),
        }
    }

    /// A descriptor for an event stream, if one is free now.
    pub(crate) fn try_stream(&'static self) -> Option<Held> {
        self.streams.try_acquire().ok()
    }

    /// A descriptor for an event stream, waiting for one near the limit (said in the
    /// log at most once a minute: more DVRs are configured than the limit carries).
    pub async fn stream(&'static self) -> Held {
        if let Some(p) = self.try_stream() {
            return p;
        }
        self.wait(&self.streams, true).await
    }

    /// A descriptor for one request, waiting for one when many are in flight (a burst
    /// of polls and lookups as thousands of DVRs connect: back-pressure, not a fault).
    pub async fn request(&'static self) -> Held {
        if let Ok(p) = self.requests.try_acquire() {
            return p;
        }
        self.wait(&self.requests, false).await
    }

    /// Waits on `sem`; a stream's wait is counted in [`Self::waiting`] and said.
    async fn wait(&'static self, sem: &'static Semaphore, stream: bool) -> Held {
        if !stream {
            return sem
                .acquire()
                .await
                .expect("budget semaphore is never closed");
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _done = Waiting(&self.waiting);
        {
            let mut last = self.last_warned.lock();
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                *last = Some(Instant::now());
                tracing::warn!(
                    limit = soft_limit(),
                    dvr_connections = self.stream_cap,
                    "near the open-file limit: new DVR connections wait for a free descriptor; raise the limit (ulimit -n) to watch more DVRs"
                );
            }
        }
        // The semaphore is never closed.
        sem.acquire()
            .await
            .expect("budget semaphore is never closed")
    }

    /// Event streams open now.
    pub fn streams_open(&self) -> usize {
        (self.stream_cap - self.streams.available_permits()).saturating_sub(self.kept())
    }

    /// The engine says how many DVRs it runs; kept poll connections stay below what
    /// their streams leave free.
    pub(crate) fn set_dvrs(&self, n: usize) {
        self.dvrs.store(n, Ordering::Relaxed);
    }

    /// A descriptor to keep a poll connection open between polls, when the streams of
    /// every DVR the engine runs still fit beside the kept ones and no stream waits.
    /// Asked again after each poll: a kept connection closes once streams need room.
    pub(crate) fn try_keep(&'static self) -> Option<Kept> {
        if !self.may_keep(0) {
            return None;
        }
        let permit = self.streams.try_acquire().ok()?;
        self.kept.fetch_add(1, Ordering::Relaxed);
        Some(Kept {
            _permit: permit,
            kept: &self.kept,
        })
    }

    /// Whether `held` kept connections (counted already) plus one more still fit.
    pub(crate) fn may_keep(&self, held: usize) -> bool {
        let others = self.kept().saturating_sub(held);
        self.waiting() == 0
            && others + self.dvrs.load(Ordering::Relaxed) + self.keep_margin < self.stream_cap
    }

    /// Poll connections kept open now.
    pub fn kept(&self) -> usize {
        self.kept.load(Ordering::Relaxed)
    }

    /// Event streams the budget allows.
    pub fn stream_capacity(&self) -> usize {
        self.stream_cap
    }

    /// Event streams waiting for a descriptor now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// The descriptor of a kept poll connection; counted out when dropped.
pub(crate) struct Kept {
    _permit: Held,
    kept: &'static AtomicUsize,
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.kept.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kept")
    }
}

/// Counts a waiter out however its wait ends (a cancelled task included).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_leaves_room_for_the_rest() {
        assert_eq!(dvr_capacity(1024), 768 - 48);
        // The machine kind we measure on: 10,000 DVRs fit.
        assert_eq!(dvr_capacity(20_000), 19_744 - 1_234);
        assert!(dvr_capacity(20_000) >= 10_000);
        assert_eq!(dvr_capacity(400), 300 - 18);
        assert_eq!(dvr_capacity(10), 4, "never negative");
        assert_eq!(dvr_capacity(0), 0);
    }

    #[tokio::test]
    async fn past_the_budget_a_stream_waits_and_gets_a_freed_descriptor() {
        let b: &'static DvrConnections = Box::leak(Box::new(DvrConnections::for_limit(64)));
        let cap = b.stream_capacity();
        let held: Vec<_> = (0..cap).map(|_| b.try_stream().unwrap()).collect();
        assert_eq!(b.streams_open(), cap);
        assert!(b.try_stream().is_none());
        let waiter = tokio::spawn(async move { b.stream().await });
        let deadline = Instant::now() + Duration::from_secs(5);
        while b.waiting() == 0 {
            assert!(Instant::now() < deadline);
            tokio::task::yield_now().await;
        }
        // Requests still have their own share.
        let _r = b.request().await;
        drop(held);
        let _p = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.waiting(), 0);
        assert_eq!(b.streams_open(), 1);
    }

    #[test]
    fn poll_connections_are_kept_only_beside_every_dvr_s_stream() {
        let b: &'static DvrConnections = Box::leak(Box::new(DvrConnections::for_limit(64)));
        let cap = b.stream_capacity();
        let free = b.keep_margin + 2;
        b.set_dvrs(cap - free);
        let streams: Vec<_> = (0..cap - free).map(|_| b.try_stream().unwrap()).collect();
        let first = b.try_keep().expect("room for two kept connections");
        assert!(b.may_keep(1), "the holder of one may keep it");
        let second = b.try_keep().expect("the second fits");
        assert!(b.try_keep().is_none(), "the streams' room is full");
        assert_eq!((b.kept(), b.streams_open()), (2, cap - free));
        assert!(
            b.keep_margin > 0,
            "a margin stays free for requests' sockets"
        );
        // One more DVR: a kept connection must give its descriptor back.
        b.set_dvrs(cap - free + 1);
        assert!(!b.may_keep(1));
        drop(second);
        assert!(b.may_keep(1));
        assert_eq!(b.kept(), 1);
        // A configured DVR's stream gets the descriptor.
        let _s = b
            .try_stream()
            .expect("the freed descriptor goes to a stream");
        drop((first, streams));
        assert_eq!(b.kept(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_is_raised_toward_the_hard_one() {
        let l = raise().unwrap();
        assert!(l.soft >= l.before, "{l:?}");
        assert!(l.soft <= l.hard, "{l:?}");
        assert_eq!(rlimit::Resource::NOFILE.get().unwrap().0, l.soft);
    }
}
