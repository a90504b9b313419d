//! The shipped Kubernetes manifests use the contract's probes with the documented
//! timings, the port the server listens on, and the data directory on the volume; their
//! Secret and ConfigMap references resolve; the Dockerfile builds with the tested scripts;
//! and the container's entrypoint handles PUID/PGID.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dir() -> PathBuf {
    repo().join("deploy/kubernetes")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn deployment_probes_follow_the_documented_timings() {
    let d = load("deployment.yaml");
    assert_eq!(d["kind"], "Deployment");
    // "Always" would chmod g+rw every file on each start, and a group-readable
    // encryption.key is refused.
    assert_eq!(
        d["spec"]["template"]["spec"]["securityContext"]["fsGroupChangePolicy"],
        "OnRootMismatch"
    );
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

/// The Deployment's one container.
fn container(d: &Value) -> &Value {
    &d["spec"]["template"]["spec"]["containers"][0]
}

/// The names of the container's environment variables.
fn env_names(c: &Value) -> Vec<&str> {
    c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

/// The container's `env` entry for `name`.
fn env_entry<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("the container does not set {name}"))
}

/// The ConfigMap's `channelwatch.yaml`, as text.
fn config_file_text() -> String {
    load("configmap.yaml")["data"]["channelwatch.yaml"]
        .as_str()
        .expect("configmap.yaml has a channelwatch.yaml key")
        .to_string()
}

/// Guards the Secret wiring: `secret.yaml` is applied by the kustomization, and every
/// `secretKeyRef` of the Deployment names that Secret and one of its keys. The references
/// are optional (the pod starts without them), so a renamed key would otherwise leave a
/// variable silently unset.
#[test]
fn every_secret_reference_names_a_key_of_the_shipped_secret() {
    let listed = load("kustomization.yaml")["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r.as_str() == Some("secret.yaml"));
    assert!(listed, "secret.yaml is not in kustomization.yaml");
    let secret = load("secret.yaml");
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["metadata"]["name"], "channelwatch");
    assert_eq!(secret["type"], "Opaque");
    let keys = secret["stringData"]
        .as_object()
        .expect("secret.yaml has stringData");
    for key in [
        "metrics-token",
        "pushover-user-key",
        "pushover-token",
        "webhook-secret",
    ] {
        assert!(keys.contains_key(key), "secret.yaml lacks {key}");
    }
    let d = load("deployment.yaml");
    let c = container(&d);
    for e in c["env"].as_array().unwrap() {
        let r = &e["valueFrom"]["secretKeyRef"];
        if r.is_null() {
            continue;
        }
        let name = e["name"].as_str().unwrap();
        assert_eq!(r["name"], "channelwatch", "{name}: another Secret");
        let key = r["key"].as_str().unwrap();
        assert!(
            keys.contains_key(key),
            "{name}: {key} is not in secret.yaml"
        );
        assert_eq!(r["optional"], true, "{name}: the pod must start without it");
    }
    for var in [
        "CHANNELWATCH_METRICS_TOKEN",
        "PUSHOVER_USER_KEY",
        "PUSHOVER_TOKEN",
        "WEBHOOK_SECRET",
    ] {
        let r = &env_entry(c, var)["valueFrom"]["secretKeyRef"];
        assert!(!r.is_null(), "{var} is not read from the Secret");
    }
}

/// Guards the declarative configuration: `CHANNELWATCH_CONFIG` points into a read-only
/// directory mount of the ConfigMap (not a subPath mount, which never sees edits), the
/// volume projects the file, and the ConfigMap has that key holding valid YAML.
#[test]
fn the_config_file_is_mounted_from_the_configmap() {
    let d = load("deployment.yaml");
    let c = container(&d);
    let path = env_entry(c, "CHANNELWATCH_CONFIG")["value"]
        .as_str()
        .expect("CHANNELWATCH_CONFIG has a literal value");
    let path = Path::new(path);
    let file = path.file_name().unwrap().to_str().unwrap();
    let parent = path.parent().unwrap().to_str().unwrap();
    assert_eq!(file, "channelwatch.yaml");
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == parent)
        .unwrap_or_else(|| panic!("nothing is mounted at {parent}"));
    assert_eq!(mount["readOnly"], true, "the config mount is read-only");
    assert!(
        mount.get("subPath").is_none(),
        "a subPath mount never sees ConfigMap edits"
    );
    let volume = d["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the config mount's volume exists");
    assert_eq!(volume["configMap"]["name"], "channelwatch");
    if let Some(items) = volume["configMap"]["items"].as_array() {
        assert!(
            items.iter().any(|i| i["key"] == file && i["path"] == file),
            "the ConfigMap volume does not project {file}"
        );
    }
    let text = config_file_text();
    let parsed: Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("configmap.yaml {file}: {e}"));
    assert!(parsed["dvrs"].is_array(), "the example declares its DVR");
}

/// Guards the `${VAR}` references of the ConfigMap's channelwatch.yaml, commented-out
/// examples included (so uncommenting one is safe): each names an environment variable
/// the container sets, since a missing one makes the whole file invalid.
#[test]
fn every_variable_the_config_file_uses_is_set_in_the_container() {
    let text = config_file_text();
    let d = load("deployment.yaml");
    let env = env_names(container(&d));
    let re = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}").unwrap();
    let used: Vec<&str> = re
        .captures_iter(&text)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert!(
        !used.is_empty(),
        "channelwatch.yaml shows no ${{VAR}} reference"
    );
    for var in used {
        assert!(
            env.contains(&var),
            "channelwatch.yaml uses ${{{var}}} but the container does not set {var}"
        );
    }
}

/// The text with its commented-out examples switched on: an example block starts with
/// a bare `#` line, and its following `# ` lines are YAML that loses the `# `.
fn uncomment_examples(text: &str) -> String {
    let mut out = String::new();
    let mut in_example = false;
    for line in text.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t == "#" {
            in_example = true;
        } else if let Some(yaml) = t.strip_prefix("# ").filter(|_| in_example) {
            out.push_str(indent);
            out.push_str(yaml);
        } else {
            in_example = false;
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Guards the ConfigMap's channelwatch.yaml against the server's own parser: as shipped
/// it is valid with no provider secret set (the Secret's values start empty, and an
/// unset `${VAR}` is an error, so the provider examples stay commented out), and with
/// its commented examples switched on it is valid once those variables are set.
#[test]
fn the_configmap_config_file_is_valid_for_the_server() {
    let text = config_file_text();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("channelwatch.yaml");
    std::fs::write(&path, &text).unwrap();
    let none: Vec<(&str, &str)> = Vec::new();
    let shipped = channelwatch::config::read_file(&path, true, &none)
        .unwrap_or_else(|e| panic!("configmap.yaml channelwatch.yaml: {e}"));
    assert_eq!(shipped.dvrs.len(), 1);

    let examples = uncomment_examples(&text);
    assert!(examples.contains("\nproviders:\n"), "{examples}");
    assert!(examples.contains("\nrouting:\n"), "{examples}");
    std::fs::write(&path, &examples).unwrap();
    let secrets = [
        ("PUSHOVER_USER_KEY", "u-example"),
        ("PUSHOVER_TOKEN", "t-example"),
        ("WEBHOOK_SECRET", "s-example"),
    ];
    let full = channelwatch::config::read_file(&path, true, &secrets)
        .unwrap_or_else(|e| panic!("channelwatch.yaml with its examples: {e}\n{examples}"));
    assert_eq!(full.providers.len(), 2);
    assert_eq!(full.declared_providers.len(), 2);
    assert!(!full.routing.is_empty());
}

/// A DVR's `(host, port)` for comparing declarations: brackets stripped, lowercased,
/// port 8089 when absent.
fn dvr_key(host: &str, port: Option<u64>) -> (String, u64) {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host.to_lowercase(), port.unwrap_or(8089))
}

/// The DVRs of a `CHANNELS_DVR_SERVERS` value (`Name@host:port,host2,[::1]:8089`).
fn env_dvrs(list: &str) -> Vec<(String, u64)> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let addr = e.rsplit_once('@').map_or(e, |(_, a)| a).trim();
            let split = if addr.starts_with('[') {
                addr.rsplit_once("]:").map(|(h, p)| (format!("{h}]"), p))
            } else if addr.matches(':').count() == 1 {
                addr.rsplit_once(':').map(|(h, p)| (h.to_string(), p))
            } else {
                None
            };
            match split {
                Some((h, p)) => {
                    let port = p.parse::<u64>().unwrap_or_else(|_| panic!("port of {e}"));
                    dvr_key(&h, Some(port))
                }
                None => dvr_key(addr, None),
            }
        })
        .collect()
}

/// Guards against one DVR declared twice: `CHANNELS_DVR_SERVERS` in the ConfigMap names
/// no DVR that its channelwatch.yaml also declares.
#[test]
fn the_configmap_declares_each_dvr_once() {
    assert_eq!(
        env_dvrs("Den@10.0.0.2:8090, cabin.local ,[2001:DB8::1]:8089"),
        vec![
            ("10.0.0.2".to_string(), 8090),
            ("cabin.local".to_string(), 8089),
            ("2001:db8::1".to_string(), 8089),
        ]
    );
    let cm = load("configmap.yaml");
    let mut seen = env_dvrs(cm["data"]["CHANNELS_DVR_SERVERS"].as_str().unwrap_or(""));
    let file: Value = serde_norway::from_str(&config_file_text()).unwrap();
    for dvr in file["dvrs"].as_array().cloned().unwrap_or_default() {
        let key = dvr_key(dvr["host"].as_str().unwrap(), dvr["port"].as_u64());
        assert!(
            !seen.contains(&key),
            "{}:{} is declared twice in configmap.yaml",
            key.0,
            key.1
        );
        seen.push(key);
    }
}

/// The Dockerfile's instructions per stage (`FROM` starts one), continuation lines
/// joined, comments and blank lines dropped.
fn dockerfile_stages() -> Vec<Vec<String>> {
    let text = read(&repo().join("Dockerfile"));
    let mut stages: Vec<Vec<String>> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(part) = t.strip_suffix('\\') {
            current.push_str(part.trim());
            current.push(' ');
            continue;
        }
        current.push_str(t);
        let instruction = std::mem::take(&mut current).trim().to_string();
        if instruction.starts_with("FROM ") {
            stages.push(Vec::new());
        }
        stages
            .last_mut()
            .expect("the Dockerfile starts with FROM")
            .push(instruction);
    }
    stages
}

/// Guards the image against drifting from the tested build (Docker is not available on
/// the build machines): the build stage builds only by running scripts/setup.sh and
/// `scripts/build.sh release`, which scripts/test.sh runs too; and the runtime stage
/// keeps the health check, port, data volume and the PUID/PGID entrypoint (started as
/// root, no USER, so the entrypoint can hand /config over before dropping root).
#[test]
fn dockerfile_builds_with_the_tested_scripts() {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "a build stage and a runtime stage");
    let runs: Vec<&String> = stages[0].iter().filter(|i| i.starts_with("RUN ")).collect();
    let build = runs
        .iter()
        .find(|i| i.contains("scripts/build.sh"))
        .expect("the build stage runs scripts/build.sh");
    assert!(build.contains("scripts/setup.sh"), "{build}");
    assert!(build.contains("scripts/build.sh release"), "{build}");
    assert!(build.contains("SETUP_BUILD_ONLY=1"), "{build}");
    assert!(read(&repo().join("scripts/setup.sh")).contains("SETUP_BUILD_ONLY"));
    for r in &runs {
        assert!(
            !r.contains("cargo "),
            "the build stage builds through scripts/build.sh only: {r}"
        );
    }
    let test_sh = read(&repo().join("scripts/test.sh"));
    let lines: Vec<&str> = test_sh.lines().map(str::trim).collect();
    assert!(
        lines.contains(&"scripts/setup.sh"),
        "scripts/test.sh runs setup"
    );
    assert!(
        lines.contains(&"scripts/build.sh release"),
        "scripts/test.sh builds (and tests) the release build the image ships"
    );

    let runtime = stages.last().unwrap();
    let has = |kind: &str, needle: &str| {
        runtime
            .iter()
            .any(|i| i.starts_with(kind) && i.contains(needle))
    };
    assert!(has("HEALTHCHECK ", "channelwatch\", \"healthcheck"));
    assert!(has("EXPOSE ", "8501"));
    assert!(runtime.iter().any(|i| i == "VOLUME /config"));
    assert!(has("ENV ", "CHANNELWATCH_DATA_DIR=/config"));
    assert!(has(
        "COPY ",
        "scripts/docker-entrypoint.sh /app/docker-entrypoint.sh"
    ));
    assert!(has(
        "ENTRYPOINT ",
        "[\"/usr/bin/tini\", \"--\", \"/app/docker-entrypoint.sh\"]"
    ));
    assert!(
        !runtime.iter().any(|i| i.starts_with("USER ")),
        "the entrypoint drops root itself; USER would stop it from owning /config"
    );
}

fn entrypoint() -> PathBuf {
    repo().join("scripts/docker-entrypoint.sh")
}

/// Guards the entrypoint's syntax under a POSIX shell (Debian's sh is dash, as in the
/// image), and that it stops at the first failing step.
#[test]
fn the_entrypoint_is_posix_sh() {
    let text = read(&entrypoint());
    assert!(text.starts_with("#!/bin/sh\n"), "a POSIX sh script");
    assert!(text.lines().any(|l| l.trim() == "set -eu"));
    let out = Command::new("sh")
        .arg("-n")
        .arg(entrypoint())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sh -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the entrypoint with `serve --demo` in its dry-run mode (it prints what it would do
/// and changes nothing) with these variables: (succeeded, stdout, stderr).
fn entrypoint_dry_run(vars: &[(&str, &str)]) -> (bool, String, String) {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg(entrypoint())
        .args(["serve", "--demo"])
        .env("CW_ENTRYPOINT_DRY_RUN", "1")
        .env("CHANNELWATCH_DATA_DIR", data.path());
    for var in ["PUID", "PGID", "UMASK"] {
        cmd.env_remove(var);
    }
    for &(k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stdout, stderr)
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    let uid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    uid == "0"
}

/// Guards PUID/PGID: started as root (as the image is), the entrypoint hands the data
/// directory to PUID:PGID and runs the server as them through setpriv, 1000:1000 by
/// default; a value that is not a number is refused with a message naming the variable
/// rather than starting the server as the wrong user.
#[test]
fn the_entrypoint_runs_the_server_as_puid_and_pgid() {
    let (ok, out, err) = entrypoint_dry_run(&[("PUID", "1234"), ("PGID", "2345")]);
    assert!(ok, "{out}{err}");
    if running_as_root() {
        assert!(out.contains("uid=1234 gid=2345 umask=022"), "{out}");
        assert!(out.contains("chown -h 1234:2345"), "{out}");
        assert!(
            out.contains(
                "would exec: setpriv --reuid=1234 --regid=2345 --init-groups \
                 /app/channelwatch serve --demo"
            ),
            "{out}"
        );
        let (ok, out, err) = entrypoint_dry_run(&[("UMASK", "002")]);
        assert!(ok, "{out}{err}");
        assert!(out.contains("uid=1000 gid=1000 umask=002"), "{out}");
    } else {
        // Not root (a developer's machine): nothing to change, the server starts directly.
        assert!(
            out.contains("would exec: /app/channelwatch serve --demo"),
            "{out}"
        );
    }
    for var in ["PUID", "PGID"] {
        let (ok, out, err) = entrypoint_dry_run(&[(var, "abc")]);
        assert!(!ok, "{var}=abc was accepted: {out}");
        assert!(err.contains(var) && err.contains("abc"), "{err}");
    }
    let (ok, out, err) = entrypoint_dry_run(&[("UMASK", "999")]);
    assert!(!ok, "UMASK=999 was accepted: {out}");
    assert!(err.contains("UMASK"), "{err}");
}

/// The compose file the README's Docker section uses keeps to the image: the port the
/// server listens on, /config as the data volume, the variables the entrypoint and the
/// server read (TZ, PUID, PGID, UMASK), the open-file limit the fleet figures assume,
/// and no health check of its own that could drift from the image's.
#[test]
fn compose_file_runs_the_image_as_documented() {
    let text = read(&repo().join("compose.yaml"));
    let doc: Value = serde_norway::from_str(&text).expect("compose.yaml is YAML");
    let svc = &doc["services"]["channelwatch"];
    assert_eq!(svc["build"], ".", "built from this repository's Dockerfile");
    assert_eq!(svc["ports"][0], "8501:8501");
    let volumes: Vec<&str> = svc["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        volumes.iter().any(|v| v.ends_with(":/config")),
        "{volumes:?}"
    );
    for name in ["TZ", "PUID", "PGID", "UMASK"] {
        assert!(svc["environment"][name].is_string(), "{name} is set");
    }
    let entry = read(&entrypoint());
    assert!(entry.contains("PUID") && entry.contains("PGID") && entry.contains("UMASK"));
    assert_eq!(svc["ulimits"]["nofile"]["hard"], 20000);
    assert!(
        svc["healthcheck"].is_null(),
        "the image's HEALTHCHECK is used"
    );
    let readme = read(&repo().join("README.md"));
    assert!(readme.contains("docker compose up"), "the README shows it");
}
