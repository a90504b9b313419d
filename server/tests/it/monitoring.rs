//! The shipped Prometheus alert rules and Grafana dashboard: the rules pass
//! `promtool check rules` and their own `promtool test rules` cases, and every
//! ChannelWatch metric either of them names is one the real server exports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use sim::Scenario;
use testkit::*;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
}

fn promtool() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("promtool"))
                .find(|p| p.is_file())
        })
        .expect("promtool not found: run scripts/setup.sh")
}

fn run(args: &[&str]) {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(deploy("prometheus"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `channelwatch_*` names used in a text.
fn metric_names(text: &str) -> BTreeSet<String> {
    regex::Regex::new(r"channelwatch_[a-z_]+")
        .unwrap()
        .find_iter(text)
        .map(|m| m.as_str().to_string())
        .collect()
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    run(&["check", "rules", "channelwatch-rules.yaml"]);
    run(&["test", "rules", "channelwatch-rules.test.yaml"]);
}

#[test]
fn the_grafana_dashboard_is_importable() {
    let text = std::fs::read_to_string(deploy("grafana/channelwatch-dashboard.json")).unwrap();
    let d: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(d["uid"], "channelwatch");
    assert_eq!(d["__inputs"][0]["name"], "DS_PROMETHEUS");
    let panels = d["panels"].as_array().unwrap();
    let ids: BTreeSet<i64> = panels.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    for p in panels {
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", p["title"]);
        assert!(targets.iter().all(|t| t["expr"].is_string()));
    }
    assert_eq!(d["templating"]["list"][0]["name"], json!("dvr"));
}

#[tokio::test]
async fn every_metric_the_rules_and_dashboard_use_is_exported() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let (status, _) = send(
        client().post(url(&srv, "/api/v1/dvrs")).json(&json!({
            "name": "Den", "host": "127.0.0.1", "port": sim.addr().port()
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201);
    let scrape = client()
        .get(url(&srv, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Every family is declared (# TYPE), even before it has a series.
    let exported: BTreeSet<String> = scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    for file in [
        "prometheus/channelwatch-rules.yaml",
        "grafana/channelwatch-dashboard.json",
    ] {
        let used = metric_names(&std::fs::read_to_string(deploy(file)).unwrap());
        assert!(!used.is_empty(), "{file}");
        let missing: Vec<_> = used.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics the server does not export: {missing:?}"
        );
    }
    srv.shutdown().await;
    sim.shutdown().await;
}
