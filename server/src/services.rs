//! The long-lived services of one running monitor, built at start (`serve`) and
//! reached by every handler, server function and background task.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::alerts::pipeline::AlertService;
use crate::config::declared;
use crate::config::Config;
use crate::notify::outbox::Dispatcher;
use crate::registry::Registry;
use crate::sign_in::{LoginLimiter, SetupToken};
use engine::watchdog::Watchdog;
use engine::Engine;
use storage::Db;

/// The long-lived services every handler and server function reaches.
pub struct Services {
    pub config: Config,
    pub db: Db,
    pub engine: Engine,
    pub watchdog: Watchdog,
    pub registry: Registry,
    pub alerts: AlertService,
    pub dispatcher: Dispatcher,
    /// The dashboard's live feed.
    pub dashboard: Arc<crate::dashboard::DashboardHub>,
    /// Channel logos and program art, fetched by the server and cached on disk.
    pub images: crate::images::Images,
    /// The push URL pinged while the monitor is healthy.
    pub heartbeat: crate::heartbeat::HeartbeatService,
    /// The Home Assistant MQTT connection.
    pub mqtt: crate::mqtt::MqttService,
    /// mDNS discovery's last scan.
    pub discovery: Arc<crate::discovery::Discovery>,
    /// The YAML file in effect and its reloads.
    pub declared: declared::Declared,
    /// Failed password checks per client address and per username, and the checks in
    /// progress (sign-in and `/me/password`).
    pub logins: LoginLimiter,
    /// The one-time first-run setup token: only in memory, void once a
    /// user exists.
    pub setup: SetupToken,
    /// Flipped once config is parsed, the database migrated and DVR tasks started.
    pub started: AtomicBool,
    /// The supervised background tasks (live hub, watchdog, outbox, ...).
    pub core_tasks: crate::core_tasks::CoreTasks,
}

impl Services {
    /// The first-run setup token while setup is open: for the start-up log line and for
    /// tests. It is never stored or sent anywhere else.
    pub fn setup_token(&self) -> Option<String> {
        self.setup.get()
    }

    /// What applying the configuration file touches.
    pub fn parts(&self) -> declared::Parts<'_> {
        declared::Parts {
            db: &self.db,
            engine: &self.engine,
            registry: &self.registry,
            alerts: &self.alerts,
            env_dvrs: &self.config.env_dvrs,
        }
    }
}

impl crate::dashboard::Sources for Services {
    fn registry(&self) -> &Registry {
        &self.registry
    }
    fn engine(&self) -> &Engine {
        &self.engine
    }
    fn db(&self) -> &Db {
        &self.db
    }
    fn alerts(&self) -> &AlertService {
        &self.alerts
    }
    fn images(&self) -> &crate::images::Images {
        &self.images
    }
}
