//! A simulated Channels app on a TV: the app's local HTTP API (port 57000 on a real
//! TV) with `GET /api/status` and `POST /api/notify`, answering with its status model
//! the way the app does, and keeping the notices it was asked to show. Tests (and
//! `serve --demo`) point a `channels_app` provider at it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// The mDNS service type Channels apps announce.
pub const CLIENT_SERVICE_TYPE: &str = "_channels_app._tcp.local.";

#[derive(Default)]
struct ClientState {
    /// What plays: `(channel number, channel name)`; `None` is stopped.
    playing: Option<(String, String)>,
    notices: Vec<Value>,
}

/// A running simulated Channels app; stops when dropped.
pub struct ChannelsClient {
    addr: SocketAddr,
    state: Arc<Mutex<ClientState>>,
    stop: CancellationToken,
}

fn status(st: &ClientState) -> Value {
    match &st.playing {
        Some((number, name)) => json!({
            "status": "playing", "muted": false, "playback_time": 12.5,
            "channel": {"number": number, "name": name}
        }),
        None => json!({"status": "stopped", "muted": false}),
    }
}

async fn get_status(State(st): State<Arc<Mutex<ClientState>>>) -> Json<Value> {
    Json(status(&st.lock()))
}

/// Takes `{title, message}` (and an optional `icon`), as the app does; anything else
/// is a 400 like the app's.
async fn notify(
    State(st): State<Arc<Mutex<ClientState>>>,
    body: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ok = v["title"].is_string() && v["message"].is_string();
    if !ok {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "title and message are required"})),
        );
    }
    let mut st = st.lock();
    st.notices.push(v);
    (StatusCode::OK, Json(status(&st)))
}

impl ChannelsClient {
    /// Listens on `bind` (port 0 allowed), playing channel 7 (ABC).
    pub async fn start(bind: SocketAddr) -> std::io::Result<ChannelsClient> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(ClientState {
            playing: Some(("7".into(), "ABC".into())),
            notices: Vec::new(),
        }));
        let app = Router::new()
            .route("/api/status", get(get_status))
            .route("/api/notify", post(notify))
            .with_state(Arc::clone(&state));
        let stop = CancellationToken::new();
        let until = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(until.cancelled_owned())
                .await;
        });
        Ok(ChannelsClient { addr, state, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Plays a channel (`Some`) or stops (`None`).
    pub fn set_playing(&self, channel: Option<(&str, &str)>) {
        self.state.lock().playing = channel.map(|(n, c)| (n.to_string(), c.to_string()));
    }

    /// The notices shown so far, as received.
    pub fn notices(&self) -> Vec<Value> {
        self.state.lock().notices.clone()
    }
}

impl Drop for ChannelsClient {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
