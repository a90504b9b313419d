//! A real `mosquitto` broker on loopback (Debian's package; `scripts/setup.sh`
//! installs it) and a subscriber that keeps what it hears, for the Home Assistant
//! MQTT tests.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use crate::process::Proc;

/// A running broker; stopped when dropped.
pub struct Mosquitto {
    _proc: Proc,
    _dir: tempfile::TempDir,
    pub port: u16,
}

fn binary() -> &'static str {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("mosquitto is not installed: run scripts/setup.sh (Debian package mosquitto)")
}

impl Mosquitto {
    /// Starts on `port` (0: a free one) on 127.0.0.1, anonymous, no persistence, and
    /// waits until it accepts connections.
    pub async fn start(port: u16) -> Mosquitto {
        let port = if port == 0 {
            crate::process::closed_port()
        } else {
            port
        };
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .unwrap();
        let child = Command::new(binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        crate::wait::eventually("mosquitto to listen", Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(addr).await.ok().map(|_| ())
        })
        .await;
        Mosquitto {
            _proc: Proc(child),
            _dir: dir,
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

/// One message a subscriber heard.
#[derive(Debug, Clone)]
pub struct Heard {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// A subscriber to every topic of a broker.
pub struct Subscriber {
    heard: Arc<Mutex<Vec<Heard>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    pub async fn start(port: u16) -> Subscriber {
        use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
        let id = format!("test-sub-{}", rand_suffix());
        let opts = MqttOptions::new(id, "127.0.0.1", port);
        let (client, mut events) = AsyncClient::new(opts, 100);
        client.subscribe("#", QoS::AtLeastOnce).await.unwrap();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let keep = heard.clone();
        let task = tokio::spawn(async move {
            let _client = client;
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        keep.lock().expect("heard").push(Heard {
                            topic: p.topic.clone(),
                            payload: String::from_utf8_lossy(&p.payload).into_owned(),
                            retain: p.retain,
                        })
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Subscriber { heard, task }
    }

    pub fn heard(&self) -> Vec<Heard> {
        self.heard.lock().expect("heard").clone()
    }

    /// The newest payload on `topic`.
    pub fn last(&self, topic: &str) -> Option<String> {
        self.heard
            .lock()
            .expect("heard")
            .iter()
            .rev()
            .find(|h| h.topic == topic)
            .map(|h| h.payload.clone())
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64)
}
