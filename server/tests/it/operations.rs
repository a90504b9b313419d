//! Operations against the real binary and real files: the YAML file reloaded on
//! `SIGHUP` and on change (only changed DVRs restart, a bad file keeps the running
//! state), secrets at rest and key rotation, the debug bundle with planted secrets,
//! backup and restore, JSON logs in the data dir, and mDNS discovery with a real
//! advertiser in a network namespace of the test's own.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use sim::Scenario;
use testkit::{clean_env, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_channelwatch");
const KEY: &str = "ops-test-key-0123456789";

fn free_port() -> u16 {
    testkit::closed_port()
}

/// Starts `channelwatch serve` on a free loopback port; answers it and its base URL.
async fn serve(dir: &Path, env: &[(&str, &str)]) -> (Proc, String) {
    let port = free_port();
    let mut cmd = Command::new(BIN);
    clean_env(&mut cmd)
        .args([
            "serve",
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--data-dir",
        ])
        .arg(dir)
        .env("CHANNELWATCH_API_KEY", KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = Proc(cmd.spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    testkit::eventually("the startup probe", Duration::from_secs(30), || {
        let url = format!("{base}/healthz/startup");
        async move {
            reqwest::get(&url)
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        }
    })
    .await;
    (proc, base)
}

async fn api(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    api_as(KEY, method, url, body).await
}

async fn api_as(
    key: &str,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = testkit::client().request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    testkit::send(req, Some(key)).await
}

async fn get(base: &str, path: &str) -> Value {
    let (status, v) = api(reqwest::Method::GET, format!("{base}{path}"), None).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

fn kill(sig: &str, p: &Proc) {
    assert!(Command::new("kill")
        .args([sig, &p.0.id().to_string()])
        .status()
        .unwrap()
        .success());
}

fn file_config(sim_a: u16, name_a: &str, sim_b: Option<u16>) -> String {
    let b = sim_b
        .map(|p| format!("  - name: Bedroom\n    host: 127.0.0.1\n    port: {p}\n"))
        .unwrap_or_default();
    format!(
        "dvrs:\n  - name: {name_a}\n    host: 127.0.0.1\n    port: {sim_a}\n{b}\
providers:\n  - name: Home Assistant\n    type: webhook\n    url: http://127.0.0.1:9/hook\n    secret: ${{HOOK_SECRET}}\n    rules:\n      - name: Recordings of {name_a}\n        dvrs: [{name_a}]\n        kinds: [recording]\n\
routing:\n  {name_a}:\n    channel: {{webhook: false}}\n\
retention_days: 21\n"
    )
}

/// The file's DVRs, providers, routing and settings apply at start; a changed file
/// applies on SIGHUP and by itself, restarting only the DVRs that changed; a bad file
/// is refused whole with line and key while the running state stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_yaml_file_reloads_on_sighup_and_change_and_a_bad_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sim_a = testkit::sim(Scenario::Quiet).await;
    let sim_b = testkit::sim(Scenario::Quiet).await;
    let (a, b) = (sim_a.addr().port(), sim_b.addr().port());
    let yaml = dir.path().join("channelwatch.yaml");
    std::fs::write(&yaml, file_config(a, "Den", None)).unwrap();
    let (server, base) = serve(dir.path(), &[("HOOK_SECRET", "planted-hook-secret")]).await;

    let dvrs = get(&base, "/api/v1/dvrs").await;
    assert_eq!(dvrs.as_array().unwrap().len(), 1);
    assert_eq!(dvrs[0]["managed_by"], "file");
    let id_a = dvrs[0]["dvr_id"].as_str().unwrap().to_string();
    let providers = get(&base, "/api/v1/providers").await;
    assert_eq!(providers[0]["managed_by"], "file");
    assert_eq!(providers[0]["secret"], "****");
    let pid = providers[0]["id"].as_i64().unwrap();
    let (status, v) = api(
        reqwest::Method::PATCH,
        format!("{base}/api/v1/providers/{pid}"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("managed_by_file")),
        "{v}"
    );
    assert_eq!(
        get(&base, "/api/v1/routing").await[&id_a]["channel"]["webhook"],
        false
    );
    // The provider's rules are the file's, its DVR named by name; the API may not
    // change them.
    let rules = get(&base, "/api/v1/rules").await;
    assert_eq!(rules.as_array().unwrap().len(), 1, "{rules}");
    assert_eq!(rules[0]["provider_id"], pid, "{rules}");
    assert_eq!(rules[0]["dvrs"], json!([id_a]), "{rules}");
    assert_eq!(rules[0]["kinds"], json!(["recording"]), "{rules}");
    let (status, v) = api(
        reqwest::Method::POST,
        format!("{base}/api/v1/rules"),
        Some(json!({"provider_id": pid})),
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("managed_by_file")),
        "{v}"
    );
    let (status, v) = api(
        reqwest::Method::DELETE,
        format!("{base}/api/v1/rules/{}", rules[0]["id"]),
        None,
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("managed_by_file")),
        "{v}"
    );
    let settings = get(&base, "/api/v1/settings").await;
    assert_eq!(settings["retention_days"], 21);
    testkit::eventually("Den connects", Duration::from_secs(15), || {
        let sim = &sim_a;
        async move { (sim.handle().connections_total() >= 1).then_some(()) }
    })
    .await;

    // SIGHUP: a second DVR, Den renamed (no restart for a rename).
    std::fs::write(&yaml, file_config(a, "Den Upstairs", Some(b))).unwrap();
    kill("-HUP", &server);
    let dvrs = testkit::eventually("the reload", Duration::from_secs(15), || {
        let base = base.clone();
        async move {
            let v = get(&base, "/api/v1/dvrs").await;
            (v.as_array().unwrap().len() == 2).then_some(v)
        }
    })
    .await;
    let den = dvrs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dvr_id"] == id_a.as_str())
        .unwrap();
    assert_eq!(den["name"], "Den Upstairs");
    assert_eq!(get(&base, "/api/v1/rules").await[0]["dvrs"], json!([id_a]));
    let status = &get(&base, "/api/v1/settings").await["config_file"]["last_apply"];
    assert_eq!(status["ok"], true, "{status}");
    assert_eq!(status["diff"]["dvrs_added"], json!(["Bedroom"]), "{status}");
    assert_eq!(
        status["diff"]["dvrs_changed"],
        json!(["Den Upstairs"]),
        "{status}"
    );
    testkit::eventually("Bedroom connects", Duration::from_secs(15), || {
        let sim = &sim_b;
        async move { (sim.handle().connections_total() >= 1).then_some(()) }
    })
    .await;
    assert_eq!(
        sim_a.handle().connections_total(),
        1,
        "the renamed DVR kept its stream"
    );

    // A bad file (an unset variable) is refused whole: nothing changes.
    let bad = file_config(a, "Den Upstairs", None).replace("HOOK_SECRET", "NOT_SET_ANYWHERE");
    std::fs::write(&yaml, bad).unwrap();
    let status = testkit::eventually("the refusal", Duration::from_secs(15), || {
        let base = base.clone();
        async move {
            let s = get(&base, "/api/v1/settings").await["config_file"]["last_apply"].clone();
            (s["ok"] == false).then_some(s)
        }
    })
    .await;
    let msg = status["message"].as_str().unwrap();
    assert!(
        msg.contains(
            "line 9: providers[0].secret: environment variable NOT_SET_ANYWHERE is not set"
        ),
        "{msg}"
    );
    assert!(msg.contains("running configuration is kept"), "{msg}");
    assert_eq!(
        get(&base, "/api/v1/dvrs").await.as_array().unwrap().len(),
        2
    );
    assert_eq!(
        get(&base, "/api/v1/providers")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // An emptied file (a truncated save) removes nothing either.
    std::fs::write(&yaml, "").unwrap();
    testkit::eventually("the empty file refused", Duration::from_secs(15), || {
        let base = base.clone();
        async move {
            let s = get(&base, "/api/v1/settings").await["config_file"]["last_apply"].clone();
            s["message"]
                .as_str()
                .is_some_and(|m| m.contains("is missing or empty"))
                .then_some(())
        }
    })
    .await;
    assert_eq!(
        get(&base, "/api/v1/dvrs").await.as_array().unwrap().len(),
        2
    );
    assert_eq!(
        get(&base, "/api/v1/providers")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A good file again, picked up without a signal: Bedroom goes, its task stops.
    std::fs::write(&yaml, file_config(a, "Den Upstairs", None)).unwrap();
    testkit::eventually("Bedroom removed", Duration::from_secs(15), || {
        let base = base.clone();
        async move {
            let v = get(&base, "/api/v1/dvrs").await;
            (v.as_array().unwrap().len() == 1).then_some(())
        }
    })
    .await;
    testkit::eventually("Bedroom's stream closes", Duration::from_secs(15), || {
        let sim = &sim_b;
        async move { (sim.handle().open_streams() == 0).then_some(()) }
    })
    .await;
    assert_eq!(sim_a.handle().connections_total(), 1, "Den never restarted");
    drop(server);
}

fn unzip(bytes: &[u8]) -> Vec<(String, String)> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            (f.name().to_string(), s)
        })
        .collect()
}

/// Secrets are encrypted in the database under a 0600 key (a looser key is refused),
/// survive `doctor rotate-key` under a running server, and appear nowhere in a debug
/// bundle, whether downloaded from the server or written by the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_encrypted_rotate_and_never_reach_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let sim = testkit::sim(Scenario::Quiet).await;
    let planted = [
        "planted-api-key-7f3a9c",
        "planted-metrics-token-51be",
        "planted-admin-password-9d2e",
        "planted-webhook-secret-c4a1",
        "planted-pushover-token-88aa",
        "planted-telegram-token-3b7c",
        "planted-smtp-password-6e0f",
        "planted-file-secret-aa51",
        "planted-apprise-pass-1c2d",
        "planted-dvr-api-key-e8b0",
    ];
    // A DVR set to require an API key.
    let keyed = sim::Simulator::start(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        sim::SimConfig {
            name: "Keyed".into(),
            api_key: Some(planted[9].into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    std::fs::write(
        dir.path().join("channelwatch.yaml"),
        "providers:\n  - name: From file\n    type: ntfy\n    url: http://127.0.0.1:9\n    topic: t\n    token: ${FILE_SECRET}\n",
    )
    .unwrap();
    let servers = format!("Den@127.0.0.1:{}", sim.addr().port());
    let env = [
        ("CHANNELWATCH_METRICS_TOKEN", planted[1]),
        ("CHANNELWATCH_ADMIN_USER", "admin"),
        ("CHANNELWATCH_ADMIN_PASSWORD", planted[2]),
        ("FILE_SECRET", planted[7]),
        ("CHANNELS_DVR_SERVERS", servers.as_str()),
    ];
    let (server, base) = serve(dir.path(), &env).await;
    let closed = free_port();
    let bodies = [
        json!({"type": "webhook", "url": "http://127.0.0.1:9/h", "secret": planted[3]}),
        json!({"type": "pushover", "user_key": "u0123456789", "token": planted[4], "base_url": format!("http://127.0.0.1:{closed}")}),
        json!({"type": "telegram", "bot_token": planted[5], "chat_id": "42", "base_url": format!("http://127.0.0.1:{closed}")}),
        json!({"type": "email", "smtp_host": "127.0.0.1", "smtp_port": closed, "security": "plain", "username": "u", "password": planted[6], "from": "a@example.com", "to": ["b@example.com"]}),
        json!({"type": "apprise", "url": format!("json://user:{}@127.0.0.1:{closed}/hook", planted[8])}),
    ];
    let mut ids = Vec::new();
    for b in bodies {
        let (status, v) = api(
            reqwest::Method::POST,
            format!("{base}/api/v1/providers"),
            Some(b),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        ids.push(v["id"].as_i64().unwrap());
    }
    // Failing tests put the providers' error texts (and request URLs) into the log.
    for id in &ids {
        api(
            reqwest::Method::POST,
            format!("{base}/api/v1/providers/{id}/test"),
            None,
        )
        .await;
    }
    let (status, dvr) = api(
        reqwest::Method::POST,
        format!("{base}/api/v1/dvrs"),
        Some(json!({"name": "Keyed", "host": "127.0.0.1", "port": keyed.addr().port(), "api_key": planted[9]})),
    )
    .await;
    assert_eq!(status, 201, "{dvr}");
    assert_eq!(dvr["api_key"], "****");
    let keyed_id = dvr["dvr_id"].as_str().unwrap().to_string();
    // The key is sent: the DVR that refuses requests without it streams events to us.
    testkit::eventually("the keyed DVR connects", Duration::from_secs(20), || {
        let base = base.clone();
        let keyed_id = keyed_id.clone();
        async move {
            let url = format!("{base}/api/v1/dvrs/{keyed_id}/health");
            let (_, v) = api(reqwest::Method::GET, url, None).await;
            (v["connected"] == true).then_some(())
        }
    })
    .await;
    let listed = get(&base, "/api/v1/providers").await.to_string()
        + &get(&base, "/api/v1/dvrs").await.to_string();
    for p in &planted {
        assert!(!listed.contains(p), "{p} in the API answer");
    }

    // At rest: no provider secret in the database file or its WAL.
    let mut raw = Vec::new();
    for name in ["channelwatch.db", "channelwatch.db-wal"] {
        if let Ok(b) = std::fs::read(dir.path().join(name)) {
            raw.extend(b);
        }
    }
    let raw = String::from_utf8_lossy(&raw);
    for p in &planted[3..] {
        assert!(!raw.contains(p), "{p} stored in clear");
    }

    // Rotation under the running server: it reads with the new key by itself.
    let key_before = std::fs::read(dir.path().join("encryption.key")).unwrap();
    let out = clean_env(&mut Command::new(BIN))
        .args(["doctor", "rotate-key", "--data-dir"])
        .arg(dir.path())
        .env("FILE_SECRET", planted[7])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("7 stored secret value(s) re-encrypted"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_ne!(
        key_before,
        std::fs::read(dir.path().join("encryption.key")).unwrap()
    );
    assert_eq!(
        get(&base, "/api/v1/providers")
            .await
            .as_array()
            .unwrap()
            .len(),
        6
    );

    // The bundle from the server.
    let res = testkit::client()
        .get(format!("{base}/api/v1/doctor/bundle"))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(".zip"));
    let served = unzip(&res.bytes().await.unwrap());
    // The bundle from the CLI, asking the running server for metrics and health.
    let out_path = dir.path().join("bundle.zip");
    let out = clean_env(&mut Command::new(BIN))
        .args(["doctor", "bundle", "--output"])
        .arg(&out_path)
        .args(["--url", &base, "--data-dir"])
        .arg(dir.path())
        .env("CHANNELWATCH_METRICS_TOKEN", planted[1])
        .env("CHANNELWATCH_API_KEY", planted[0])
        .env("FILE_SECRET", planted[7])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = unzip(&std::fs::read(&out_path).unwrap());

    let key_text = std::fs::read_to_string(dir.path().join("encryption.key")).unwrap();
    for (which, files) in [("served", &served), ("cli", &written)] {
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "version.txt",
            "settings.json",
            "health.json",
            "doctor.txt",
            "metrics.txt",
            "logs.txt",
        ] {
            assert!(
                names.iter().any(|n| n.ends_with(want)),
                "{which}: no {want} in {names:?}"
            );
        }
        let logs = &files
            .iter()
            .find(|(n, _)| n.ends_with("logs.txt"))
            .unwrap()
            .1;
        assert!(logs.lines().count() > 5, "{which}: the log lines are there");
        let metrics = &files
            .iter()
            .find(|(n, _)| n.ends_with("metrics.txt"))
            .unwrap()
            .1;
        assert!(
            metrics.contains("channelwatch_dvr_connected"),
            "{which}: {metrics}"
        );
        for (name, text) in files.iter() {
            for p in &planted {
                assert!(!text.contains(p), "{which}: {p} in {name}");
            }
            assert!(
                !text.contains("$argon2id"),
                "{which}: a password hash in {name}"
            );
            assert!(
                !text.contains(key_text.trim()),
                "{which}: the key in {name}"
            );
            assert!(
                !text.contains("SQLite format"),
                "{which}: the database in {name}"
            );
            assert!(!text.contains("127.0.0.1"), "{which}: an address in {name}");
        }
    }

    // A key file others can read is refused, naming the fix.
    drop(server);
    use std::os::unix::fs::PermissionsExt;
    let key_path = dir.path().join("encryption.key");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = clean_env(&mut Command::new(BIN))
        .args(["doctor", "config-check", "--data-dir"])
        .arg(dir.path())
        .env("FILE_SECRET", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mode 644") && err.contains("chmod 600"),
        "{err}"
    );
}

/// A backup written with a passphrase restores DVRs, providers (with secrets),
/// routing and settings on a fresh install; a file from a newer schema is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_restores_on_a_fresh_install_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = serve(dir.path(), &[]).await;
    let (status, dvr) = api(
        reqwest::Method::POST,
        format!("{base}/api/v1/dvrs"),
        Some(json!({"name": "Den", "host": "127.0.0.1", "port": free_port(), "enabled": false})),
    )
    .await;
    assert_eq!(status, 201, "{dvr}");
    let id = dvr["dvr_id"].as_str().unwrap().to_string();
    api(
        reqwest::Method::POST,
        format!("{base}/api/v1/providers"),
        Some(json!({"type": "webhook", "name": "HA", "url": "http://127.0.0.1:9/h", "secret": "backup-secret-1234"})),
    )
    .await;
    let (status, _) = api(
        reqwest::Method::PUT,
        format!("{base}/api/v1/routing"),
        Some(json!({id.clone(): {"vod": {"webhook": false}}})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = api(
        reqwest::Method::PUT,
        format!("{base}/api/v1/settings"),
        Some(json!({"retention_days": 9, "alerts": {"vod": {"enabled": false}}})),
    )
    .await;
    assert_eq!(status, 200);
    drop(server);

    let pass = dir.path().join("pass");
    std::fs::write(&pass, "a long passphrase\n").unwrap();
    let file = dir.path().join("backup.json");
    let out = clean_env(&mut Command::new(BIN))
        .args(["backup", "export", "--output"])
        .arg(&file)
        .arg("--passphrase-file")
        .arg(&pass)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("backup-secret-1234"));

    let fresh = tempfile::tempdir().unwrap();
    let out = clean_env(&mut Command::new(BIN))
        .args(["backup", "import", "--input"])
        .arg(&file)
        .arg("--passphrase-file")
        .arg(&pass)
        .arg("--data-dir")
        .arg(fresh.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 1 DVR(s), 1 provider(s)"));
    let (_server, base) = serve(fresh.path(), &[]).await;
    let dvrs = get(&base, "/api/v1/dvrs").await;
    assert_eq!(
        (dvrs[0]["dvr_id"].as_str(), dvrs[0]["name"].as_str()),
        (Some(id.as_str()), Some("Den"))
    );
    let providers = get(&base, "/api/v1/providers").await;
    assert_eq!(
        (
            providers[0]["name"].as_str(),
            providers[0]["enabled"].as_bool()
        ),
        (Some("HA"), Some(true))
    );
    assert_eq!(
        get(&base, "/api/v1/routing").await[&id]["vod"]["webhook"],
        false
    );
    let settings = get(&base, "/api/v1/settings").await;
    assert_eq!(settings["retention_days"], 9);
    assert_eq!(settings["alerts"]["vod"]["enabled"], false);

    // A backup from a newer ChannelWatch is refused before anything is read.
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["schema_version"] = json!(v["schema_version"].as_i64().unwrap() + 1);
    std::fs::write(&file, v.to_string()).unwrap();
    let other = tempfile::tempdir().unwrap();
    let out = clean_env(&mut Command::new(BIN))
        .args(["backup", "import", "--input"])
        .arg(&file)
        .arg("--data-dir")
        .arg(other.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("newer ChannelWatch") && err.contains("Upgrade ChannelWatch"),
        "{err}"
    );
}

/// With `CHANNELWATCH_LOG_FORMAT=json` every line is JSON in the data dir's log file,
/// and each line from a DVR's task carries its `dvr_id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_go_to_the_data_dir_and_dvr_lines_carry_the_dvr_id() {
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let servers = format!("Gone@127.0.0.1:{closed}");
    let (server, _base) = serve(
        dir.path(),
        &[
            ("CHANNELWATCH_LOG_FORMAT", "json"),
            ("CHANNELS_DVR_SERVERS", servers.as_str()),
        ],
    )
    .await;
    let id = domain::dvr::id::dvr_id("127.0.0.1", closed);
    let logs = dir.path().join("logs");
    let lines = testkit::eventually(
        "reconnect and setup lines in the log file",
        Duration::from_secs(20),
        || {
            let logs = logs.clone();
            async move {
                let lines = channelwatch::logging::recent_lines(logs.parent().unwrap(), 10_000);
                let has = |what: &str| lines.iter().any(|l| l.contains(what));
                (has("reconnecting") && has("First-run setup")).then_some(lines)
            }
        },
    )
    .await;
    let mut dvr_lines = 0;
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        let target = v["target"].as_str().unwrap_or_default();
        if target.starts_with("engine::task") || target.starts_with("channelwatch::dvr") {
            assert_eq!(v["fields"]["dvr_id"], id.as_str(), "{l}");
            dvr_lines += 1;
        }
    }
    assert!(dvr_lines > 0);
    // No user yet: the one-time setup token is in the log once, and nowhere in what
    // the debug bundle makes of it.
    let setup: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("First-run setup: open http://"))
        .collect();
    assert_eq!(setup.len(), 1, "{lines:?}");
    let token: String = setup[0]
        .split("/setup?token=")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    assert_eq!(token.len(), 24, "{}", setup[0]);
    let bundled = channelwatch::bundle::redact(setup[0], &[], &[]);
    assert!(!bundled.contains(&token), "{bundled}");
    drop(server);
}

/// Runs `f` on a thread of its own inside a new network namespace whose loopback is
/// up (and carries multicast when asked); nothing leaves the namespace.
fn in_network_namespace<T: Send + 'static>(
    f: impl FnOnce(&dyn Fn(bool)) -> T + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        // Only this thread's namespaces change.
        let unshared = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET);
        assert!(
            unshared.is_ok(),
            "unshare(CLONE_NEWNET) failed ({unshared:?}): the discovery test needs root in a container that allows network namespaces",
        );
        let ip = |args: &[&str]| {
            // Children forked from this thread start in its namespace.
            let ok = Command::new("ip").args(args).status().map(|s| s.success()).unwrap_or(false);
            assert!(ok, "ip {args:?} failed");
        };
        ip(&["link", "set", "lo", "up"]);
        let multicast = move |on: bool| ip(&["link", "set", "lo", "multicast", if on { "on" } else { "off" }]);
        f(&multicast)
    })
    .join()
    .unwrap()
}

/// A simulator announced over mDNS is listed by `GET /api/v1/discovery` with its TXT
/// name and version and marked once added; without multicast, discovery says why.
#[test]
fn mdns_finds_an_announced_dvr_and_says_plainly_when_multicast_is_unavailable() {
    in_network_namespace(|multicast| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let server = testkit::server(dir.path()).await;
            let scan = |secs: u64| {
                let url = testkit::url(&server, &format!("/api/v1/discovery/scan?seconds={secs}"));
                async move { api_as(testkit::API_KEY, reqwest::Method::POST, url, None).await }
            };

            multicast(false);
            let (status, v) = scan(1).await;
            assert_eq!(status, 200, "{v}");
            assert_eq!(v["dvrs"], json!([]));
            assert_ne!(v["multicast"], "ok", "{v}");
            let msg = v["message"].as_str().unwrap();
            assert!(msg.contains("loopback"), "{msg}");

            multicast(true);
            let sim = testkit::sim(Scenario::Quiet).await;
            let port = sim.addr().port();
            let _announce =
                sim::advertise("Den DVR", sim.addr().ip(), port, "2026.04.20.0213").unwrap();
            let found = testkit::eventually("the announced DVR", Duration::from_secs(20), || {
                let s = scan(2);
                async move {
                    let (_, v) = s.await;
                    v["dvrs"]
                        .as_array()
                        .filter(|a| !a.is_empty())
                        .map(|_| v.clone())
                }
            })
            .await;
            let d = &found["dvrs"][0];
            assert_eq!(d["name"], "Den DVR", "{found}");
            assert_eq!(d["host"], "127.0.0.1");
            assert_eq!(d["port"], port);
            assert_eq!(d["version"], "2026.04.20.0213");
            assert_eq!(
                d["dvr_id"],
                domain::dvr::id::dvr_id("127.0.0.1", port).as_str()
            );
            assert_eq!(d["added"], false);

            // One click in the UI is this call with the found host and port.
            let (status, v) = api_as(
                testkit::API_KEY,
                reqwest::Method::POST,
                testkit::url(&server, "/api/v1/dvrs"),
                Some(json!({"name": d["name"], "host": d["host"], "port": d["port"]})),
            )
            .await;
            assert_eq!(status, 201, "{v}");
            let (_, listed) = api_as(
                testkit::API_KEY,
                reqwest::Method::GET,
                testkit::url(&server, "/api/v1/discovery"),
                None,
            )
            .await;
            assert_eq!(listed["dvrs"][0]["added"], true, "{listed}");
            server.shutdown().await;
            sim.shutdown().await;
        })
    });
}

/// What the YAML file names wins over edits in the UI and API: its alert keys and
/// routing cells stay as the file says, and another retention is refused naming it.
#[tokio::test]
async fn settings_the_file_names_win_over_edits() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("channelwatch.yaml"),
        "retention_days: 21\ndvrs:\n  - name: Den\n    host: 127.0.0.1\n    port: 9\n    enabled: false\nrouting:\n  Den:\n    channel: {webhook: false}\nalerts:\n  channel:\n    cooldown_seconds: 77\n",
    )
    .unwrap();
    let srv = testkit::server(dir.path()).await;
    let c = testkit::client();
    let k = Some(testkit::API_KEY);
    let settings =
        |body: Value| testkit::send(c.put(testkit::url(&srv, "/api/v1/settings")).json(&body), k);

    let (status, v) = settings(
        json!({"alerts": {"channel": {"cooldown_seconds": 5}, "vod": {"cooldown_seconds": 6}}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["alerts"]["channel"]["cooldown_seconds"], 77, "the file's");
    assert_eq!(v["alerts"]["vod"]["cooldown_seconds"], 6, "the edit's");
    let keys = v["managed_by_file"].as_array().unwrap();
    assert!(
        keys.contains(&json!("alerts.channel.cooldown_seconds"))
            && keys.contains(&json!("retention_days")),
        "{v}"
    );

    let (status, v) = settings(json!({"retention_days": 30})).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("managed_by_file")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().starts_with("retention_days"));
    let (status, _) = settings(json!({"retention_days": 21})).await;
    assert_eq!(status, 200, "the file's own value is fine");

    let id = domain::dvr::id::dvr_id("127.0.0.1", 9);
    let (status, v) = testkit::send(
        c.put(testkit::url(&srv, "/api/v1/routing"))
            .json(&json!({id.clone(): {"channel": {"webhook": true}, "vod": {"webhook": false}}})),
        k,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v[&id]["channel"]["webhook"], false, "the file's cell: {v}");
    assert_eq!(v[&id]["vod"]["webhook"], false, "the edit's cell: {v}");
    srv.shutdown().await;
}

/// A reload whose writing fails part-way (here a trigger refuses the insert, as a full
/// disk would) does not claim that nothing changed, and says how to finish.
#[tokio::test]
async fn a_reload_interrupted_part_way_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("channelwatch.yaml");
    std::fs::write(&yaml, "retention_days: 21\n").unwrap();
    let srv = testkit::server(dir.path()).await;
    sqlx::query(
        "CREATE TRIGGER refuse_providers BEFORE INSERT ON providers
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
    )
    .execute(&srv.services.db.pool)
    .await
    .unwrap();
    std::fs::write(
        &yaml,
        "retention_days: 22\nproviders:\n  - name: Hook\n    type: webhook\n    url: http://127.0.0.1:9/h\n    secret: s\n",
    )
    .unwrap();
    let env: Vec<(&str, &str)> = Vec::new();
    let e = srv
        .services
        .declared
        .reload(srv.services.parts(), &env)
        .await
        .unwrap_err();
    assert!(
        e.contains("stopped part-way") && e.contains("disk is full") && !e.contains("is kept"),
        "{e}"
    );
    let status = srv.services.declared.status().unwrap();
    assert!(!status.ok && status.interrupted);
    // The settings written before the failure are in effect; the answer said so.
    assert_eq!(
        storage::settings::retention_days(&srv.services.db)
            .await
            .unwrap(),
        22
    );
    srv.shutdown().await;
}

/// A password typed into the username field never reaches the log; a real account's
/// name does, with the client address, so an operator can still see who is guessing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_log_no_password_shaped_text() {
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = serve(
        dir.path(),
        &[
            ("CHANNELWATCH_ADMIN_USER", "admin"),
            ("CHANNELWATCH_ADMIN_PASSWORD", "admin pass 1"),
        ],
    )
    .await;
    let web = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (username, password) in [("Tr0ub4dor&3-secret", "x"), ("admin", "wrong guess")] {
        let res = web
            .post(format!("{base}/auth/login"))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
    }
    let lines = testkit::eventually("both failures logged", Duration::from_secs(20), || {
        let dir = dir.path().to_path_buf();
        async move {
            let lines = channelwatch::logging::recent_lines(&dir, 10_000);
            (lines
                .iter()
                .filter(|l| l.contains("failed sign-in"))
                .count()
                == 2)
                .then_some(lines)
        }
    })
    .await;
    let all = lines.join("\n");
    assert!(!all.contains("Tr0ub4dor"), "{all}");
    assert!(!all.contains("wrong guess"), "{all}");
    assert!(all.contains("no such user"), "{all}");
    assert!(
        all.contains("\"admin\""),
        "the account's name is logged: {all}"
    );
    drop(server);
}

/// A panic while applying the file (a bug) is reported like an interrupted reload, and
/// the watcher lives on: the next change to the file is applied.
#[tokio::test]
async fn a_panic_in_a_reload_never_kills_the_config_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("channelwatch.yaml");
    std::fs::write(&yaml, "retention_days: 21\n").unwrap();
    let srv = testkit::server(dir.path()).await;
    let retention = || async {
        storage::settings::retention_days(&srv.services.db)
            .await
            .unwrap()
    };
    srv.services.declared.panic_on_next_reload();
    std::fs::write(&yaml, "retention_days: 22\n").unwrap();
    let status = testkit::eventually(
        "the panicked reload is reported",
        Duration::from_secs(20),
        || async {
            srv.services
                .declared
                .status()
                .filter(|s| !s.ok && s.message.contains("internal error"))
        },
    )
    .await;
    assert!(status.interrupted, "{}", status.message);
    std::fs::write(&yaml, "retention_days: 23\n").unwrap();
    testkit::eventually(
        "the watcher applies the next change",
        Duration::from_secs(20),
        || async { (retention().await == 23).then_some(()) },
    )
    .await;
    srv.shutdown().await;
}
