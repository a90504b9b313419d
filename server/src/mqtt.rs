//! Home Assistant over MQTT: an optional broker connection that publishes each DVR as
//! a discovered device (connected, streams, recordings, disk free, last alert) and
//! each alert as an event. What is published is built in `domain::mqtt`; this is the
//! connection. It runs beside the alert pipeline, never in it: a broker that is away
//! delays nothing else, and the connection comes back by itself with backoff.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::edit::EditError;
use domain::backoff::Backoff;
use domain::mqtt::{self as publish, DvrState, Message, MqttSettings};
use engine::Engine;
use storage::{outbox, Db, StorageError};

/// How often states are compared and new alerts looked for.
const TICK: Duration = Duration::from_secs(1);

/// The connection's state, as `GET /api/v1/mqtt` shows it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MqttStatus {
    pub connected: bool,
    /// Why the last attempt failed or the connection dropped.
    pub last_error: Option<String>,
    pub published: u64,
    pub reconnects: u64,
}

/// Shared by the API and the supervised connection task; cheap to clone.
#[derive(Clone)]
pub struct MqttService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    engine: Engine,
    settings: RwLock<Option<MqttSettings>>,
    status: Mutex<MqttStatus>,
    changed: Notify,
}

impl MqttService {
    pub async fn load(db: Db, engine: Engine) -> Result<Self, StorageError> {
        let settings = storage::mqtt::get(&db).await?;
        Ok(MqttService {
            inner: Arc::new(Inner {
                db,
                engine,
                settings: RwLock::new(settings),
                status: Mutex::new(MqttStatus::default()),
                changed: Notify::new(),
            }),
        })
    }

    /// The setting as answered (password masked), or the defaults.
    pub fn settings_masked(&self) -> MqttSettings {
        self.inner
            .settings
            .read()
            .as_ref()
            .map(MqttSettings::masked)
            .unwrap_or_default()
    }

    pub fn status(&self) -> MqttStatus {
        self.inner.status.lock().clone()
    }

    /// Checks, stores and applies a new setting (the connection restarts with it).
    pub async fn edit(&self, edit: MqttSettings) -> Result<(), EditError> {
        let stored = self.inner.settings.read().clone();
        let next = MqttSettings::merged(stored.as_ref(), edit).map_err(EditError::Invalid)?;
        storage::mqtt::put(&self.inner.db, &next).await?;
        info!(enabled = next.enabled, url = %next.url, "MQTT setting changed");
        *self.inner.settings.write() = Some(next);
        self.inner.changed.notify_one();
        Ok(())
    }

    fn set_status(&self, f: impl FnOnce(&mut MqttStatus)) {
        f(&mut self.inner.status.lock());
    }

    /// Keeps a connection while MQTT is on, until `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        loop {
            let current = self.inner.settings.read().clone().filter(|s| s.enabled);
            let Some(settings) = current else {
                self.set_status(|s| s.connected = false);
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = self.inner.changed.notified() => continue,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                // A new setting: connect again with it.
                _ = self.inner.changed.notified() => {}
                _ = self.connection(&settings, cancel.clone()) => {}
            }
            self.set_status(|s| s.connected = false);
        }
    }

    /// One client with its event loop, until the setting changes or `cancel`.
    async fn connection(&self, settings: &MqttSettings, cancel: CancellationToken) {
        let (host, port) = match settings.broker() {
            Ok(b) => b,
            Err(e) => {
                self.set_status(|s| s.last_error = Some(e));
                return std::future::pending().await;
            }
        };
        let mut opts = MqttOptions::new(format!("channelwatch-{}", std::process::id()), host, port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_last_will(LastWill::new(
            settings.availability_topic(),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        if let Some(user) = settings.username.as_deref().filter(|u| !u.is_empty()) {
            opts.set_credentials(user, settings.password.clone().unwrap_or_default());
        }
        let (client, mut events) = AsyncClient::new(opts, 256);
        // The event loop runs on its own, so publishing can wait for room without
        // stopping it; it reports each (re)connection and each loss.
        let (up_tx, mut up_rx) = mpsc::unbounded_channel::<bool>();
        let poller = {
            let me = self.clone();
            tokio::spawn(async move {
                let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
                loop {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            backoff.reset();
                            let _ = up_tx.send(true);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let message = domain::text::outside_text(&e.to_string(), 300);
                            let was = me.inner.status.lock().connected;
                            if was {
                                warn!(error = %message, "MQTT connection lost; reconnecting");
                            }
                            me.set_status(|s| {
                                s.connected = false;
                                s.last_error = Some(message);
                                s.reconnects += 1;
                            });
                            let _ = up_tx.send(false);
                            tokio::time::sleep(backoff.next_delay()).await;
                        }
                    }
                }
            })
        };
        let _stop_poller = AbortOnDrop(poller);
        let mut published: HashMap<String, String> = HashMap::new();
        let mut known: BTreeMap<String, String> = BTreeMap::new();
        let mut last_alert_id = 0;
        let mut last_titles: HashMap<String, String> = HashMap::new();
        let mut connected = false;
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => {
                    let _ = client
                        .publish(settings.availability_topic(), QoS::AtLeastOnce, true, "offline")
                        .await;
                    let _ = client.disconnect().await;
                    return;
                }
                up = up_rx.recv() => match up {
                    Some(true) => {
                        info!("MQTT connected");
                        connected = true;
                        self.set_status(|s| {
                            s.connected = true;
                            s.last_error = None;
                        });
                        // A new session: everything is published again.
                        published.clear();
                        known.clear();
                        last_alert_id = outbox::last_alert_id(&self.inner.db).await.unwrap_or(0);
                        last_titles = outbox::last_titles(&self.inner.db)
                            .await
                            .unwrap_or_default()
                            .into_iter()
                            .collect();
                        let online = Message {
                            topic: settings.availability_topic(),
                            payload: "online".into(),
                            retain: true,
                        };
                        self.send(&client, online).await;
                    }
                    Some(false) => connected = false,
                    None => return,
                },
                _ = tick.tick(), if connected => {
                    let alerts = outbox::alerts_after(&self.inner.db, last_alert_id, 500)
                        .await
                        .unwrap_or_default();
                    for a in &alerts {
                        last_alert_id = a.id;
                        last_titles.insert(a.dvr_id.clone(), a.title.clone());
                        let m = publish::alert_event(settings, &a.dvr_id, &a.alert_type, &a.title, &a.message, &a.created_at);
                        self.send(&client, m).await;
                    }
                    self.publish_dvrs(settings, &client, &mut known, &mut published, &last_titles).await;
                }
            }
        }
    }

    /// Discovery for DVRs new to this session (removal for those gone), then every
    /// state that changed since it was last published.
    async fn publish_dvrs(
        &self,
        settings: &MqttSettings,
        client: &AsyncClient,
        known: &mut BTreeMap<String, String>,
        published: &mut HashMap<String, String>,
        last_titles: &HashMap<String, String>,
    ) {
        let engine = &self.inner.engine;
        let mut now: BTreeMap<String, DvrState> = BTreeMap::new();
        for slot in engine.slots() {
            let (streams, recordings) =
                slot.with_state(|st| (st.stream_count() as u64, st.recordings().count() as u64));
            now.insert(
                slot.dvr_id.clone(),
                DvrState {
                    dvr_id: slot.dvr_id.clone(),
                    name: slot.name(),
                    connected: slot.is_connected(),
                    streams,
                    recordings,
                    disk_free_percent: slot.disk().map(|d| d.free_percent()),
                    last_alert: last_titles.get(&slot.dvr_id).cloned(),
                },
            );
        }
        if settings.discovery {
            let gone: Vec<(String, String)> = known
                .iter()
                .filter(|(id, _)| !now.contains_key(*id))
                .map(|(id, name)| (id.clone(), name.clone()))
                .collect();
            for (id, name) in gone {
                for m in publish::discovery(settings, &id, &name, true) {
                    self.send(client, m).await;
                }
                known.remove(&id);
            }
            for d in now.values() {
                if known.get(&d.dvr_id) != Some(&d.name) {
                    for m in publish::discovery(settings, &d.dvr_id, &d.name, false) {
                        self.send(client, m).await;
                    }
                    known.insert(d.dvr_id.clone(), d.name.clone());
                }
            }
        }
        for d in now.values() {
            for m in publish::states(settings, d) {
                if published.get(&m.topic) != Some(&m.payload) {
                    published.insert(m.topic.clone(), m.payload.clone());
                    self.send(client, m).await;
                }
            }
        }
    }

    /// Queues one message (waiting for room: only this task waits).
    async fn send(&self, client: &AsyncClient, m: Message) {
        if client
            .publish(m.topic, QoS::AtLeastOnce, m.retain, m.payload.into_bytes())
            .await
            .is_ok()
        {
            self.set_status(|s| s.published += 1);
        }
    }
}

/// Stops the event loop's task with the connection.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
