//! `channelwatch doctor diagnose`: checks one DVR the way the engine will use it (name
//! resolution, TCP, `/status` and version, the event stream's first line, the disk
//! endpoint, clock skew) and says what to do about each failure. The web app's
//! Diagnose button runs the same checks.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use tokio::net::TcpStream;
use wire::{DiagnoseCheck, DiagnoseReport};

use domain::disk::{DiskSample, DiskThresholds};
use domain::dvr::framing::{Frame, LineSplitter};
use engine::dvr::client::{ClientError, DvrClient, DvrStatus};
use storage::dvrs::DvrRecord;

/// How long each network step may take.
#[derive(Debug, Clone, Copy)]
pub struct DoctorTimeouts {
    pub connect: Duration,
    pub request: Duration,
    /// Time for the event stream to yield its first line (a real DVR sends `hello` at once).
    pub first_line: Duration,
    /// Skew beyond this fails the clock check.
    pub max_skew: Duration,
}

impl Default for DoctorTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            request: Duration::from_secs(5),
            first_line: Duration::from_secs(5),
            max_skew: Duration::from_secs(30),
        }
    }
}

fn ok(name: &str, detail: impl Into<String>) -> DiagnoseCheck {
    DiagnoseCheck {
        name: name.into(),
        ok: true,
        detail: detail.into(),
        hint: None,
    }
}

fn fail(name: &str, detail: impl Into<String>, hint: impl Into<String>) -> DiagnoseCheck {
    DiagnoseCheck {
        name: name.into(),
        ok: false,
        detail: detail.into(),
        hint: Some(hint.into()),
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// The host as a socket API wants it (IPv6 without brackets).
fn bare_host(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

/// [`diagnose`] with the engine's current disk thresholds and the default timeouts:
/// what the UI's Diagnose and Test connection buttons run.
pub(crate) async fn diagnose_with_engine(
    engine: &engine::Engine,
    dvr: &DvrRecord,
) -> DiagnoseReport {
    diagnose(
        engine.http(),
        dvr,
        &engine.disk_thresholds(),
        DoctorTimeouts::default(),
    )
    .await
}

/// Runs every check against one DVR. Checks that need an earlier one to pass are
/// still listed, as failures naming what blocked them.
pub async fn diagnose(
    http: &reqwest::Client,
    dvr: &DvrRecord,
    thresholds: &DiskThresholds,
    t: DoctorTimeouts,
) -> DiagnoseReport {
    let mut checks = Vec::new();
    let address = format!("{}:{}", dvr.host, dvr.port);
    let report = |checks| DiagnoseReport {
        dvr_id: dvr.dvr_id.clone(),
        dvr_name: dvr.name.clone(),
        address: address.clone(),
        checks,
    };
    let blocked = |checks: &mut Vec<DiagnoseCheck>, by: &str, names: &[&str]| {
        for n in names {
            checks.push(fail(
                n,
                format!("not checked: {by} failed"),
                format!("fix the {by} failure first"),
            ));
        }
    };

    // Name resolution.
    let host = bare_host(&dvr.host);
    let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        checks.push(ok(
            "dns",
            format!("{ip} is an IP address; no lookup needed"),
        ));
        vec![SocketAddr::new(ip, dvr.port)]
    } else {
        let started = Instant::now();
        match tokio::time::timeout(t.connect, tokio::net::lookup_host((host, dvr.port))).await {
            Ok(Ok(found)) => {
                let found: Vec<SocketAddr> = found.collect();
                if found.is_empty() {
                    checks.push(fail(
                        "dns",
                        format!("{host} resolved to no address"),
                        "check the host name, or use the DVR's IP address",
                    ));
                } else {
                    let list: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
                    checks.push(ok(
                        "dns",
                        format!(
                            "{host} resolves to {} in {} ms",
                            list.join(", "),
                            ms(started.elapsed())
                        ),
                    ));
                }
                found
            }
            Ok(Err(e)) => {
                checks.push(fail(
                    "dns",
                    format!("cannot resolve {host}: {e}"),
                    "check the spelling; containers often cannot resolve .local names, so use the DVR's IP address",
                ));
                Vec::new()
            }
            Err(_) => {
                checks.push(fail(
                    "dns",
                    format!("no answer for {host} within {} s", t.connect.as_secs()),
                    "the DNS server is slow or unreachable; use the DVR's IP address",
                ));
                Vec::new()
            }
        }
    };
    if addrs.is_empty() {
        blocked(
            &mut checks,
            "dns",
            &[
                "tcp",
                "status",
                "version",
                "event_stream",
                "disk",
                "clock_skew",
            ],
        );
        return report(checks);
    }

    // TCP: the first address that accepts.
    let started = Instant::now();
    let mut last_err = String::new();
    let mut reached = None;
    for a in &addrs {
        match tokio::time::timeout(t.connect, TcpStream::connect(a)).await {
            Ok(Ok(_)) => {
                reached = Some(*a);
                break;
            }
            Ok(Err(e)) => last_err = format!("{a}: {e}"),
            Err(_) => last_err = format!("{a}: no answer within {} s", t.connect.as_secs()),
        }
    }
    match reached {
        Some(a) => checks.push(ok(
            "tcp",
            format!("connected to {a} in {} ms", ms(started.elapsed())),
        )),
        None => {
            checks.push(fail(
                "tcp",
                format!("cannot connect: {last_err}"),
                format!(
                    "is Channels DVR running on {}? Check the port ({}, the default is 8089) and any firewall or Docker port mapping between here and there",
                    dvr.host, dvr.port
                ),
            ));
            blocked(
                &mut checks,
                "tcp",
                &["status", "version", "event_stream", "disk", "clock_skew"],
            );
            return report(checks);
        }
    }

    let client = DvrClient::new(http.clone(), &dvr.host, dvr.port).with_api_key(&dvr.api_key);
    let (status, stream, disk) = tokio::join!(
        check_status(&client, t),
        check_stream(&client, t),
        check_disk(&client, thresholds, t),
    );
    match status {
        Ok((elapsed, st, date)) => {
            checks.push(ok(
                "status",
                format!("/status answered in {} ms", ms(elapsed)),
            ));
            checks.push(match st.version.as_deref() {
                Some(v) if !v.is_empty() => ok(
                    "version",
                    format!(
                        "Channels DVR {v}{}",
                        st.name
                            .as_deref()
                            .map(|n| format!(" named '{n}'"))
                            .unwrap_or_default()
                    ),
                ),
                _ => fail(
                    "version",
                    "/status carries no version",
                    "this port answers but does not look like Channels DVR; check the port",
                ),
            });
            checks.push(stream);
            checks.push(disk);
            checks.push(check_skew(date, SystemTime::now(), t.max_skew));
        }
        Err(e) => {
            checks.push(fail("status", e.clone(), status_hint(&e)));
            blocked(&mut checks, "status", &["version"]);
            checks.push(stream);
            checks.push(disk);
            blocked(&mut checks, "status", &["clock_skew"]);
        }
    }
    report(checks)
}

fn status_hint(e: &str) -> String {
    if e.contains("timed out") || e.contains("no answer") {
        "the DVR accepts connections but does not answer: it may be hung or overloaded; restart Channels DVR".into()
    } else if e.contains("HTTP 401") || e.contains("HTTP 403") {
        "the DVR wants an API key, or refuses the one given: set the DVR's API key in its settings here, or check its remote-access settings".into()
    } else {
        "make sure this host:port is the Channels DVR web port (the one that serves its settings page)".into()
    }
}

/// `GET /status` with its time and the `Date` header (for the skew check).
async fn check_status(
    client: &DvrClient,
    t: DoctorTimeouts,
) -> Result<(Duration, DvrStatus, Option<SystemTime>), String> {
    let started = Instant::now();
    let _fd = engine::fd_limit::dvr_connections().request().await;
    let res = client
        .get("/status")
        .timeout(t.request)
        .send()
        .await
        .map_err(|e| ClientError::from_reqwest(e, t.request).to_string())?;
    if !res.status().is_success() {
        return Err(format!("/status answered HTTP {}", res.status().as_u16()));
    }
    let date = res
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let body = engine::limits::read_capped(res, engine::dvr::client::MAX_STATUS_BODY)
        .await
        .map_err(|e| match e {
            engine::limits::ReadError::Http(e) => {
                ClientError::from_reqwest(e, t.request).to_string()
            }
            too_large => format!("/status: {too_large}"),
        })?;
    let st: DvrStatus = serde_json::from_slice(&body)
        .map_err(|e| format!("/status is not the JSON Channels DVR sends: {e}"))?;
    Ok((started.elapsed(), st, date))
}

/// Compares the DVR's `Date` header with our clock.
pub(crate) fn check_skew(
    dvr_date: Option<SystemTime>,
    now: SystemTime,
    max: Duration,
) -> DiagnoseCheck {
    let Some(date) = dvr_date else {
        return ok("clock_skew", "not measurable: the DVR sent no Date header");
    };
    let (skew, ahead) = match date.duration_since(now) {
        Ok(d) => (d, true),
        Err(e) => (e.duration(), false),
    };
    // The header has one-second resolution: a second either way is no skew.
    let secs = skew.as_secs();
    if skew <= max {
        ok("clock_skew", format!("clocks agree within {secs} s"))
    } else {
        fail(
            "clock_skew",
            format!(
                "the DVR's clock is {secs} s {} of this machine's",
                if ahead { "ahead" } else { "behind" }
            ),
            "sync both machines with NTP: event times and durations in alerts will be off otherwise",
        )
    }
}

/// Opens the event stream and waits for its first line.
async fn check_stream(client: &DvrClient, t: DoctorTimeouts) -> DiagnoseCheck {
    let started = Instant::now();
    let _fd = engine::fd_limit::dvr_connections().stream().await;
    let res = match client.subscribe(t.request).await {
        Ok(r) => r,
        Err(e) => {
            let hint = if matches!(e, ClientError::Status(401 | 403)) {
                "the DVR wants an API key, or refuses the one given: set the DVR's API key in its settings here"
            } else {
                "the DVR refused the event stream; update Channels DVR or check a proxy in between"
            };
            return fail(
                "event_stream",
                format!("cannot open /dvr/events/subscribe: {e}"),
                hint,
            );
        }
    };
    let mut body = res.bytes_stream();
    // The engine's splitter: a line over 1 MiB is dropped, never buffered whole.
    let mut splitter = LineSplitter::default();
    let mut frames = Vec::new();
    let first = tokio::time::timeout(t.first_line, async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            splitter.push(&chunk, &mut frames);
            for frame in frames.drain(..) {
                match frame {
                    Frame::Line(line) if !line.trim().is_empty() => {
                        return Ok(line.trim().to_string())
                    }
                    Frame::Line(_) => {}
                    Frame::Oversized(bytes) => {
                        return Err(format!("the first line is over 1 MiB ({bytes} bytes)"))
                    }
                }
            }
        }
        Err("the DVR closed the stream without sending a line".to_string())
    })
    .await;
    match first {
        Ok(Ok(line)) => {
            let kind = first_line_kind(&line);
            ok(
                "event_stream",
                format!("first line ({kind}) after {} ms", ms(started.elapsed())),
            )
        }
        Ok(Err(e)) => fail(
            "event_stream",
            e,
            "the DVR ended the stream at once; check its logs, or a proxy that closes long requests",
        ),
        Err(_) => fail(
            "event_stream",
            format!(
                "the stream opened but sent nothing within {} s",
                t.first_line.as_secs()
            ),
            "a hung DVR or a buffering proxy: restart Channels DVR, or disable response buffering in the proxy",
        ),
    }
}

/// `hello`, `activities.set`, … from the first line, for the report.
fn first_line_kind(line: &str) -> String {
    let json = line.strip_prefix("data:").unwrap_or(line).trim();
    if json.starts_with(':') {
        return "keep-alive comment".into();
    }
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get("Type").and_then(|t| t.as_str()).map(str::to_string))
        .map(|t| format!("type {t}"))
        .unwrap_or_else(|| "not JSON".into())
}

async fn check_disk(
    client: &DvrClient,
    thresholds: &DiskThresholds,
    t: DoctorTimeouts,
) -> DiagnoseCheck {
    match client.dvr_info(t.request).await {
        Ok(info) => match info.disk {
            Some(d) if d.total > 0 => {
                let s = DiskSample {
                    free_bytes: d.free,
                    total_bytes: d.total,
                };
                let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
                ok(
                    "disk",
                    format!(
                        "{:.1} GiB free of {:.1} GiB ({:.1} %): {}",
                        gib(d.free),
                        gib(d.total),
                        s.free_percent(),
                        s.level(thresholds).as_str()
                    ),
                )
            }
            _ => fail(
                "disk",
                "GET /dvr carries no disk figures",
                "set a recording location in Channels DVR settings; disk alerts need it",
            ),
        },
        Err(e) => fail(
            "disk",
            format!("GET /dvr failed: {e}"),
            "the DVR's recording service is not answering; open its settings page and check the DVR is set up",
        ),
    }
}

/// Why `doctor diagnose` cannot pick its DVRs.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error("declared DVR is invalid: {0}")]
    Declared(#[from] crate::registry::RegistryError),
    #[error("no DVR with id {id}; configured: {known}")]
    Unknown { id: String, known: String },
}

/// The DVRs to diagnose: every enabled one (stored, or declared by the file or
/// `CHANNELS_DVR_SERVERS` and not stored yet), or just `only` (even when disabled).
pub async fn targets(
    config: &crate::config::Config,
    db: &storage::Db,
    only: Option<&str>,
) -> Result<Vec<DvrRecord>, TargetError> {
    use storage::dvrs::ManagedBy;
    let mut all = storage::dvrs::list(db).await?;
    let declared = config
        .file_dvrs()
        .into_iter()
        .map(|d| (d, ManagedBy::File))
        .chain(config.env_dvrs.iter().cloned().map(|d| (d, ManagedBy::Env)));
    for (d, by) in declared {
        let r = crate::registry::record_from(&d, by)?;
        if !all.iter().any(|x| x.dvr_id == r.dvr_id) {
            all.push(r);
        }
    }
    match only {
        Some(id) => match all.iter().find(|r| r.dvr_id == id) {
            Some(r) => Ok(vec![r.clone()]),
            None => Err(TargetError::Unknown {
                id: id.to_string(),
                known: if all.is_empty() {
                    "none".to_string()
                } else {
                    all.iter()
                        .map(|r| format!("{} ({})", r.dvr_id, r.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            }),
        },
        None => Ok(all.into_iter().filter(|r| r.enabled).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_within_limit_is_ok_beyond_fails_with_direction() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let max = Duration::from_secs(30);
        assert!(check_skew(Some(now - Duration::from_secs(2)), now, max).ok);
        let c = check_skew(Some(now + Duration::from_secs(90)), now, max);
        assert!(!c.ok);
        assert!(c.detail.contains("90 s ahead"), "{}", c.detail);
        let c = check_skew(Some(now - Duration::from_secs(3600)), now, max);
        assert!(c.detail.contains("3600 s behind"), "{}", c.detail);
        assert!(c.hint.unwrap().contains("NTP"));
        assert!(check_skew(None, now, max).ok);
    }

    #[test]
    fn first_line_kinds() {
        assert_eq!(first_line_kind(r#"{"Type":"hello"}"#), "type hello");
        assert_eq!(first_line_kind(r#"data: {"Type":"hello"}"#), "type hello");
        assert_eq!(first_line_kind(": ping"), "keep-alive comment");
        assert_eq!(first_line_kind("garbage"), "not JSON");
    }

    #[test]
    fn report_text_has_one_line_per_check_with_hints_on_failures() {
        let r = DiagnoseReport {
            dvr_id: "aef6d698".into(),
            dvr_name: "Den".into(),
            address: "192.168.1.1:8089".into(),
            checks: vec![
                ok("dns", "192.168.1.1 is an IP address"),
                fail("tcp", "connection refused", "is it running?"),
            ],
        };
        let text = r.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("OK   aef6d698 dns: "));
        assert_eq!(
            lines[2],
            "FAIL aef6d698 tcp: connection refused | hint: is it running?"
        );
        assert!(!r.ok());
    }
}
