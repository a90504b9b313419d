//! Local HTTP fakes of third-party provider APIs that check requests as the real ones
//! would.

use std::net::SocketAddr;

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
