//! Start-up and shutdown of `channelwatch serve`: storage, declared DVRs, the engine,
//! the HTTP server, and the simulated DVRs of `--demo`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::declared::{Declared, Parts};
use crate::config::Config;
use crate::http::AppState;
use crate::registry::{NewDvr, Registry, RegistryError};
use crate::services::Services;
use engine::watchdog::{Watchdog, WatchdogSettings};
use engine::{Engine, EngineSettings};
use sim::{Scenario, SimConfig, Simulator};
use storage::dvrs::ManagedBy;
use storage::{settings, Db, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("declared DVRs are invalid: {0}")]
    Declared(#[from] RegistryError),
    #[error("{0}")]
    File(#[from] crate::config::declared::ApplyError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the demo DVR simulators: {0}")]
    Demo(std::io::Error),
    #[error("CHANNELWATCH_ADMIN_USER/CHANNELWATCH_ADMIN_PASSWORD: {0}")]
    Admin(String),
    #[error(transparent)]
    Http(#[from] engine::dvr::client::HttpSetupError),
}

/// Everything [`Server::shutdown`] does fits in this, so a container's stop (SIGTERM,
/// then SIGKILL 10 s later) never kills it half-way.
pub(crate) const SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(8);

/// A running server; dropping it does not stop it, call [`Server::shutdown`].
pub struct Server {
    pub addr: SocketAddr,
    pub services: Arc<Services>,
    cancel: CancellationToken,
    http: tokio::task::JoinHandle<()>,
    watchdog: tokio::task::JoinHandle<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
    demo: Vec<Simulator>,
}

/// The three demo DVRs: name, scenario, seed, preferred port (stable ids across runs).
const DEMO_DVRS: [(&str, Scenario, u64, u16); 3] = [
    ("Living Room (demo)", Scenario::FamilyEvening, 1, 18089),
    ("Bedroom (demo)", Scenario::FamilyEvening, 2, 18090),
    ("Garage (demo)", Scenario::DiskFilling, 3, 18091),
];

/// The demo households run at a quarter of the simulator's test pace: a play every
/// half minute or so per DVR, so the dashboard stays lively while each DVR's alerts
/// stay well inside the default budget (a test below checks the arithmetic).
const DEMO_TIME_SCALE: f64 = 0.25;

async fn start_demo() -> Result<(Vec<Simulator>, Vec<NewDvr>), StartError> {
    let mut sims = Vec::new();
    let mut dvrs = Vec::new();
    for (name, scenario, seed, port) in DEMO_DVRS {
        let config = SimConfig {
            scenario,
            seed,
            name: name.to_string(),
            time_scale: DEMO_TIME_SCALE,
            ..SimConfig::default()
        };
        let preferred = SocketAddr::from(([127, 0, 0, 1], port));
        let sim = match Simulator::start(preferred, config.clone()).await {
            Ok(s) => s,
            Err(_) => Simulator::start(SocketAddr::from(([127, 0, 0, 1], 0)), config)
                .await
                .map_err(StartError::Demo)?,
        };
        info!(name, addr = %sim.addr(), scenario = scenario.name(), "demo DVR simulator running");
        dvrs.push(NewDvr {
            name: name.to_string(),
            host: "127.0.0.1".to_string(),
            port: Some(sim.addr().port()),
            enabled: Some(true),
            staleness_threshold_seconds: None,
            api_key: None,
        });
        sims.push(sim);
    }
    Ok((sims, dvrs))
}

/// `CHANNELWATCH_ADMIN_USER`/`_PASSWORD` create the first admin when no user exists.
async fn bootstrap_admin(config: &Config, db: &Db) -> Result<(), StartError> {
    use storage::users;
    let (Some(user), Some(password)) = (&config.admin_user, &config.admin_password) else {
        return Ok(());
    };
    if users::count(db).await? > 0 {
        return Ok(());
    }
    users::create(db, user, password, users::Role::Admin)
        .await
        .map_err(|e| StartError::Admin(e.to_string()))?;
    info!(username = %user, "created the first admin from CHANNELWATCH_ADMIN_USER");
    Ok(())
}

/// Opens storage, applies declared DVRs, starts the engine and the HTTP listener.
pub async fn start(config: Config, engine_settings: EngineSettings) -> Result<Server, StartError> {
    start_with(
        config,
        engine_settings,
        WatchdogSettings::default(),
        crate::notify::outbox::DispatchSettings::default(),
    )
    .await
}

/// [`start`] with the watchdog's grace periods given (tests shorten them; its interval
/// always comes from the configuration).
pub async fn start_with(
    config: Config,
    engine_settings: EngineSettings,
    watchdog_settings: WatchdogSettings,
    dispatch_settings: crate::notify::outbox::DispatchSettings,
) -> Result<Server, StartError> {
    match engine::fd_limit::raise() {
        Ok(l) => info!(
            soft = l.soft,
            hard = l.hard,
            was = l.before,
            dvrs = engine::fd_limit::dvr_capacity(l.soft),
            "open-file limit (about this many DVRs fit; raise the hard limit for more)"
        ),
        Err(e) => warn!(error = %e, "cannot read or raise the open-file limit"),
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let db = Db::open(&config.data_dir).await?;
    bootstrap_admin(&config, &db).await?;
    // Until the first user exists, setup from anywhere but a browser on this machine
    // needs this token; it lives in memory and in one log line, nowhere else.
    let setup_token =
        (storage::users::count(&db).await? == 0).then(crate::sign_in::SetupToken::generate);
    let http = engine::dvr::client::DvrClient::build_http()?;
    let engine = Engine::new(engine_settings, http);
    let saved_thresholds: Option<domain::disk::DiskThresholds> =
        settings::get(&db, settings::DISK_THRESHOLDS).await?;
    if let Some(t) = saved_thresholds {
        engine.set_disk_thresholds(t);
    }
    let registry = Registry::new(db.clone(), engine.clone());
    let dispatcher = crate::notify::outbox::Dispatcher::new(
        db.clone(),
        engine.clone(),
        dispatch_settings,
        config.instance_url.clone(),
    );
    let time_zone = crate::zone::TimeZone::new(config.tz.clone());
    let zone = time_zone.reload(&db).await?;
    info!(
        zone = zone.zone.name(),
        source = zone.source.as_str(),
        "time zone"
    );
    let alerts = crate::alerts::pipeline::AlertService::load(
        db.clone(),
        engine.clone(),
        dispatcher.clone(),
        time_zone,
        config.public_url.clone(),
    )
    .await?;
    // Subscribed before any DVR task runs, so no event escapes the alert rules.
    let alert_rx = engine.alert_stream();
    // The same for watch history: every play a DVR task reports is kept.
    let history_rx = engine.history_stream();

    let parts = Parts {
        db: &db,
        engine: &engine,
        registry: &registry,
        alerts: &alerts,
        env_dvrs: &config.env_dvrs,
    };
    let applied = crate::config::declared::apply(parts, &config.file, None).await?;
    if !applied.is_empty() {
        info!(changes = %applied.summary(), "configuration file applied");
    }
    let (watch_path, explicit) = match &config.config_file {
        Some(p) => (p.clone(), config.config_explicit),
        None => (config.data_dir.join("channelwatch.yaml"), false),
    };
    let declared = Declared::new(watch_path, explicit, config.file.clone(), applied);
    registry
        .apply_declared(&config.env_dvrs, ManagedBy::Env)
        .await?;
    let (demo, demo_dvrs) = if config.demo {
        start_demo().await?
    } else {
        (Vec::new(), Vec::new())
    };
    registry.apply_declared(&demo_dvrs, ManagedBy::Demo).await?;
    if config.demo {
        let ids: Vec<String> = demo_dvrs
            .iter()
            .map(|d| domain::dvr::id::dvr_id(&d.host, d.port.unwrap_or(wire::dvrs::DEFAULT_PORT)))
            .collect();
        crate::history::fill_demo(&db, &ids).await?;
    }
    // After any fill: the recorder's ids continue from what is stored.
    let recorder = crate::history::recorder::Recorder::load(&db, history_rx).await?;

    let addr = SocketAddr::new(config.bind, config.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;

    let watchdog = Watchdog::new(
        engine.clone(),
        WatchdogSettings {
            interval: config.watchdog_interval,
            ..watchdog_settings
        },
    );
    let heartbeat =
        crate::heartbeat::HeartbeatService::load(db.clone(), config.heartbeat_min_interval).await?;
    let mqtt = crate::mqtt::MqttService::load(db.clone(), engine.clone()).await?;
    let images_dir = config.data_dir.join("cache").join("images");
    let image_cache_bytes = config.image_cache_bytes;
    let services = Arc::new(Services {
        config,
        db,
        engine,
        watchdog,
        registry,
        alerts,
        dispatcher,
        dashboard: Arc::new(crate::dashboard::DashboardHub::new()),
        images: crate::images::Images::open(&images_dir, image_cache_bytes),
        heartbeat,
        mqtt,
        declared,
        discovery: Default::default(),
        logins: Default::default(),
        setup: crate::sign_in::SetupToken::new(setup_token),
        started: Default::default(),
        core_tasks: Default::default(),
    });
    let state = AppState {
        leptos_options: crate::http::pages::leptos_options(addr),
        services: services.clone(),
    };
    let app = crate::http::router(state);
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let http = tokio::spawn(async move {
        use axum::serve::ListenerExt;
        let listener = crate::http::listener::BackoffListener::new(listener).tap_io(|_| {});
        let res = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
        if let Err(e) = res {
            warn!(error = %e, "HTTP server stopped with an error");
        }
    });

    services.registry.sync_engine().await?;
    services.engine.mark_booted();
    let tasks = &services.core_tasks;
    let watchdog_task = {
        let (dog, c) = (services.watchdog.clone(), cancel.clone());
        tasks.supervise("watchdog", cancel.clone(), move || {
            dog.clone().run(c.clone())
        })
    };
    let alert_task = {
        let (alerts, c) = (services.alerts.clone(), cancel.clone());
        let rx = Arc::new(tokio::sync::Mutex::new(alert_rx));
        tasks.supervise("alert_router", cancel.clone(), move || {
            alerts.clone().run(rx.clone(), c.clone())
        })
    };
    let heartbeat_task = {
        let (s, c) = (services.clone(), cancel.clone());
        tasks.supervise("heartbeat", cancel.clone(), move || {
            let s = s.clone();
            let ready = {
                let s = s.clone();
                move || {
                    if !s.started.load(std::sync::atomic::Ordering::Acquire) {
                        return vec!["starting: DVR tasks not started yet".to_string()];
                    }
                    crate::http::probes::readiness_problems(&s)
                }
            };
            s.heartbeat.clone().run(ready, c.clone())
        })
    };
    let quiet_task = {
        let (q, d, c) = (
            services.alerts.quiet().clone(),
            services.dispatcher.clone(),
            cancel.clone(),
        );
        tasks.supervise("quiet_digest", cancel.clone(), move || {
            q.clone().run(d.clone(), c.clone())
        })
    };
    let mqtt_task = {
        let (m, c) = (services.mqtt.clone(), cancel.clone());
        tasks.supervise("mqtt", cancel.clone(), move || m.clone().run(c.clone()))
    };
    let history_task = {
        let (s, c) = (services.clone(), cancel.clone());
        tasks.supervise("history", cancel.clone(), move || {
            recorder.clone().run(s.clone(), c.clone())
        })
    };
    let dispatch_task = {
        let (d, c) = (services.dispatcher.clone(), cancel.clone());
        tasks.supervise("outbox", cancel.clone(), move || d.clone().run(c.clone()))
    };
    let live_task = {
        let (s, c) = (services.clone(), cancel.clone());
        tasks.supervise("live_hub", cancel.clone(), move || {
            s.dashboard.clone().run(s.clone(), c.clone())
        })
    };
    let mut background = Vec::new();
    if let Some(period) = services.config.discovery_interval {
        let (d, c) = (services.discovery.clone(), cancel.clone());
        background.push(tasks.supervise("discovery", cancel.clone(), move || {
            d.clone().run(period, c.clone())
        }));
    }
    background.push({
        let c = cancel.clone();
        tasks.supervise("log_monitor", cancel.clone(), move || {
            crate::logging::report_drops(c.clone())
        })
    });
    let config_task = {
        let (s, c) = (services.clone(), cancel.clone());
        tasks.supervise("config_watcher", cancel.clone(), move || {
            crate::config_watch::watch(s.clone(), std::time::Duration::from_secs(2), c.clone())
        })
    };
    services.started.store(true, Ordering::Release);
    info!(%addr, dvrs = services.engine.running_count(), version = crate::VERSION, "ChannelWatch is running");
    if let Some(token) = services.setup_token() {
        info!("{}", crate::sign_in::log_line(addr, &token));
    }
    Ok(Server {
        addr,
        services,
        cancel,
        http,
        watchdog: watchdog_task,
        background: {
            background.extend([
                alert_task,
                heartbeat_task,
                mqtt_task,
                quiet_task,
                history_task,
                dispatch_task,
                live_task,
                config_task,
            ]);
            background
        },
        demo,
    })
}

impl Server {
    /// Stops serving, every DVR task, and the demo simulators, within one deadline
    /// ([`SHUTDOWN_DEADLINE`], under Docker's 10 s before SIGKILL): live streams end at
    /// once, in-flight deliveries record their outcome or are released, and only then
    /// does the database close.
    pub async fn shutdown(self) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_DEADLINE;
        self.cancel.cancel();
        self.services.dashboard.close();
        let _ = tokio::time::timeout_at(deadline, self.http).await;
        let _ = tokio::time::timeout_at(deadline, self.watchdog).await;
        let _ = tokio::time::timeout_at(deadline, futures::future::join_all(self.background)).await;
        let _ = tokio::time::timeout_at(deadline, self.services.engine.shutdown()).await;
        for sim in self.demo {
            let _ = tokio::time::timeout_at(deadline, sim.shutdown()).await;
        }
        // A connection still checked out (a write that outlived the deadline) must not
        // hold the process past Docker's SIGKILL: SQLite's WAL keeps what committed.
        let _ = tokio::time::timeout_at(
            deadline + std::time::Duration::from_secs(1),
            self.services.db.pool.close(),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::DEMO_TIME_SCALE;
    use domain::dvr::event::{parse_line, Line};
    use domain::session::{Change, DvrState};

    /// A demo DVR's household, replayed without real time: the alerts it can raise
    /// (every start and every recording step, an upper bound: dedup only removes)
    /// per budget window at the demo's pace stay under the default budget, so the
    /// demo's first screens are not a wall of held-back alerts.
    #[test]
    fn the_demo_paces_its_alerts_inside_the_default_budget() {
        let steps = 4000;
        let run = sim::testing::family_run(1, steps);
        let mut st = DvrState::new();
        let mut alerts = 0usize;
        for line in &run.lines {
            if let Ok(Line::Event(e)) = parse_line(line) {
                alerts += st
                    .apply(&e, chrono::Utc::now())
                    .iter()
                    .filter(|c| {
                        matches!(
                            c,
                            Change::LiveStarted(_)
                                | Change::VodStarted(_)
                                | Change::RecordingScheduled { .. }
                                | Change::RecordingStarted(_)
                                | Change::RecordingCompleted { .. }
                                | Change::JobDeleted { .. }
                        )
                    })
                    .count();
            }
        }
        // A paced step is 0.5 to 3 simulated seconds (1.75 on average).
        let real_seconds = steps as f64 * 1.75 / DEMO_TIME_SCALE;
        let budget = wire::settings::RateLimit::default();
        let per_window = alerts as f64 * budget.window_seconds as f64 / real_seconds;
        assert!(
            per_window <= budget.count as f64 * 0.8,
            "{per_window:.1} alerts per {} s against a budget of {}",
            budget.window_seconds,
            budget.count
        );
        assert!(
            per_window >= 3.0,
            "the demo still shows activity: {per_window:.1}"
        );
    }
}
