//! The real `channelwatch` binary: start-up errors, `simulate`, `serve` with
//! environment-declared DVRs, `apikey create`, `healthcheck`, and clean shutdown.

use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::{clean_env, wait_for, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_channelwatch");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get_ok(url: String) -> bool {
    reqwest::get(&url)
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Polls an async condition with a deadline.
async fn wait_async<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn bad_configuration_stops_start_up_naming_key_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = clean_env(&mut Command::new(BIN))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("CHANNELWATCH_PORT", "eighty")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CHANNELWATCH_PORT") && err.contains("eighty"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one precise message: {err}");

    let yaml = dir.path().join("channelwatch.yaml");
    std::fs::write(
        &yaml,
        "dvrs:\n  - host: dvr.local\n    staleness_threshold_seconds: 10\n",
    )
    .unwrap();
    let out = clean_env(&mut Command::new(BIN))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&yaml.display().to_string()), "{err}");
    assert!(err.contains("dvrs[0].staleness_threshold_seconds"), "{err}");
    std::fs::remove_file(&yaml).unwrap();

    let out = clean_env(&mut Command::new(BIN))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("CHANNELS_DVR_SERVERS", "Den@dvr.local:notaport")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CHANNELS_DVR_SERVERS"), "{err}");
}

#[tokio::test]
async fn simulate_serves_the_dvr_api() {
    let port = free_port();
    let _sim = Proc(
        clean_env(&mut Command::new(BIN))
            .args([
                "simulate",
                "--port",
                &port.to_string(),
                "--scenario",
                "quiet",
                "--seed",
                "3",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_async("the simulator", || get_ok(format!("{base}/status"))).await;
    let dvr: serde_json::Value = reqwest::get(format!("{base}/dvr"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(dvr["disk"]["free"].is_u64());
    for path in [
        "/api/v1/channels",
        "/devices/ANY/guide/now",
        "/api/v1/all",
        "/api/v1/jobs",
        "/api/v1/recordings/12260",
    ] {
        assert!(get_ok(format!("{base}{path}")).await, "{path}");
    }
    let bad = clean_env(&mut Command::new(BIN))
        .args(["simulate", "--port", "1", "--scenario", "bogus"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("family-evening"),
        "lists valid scenarios"
    );
}

#[tokio::test]
async fn serve_monitors_env_dvrs_and_accepts_a_created_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim::Simulator::start("127.0.0.1:0".parse().unwrap(), Default::default())
        .await
        .unwrap();
    let sim_port = sim.addr().port();

    // A key made by the CLI before the server starts.
    let out = clean_env(&mut Command::new(BIN))
        .args(["apikey", "create", "--name", "ci", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("cw_"));

    let port = free_port();
    let mut server = Proc(
        clean_env(&mut Command::new(BIN))
            .args([
                "serve",
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--data-dir",
            ])
            .arg(dir.path())
            .env(
                "CHANNELS_DVR_SERVERS",
                format!("Basement@127.0.0.1:{sim_port}"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_async("startup probe", || {
        get_ok(format!("{base}/healthz/startup"))
    })
    .await;

    let c = reqwest::Client::new();
    let id = domain::dvr::id::dvr_id("127.0.0.1", sim_port);
    let mut connected = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !connected && tokio::time::Instant::now() < deadline {
        let list: serde_json::Value = c
            .get(format!("{base}/api/v1/dvrs"))
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list[0]["dvr_id"], id.as_str());
        assert_eq!(list[0]["name"], "Basement");
        assert_eq!(list[0]["managed_by"], "env");
        connected = list[0]["health"]["connected"] == true;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(connected, "the env DVR connects");
    // An env-managed DVR is changed in the environment, not through the API.
    let res = c
        .delete(format!("{base}/api/v1/dvrs/{id}"))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);

    let hc = clean_env(&mut Command::new(BIN))
        .args(["healthcheck", "--url", &format!("{base}/healthz/live")])
        .status()
        .unwrap();
    assert!(hc.success());

    // SIGTERM shuts down cleanly.
    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut status = None;
    wait_for("exit after SIGTERM", Duration::from_secs(15), || {
        status = server.0.try_wait().unwrap();
        status.is_some()
    })
    .await;
    assert_eq!(status.unwrap().code(), Some(0));
    let hc = clean_env(&mut Command::new(BIN))
        .args(["healthcheck", "--url", &format!("{base}/healthz/live")])
        .status()
        .unwrap();
    assert!(!hc.success(), "healthcheck fails when nothing answers");
    sim.shutdown().await;
}

/// Runs `channelwatch doctor diagnose` off the runtime (the simulators live on it).
async fn diagnose(data_dir: &std::path::Path, dvrs: &str, extra: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    clean_env(&mut cmd)
        .args(["doctor", "diagnose", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env("CHANNELS_DVR_SERVERS", dvrs);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn doctor_diagnose_passes_a_healthy_dvr_and_explains_failures() {
    let dir = tempfile::tempdir().unwrap();
    let good = testkit::sim(sim::Scenario::Quiet).await;
    let hung = testkit::sim(sim::Scenario::Quiet).await;
    hung.handle().set_stall(true);
    let closed = free_port();
    let good_id = domain::dvr::id::dvr_id("127.0.0.1", good.addr().port());

    // One healthy DVR: every check OK, exit 0.
    let (code, text) = diagnose(
        dir.path(),
        &format!("Den@127.0.0.1:{}", good.addr().port()),
        &[],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    for check in [
        "dns",
        "tcp",
        "status",
        "version",
        "event_stream",
        "disk",
        "clock_skew",
    ] {
        assert!(
            text.contains(&format!("OK   {good_id} {check}: ")),
            "{check} missing:\n{text}"
        );
    }
    assert!(text.contains("type hello"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("FAIL")), "{text}");

    // A hung DVR and a closed port: precise failures with hints, exit 1; the healthy
    // one is still reported OK.
    let all = format!(
        "Den@127.0.0.1:{},Hung@127.0.0.1:{},Gone@127.0.0.1:{closed}",
        good.addr().port(),
        hung.addr().port()
    );
    let (code, text) = diagnose(dir.path(), &all, &[]).await;
    assert_eq!(code, 1, "{text}");
    let hung_id = domain::dvr::id::dvr_id("127.0.0.1", hung.addr().port());
    let gone_id = domain::dvr::id::dvr_id("127.0.0.1", closed);
    let line = |id: &str, check: &str| {
        text.lines()
            .find(|l| l.contains(&format!(" {id} {check}: ")))
            .unwrap_or_else(|| panic!("no {check} line for {id}:\n{text}"))
            .to_string()
    };
    assert!(line(&good_id, "status").starts_with("OK"));
    assert!(line(&hung_id, "tcp").starts_with("OK"));
    let status = line(&hung_id, "status");
    assert!(
        status.starts_with("FAIL") && status.contains("hint: "),
        "{status}"
    );
    let stream = line(&hung_id, "event_stream");
    assert!(
        stream.starts_with("FAIL") && stream.contains("sent nothing"),
        "{stream}"
    );
    let tcp = line(&gone_id, "tcp");
    assert!(
        tcp.starts_with("FAIL") && tcp.contains("refused") && tcp.contains("hint: "),
        "{tcp}"
    );
    assert!(text.contains("3 DVR(s) checked"), "{text}");

    // --dvr picks one; an unknown id is a precise error.
    let (code, text) = diagnose(dir.path(), &all, &["--dvr", &good_id]).await;
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains(&hung_id), "{text}");
    let (code, text) = diagnose(dir.path(), &all, &["--dvr", "ffffffff"]).await;
    assert_eq!(code, 1);
    assert!(
        text.contains("no DVR with id ffffffff") && text.contains(&good_id),
        "{text}"
    );
    hung.handle().set_stall(false);
    good.shutdown().await;
    hung.shutdown().await;
}

#[test]
fn doctor_config_check_accepts_good_and_names_bad_declarations() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        clean_env(&mut Command::new(BIN))
            .args(["doctor", "config-check", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    std::fs::write(
        dir.path().join("channelwatch.yaml"),
        "dvrs:\n  - name: Den\n    host: 127.0.0.1\n",
    )
    .unwrap();
    let out = run();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("OK configuration") && text.contains("OK database"),
        "{text}"
    );
    std::fs::write(
        dir.path().join("channelwatch.yaml"),
        "dvrs:\n  - name: Den\n    host: 127.0.0.1\n    staleness_threshold_seconds: 10\n",
    )
    .unwrap();
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("channelwatch.yaml") && err.contains("dvrs[0].staleness_threshold_seconds"),
        "{err}"
    );
}

#[tokio::test]
async fn notify_test_prints_the_provider_answer() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let fake = testkit::FakeProvider::start(Arc::new(|r: &testkit::Received| {
        if r.header("x-gotify-key") == Some("tok") {
            (200, vec![], r#"{"id":9}"#.into())
        } else {
            (
                401,
                vec![],
                r#"{"error":"Unauthorized","errorCode":401,"errorDescription":"bad token"}"#.into(),
            )
        }
    }))
    .await;
    let db = storage::Db::open(dir.path()).await.unwrap();
    let mk = |tok: &str| {
        domain::notify::providers::ProviderConfig::Gotify(domain::notify::providers::Gotify {
            url: fake.url(""),
            token: tok.into(),
            priority: None,
        })
    };
    let good = storage::providers::insert(&db, "gotify", "Good", true, &mk("tok"))
        .await
        .unwrap();
    let bad = storage::providers::insert(&db, "gotify", "Bad", true, &mk("nope"))
        .await
        .unwrap();
    db.pool.close().await;
    let run = |id: i64| {
        let mut cmd = Command::new(BIN);
        clean_env(&mut cmd)
            .args([
                "notify",
                "test",
                "--provider",
                &id.to_string(),
                "--data-dir",
            ])
            .arg(dir.path());
        async move {
            tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap()
        }
    };
    let out = run(good.id).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.starts_with("OK   gotify 'Good': 200"), "{text}");
    let out = run(bad.id).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("FAIL") && text.contains("bad token"),
        "{text}"
    );
    let out = run(999).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no provider with id 999"));
}

/// Starts `channelwatch serve` on `port` with one env-declared DVR and an API key.
fn spawn_serve(dir: &std::path::Path, port: u16, sim_port: u16) -> Proc {
    Proc(
        clean_env(&mut Command::new(BIN))
            .args([
                "serve",
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--data-dir",
            ])
            .arg(dir)
            .env("CHANNELS_DVR_SERVERS", format!("Den@127.0.0.1:{sim_port}"))
            .env("CHANNELWATCH_API_KEY", "kill-test-key")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[tokio::test]
async fn a_killed_process_delivers_pending_notifications_after_restart_exactly_once() {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let sim = testkit::sim(sim::Scenario::Quiet).await;
    let down = Arc::new(AtomicBool::new(true));
    let d2 = down.clone();
    let fake = testkit::FakeProvider::start(Arc::new(move |_r: &testkit::Received| {
        if d2.load(Ordering::SeqCst) {
            (503, vec![], "maintenance".into())
        } else {
            (200, vec![], "ok".into())
        }
    }))
    .await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::new();
    let history = |c: reqwest::Client, base: String| async move {
        let v: serde_json::Value = c
            .get(format!("{base}/api/v1/alerts"))
            .header("X-API-Key", "kill-test-key")
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v["alerts"].as_array().cloned()
    };

    let mut first = spawn_serve(dir.path(), port, sim.addr().port());
    wait_async("first process ready", || {
        get_ok(format!("{base}/healthz/ready"))
    })
    .await;
    let res = c
        .post(format!("{base}/api/v1/providers"))
        .header("X-API-Key", "kill-test-key")
        .json(&serde_json::json!({"type": "webhook", "url": fake.url("/hook"), "secret": "s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    wait_async("the DVR connected", || {
        let c = c.clone();
        let base = base.clone();
        async move {
            let list: serde_json::Value = c
                .get(format!("{base}/api/v1/dvrs"))
                .header("X-API-Key", "kill-test-key")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list[0]["health"]["connected"] == true
        }
    })
    .await;
    for ch in ["2", "4", "7"] {
        sim.handle().emit(
            "activities.set",
            &format!("{ch}-stream-10811DF5-192.168.1.50"),
            &format!("Watching ch{ch} X from TV (192.168.1.50)"),
        );
    }
    wait_async("three alerts recorded and tried", || {
        let (c, base, fake) = (c.clone(), base.clone(), &fake);
        async move {
            history(c, base).await.is_some_and(|h| h.len() == 3)
                && fake.requests_to("/hook").len() >= 3
        }
    })
    .await;
    // SIGKILL: no graceful shutdown of anything.
    first.0.kill().unwrap();
    first.0.wait().unwrap();

    down.store(false, Ordering::SeqCst);
    let before = fake.requests_to("/hook").len();
    let _second = spawn_serve(dir.path(), port, sim.addr().port());
    wait_async("all three delivered by the new process", || {
        let (c, base) = (c.clone(), base.clone());
        async move {
            history(c, base).await.is_some_and(|h| {
                h.len() == 3 && h.iter().all(|a| a["deliveries"][0]["status"] == "sent")
            })
        }
    })
    .await;
    // Give a duplicate every chance, then count per delivery id.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in &fake.requests_to("/hook")[before..] {
        *per_id
            .entry(r.header("x-channelwatch-delivery").unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), 3, "{per_id:?}");
    assert!(per_id.values().all(|n| *n == 1), "{per_id:?}");
    assert_eq!(
        history(c.clone(), base.clone()).await.unwrap().len(),
        3,
        "no re-alert after the restart"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn user_create_reset_password_and_the_env_admin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = Command::new(BIN);
        clean_env(&mut cmd)
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, text) = run(
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--password",
            "correct horse",
        ],
        None,
    );
    assert_eq!(code, Some(0), "{text}");
    // The password may come on stdin instead of the command line.
    let (code, text) = run(
        &["user", "create", "--username", "bob", "--role", "viewer"],
        Some("battery staple\n"),
    );
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--password",
            "whatever1",
        ],
        None,
    );
    assert_eq!(code, Some(1));
    assert!(text.contains("already exists"), "{text}");
    let (code, text) = run(
        &[
            "user",
            "create",
            "--username",
            "carol",
            "--password",
            "short",
        ],
        None,
    );
    assert_eq!(code, Some(1));
    assert!(text.contains("at least 8"), "{text}");
    let (code, text) = run(
        &["user", "reset-password", "--username", "alice"],
        Some("new password 1\n"),
    );
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(
        &[
            "user",
            "reset-password",
            "--username",
            "ghost",
            "--password",
            "long enough",
        ],
        None,
    );
    assert_eq!(code, Some(1));
    assert!(text.contains("no user named 'ghost'"), "{text}");

    let db = storage::Db::open(dir.path()).await.unwrap();
    use storage::users::{verify, Role};
    assert_eq!(
        verify(&db, "alice", "new password 1").await.unwrap(),
        Some(Role::Admin)
    );
    assert_eq!(verify(&db, "alice", "correct horse").await.unwrap(), None);
    assert_eq!(
        verify(&db, "bob", "battery staple").await.unwrap(),
        Some(Role::Viewer)
    );
    let hashes: Vec<String> = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(hashes.iter().all(|h| h.starts_with("$argon2id$")));
    db.pool.close().await;

    // CHANNELWATCH_ADMIN_USER/_PASSWORD create the first admin, only when none exists.
    let fresh = tempfile::tempdir().unwrap();
    let flags = channelwatch::config::Flags {
        data_dir: Some(fresh.path().to_path_buf()),
        bind: Some("127.0.0.1".into()),
        port: Some(0),
        ..Default::default()
    };
    let config = channelwatch::config::Config::load(
        &flags,
        &[
            ("CHANNELWATCH_ADMIN_USER", "root"),
            ("CHANNELWATCH_ADMIN_PASSWORD", "s3cret-pass"),
            ("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0"),
        ],
    )
    .unwrap();
    let srv = channelwatch::serve::start(config, testkit::fast_settings())
        .await
        .unwrap();
    assert_eq!(
        verify(&srv.services.db, "root", "s3cret-pass")
            .await
            .unwrap(),
        Some(Role::Admin)
    );
    srv.shutdown().await;
}

/// The server's `/metrics` text.
async fn metrics_text(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .unwrap()
}

/// The value of an unlabelled series in a `/metrics` text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn a_log_reader_that_never_reads_costs_log_lines_not_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim::Simulator::start("127.0.0.1:0".parse().unwrap(), Default::default())
        .await
        .unwrap();
    let port = free_port();
    // stderr is a pipe nobody reads: once its 64 KiB fill, every write to it would
    // block. Trace logging says a few lines per request.
    let _server = Proc(
        clean_env(&mut Command::new(BIN))
            .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
            .arg("--data-dir")
            .arg(dir.path())
            .env("CHANNELWATCH_LOG", "trace")
            .env(
                "CHANNELS_DVR_SERVERS",
                format!("Den@127.0.0.1:{}", sim.addr().port()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_async("the server", || get_ok(format!("{base}/healthz/live"))).await;
    // A new connection per request: each says a few lines at trace level.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // Far more lines than the pipe and the writer's queue hold; every probe answers.
    let answered = futures::future::join_all((0..8).map(|_| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            for _ in 0..1_000 {
                let res = http.get(format!("{base}/healthz/live")).send().await;
                assert!(
                    res.is_ok_and(|r| r.status().is_success()),
                    "a probe went unanswered behind the unread log"
                );
            }
        }
    }))
    .await;
    assert_eq!(answered.len(), 8);
    let mut dropped = 0.0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while dropped == 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no dropped lines counted"
        );
        let text = metrics_text(&http, &base).await;
        dropped = metric(&text, "channelwatch_log_lines_dropped_total").unwrap();
        if dropped == 0.0 {
            http.get(format!("{base}/healthz/live"))
                .send()
                .await
                .unwrap();
        }
    }
    // The DVR is still watched: the engine was never stalled into a restart.
    let text = metrics_text(&http, &base).await;
    assert_eq!(
        metric(&text, "channelwatch_dvr_connected"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "channelwatch_dvr_task_restarts_total"),
        Some(0.0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn with_more_dvrs_than_descriptors_the_probes_keep_answering() {
    let Some(prlimit) = ["/usr/bin/prlimit", "/bin/prlimit"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        panic!("prlimit (util-linux) is needed to start the server with a low open-file limit");
    };
    // This test process holds two descriptors per simulated DVR.
    let _ = engine::fd_limit::raise();
    const LIMIT: u64 = 400;
    const DVRS: usize = 350;
    let capacity = engine::fd_limit::dvr_capacity(LIMIT);
    assert!((DVRS as u64) > capacity, "the test must overrun the budget");
    let mut sims = Vec::new();
    for _ in 0..DVRS {
        sims.push(
            sim::Simulator::start("127.0.0.1:0".parse().unwrap(), Default::default())
                .await
                .unwrap(),
        );
    }
    let list: Vec<String> = sims
        .iter()
        .enumerate()
        .map(|(i, s)| format!("D{i}@127.0.0.1:{}", s.addr().port()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("channelwatch.yaml"),
        "dvr_soft_limit: 1000\n",
    )
    .unwrap();
    let port = free_port();
    let _server = Proc(
        clean_env(&mut Command::new(prlimit))
            .arg(format!("--nofile={LIMIT}:{LIMIT}"))
            .arg(BIN)
            .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
            .arg("--data-dir")
            .arg(dir.path())
            .env("CHANNELS_DVR_SERVERS", list.join(","))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_async("the server", || get_ok(format!("{base}/healthz/live"))).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let scrape = || async {
        let res = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("/metrics answers near the open-file limit");
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    };
    // Every DVR the budget carries connects; the rest wait, said in /metrics.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = scrape().await;
        let open = metric(&text, "channelwatch_dvr_streams_open").unwrap();
        let waiting = metric(&text, "channelwatch_dvr_connections_waiting").unwrap();
        if open == capacity as f64 && waiting >= 1.0 {
            assert_eq!(
                metric(&text, "channelwatch_open_files_limit"),
                Some(LIMIT as f64)
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "streams open {open}, waiting {waiting}, budget {capacity}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Probes, the API and /metrics keep answering, many at once, over several polls.
    for _ in 0..5 {
        let answers = futures::future::join_all((0..32).map(|i| {
            let http = http.clone();
            let path = [
                "/healthz/live",
                "/healthz/startup",
                "/healthz/ready",
                "/metrics",
            ][i % 4];
            let url = format!("{base}{path}");
            async move { http.get(url).send().await.map(|r| r.status().as_u16()) }
        }))
        .await;
        for a in answers {
            let status = a.expect("a probe went unanswered near the open-file limit");
            // Ready may say 503 (a DVR waiting for a descriptor is not connected), but it answers.
            assert!(status == 200 || status == 503, "{status}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let text = scrape().await;
    assert_eq!(
        metric(&text, "channelwatch_http_accept_errors_total"),
        Some(0.0),
        "the listener never ran out"
    );
    for s in sims {
        s.shutdown().await;
    }
}
