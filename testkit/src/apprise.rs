//! The real Python `apprise` package behind a loopback HTTP front that answers as the
//! Apprise API server does (`testkit/python/apprise_front.py`), so the `apprise_api`
//! provider is tested against Apprise itself. `scripts/setup.sh` installs apprise into
//! `target/apprise-venv`; `CW_APPRISE_PYTHON` names another interpreter.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::process::Proc;

/// A running front; stopped when dropped.
pub struct AppriseFront {
    _proc: Proc,
    pub port: u16,
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CW_APPRISE_PYTHON") {
        return p.into();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.join("target/apprise-venv/bin/python")
}

impl AppriseFront {
    /// Starts the front with `configs`: `(key, Apprise TEXT configuration)` pairs that
    /// `POST /notify/<key>` uses.
    pub fn start(configs: &[(&str, &str)]) -> AppriseFront {
        let python = python();
        assert!(
            python.exists(),
            "{} is missing: run scripts/setup.sh, which installs the apprise package there",
            python.display()
        );
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/apprise_front.py");
        let map: serde_json::Map<String, serde_json::Value> = configs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(serde_json::Value::Object(map).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("the front prints its port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the Apprise front did not start: {line:?}"));
        AppriseFront {
            _proc: Proc(child),
            port,
        }
    }

    /// The front's base URL, as a user would give their Apprise API server's.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
