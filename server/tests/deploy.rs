//! The shipped Kubernetes manifests use the contract's probes with the documented
//! timings, the port the server listens on, and the data directory on the volume.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn deployment_probes_follow_the_documented_timings() {
    let d = load("deployment.yaml");
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["spec"]["replicas"], 1, "one writer per SQLite file");
    assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["ports"][0]["containerPort"], 8501);
    let probe = |kind: &str, path: &str, timings: [(&str, i64); 3]| {
        let p = &c[kind];
        assert_eq!(p["httpGet"]["path"], path, "{kind}");
        for (key, want) in timings {
            assert_eq!(p[key], want, "{kind}.{key}");
        }
    };
    probe(
        "livenessProbe",
        "/healthz/live",
        [
            ("initialDelaySeconds", 10),
            ("periodSeconds", 30),
            ("failureThreshold", 3),
        ],
    );
    probe(
        "readinessProbe",
        "/healthz/ready",
        [
            ("initialDelaySeconds", 15),
            ("periodSeconds", 15),
            ("failureThreshold", 2),
        ],
    );
    probe(
        "startupProbe",
        "/healthz/startup",
        [
            ("periodSeconds", 5),
            ("failureThreshold", 30),
            ("timeoutSeconds", 5),
        ],
    );
    let env: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(env.contains(&"CHANNELWATCH_DATA_DIR"));
    let data = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "CHANNELWATCH_DATA_DIR")
        .unwrap();
    let mounted = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["mountPath"] == data["value"]);
    assert!(mounted, "the data directory must be on the volume");
    assert_eq!(
        d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
        true
    );
}

#[test]
fn kustomization_lists_every_manifest() {
    let k = load("kustomization.yaml");
    let listed: Vec<String> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            assert!(
                listed.contains(&name),
                "{name} is not in kustomization.yaml"
            );
            load(&name);
        }
    }
    assert_eq!(load("service.yaml")["spec"]["ports"][0]["port"], 8501);
}
