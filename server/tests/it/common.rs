//! Shared helpers for the integration tests: real simulators on loopback, a real
//! server on an ephemeral port, fast engine timings, and deadline-bound waits.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use channelwatch::config::{Config, Flags};
use channelwatch::serve::Server;
use engine::watchdog::WatchdogSettings;
use engine::{DvrSpec, EngineSettings};
use sim::{Framing, Scenario, SimConfig, Simulator};

pub const API_KEY: &str = "test-api-key-0123456789";

/// Engine timings shortened so reconnects and restarts happen within a test.
pub fn fast_settings() -> EngineSettings {
    EngineSettings {
        status_interval: Duration::from_millis(500),
        status_timeout: Duration::from_secs(3),
        disk_interval: Duration::from_millis(500),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        healthy_reset: Duration::from_secs(2),
        header_timeout: Duration::from_secs(2),
        heartbeat_interval: Duration::from_millis(100),
        hang_timeout: Duration::from_secs(3),
        restart_delay: Duration::from_millis(50),
        ..EngineSettings::default()
    }
}

pub async fn sim(scenario: Scenario) -> Simulator {
    sim_with(scenario, Framing::Bare).await
}

pub async fn sim_with(scenario: Scenario, framing: Framing) -> Simulator {
    Simulator::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SimConfig {
            scenario,
            seed: 7,
            name: format!("sim {}", scenario.name()),
            time_scale: 1.0,
            framing,
            keepalive: None,
            api_key: None,
        },
    )
    .await
    .expect("simulator starts")
}

pub fn spec(name: &str, sim: &Simulator, threshold: u32) -> DvrSpec {
    let port = sim.addr().port();
    DvrSpec {
        dvr_id: domain::dvr::id::dvr_id("127.0.0.1", port),
        name: name.to_string(),
        host: "127.0.0.1".to_string(),
        port,
        staleness_threshold_seconds: threshold,
        api_key: Default::default(),
    }
}

/// Polls `f` until it holds or the deadline passes (then fails naming `what`).
pub async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A real server on 127.0.0.1 with an ephemeral port and the test API key.
pub async fn server(data_dir: &Path) -> Server {
    server_with(data_dir, &[], WatchdogSettings::default()).await
}

/// [`server`] with extra environment variables and watchdog grace periods.
pub async fn server_with(
    data_dir: &Path,
    env: &[(&str, &str)],
    watchdog: WatchdogSettings,
) -> Server {
    server_full(data_dir, env, watchdog, fast_dispatch()).await
}

/// [`server_with`] with the delivery worker's timings given too.
pub async fn server_full(
    data_dir: &Path,
    env: &[(&str, &str)],
    watchdog: WatchdogSettings,
    dispatch: channelwatch::notify::outbox::DispatchSettings,
) -> Server {
    let flags = Flags {
        data_dir: Some(data_dir.to_path_buf()),
        bind: Some("127.0.0.1".into()),
        port: Some(0),
        ..Flags::default()
    };
    // No background mDNS scans: tests send nothing beyond loopback.
    let mut vars = vec![
        ("CHANNELWATCH_API_KEY", API_KEY),
        ("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0"),
    ];
    vars.extend_from_slice(env);
    let config = Config::load(&flags, &vars).expect("config");
    channelwatch::serve::start_with(config, fast_settings(), watchdog, dispatch)
        .await
        .expect("server starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub fn url(server: &Server, path: &str) -> String {
    format!("http://{}{}", server.addr, path)
}

/// Sends a request (with the API key when given); answers the status and JSON body.
pub async fn send(req: reqwest::RequestBuilder, key: Option<&str>) -> (u16, serde_json::Value) {
    let req = match key {
        Some(k) => req.header("X-API-Key", k),
        None => req,
    };
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls the async `f` until it yields a value or the deadline passes (then fails naming `what`).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for an engine feed event matching `pred` (fails naming `what` at the deadline).
pub async fn next_event(
    feed: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<engine::EngineEvent>>,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&engine::EngineEvent) -> bool,
) -> std::sync::Arc<engine::EngineEvent> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, feed.recv()).await {
            Ok(Ok(ev)) if pred(&ev) => return ev,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("feed closed while waiting for {what}: {e}"),
            Err(_) => panic!("timed out after {timeout:?} waiting for event: {what}"),
        }
    }
}

/// One request a fake provider received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn form(&self) -> std::collections::HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

/// How a fake provider answers: `check` validates the request the way the real API
/// would and returns (status, headers, body).
pub type FakeHandler =
    std::sync::Arc<dyn Fn(&Received) -> (u16, Vec<(String, String)>, String) + Send + Sync>;

/// A local HTTP fake of a third-party provider API: records every request and answers
/// through its handler, which tests swap to make it fail or rate-limit on demand.
pub struct FakeProvider {
    pub addr: SocketAddr,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    handler: std::sync::Arc<std::sync::Mutex<FakeHandler>>,
}

impl FakeProvider {
    pub async fn start(handler: FakeHandler) -> FakeProvider {
        use axum::extract::Request;
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let handler = std::sync::Arc::new(std::sync::Mutex::new(handler));
        let (rec, h) = (received.clone(), handler.clone());
        let app = axum::Router::new().fallback(move |req: Request| {
            let (rec, h) = (rec.clone(), h.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 10 << 20).await.unwrap().to_vec();
                let r = Received {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    query: parts.uri.query().map(str::to_string),
                    headers: parts.headers,
                    body,
                    at: std::time::Instant::now(),
                };
                let handler = h.lock().unwrap().clone();
                let (status, headers, body) = handler(&r);
                rec.lock().unwrap().push(r);
                let mut res = axum::response::Response::builder().status(status);
                for (k, v) in headers {
                    res = res.header(k, v);
                }
                res.body(axum::body::Body::from(body)).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeProvider {
            addr,
            received,
            handler,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set_handler(&self, h: FakeHandler) {
        *self.handler.lock().unwrap() = h;
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The requests for `path` only; any other is printed (shown when the test fails).
    /// A fake listens on a port the OS hands out, which may have been a finished
    /// test's simulator or server a moment before: a client still aiming there (a
    /// DVR poll retrying a stopped simulator, a probe of a stopped server) lands here
    /// and is no request of this test's.
    pub fn requests_to(&self, path: &str) -> Vec<Received> {
        let (mine, strays): (Vec<_>, Vec<_>) =
            self.requests().into_iter().partition(|r| r.path == path);
        for r in strays {
            eprintln!(
                "fake {}: a request for another path: {} {} (user agent {:?}, {} bytes)",
                self.addr,
                r.method,
                r.path,
                r.header("user-agent"),
                r.body.len()
            );
        }
        mine
    }
}

/// A mail a [`SmtpSink`] accepted.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    pub auth: bool,
    /// Whether the mail travelled over TLS.
    pub secure: bool,
}

/// How the [`SmtpSink`] speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    Plain,
    /// Offers STARTTLS and requires it before MAIL.
    Starttls,
    /// TLS from the first byte.
    Implicit,
}

/// A real SMTP listener on loopback (AUTH, optional STARTTLS or implicit TLS with a
/// self-signed certificate for `localhost`) that keeps what it receives.
pub struct SmtpSink {
    pub addr: SocketAddr,
    /// The sink's certificate (PEM), for the client to trust.
    pub cert_pem: String,
    mails: std::sync::Arc<std::sync::Mutex<Vec<Mail>>>,
    reject: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A plain or TLS connection, boxed so a session can continue over its own upgrade.
pub trait SmtpIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> SmtpIo for T {}

async fn smtp_session(
    stream: Box<dyn SmtpIo>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    secure: bool,
    mails: std::sync::Arc<std::sync::Mutex<Vec<Mail>>>,
    reject: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    // The greeting is sent by the caller; after STARTTLS the client says EHLO again.
    let mut io = BufReader::new(stream);
    let mut mail = Mail::default();
    let mut line = String::new();
    loop {
        line.clear();
        match io.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let l = line.trim_end().to_string();
        let upper = l.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            if tls.is_some() && !secure {
                "250-sink\r\n250-STARTTLS\r\n250 8BITMIME\r\n".into()
            } else {
                "250-sink\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n".into()
            }
        } else if upper.starts_with("STARTTLS") && tls.is_some() && !secure {
            if io
                .get_mut()
                .write_all(b"220 2.0.0 ready to start TLS\r\n")
                .await
                .is_err()
            {
                return;
            }
            let acceptor = tls.clone().unwrap();
            let Ok(upgraded) = acceptor.accept(io.into_inner()).await else {
                return;
            };
            Box::pin(smtp_session(Box::new(upgraded), tls, true, mails, reject)).await;
            return;
        } else if upper.starts_with("HELO")
            || upper.starts_with("NOOP")
            || upper.starts_with("RSET")
        {
            "250 ok\r\n".into()
        } else if upper.starts_with("AUTH") {
            mail.auth = true;
            "235 2.7.0 Authentication successful\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            if tls.is_some() && !secure {
                "530 5.7.0 Must issue a STARTTLS command first\r\n".into()
            } else {
                mail.from = l[10..].trim().trim_matches(['<', '>']).to_string();
                mail.secure = secure;
                "250 2.1.0 ok\r\n".into()
            }
        } else if upper.starts_with("RCPT TO:") {
            if reject.load(std::sync::atomic::Ordering::SeqCst) {
                "550 5.1.1 No such user\r\n".into()
            } else {
                mail.to
                    .push(l[8..].trim().trim_matches(['<', '>']).to_string());
                "250 2.1.5 ok\r\n".into()
            }
        } else if upper == "DATA" {
            if io
                .get_mut()
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut data = String::new();
            loop {
                let mut d = String::new();
                match io.read_line(&mut d).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let d = d.trim_end_matches(['\r', '\n']);
                if d == "." {
                    break;
                }
                data.push_str(d.strip_prefix('.').unwrap_or(d));
                data.push('\n');
            }
            mail.data = data;
            mails.lock().unwrap().push(std::mem::take(&mut mail));
            "250 2.0.0 Ok: queued as SINK1\r\n".into()
        } else if upper.starts_with("QUIT") {
            let _ = io.get_mut().write_all(b"221 bye\r\n").await;
            return;
        } else {
            "502 5.5.2 command not recognized\r\n".into()
        };
        if io.get_mut().write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_with(SmtpTls::Plain).await
    }

    pub async fn start_with(mode: SmtpTls) -> SmtpSink {
        use tokio::io::AsyncWriteExt;
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert_pem = ck.cert.pem();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let cfg = tokio_rustls::rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            tokio_rustls::rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reject = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (m, rj) = (mails.clone(), reject.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (m, rj, acceptor) = (m.clone(), rj.clone(), acceptor.clone());
                tokio::spawn(async move {
                    match mode {
                        SmtpTls::Implicit => {
                            let Ok(mut tls) = acceptor.accept(sock).await else {
                                return;
                            };
                            if tls.write_all(b"220 sink ESMTP ready\r\n").await.is_err() {
                                return;
                            }
                            smtp_session(Box::new(tls), Some(acceptor), true, m, rj).await;
                        }
                        SmtpTls::Starttls | SmtpTls::Plain => {
                            let mut sock = sock;
                            if sock.write_all(b"220 sink ESMTP ready\r\n").await.is_err() {
                                return;
                            }
                            let tls = (mode == SmtpTls::Starttls).then_some(acceptor);
                            smtp_session(Box::new(sock), tls, false, m, rj).await;
                        }
                    }
                });
            }
        });
        SmtpSink {
            addr,
            cert_pem,
            mails,
            reject,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    pub fn reject_recipients(&self, on: bool) {
        self.reject.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Delivery retries shortened so backoff, Retry-After and the circuit show within a test.
pub fn fast_dispatch() -> channelwatch::notify::outbox::DispatchSettings {
    channelwatch::notify::outbox::DispatchSettings {
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        max_attempts: 4,
        circuit_threshold: 3,
        circuit_open_for: Duration::from_secs(2),
        ..Default::default()
    }
}

/// A child process (the real binary) killed if a test fails before stopping it.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary's environment without the developer's ChannelWatch settings, and with no
/// background mDNS scans: tests send nothing beyond loopback.
pub fn clean_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("CHANNELWATCH_") || k == "CHANNELS_DVR_SERVERS" {
            cmd.env_remove(k);
        }
    }
    cmd.env("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0")
}
