//! A simulated Channels DVR: the HTTP API ChannelWatch talks to, with scripted activity.
//!
//! Used three ways: `channelwatch simulate` (see [`run_cli`]), in-process by integration
//! tests and benchmarks ([`Simulator::start`] on port 0, steered through [`SimHandle`]),
//! and by `serve --demo`. The responses come from captured fixtures; the event stream,
//! `/dvr` activity and disk, jobs and recordings come from live state that scenario
//! scripts and [`SimHandle::emit`] change together, so polled and streamed views agree.

mod art;
mod client;
mod fixtures;
mod mdns;
mod routes;
mod scenario;
mod state;
mod stream;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

pub use client::{ChannelsClient, CLIENT_SERVICE_TYPE};
pub use mdns::{advertise, SERVICE_TYPE};
#[cfg(feature = "testing")]
pub use scenario::testing;
use state::Shared;

/// How long `shutdown` waits for connections to finish before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A scripted behaviour for the simulated DVR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Only the `hello`; nothing else happens.
    Quiet,
    /// Several devices watching live TV and recordings, a recorder at work.
    FamilyEvening,
    /// Free disk space shrinking through the warning and critical thresholds.
    DiskFilling,
    /// Family-evening events, but connections dropped every few seconds.
    Flapping,
    /// Good events interleaved with malformed lines.
    Garbage,
    /// A few events, then an open but silent stream.
    Stall,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::Quiet,
        Scenario::FamilyEvening,
        Scenario::DiskFilling,
        Scenario::Flapping,
        Scenario::Garbage,
        Scenario::Stall,
    ];

    /// The CLI name (`family-evening`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Quiet => "quiet",
            Scenario::FamilyEvening => "family-evening",
            Scenario::DiskFilling => "disk-filling",
            Scenario::Flapping => "flapping",
            Scenario::Garbage => "garbage",
            Scenario::Stall => "stall",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown scenario name; the message lists the valid ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownScenario(pub String);

impl fmt::Display for UnknownScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown scenario {:?}; valid scenarios: ", self.0)?;
        for (i, s) in Scenario::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(s.name())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownScenario {}

impl FromStr for Scenario {
    type Err = UnknownScenario;

    /// Accepts the CLI names, case-insensitively, with `_` allowed for `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == wanted)
            .ok_or_else(|| UnknownScenario(s.to_owned()))
    }
}

/// How event lines are written on the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `{json}\n`, what real DVRs send.
    Bare,
    /// `data: {json}\n\n`, what SSE-style mocks send.
    Sse,
}

/// How new `/dvr/events/subscribe` requests are refused (for reconnect tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailMode {
    /// Serve streams normally.
    #[default]
    None,
    /// Answer with this status code and a short body.
    Status(u16),
    /// Answer 429 with `Retry-After: <secs>`.
    TooManyRequests { retry_after_secs: u64 },
}

/// Everything that shapes one simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub scenario: Scenario,
    /// Scenario scripts are deterministic for a given seed.
    pub seed: u64,
    /// Reported in `/status` "name".
    pub name: String,
    /// 1.0 = real time; 10.0 = the scenario runs 10x faster (scripted delays divided).
    /// Non-finite or non-positive values are treated as 1.0.
    pub time_scale: f64,
    /// How event lines are written.
    pub framing: Framing,
    /// `: keepalive` comment lines at this interval (SSE framing only); None = never.
    pub keepalive: Option<Duration>,
    /// Like a DVR set to require authentication: every Channels DVR path answers 401
    /// without this `X-API-Key` (the `/__sim` control paths stay open).
    pub api_key: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            scenario: Scenario::Quiet,
            seed: 1,
            name: "Simulated DVR".to_owned(),
            time_scale: 1.0,
            framing: Framing::Bare,
            keepalive: None,
            api_key: None,
        }
    }
}

/// A running simulated DVR. Dropping it without [`Simulator::shutdown`] still stops
/// the server and script (in the background), so a failed test cannot leak one.
pub struct Simulator {
    handle: SimHandle,
    server: Option<JoinHandle<()>>,
    script: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Binds (port 0 allowed) and starts serving plus the scenario script task.
    pub async fn start(bind: SocketAddr, config: SimConfig) -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(addr, config));
        let app = routes::router(Arc::clone(&shared));
        let stop = shared.shutdown.clone();
        let counted = Arc::clone(&shared);
        let server = tokio::spawn(async move {
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(move |_| counted.count_accepted());
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
            {
                tracing::error!(%err, "simulated DVR server failed");
            }
        });
        let script = tokio::spawn(scenario::run(Arc::clone(&shared)));
        Ok(Simulator {
            handle: SimHandle { shared },
            server: Some(server),
            script: Some(script),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }

    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops accepting, ends every open stream and the scenario task, and waits for it all.
    pub async fn shutdown(mut self) {
        self.handle.shared.shutdown.cancel();
        if let Some(script) = self.script.take() {
            if let Err(err) = script.await {
                tracing::warn!(%err, "simulator script task ended abnormally");
            }
        }
        if let Some(mut server) = self.server.take() {
            // Streams end on the token; only a client stuck mid-request could hold
            // a connection open, so bound the wait.
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(%err, "simulator server task ended abnormally"),
                Err(_) => {
                    tracing::warn!("simulator connections still open after grace period; aborting");
                    server.abort();
                }
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.handle.shared.shutdown.cancel();
    }
}

/// Controls one simulator; cheap to clone, usable from any task.
#[derive(Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.shared.addr)
            .field("scenario", &self.shared.config.scenario)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// Sends `{"Type","Name","Value"}` to every open stream, after applying it to the
    /// simulator's own state (activity map, jobs, recordings).
    pub fn emit(&self, event_type: &str, name: &str, value: &str) {
        self.shared.emit(event_type, name, value);
    }

    /// Writes this exact text plus `\n`, unframed, with no state change.
    pub fn emit_raw(&self, line: &str) {
        self.shared.emit_raw(line);
    }

    /// Ends every currently open event stream (clients see EOF); new ones still work.
    pub fn drop_streams(&self) {
        self.shared.drop_streams();
    }

    /// While true, open streams write nothing at all (events are discarded, no
    /// keepalives, a new stream's hello waits) and `/status` hangs unanswered, like a
    /// hung DVR process.
    pub fn set_stall(&self, stalled: bool) {
        self.shared.set_stall(stalled);
    }

    /// Applies to new `/dvr/events/subscribe` requests.
    pub fn set_fail_mode(&self, mode: FailMode) {
        self.shared.set_fail_mode(mode);
    }

    /// When true, `GET /status` answers 500.
    pub fn set_status_fail(&self, fail: bool) {
        self.shared.set_status_fail(fail);
    }

    /// Figures served by `GET /dvr` (used = total - free).
    pub fn set_disk(&self, free: u64, total: u64) {
        self.shared.set_disk(free, total);
    }

    pub fn disk(&self) -> (u64, u64) {
        self.shared.disk()
    }

    /// Event streams open right now.
    pub fn open_streams(&self) -> usize {
        self.shared.open_streams()
    }

    /// Subscribe requests answered with a 200 stream so far.
    pub fn connections_total(&self) -> u64 {
        self.shared.connections_total()
    }

    /// Lines written, summed over streams (hello, events and raw lines; not keepalives).
    pub fn events_sent(&self) -> u64 {
        self.shared.events_sent()
    }

    /// DVR API requests answered (or refused) for `path` so far.
    pub fn requests(&self, path: &str) -> u64 {
        self.shared.requests(path)
    }

    /// TCP connections accepted so far: event streams and requests alike.
    pub fn tcp_connections(&self) -> u64 {
        self.shared.tcp_accepted()
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }
}

/// `channelwatch simulate`: serves on `bind` until ctrl-c, then shuts down cleanly.
pub async fn run_cli(bind: SocketAddr, config: SimConfig, mdns: bool) -> std::io::Result<()> {
    let scenario = config.scenario;
    let seed = config.seed;
    let name = config.name.clone();
    let sim = Simulator::start(bind, config).await?;
    // Announced like a real DVR, for discovery tests and demos; dropped on shutdown.
    let _announcement = if mdns {
        let ip = match sim.addr().ip() {
            ip if ip.is_unspecified() => std::net::IpAddr::from([127, 0, 0, 1]),
            ip => ip,
        };
        let daemon = mdns::advertise(&name, ip, sim.addr().port(), fixtures::VERSION)
            .map_err(std::io::Error::other)?;
        tracing::info!(name = %name, "announcing the simulated DVR over mDNS");
        Some(daemon)
    } else {
        None
    };
    tracing::info!(
        addr = %sim.addr(),
        scenario = scenario.name(),
        seed,
        "simulated Channels DVR listening"
    );
    let signal = tokio::signal::ctrl_c().await;
    tracing::info!("simulated Channels DVR shutting down");
    sim.shutdown().await;
    signal
}

#[cfg(test)]
mod tests;
