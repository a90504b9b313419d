//! Loopback tests of the whole simulator: real sockets and a minimal HTTP/1.1 client,
//! so what is checked is what a monitor would read off the wire.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::{FailMode, Framing, Scenario, SimConfig, SimHandle, Simulator};

/// Upper bound for anything we wait for; generous for a busy 2-core machine.
const DEADLINE: Duration = Duration::from_secs(10);
/// How long "nothing arrives" is observed for in negative checks.
const QUIET_WINDOW: Duration = Duration::from_millis(300);
const HELLO: &str = r#"{"Type":"hello","Name":"","Value":""}"#;

enum BodyKind {
    Chunked,
    Length(usize),
    UntilClose,
}

/// One response, read incrementally (the event stream never "completes").
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
    kind: BodyKind,
    pending: Vec<u8>,
    eof: bool,
}

async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    timeout(DEADLINE, get_inner(addr, path))
        .await
        .expect("response head within deadline")
}

async fn get_inner(addr: SocketAddr, path: &str) -> HttpResponse {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connect to simulator");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .await
        .expect("read status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code in status line");
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).await.expect("read header");
        let line = line.trim_end();
        if n == 0 || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let kind =
        if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            BodyKind::Chunked
        } else if let Some(len) = find("content-length").and_then(|v| v.parse().ok()) {
            BodyKind::Length(len)
        } else {
            BodyKind::UntilClose
        };
    HttpResponse {
        status,
        headers,
        reader,
        kind,
        pending: Vec::new(),
        eof: false,
    }
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The next piece of body, `None` at its end (or when the connection dies).
    async fn piece(&mut self) -> Option<Vec<u8>> {
        if self.eof {
            return None;
        }
        match self.kind {
            BodyKind::Chunked => {
                let mut size_line = String::new();
                let n = self.reader.read_line(&mut size_line).await.ok()?;
                let size = size_line
                    .trim()
                    .split(';')
                    .next()
                    .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
                match size {
                    Some(size) if n > 0 && size > 0 => {
                        let mut buf = vec![0; size];
                        self.reader.read_exact(&mut buf).await.ok()?;
                        let mut crlf = [0u8; 2];
                        self.reader.read_exact(&mut crlf).await.ok()?;
                        Some(buf)
                    }
                    _ => {
                        self.eof = true;
                        None
                    }
                }
            }
            BodyKind::Length(len) => {
                self.eof = true;
                let mut buf = vec![0; len];
                self.reader.read_exact(&mut buf).await.ok()?;
                Some(buf)
            }
            BodyKind::UntilClose => {
                let mut buf = vec![0; 16 * 1024];
                let n = self.reader.read(&mut buf).await.ok()?;
                if n == 0 {
                    self.eof = true;
                    return None;
                }
                buf.truncate(n);
                Some(buf)
            }
        }
    }

    async fn next_line(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=pos).collect();
                line.pop();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            let piece = self.piece().await?;
            self.pending.extend_from_slice(&piece);
        }
    }

    /// Next body line without its `\n`; `None` at EOF. Fails the test after the deadline.
    async fn line(&mut self) -> Option<String> {
        timeout(DEADLINE, self.next_line())
            .await
            .expect("line (or EOF) within deadline")
    }

    /// Next line that is not blank and not an SSE comment.
    async fn data_line(&mut self) -> Option<String> {
        loop {
            let line = self.line().await?;
            if !line.is_empty() && !line.starts_with(':') {
                return Some(line);
            }
        }
    }

    /// True if no complete line arrives within `QUIET_WINDOW`.
    async fn silent(&mut self) -> bool {
        timeout(QUIET_WINDOW, self.next_line()).await.is_err()
    }

    async fn body(mut self) -> String {
        let mut all = std::mem::take(&mut self.pending);
        let rest = timeout(DEADLINE, async {
            let mut rest = Vec::new();
            while let Some(p) = self.piece().await {
                rest.extend_from_slice(&p);
            }
            rest
        })
        .await
        .expect("body within deadline");
        all.extend_from_slice(&rest);
        String::from_utf8_lossy(&all).into_owned()
    }

    async fn json(self) -> Value {
        let body = self.body().await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("JSON body ({e}): {body}"))
    }
}

async fn start(config: SimConfig) -> Simulator {
    Simulator::start(([127, 0, 0, 1], 0).into(), config)
        .await
        .expect("bind simulator on loopback")
}

fn scenario(scenario: Scenario, time_scale: f64) -> SimConfig {
    SimConfig {
        scenario,
        seed: 5,
        time_scale,
        ..SimConfig::default()
    }
}

/// Polls `cond` until it holds; fails the test after the deadline.
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let waited = timeout(DEADLINE, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

async fn subscribe(h: &SimHandle) -> HttpResponse {
    let mut s = get(h.addr(), "/dvr/events/subscribe").await;
    assert_eq!(s.status, 200);
    assert_eq!(s.line().await.as_deref(), Some(HELLO));
    s
}

#[test]
fn scenario_names_round_trip() {
    for s in Scenario::ALL {
        assert_eq!(s.name().parse::<Scenario>(), Ok(s));
        assert_eq!(s.to_string(), s.name());
    }
    assert_eq!(
        "Family_Evening".parse::<Scenario>(),
        Ok(Scenario::FamilyEvening)
    );
    let err = "nope"
        .parse::<Scenario>()
        .expect_err("unknown name")
        .to_string();
    assert!(err.contains("nope"));
    for s in Scenario::ALL {
        assert!(err.contains(s.name()), "{err} lists {}", s.name());
    }
}

#[test]
fn default_config() {
    let c = SimConfig::default();
    assert_eq!(c.scenario, Scenario::Quiet);
    assert_eq!(c.seed, 1);
    assert_eq!(c.name, "Simulated DVR");
    assert!((c.time_scale - 1.0).abs() < f64::EPSILON);
    assert_eq!(c.framing, Framing::Bare);
    assert_eq!(c.keepalive, None);
}

#[tokio::test]
async fn hello_then_events_then_drop_streams() {
    let sim = start(SimConfig::default()).await;
    let h = sim.handle();
    let mut s = get(sim.addr(), "/dvr/events/subscribe").await;
    assert_eq!(s.status, 200);
    assert_eq!(s.header("content-type"), Some("text/event-stream"));
    assert_eq!(s.line().await.as_deref(), Some(HELLO));
    assert_eq!(h.open_streams(), 1);

    h.emit(
        "activities.set",
        "7-stream-10811DF5-192.168.1.50",
        "Watching ch7 ABC from Living Room (192.168.1.50)",
    );
    assert_eq!(
        s.line().await.as_deref(),
        Some(
            r#"{"Type":"activities.set","Name":"7-stream-10811DF5-192.168.1.50","Value":"Watching ch7 ABC from Living Room (192.168.1.50)"}"#
        )
    );
    h.emit_raw(": not framed");
    assert_eq!(s.line().await.as_deref(), Some(": not framed"));

    h.drop_streams();
    assert_eq!(s.line().await, None, "dropped stream ends");
    wait_until("stream count to drop", || h.open_streams() == 0).await;
    assert_eq!(h.connections_total(), 1);
    assert!(h.events_sent() >= 3, "hello, event, raw line");

    // New connections are still accepted after a drop.
    let mut again = subscribe(&h).await;
    assert_eq!(h.connections_total(), 2);
    sim.shutdown().await;
    assert_eq!(again.line().await, None, "shutdown ends open streams");
}

#[tokio::test]
async fn sse_framing_and_keepalives() {
    let cfg = SimConfig {
        framing: Framing::Sse,
        keepalive: Some(Duration::from_millis(50)),
        ..SimConfig::default()
    };
    let sim = start(cfg).await;
    let h = sim.handle();
    let mut s = get(sim.addr(), "/dvr/events/subscribe").await;
    assert_eq!(s.line().await, Some(format!("data: {HELLO}")));
    assert_eq!(s.line().await.as_deref(), Some(""));
    let mut saw_keepalive = false;
    while !saw_keepalive {
        let line = s.line().await.expect("stream stays open");
        saw_keepalive = line == ": keepalive";
    }
    h.emit("jobs.created", "1900000000-ch7", "");
    assert_eq!(
        s.data_line().await.as_deref(),
        Some(r#"data: {"Type":"jobs.created","Name":"1900000000-ch7","Value":""}"#)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn fail_modes_apply_to_new_subscriptions() {
    let sim = start(SimConfig::default()).await;
    let h = sim.handle();

    h.set_fail_mode(FailMode::TooManyRequests {
        retry_after_secs: 7,
    });
    let r = get(sim.addr(), "/dvr/events/subscribe").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));

    h.set_fail_mode(FailMode::Status(503));
    let r = get(sim.addr(), "/dvr/events/subscribe").await;
    assert_eq!(r.status, 503);
    assert!(!r.body().await.is_empty());

    // Not a valid status code: still a failure, never a panic.
    h.set_fail_mode(FailMode::Status(42));
    assert_eq!(get(sim.addr(), "/dvr/events/subscribe").await.status, 500);

    assert_eq!(h.connections_total(), 0);
    h.set_fail_mode(FailMode::None);
    let _s = subscribe(&h).await;
    assert_eq!(h.connections_total(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn dvr_reflects_disk_and_activities() {
    let sim = start(SimConfig::default()).await;
    let h = sim.handle();
    let v = get(sim.addr(), "/dvr").await.json().await;
    assert_eq!(v["path"], "/shares/DVR");
    assert_eq!(v["disk"]["free"], 215_383_064_576_u64);
    assert_eq!(v["disk"]["total"], 2_001_111_162_880_u64);
    assert_eq!(v["disk"]["used"], 1_785_728_098_304_u64);
    assert_eq!(v["activity"], serde_json::json!({}));

    h.set_disk(10, 100);
    assert_eq!(h.disk(), (10, 100));
    h.emit(
        "activities.set",
        "6-file-12345-192.168.1.100",
        "Watching Crank from Bedroom at 1m2s",
    );
    let v = get(sim.addr(), "/dvr").await.json().await;
    assert_eq!(
        v["disk"],
        serde_json::json!({"free": 10, "total": 100, "used": 90})
    );
    assert_eq!(
        v["activity"]["6-file-12345-192.168.1.100"],
        "Watching Crank from Bedroom at 1m2s"
    );

    h.emit("activities.set", "6-file-12345-192.168.1.100", "");
    let v = get(sim.addr(), "/dvr").await.json().await;
    assert_eq!(v["activity"], serde_json::json!({}));

    // free > total is reported as given, with used clamped at zero.
    h.set_disk(200, 100);
    let v = get(sim.addr(), "/dvr").await.json().await;
    assert_eq!(v["disk"]["used"], 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn status_reports_name_and_can_fail() {
    let cfg = SimConfig {
        name: "Test DVR".to_owned(),
        ..SimConfig::default()
    };
    let sim = start(cfg).await;
    let h = sim.handle();
    let v = get(sim.addr(), "/status").await.json().await;
    assert_eq!(v["name"], "Test DVR");
    assert_eq!(v["version"], "2026.04.20.0213");
    h.set_status_fail(true);
    assert_eq!(get(sim.addr(), "/status").await.status, 500);
    h.set_status_fail(false);
    assert_eq!(get(sim.addr(), "/status").await.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn library_guide_and_jobs_endpoints() {
    let sim = start(SimConfig::default()).await;
    let h = sim.handle();
    let addr = sim.addr();

    let channels = get(addr, "/api/v1/channels").await;
    assert_eq!(channels.status, 200);
    let text = channels.body().await;
    assert!(
        text.contains(&addr.to_string()),
        "image URLs point at us: {text}"
    );
    assert!(!text.contains("127.0.0.1:8089/"));

    let now = chrono::Utc::now().timestamp();
    let guide = get(addr, "/devices/ANY/guide/now").await.json().await;
    let airing = &guide[0]["Airings"][0];
    let (t, d) = (
        airing["Time"].as_i64().unwrap_or(0),
        airing["Duration"].as_i64().unwrap_or(0),
    );
    assert!(t <= now + 1 && now < t + d, "airing covers now: {airing}");

    let xml = get(addr, "/devices/ANY/guide/xmltv").await;
    assert_eq!(xml.status, 200);
    assert_eq!(xml.header("content-type"), Some("application/xml"));
    let xml = xml.body().await;
    assert!(xml.starts_with("<?xml") && xml.contains("<programme channel=\"7\""));

    let all = get(addr, "/api/v1/all").await.json().await;
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    let one = get(addr, "/api/v1/all?id=12345").await.json().await;
    assert_eq!(one[0]["title"], "Crank: High Voltage");
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    let none = get(addr, "/api/v1/all?id=nope").await.json().await;
    assert_eq!(none, serde_json::json!([]));

    let recs = get(addr, "/api/v1/recordings").await.json().await;
    assert_eq!(recs[0]["id"], "12260");
    let rec = get(addr, "/api/v1/recordings/12260").await.json().await;
    assert_eq!(rec["job_id"], "1776630000-ch5.1");
    let missing = get(addr, "/api/v1/recordings/999999").await;
    assert_eq!(missing.status, 404);
    assert!(missing.json().await.get("error").is_some());

    let jobs = get(addr, "/api/v1/jobs").await.json().await;
    assert_eq!(jobs.as_array().map(Vec::len), Some(2));
    h.emit("jobs.created", "1900000000-ch9", "");
    let jobs = get(addr, "/api/v1/jobs").await.json().await;
    let job = jobs
        .as_array()
        .and_then(|a| a.iter().find(|j| j["id"] == "1900000000-ch9"))
        .cloned()
        .expect("created job listed");
    assert_eq!(job["start_time"], 1_900_000_000_i64);
    assert_eq!(job["channels"], serde_json::json!(["9"]));
    let dvr_jobs = get(addr, "/dvr/jobs").await.json().await;
    assert!(dvr_jobs.as_array().is_some_and(|a| a
        .iter()
        .any(|j| j["ID"] == "1900000000-ch9" && j["Time"] == 1_900_000_000_i64)));
    h.emit("jobs.deleted", "1900000000-ch9", "");
    let jobs = get(addr, "/api/v1/jobs").await.json().await;
    assert!(jobs
        .as_array()
        .is_some_and(|a| a.iter().all(|j| j["id"] != "1900000000-ch9")));

    // A recording completed through events becomes fetchable.
    h.emit("jobs.created", "1900003600-ch5.1", "");
    h.emit("programs.set", "recording", "recording-1900003600-ch5.1");
    h.emit("programs.set", "recorded", "recorded-30001");
    let rec = get(addr, "/api/v1/recordings/30001").await.json().await;
    assert_eq!(rec["job_id"], "1900003600-ch5.1");
    assert_eq!(rec["processed"], true);
    let item = get(addr, "/api/v1/all?id=30001").await.json().await;
    assert_eq!(item[0]["id"], "30001");

    assert_eq!(get(addr, "/nope").await.status, 404);
    assert_eq!(get(addr, "/api/v1/unknown").await.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn stall_keeps_stream_open_but_silent() {
    let sim = start(SimConfig::default()).await;
    let h = sim.handle();
    let mut s = subscribe(&h).await;
    h.set_stall(true);
    h.emit("activities.set", "x", "during stall");
    assert!(s.silent().await, "nothing is written while stalled");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), get(sim.addr(), "/status"))
            .await
            .is_err(),
        "/status hangs while stalled"
    );
    assert_eq!(h.open_streams(), 1);

    // A new subscriber while stalled gets headers but not even the hello.
    let mut late = get(sim.addr(), "/dvr/events/subscribe").await;
    assert_eq!(late.status, 200);
    assert!(late.silent().await);

    h.set_stall(false);
    assert_eq!(late.line().await.as_deref(), Some(HELLO));
    h.emit("activities.set", "x", "after stall");
    let line = s.line().await.expect("stream alive");
    assert!(
        line.contains("after stall"),
        "stalled event was dropped: {line}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn client_disconnect_releases_stream() {
    let sim = start(SimConfig::default()).await;
    let h = sim.handle();
    let s = subscribe(&h).await;
    assert_eq!(h.open_streams(), 1);
    drop(s);
    wait_until("server to notice the disconnect", || h.open_streams() == 0).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn lagging_subscriber_keeps_its_stream() {
    let sim = start(SimConfig::default()).await;
    let h = sim.handle();
    let mut s = subscribe(&h).await;
    // No await in this loop: the subscriber cannot keep up and must lag.
    for i in 0..20_000 {
        h.emit("activities.set", "lag", &format!("value {i}"));
    }
    h.emit("activities.set", "lag", "marker");
    loop {
        let line = s.line().await.expect("stream survives lagging");
        if line.contains("marker") {
            break;
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let sim = start(SimConfig::default()).await;
    let addr = sim.addr();
    let mut s = subscribe(&sim.handle()).await;
    timeout(DEADLINE, sim.shutdown())
        .await
        .expect("shutdown within deadline");
    assert_eq!(s.line().await, None);
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

#[tokio::test]
async fn family_evening_streams_valid_events() {
    let sim = start(scenario(Scenario::FamilyEvening, 50.0)).await;
    let h = sim.handle();
    let mut s = subscribe(&h).await;
    for _ in 0..15 {
        let line = s.line().await.expect("scenario keeps streaming");
        let v: Value = serde_json::from_str(&line).expect("family-evening sends JSON lines");
        assert!(v["Type"].is_string() && v["Name"].is_string() && v["Value"].is_string());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn garbage_mixes_bad_lines_good_events_and_a_huge_line() {
    let sim = start(scenario(Scenario::Garbage, 200.0)).await;
    let h = sim.handle();
    let mut s = subscribe(&h).await;
    let (mut bad, mut good, mut huge) = (false, false, false);
    while !(bad && good && huge) {
        let line = s.line().await.expect("garbage never ends the stream");
        if line.len() > 1024 * 1024 {
            huge = true;
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(v) if v["Type"].is_string() && v["Name"].is_string() => good = true,
            _ => bad = true,
        }
    }
    // Still alive after the huge line.
    assert!(s.line().await.is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn disk_filling_goes_critical_then_recovers() {
    let sim = start(scenario(Scenario::DiskFilling, 1000.0)).await;
    let h = sim.handle();
    let (start_free, total) = h.disk();
    wait_until("critical free space", || {
        let (free, total) = h.disk();
        free < total / 20 && free < 25 * (1 << 30)
    })
    .await;
    wait_until("space to be freed again", || h.disk().0 >= start_free).await;
    assert_eq!(h.disk().1, total);
    sim.shutdown().await;
}

#[tokio::test]
async fn flapping_drops_connections() {
    let sim = start(scenario(Scenario::Flapping, 20.0)).await;
    let h = sim.handle();
    let mut s = get(sim.addr(), "/dvr/events/subscribe").await;
    assert_eq!(s.status, 200, "no failure window before the first drop");
    while s.line().await.is_some() {}
    // Reconnect until a stream is served again; failures in between are 500 or 429.
    let reconnected = timeout(DEADLINE, async {
        loop {
            let r = get(sim.addr(), "/dvr/events/subscribe").await;
            match r.status {
                200 => return,
                500 => {}
                429 => assert_eq!(r.header("retry-after"), Some("1")),
                other => panic!("unexpected status {other}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(reconnected.is_ok());
    assert!(h.connections_total() >= 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn stall_scenario_goes_silent_after_a_few_events() {
    let sim = start(scenario(Scenario::Stall, 20.0)).await;
    let h = sim.handle();
    let mut s = subscribe(&h).await;
    let shared = std::sync::Arc::clone(&h.shared);
    wait_until("the scenario to stall", || shared.stalled()).await;
    let mut events = 0;
    while !s.silent().await {
        events += 1;
    }
    assert!(events >= 3, "a few events before the stall, got {events}");
    assert_eq!(h.open_streams(), 1);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), get(sim.addr(), "/status"))
            .await
            .is_err(),
        "/status hangs while stalled"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn uploads_serve_logos_and_art_and_miss_what_is_gone() {
    let sim = start(SimConfig::default()).await;
    let addr = sim.addr();
    let channels: Value = get(addr, "/api/v1/channels").await.json().await;
    let list = channels.as_array().expect("a list");
    let logo = |number: &str| {
        list.iter()
            .find(|c| c["number"] == number)
            .and_then(|c| c["logo_url"].as_str())
            .map(str::to_string)
    };
    // The scenario's channels are listed too; M3U channels have no logo.
    assert!(logo("13.1").is_some(), "{channels}");
    assert_eq!(logo("6001"), None);

    for path in [
        "/dvr/uploads/ch7.png",
        "/dvr/uploads/ch13.png",
        "/dvr/uploads/news.jpg",
    ] {
        let res = get(addr, path).await;
        assert_eq!(res.status, 200, "{path}");
        assert_eq!(res.header("content-type"), Some("image/svg+xml"), "{path}");
        assert!(res.body().await.starts_with("<svg"), "{path}");
    }
    let kcop = get(addr, "/dvr/uploads/ch13.png").await.body().await;
    assert!(kcop.contains(">KCOP<"), "{kcop}");
    assert_eq!(get(addr, "/dvr/uploads/ch11-missing.png").await.status, 404);
    assert_eq!(get(addr, "/dvr/uploads/unknown.png").await.status, 404);
    sim.shutdown().await;
}
