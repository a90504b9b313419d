//! The debug bundle (`doctor bundle --output F.zip`, and the web app's download): what
//! support needs to see why monitoring misbehaves, and nothing an attacker could use.
//!
//! In: version, sanitized settings (no provider fields, DVR hosts replaced), the health
//! snapshot, the doctor report, a metrics snapshot and the last log lines. Every text
//! goes through [`redact`]: URLs and IP addresses become placeholders, and every
//! secret the install knows (provider fields, DVR API keys, API key, metrics token, admin password)
//! and every DVR host is replaced wherever it appears, and so is the first-run setup
//! token in its log line. Never in: the database, the
//! encryption key, password hashes, session or API-key hashes.

use std::io::Write;
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{json, Value};

use crate::config::declared::collect_strings;
use crate::config::Config;
use storage::{dvrs, providers, routing, settings, Db, StorageError};

/// Log lines in the bundle.
pub(crate) const LOG_LINES: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot write the bundle: {0}")]
    Zip(String),
}

/// What the caller saw of the running system (the server has it in memory; the
/// command line asks the running server or says it could not).
pub struct Snapshot {
    pub health: Value,
    pub metrics: String,
    pub doctor: String,
}

static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>\\]+"#).expect("static regex")
});
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\b")
        .expect("static regex")
});
/// Full IPv6 addresses, and compressed ones (which contain `::`); times like
/// `14:32:01` have neither eight groups nor `::`.
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\[?(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,7}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?|::[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})\]?(?:%\w+)?",
    )
    .expect("static regex")
});

/// The first-run setup token in its log line ([`crate::sign_in::log_line`]): the
/// command-line bundle has no running server to ask for it, so it goes by its place.
static SETUP_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)(/setup\?token=)[^\s&"'<>\\]+"#).expect("static regex"));

/// Replaces the setup token, known secrets and hosts, then URLs and IP addresses.
pub fn redact(text: &str, secrets: &[String], hosts: &[String]) -> String {
    let mut out = SETUP_TOKEN.replace_all(text, "${1}[secret]").into_owned();
    // Longest first, so a secret containing another is replaced whole.
    let mut known: Vec<(&String, &str)> = secrets
        .iter()
        .map(|s| (s, "[secret]"))
        .chain(hosts.iter().map(|h| (h, "[host]")))
        .filter(|(s, _)| !s.is_empty())
        .collect();
    known.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    for (s, with) in known {
        if s.chars().count() >= 4 {
            out = out.replace(s.as_str(), with);
        } else if let Ok(re) = Regex::new(&format!(r"\b{}\b", regex::escape(s))) {
            // A short value is replaced only as a whole word, not inside others.
            out = re.replace_all(&out, with).into_owned();
        }
    }
    let out = URL.replace_all(&out, "[url]");
    let out = IPV4.replace_all(&out, "[ip]");
    let text = out.as_ref();
    let out = IPV6.replace_all(text, |c: &regex::Captures| {
        let m = c.get(0).expect("group 0 always matches");
        // Inside a word it is a code path (`crate::io`), not an address.
        let word = |ch: char| ch.is_alphanumeric() || ch == '_' || ch == ':';
        let inside = text[..m.start()].chars().next_back().is_some_and(word)
            || text[m.end()..]
                .chars()
                .next()
                .is_some_and(|ch| ch.is_alphanumeric() || ch == '_');
        // Only `::` forms or all eight groups: times like 14:32:01 have neither.
        if !inside && (c[0].contains("::") || c[0].matches(':').count() >= 7) {
            "[ip]".to_string()
        } else {
            c[0].to_string()
        }
    });
    out.into_owned()
}

/// Every secret value the install holds, to be scrubbed from anything bundled.
async fn known_secrets(db: &Db, config: &Config) -> Result<Vec<String>, StorageError> {
    let mut out: Vec<String> = [
        &config.api_key,
        &config.metrics_token,
        &config.admin_password,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    for p in providers::list(db).await? {
        let full = serde_json::to_value(&p.config).unwrap_or(Value::Null);
        for f in p.config.secret_fields() {
            collect_strings(&full[*f], &mut out);
        }
    }
    for p in &config.file.declared_providers {
        let full = serde_json::to_value(&p.config).unwrap_or(Value::Null);
        for f in p.config.secret_fields() {
            collect_strings(&full[*f], &mut out);
        }
    }
    out.extend(
        dvrs::list(db)
            .await?
            .iter()
            .filter(|d| d.api_key.is_set())
            .map(|d| d.api_key.expose().to_string()),
    );
    out.extend(config.file.dvrs.iter().filter_map(|d| d.api_key.clone()));
    Ok(out)
}

/// Builds the zip in memory.
pub async fn build(db: &Db, config: &Config, snap: Snapshot) -> Result<Vec<u8>, BundleError> {
    let secrets = known_secrets(db, config).await?;
    let all_dvrs = dvrs::list(db).await?;
    let hosts: Vec<String> = all_dvrs.iter().map(|d| d.host.clone()).collect();
    let clean = |t: &str| redact(t, &secrets, &hosts);

    let version = format!(
        "ChannelWatch {}\nos: {} {}\ncreated: {}\nschema: {}\nconfig file: {}\n",
        crate::VERSION,
        std::env::consts::OS,
        std::env::consts::ARCH,
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        Db::schema_version(),
        if config.config_file.is_some() {
            "yes"
        } else {
            "no"
        },
    );
    let provider_list: Vec<Value> = providers::list(db)
        .await?
        .iter()
        .map(|p| {
            json!({
                "id": p.id, "type": p.kind, "name": p.name, "enabled": p.enabled,
                "managed_by": p.managed_by.as_str(),
                // Field names only: even non-secret fields hold addresses.
                "fields": p.config.masked().keys().cloned().collect::<Vec<_>>(),
            })
        })
        .collect();
    let dvr_list: Vec<Value> = all_dvrs
        .iter()
        .map(|d| {
            json!({
                "dvr_id": d.dvr_id, "name": d.name, "port": d.port, "enabled": d.enabled,
                "staleness_threshold_seconds": d.staleness_threshold_seconds,
                "managed_by": d.managed_by.as_str(),
                "host_kind": host_kind(&d.host),
                "api_key": d.api_key.is_set(),
            })
        })
        .collect();
    let alerts: Value = settings::get(db, crate::alerts::pipeline::SETTINGS_KEY)
        .await?
        .unwrap_or(Value::Null);
    let sanitized = json!({
        "dvrs": dvr_list,
        "providers": provider_list,
        "routing": routing::load(db).await?,
        "dvr_soft_limit": settings::dvr_soft_limit(db).await?,
        "retention_days": settings::retention_days(db).await?,
        "disk_thresholds": settings::get::<Value>(db, settings::DISK_THRESHOLDS).await?,
        "alerts": alerts,
        "environment": {
            "api_key_set": config.api_key.is_some(),
            "metrics_token_set": config.metrics_token.is_some(),
            "admin_from_env": config.admin_user.is_some(),
            "log_format": format!("{:?}", config.log_format),
            "log_filter": config.log_filter,
            "env_dvrs": config.env_dvrs.len(),
        },
    });
    // Up to a week of log files: read off the async workers.
    let data_dir = config.data_dir.clone();
    let logs = tokio::task::spawn_blocking(move || {
        crate::logging::recent_lines(&data_dir, LOG_LINES).join("\n")
    })
    .await
    .unwrap_or_default();

    let files: Vec<(&str, String)> = vec![
        ("README.txt", README.to_string()),
        ("version.txt", version),
        (
            "settings.json",
            clean(&serde_json::to_string_pretty(&sanitized).unwrap_or_default()),
        ),
        (
            "health.json",
            clean(&serde_json::to_string_pretty(&snap.health).unwrap_or_default()),
        ),
        ("doctor.txt", clean(&snap.doctor)),
        ("metrics.txt", clean(&snap.metrics)),
        ("logs.txt", clean(&logs)),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o600);
    for (name, body) in files {
        zip.start_file(format!("channelwatch-debug/{name}"), opts)
            .map_err(|e| BundleError::Zip(e.to_string()))?;
        zip.write_all(body.as_bytes())
            .map_err(|e| BundleError::Zip(e.to_string()))?;
    }
    let cursor = zip.finish().map_err(|e| BundleError::Zip(e.to_string()))?;
    Ok(cursor.into_inner())
}

fn host_kind(host: &str) -> &'static str {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_loopback() => "loopback",
        Ok(std::net::IpAddr::V4(_)) => "ipv4",
        Ok(std::net::IpAddr::V6(_)) => "ipv6",
        Err(_) => "hostname",
    }
}

const README: &str = "\
ChannelWatch debug bundle

version.txt    version, platform, schema
settings.json  DVRs (hosts left out), providers (field names only), routing, settings
health.json    per-DVR health at the time of the bundle
doctor.txt     the doctor's checks per DVR
metrics.txt    a /metrics snapshot
logs.txt       the last log lines

URLs and IP addresses are replaced by [url] and [ip], DVR hosts by [host], and every
secret ChannelWatch holds by [secret]. The database, the encryption key, password
hashes and API keys are never included.
";

/// The default bundle file name: `channelwatch-debug-<UTC time>.zip`.
pub fn default_name() -> PathBuf {
    PathBuf::from(format!(
        "channelwatch-debug-{}.zip",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_addresses_and_known_values_but_keeps_times() {
        let line = "2026-11-24T05:00:01.123Z WARN dvr_id=aef6d698 GET http://192.168.1.5:8089/status failed; \
                    peer 10.0.0.7, v6 [2001:db8::1]:8089 and fe80::1%eth0, full 2001:0db8:0000:0000:0000:0000:0000:0001, \
                    token tok-123456 host dvr.example.lan at 14:32:01 in channelwatch::config::declared, crate::x";
        let out = redact(
            line,
            &["tok-123456".into(), "pw9".into()],
            &["dvr.example.lan".into()],
        );
        assert!(redact("password pw9 ok", &["pw9".into()], &[]) == "password [secret] ok");
        assert!(redact("xpw9x", &["pw9".into()], &[]) == "xpw9x");
        for gone in [
            "192.168.1.5",
            "10.0.0.7",
            "2001:db8::1",
            "fe80::1",
            "2001:0db8",
            "tok-123456",
            "dvr.example.lan",
            "http://",
        ] {
            assert!(!out.contains(gone), "{gone} left in: {out}");
        }
        assert!(out.contains("05:00:01.123Z"), "{out}");
        assert!(out.contains("14:32:01"), "{out}");
        assert!(out.contains("dvr_id=aef6d698"), "{out}");
        assert!(
            out.contains("channelwatch::config::declared, crate::x"),
            "{out}"
        );
        assert!(out.contains("[url]") && out.contains("[ip]") && out.contains("[secret]"));
    }

    #[test]
    fn the_setup_token_line_is_redacted() {
        for addr in ["0.0.0.0:8501", "192.168.1.5:8501", "[::]:8501"] {
            let token = "Tok3nTok3nTok3nTok3nTok3";
            let line = crate::sign_in::log_line(addr.parse().unwrap(), token);
            let json =
                serde_json::to_string(&json!({"fields": {"message": line.as_str()}})).unwrap();
            for text in [line, json] {
                let out = redact(&format!("2026-11-24T05:00:01Z INFO {text}"), &[], &[]);
                assert!(!out.contains(token), "{out}");
                assert!(out.contains("First-run setup"), "{out}");
            }
        }
    }
}
