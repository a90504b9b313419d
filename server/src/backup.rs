//! Backup and restore: settings, the DVRs and providers added in the UI, and routing
//! as one JSON file. Provider secrets and DVR API keys are either sealed under a passphrase
//! (argon2id → XChaCha20-Poly1305, so the file opens on a fresh install whose
//! `encryption.key` differs) or left out; the data dir's own key never leaves it.
//! Users, API keys and alert history are not part of a backup.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alerts::pipeline::SETTINGS_KEY;
use domain::alerts::settings::AlertSettings;
use domain::disk::DiskThresholds;
use domain::notify::providers::ProviderConfig;
use domain::notify::routing::Routing;
use domain::notify::secrets::MASK;
use storage::dvrs::ManagedBy;
use storage::vault::Key;
use storage::{dvrs, providers, routing, settings, Db, StorageError};

pub const FORMAT: &str = "channelwatch-backup";
const AAD: &str = "backup.providers";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not a ChannelWatch backup file: {0}")]
    NotABackup(String),
    #[error("this backup was written by a newer ChannelWatch (database schema {theirs}); this version knows schema {ours}. Upgrade ChannelWatch, then import it")]
    Newer { theirs: i64, ours: i64 },
    #[error("this backup's provider secrets are sealed with a passphrase; give it (--passphrase-file or CHANNELWATCH_BACKUP_PASSPHRASE), or import with --without-secrets")]
    PassphraseNeeded,
    #[error("the passphrase does not open this backup's provider secrets")]
    WrongPassphrase,
    #[error("the passphrase must be at least 8 characters")]
    WeakPassphrase,
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupDvr {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub enabled: bool,
    pub staleness_threshold_seconds: u32,
    /// `****` when the DVR has an API key (the key itself is in `sealed_secrets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupProvider {
    #[serde(rename = "type")]
    pub kind: String,
    /// The destination's own kind (an Apprise URL may be any of the native ones).
    pub target_kind: String,
    pub name: String,
    pub enabled: bool,
    /// The type's fields with every secret masked as `****`.
    pub fields: Map<String, Value>,
    /// Its routing rules (ids are this install's; absent from older backups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<domain::notify::rules::Rule>,
}

/// What `sealed_secrets` holds: provider targets in `providers` order and DVR API keys
/// in `dvrs` order (`""` for none). Schema 4 files held the targets alone.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum SealedPlain {
    Current {
        providers: Vec<ProviderConfig>,
        dvr_api_keys: Vec<String>,
        /// The heartbeat's push URL (absent from files made before it existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        heartbeat_url: Option<String>,
    },
    ProvidersOnly(Vec<ProviderConfig>),
}

/// Provider targets and DVR API keys sealed under the passphrase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedSecrets {
    pub kdf: String,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub salt: String,
    pub ciphertext: String,
}

fn default_history_days() -> u32 {
    settings::DEFAULT_HISTORY_RETENTION_DAYS
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupSettings {
    pub dvr_soft_limit: u32,
    pub retention_days: u32,
    /// Absent from backups made before watch history existed.
    #[serde(default = "default_history_days")]
    pub history_retention_days: u32,
    /// The `time_zone` setting (empty: `TZ`); absent from backups made before it existed.
    #[serde(default)]
    pub time_zone: String,
    pub disk_thresholds: Option<DiskThresholds>,
    pub alerts: AlertSettings,
    /// The heartbeat without its URL (that is a secret: sealed with the others).
    #[serde(default)]
    pub heartbeat: Option<BackupHeartbeat>,
}

/// The heartbeat in a backup; `url` is always `"****"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupHeartbeat {
    pub url: String,
    pub interval_seconds: u32,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    pub format: String,
    /// The newest database migration of the writer; a reader refuses a newer one.
    pub schema_version: i64,
    pub app_version: String,
    pub created_at: String,
    pub settings: BackupSettings,
    pub dvrs: Vec<BackupDvr>,
    pub providers: Vec<BackupProvider>,
    pub routing: Routing,
    /// Quiet hours and maintenance windows (absent from older backups). Snoozes are
    /// moments, not settings: they are not kept.
    #[serde(default)]
    pub quiet_periods: Vec<domain::notify::quiet::Period>,
    /// Absent when the secrets were left out.
    pub sealed_secrets: Option<SealedSecrets>,
}

pub use wire::operations::ImportReport;

const KDF_MEMORY_KIB: u32 = 19_456;
const KDF_ITERATIONS: u32 = 2;
const KDF_PARALLELISM: u32 = 1;

/// Derives the sealing key off the async workers; parameters read from a file are
/// bounded first, so a crafted backup cannot ask for gigabytes or hours.
async fn derive(passphrase: &str, salt: &[u8], m: u32, t: u32, p: u32) -> Result<Key, BackupError> {
    if (m, t, p) != (KDF_MEMORY_KIB, KDF_ITERATIONS, KDF_PARALLELISM) {
        return Err(BackupError::Invalid {
            key: "sealed_secrets".into(),
            message: format!(
                "key derivation parameters must be argon2id m={KDF_MEMORY_KIB} t={KDF_ITERATIONS} p={KDF_PARALLELISM} (ChannelWatch writes no others)"
            ),
        });
    }
    if !(16..=64).contains(&salt.len()) {
        return Err(BackupError::Invalid {
            key: "sealed_secrets.salt".into(),
            message: "must be 16 to 64 bytes".into(),
        });
    }
    let (pass, salt) = (passphrase.to_string(), salt.to_vec());
    tokio::task::spawn_blocking(move || derive_now(&pass, &salt, m, t, p))
        .await
        .map_err(|e| BackupError::Invalid {
            key: "sealed_secrets".into(),
            message: e.to_string(),
        })?
}

fn derive_now(passphrase: &str, salt: &[u8], m: u32, t: u32, p: u32) -> Result<Key, BackupError> {
    let params = Params::new(m, t, p, Some(32)).map_err(|e| BackupError::Invalid {
        key: "sealed_secrets".into(),
        message: e.to_string(),
    })?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| BackupError::Invalid {
            key: "sealed_secrets".into(),
            message: e.to_string(),
        })?;
    Ok(Key::from_bytes(&out))
}

/// Builds a backup; with a passphrase the provider secrets go in sealed.
pub async fn export(db: &Db, passphrase: Option<&str>) -> Result<Backup, BackupError> {
    if passphrase.is_some_and(|p| p.chars().count() < 8) {
        return Err(BackupError::WeakPassphrase);
    }
    let all_dvrs = dvrs::list(db).await?;
    let dvrs_out: Vec<BackupDvr> = all_dvrs
        .iter()
        .filter(|r| r.managed_by == ManagedBy::Ui)
        .map(|r| BackupDvr {
            name: r.name.clone(),
            host: r.host.clone(),
            port: r.port,
            enabled: r.enabled,
            staleness_threshold_seconds: r.staleness_threshold_seconds,
            api_key: r.api_key.is_set().then(|| MASK.to_string()),
        })
        .collect();
    let dvr_keys: Vec<String> = all_dvrs
        .iter()
        .filter(|r| r.managed_by == ManagedBy::Ui)
        .map(|r| r.api_key.expose().to_string())
        .collect();
    let provs: Vec<_> = providers::list(db)
        .await?
        .into_iter()
        .filter(|p| p.managed_by == ManagedBy::Ui)
        .collect();
    let heartbeat = storage::heartbeat::get(db).await?;
    let rules = storage::rules::list(db).await?;
    let quiet_periods = storage::quiet::periods(db).await?;
    let sealed_secrets = match passphrase {
        Some(pass) => {
            let mut salt = [0u8; 16];
            rand::rng().fill_bytes(&mut salt);
            let key = derive(pass, &salt, KDF_MEMORY_KIB, KDF_ITERATIONS, KDF_PARALLELISM).await?;
            let plain = serde_json::to_vec(&SealedPlain::Current {
                providers: provs.iter().map(|p| p.config.clone()).collect(),
                dvr_api_keys: dvr_keys,
                heartbeat_url: heartbeat.as_ref().map(|h| h.url.clone()),
            })
            .expect("targets serialise");
            Some(SealedSecrets {
                kdf: "argon2id".into(),
                memory_kib: KDF_MEMORY_KIB,
                iterations: KDF_ITERATIONS,
                parallelism: KDF_PARALLELISM,
                salt: B64.encode(salt),
                ciphertext: key.seal(&plain, AAD),
            })
        }
        None => None,
    };
    // Only routing of the DVRs in the backup (file and env entries come from their source).
    let ids: Vec<&str> = all_dvrs
        .iter()
        .filter(|r| r.managed_by == ManagedBy::Ui)
        .map(|r| r.dvr_id.as_str())
        .collect();
    let mut routes = routing::load(db).await?;
    routes.0.retain(|id, _| ids.contains(&id.as_str()));
    Ok(Backup {
        format: FORMAT.into(),
        schema_version: Db::schema_version(),
        app_version: crate::VERSION.into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        settings: BackupSettings {
            dvr_soft_limit: settings::dvr_soft_limit(db).await?,
            retention_days: settings::retention_days(db).await?,
            history_retention_days: settings::history_retention_days(db).await?,
            time_zone: settings::time_zone(db).await?,
            heartbeat: heartbeat.as_ref().map(|h| BackupHeartbeat {
                url: MASK.to_string(),
                interval_seconds: h.interval_seconds,
                enabled: h.enabled,
            }),
            disk_thresholds: settings::get(db, settings::DISK_THRESHOLDS).await?,
            alerts: settings::get(db, SETTINGS_KEY).await?.unwrap_or_default(),
        },
        dvrs: dvrs_out,
        providers: provs
            .iter()
            .map(|p| BackupProvider {
                target_kind: serde_json::to_value(&p.config)
                    .ok()
                    .and_then(|v| v["kind"].as_str().map(str::to_string))
                    .unwrap_or_else(|| p.kind.clone()),
                kind: p.kind.clone(),
                name: p.name.clone(),
                enabled: p.enabled,
                fields: p.config.masked(),
                rules: rules
                    .iter()
                    .filter(|r| r.provider_id == p.id)
                    .cloned()
                    .collect(),
            })
            .collect(),
        routing: routes,
        quiet_periods,
        sealed_secrets,
    })
}

/// The ranges the settings API enforces, so an import cannot store what an edit could not.
fn validate_settings(s: &BackupSettings) -> Result<(), BackupError> {
    let invalid = |e: domain::settings::Invalid| BackupError::Invalid {
        key: format!("settings.{}", e.key),
        message: e.message,
    };
    let patch = domain::settings::SettingsPatch {
        dvr_soft_limit: Some(s.dvr_soft_limit),
        retention_days: Some(s.retention_days),
        history_retention_days: Some(s.history_retention_days),
        time_zone: Some(s.time_zone.clone()),
        disk_thresholds: s.disk_thresholds,
        alerts: None,
    };
    patch.check(&s.alerts).map_err(invalid)?;
    domain::settings::check_alerts(&s.alerts).map_err(invalid)
}

/// A provider's target as the API would check it (fields, URLs, the SSRF rules). A
/// secret still masked (to be entered again) is not judged: only its own field's
/// complaint is let through, and only while it is masked.
fn check_provider(
    t: &ProviderConfig,
    fields: &Map<String, Value>,
    has_secret: bool,
) -> Result<(), String> {
    match t.validate() {
        Ok(()) => Ok(()),
        Err(m) if !has_secret => {
            let masked_field = t.secret_fields().iter().any(|f| {
                m.starts_with(&format!("{f}:"))
                    && fields.get(*f).and_then(Value::as_str) == Some(MASK)
            });
            if masked_field {
                Ok(())
            } else {
                Err(m)
            }
        }
        Err(m) => Err(m),
    }
}

/// Reads a backup file's text, refusing other files and newer schemas before anything
/// else is looked at.
pub fn parse(text: &str) -> Result<Backup, BackupError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| BackupError::NotABackup(e.to_string()))?;
    if v.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(BackupError::NotABackup(format!(
            "the \"format\" field is not \"{FORMAT}\""
        )));
    }
    let theirs = v
        .get("schema_version")
        .and_then(Value::as_i64)
        .ok_or_else(|| BackupError::NotABackup("no schema_version".into()))?;
    let ours = Db::schema_version();
    if theirs > ours {
        return Err(BackupError::Newer { theirs, ours });
    }
    serde_path_to_error::deserialize(v).map_err(|e| BackupError::Invalid {
        key: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// Restores a backup into this install: DVRs and providers are added or updated (by
/// address, and by type and name), routing entries and settings replace the stored
/// ones. Without the passphrase (or with `without_secrets`) providers come in
/// disabled with masked secrets to be entered again.
pub async fn import(
    db: &Db,
    b: &Backup,
    passphrase: Option<&str>,
    without_secrets: bool,
) -> Result<ImportReport, BackupError> {
    let sealed: Option<(Vec<ProviderConfig>, Vec<String>, Option<String>)> =
        match (&b.sealed_secrets, passphrase, without_secrets) {
            (Some(_), _, true) | (None, _, _) => None,
            (Some(_), None, false) => return Err(BackupError::PassphraseNeeded),
            (Some(s), Some(pass), false) => {
                if s.kdf != "argon2id" {
                    return Err(BackupError::Invalid {
                        key: "sealed_secrets.kdf".into(),
                        message: format!("'{}' is not argon2id", s.kdf),
                    });
                }
                let salt = B64
                    .decode(&s.salt)
                    .map_err(|_| BackupError::NotABackup("sealed_secrets.salt".into()))?;
                let key = derive(pass, &salt, s.memory_kib, s.iterations, s.parallelism).await?;
                let plain = key
                    .open_sealed(&s.ciphertext, AAD)
                    .map_err(|_| BackupError::WrongPassphrase)?;
                let (t, keys, hb) = match serde_json::from_slice(&plain)
                    .map_err(|e| BackupError::NotABackup(e.to_string()))?
                {
                    SealedPlain::Current {
                        providers,
                        dvr_api_keys,
                        heartbeat_url,
                    } => (providers, dvr_api_keys, heartbeat_url),
                    SealedPlain::ProvidersOnly(providers) => {
                        (providers, vec![String::new(); b.dvrs.len()], None)
                    }
                };
                if t.len() != b.providers.len() || keys.len() != b.dvrs.len() {
                    return Err(BackupError::NotABackup(
                        "sealed_secrets does not match providers and dvrs".into(),
                    ));
                }
                Some((t, keys, hb))
            }
        };
    let (targets, dvr_keys, heartbeat_url) = match sealed {
        Some((t, k, h)) => (Some(t), Some(k), h),
        None => (None, None, None),
    };
    validate_settings(&b.settings)?;
    // The heartbeat as it will be stored: its URL only comes sealed.
    let heartbeat = match (&b.settings.heartbeat, heartbeat_url) {
        (Some(h), Some(url)) => Some(
            domain::heartbeat::apply(
                None,
                &domain::heartbeat::Edit {
                    url: Some(url),
                    interval_seconds: Some(h.interval_seconds),
                    enabled: Some(h.enabled),
                },
                1,
            )
            .map_err(|m| BackupError::Invalid {
                key: "settings.heartbeat".into(),
                message: m,
            })?,
        ),
        _ => None,
    };
    // Check every entry before writing any.
    for (i, p) in b.quiet_periods.iter().enumerate() {
        p.validate().map_err(|m| BackupError::Invalid {
            key: format!("quiet_periods[{i}]"),
            message: m,
        })?;
    }
    for (i, p) in b.providers.iter().enumerate() {
        for r in &p.rules {
            r.validate().map_err(|m| BackupError::Invalid {
                key: format!("providers[{i}].rules"),
                message: m,
            })?;
        }
    }
    let mut records = Vec::new();
    for (i, d) in b.dvrs.iter().enumerate() {
        let new = crate::registry::NewDvr {
            name: d.name.clone(),
            host: d.host.clone(),
            port: Some(d.port),
            enabled: Some(d.enabled),
            staleness_threshold_seconds: Some(d.staleness_threshold_seconds),
            api_key: dvr_keys.as_ref().map(|k| k[i].clone()),
        };
        let record = crate::registry::record_from(&new, ManagedBy::Ui).map_err(|e| {
            BackupError::Invalid {
                key: format!("dvrs[{i}]"),
                message: e.to_string(),
            }
        })?;
        // The file says the DVR had a key but does not carry it.
        let key_missing = d.api_key.is_some() && !record.api_key.is_set();
        records.push((record, key_missing));
    }
    let mut resolved = Vec::new();
    for (i, p) in b.providers.iter().enumerate() {
        let (target, has_secret) = match &targets {
            Some(t) => (t[i].clone(), true),
            None => {
                // Masked secrets stay "****" until entered again; the provider
                // comes in disabled, so nothing is sent with them.
                let mut fields = p.fields.clone();
                // A masked list (a json:// provider's headers) comes back empty.
                fields.retain(|k, v| !(k == "headers" && v.as_str() == Some(MASK)));
                fields.insert("kind".into(), Value::String(p.target_kind.clone()));
                let t: ProviderConfig = serde_path_to_error::deserialize(Value::Object(fields))
                    .map_err(|e| BackupError::Invalid {
                        key: format!("providers[{i}].{}", e.path()),
                        message: e.inner().to_string(),
                    })?;
                (t, !ProviderConfig::has_masked(&p.fields))
            }
        };
        check_provider(&target, &p.fields, has_secret).map_err(|m| BackupError::Invalid {
            key: format!("providers[{i}]"),
            message: m,
        })?;
        resolved.push((p, target, has_secret));
    }
    // Everything read before anything is written: a read that fails (a provider that
    // no longer opens, a busy database) leaves this install as it was.
    let stored_dvrs = dvrs::list(db).await?;
    let existing = providers::list(db).await?;
    let mut routes = routing::load(db).await?;
    // Routing may name the file's DVRs and this install's.
    b.routing
        .validate(|id| {
            records.iter().any(|(r, _)| r.dvr_id == id)
                || stored_dvrs.iter().any(|s| s.dvr_id == id)
        })
        .map_err(|e| BackupError::Invalid {
            key: format!("routing.{}", e.path),
            message: e.message,
        })?;

    let mut report = ImportReport::default();
    settings::set(db, settings::DVR_SOFT_LIMIT, &b.settings.dvr_soft_limit).await?;
    settings::set(db, settings::RETENTION_DAYS, &b.settings.retention_days).await?;
    settings::set(
        db,
        settings::HISTORY_RETENTION_DAYS,
        &b.settings.history_retention_days,
    )
    .await?;
    settings::set(db, settings::TIME_ZONE, &b.settings.time_zone).await?;
    if let Some(t) = &b.settings.disk_thresholds {
        settings::set(db, settings::DISK_THRESHOLDS, t).await?;
    }
    settings::set(db, SETTINGS_KEY, &b.settings.alerts).await?;
    for (r, key_missing) in &mut records {
        let stored = stored_dvrs.iter().find(|s| s.dvr_id == r.dvr_id);
        // A DVR the YAML file or the environment declares stays theirs.
        if stored.is_some_and(|s| s.managed_by != ManagedBy::Ui) {
            continue;
        }
        if *key_missing {
            match stored.filter(|s| s.api_key.is_set()) {
                // The key this install already has for it stays.
                Some(s) => r.api_key = s.api_key.clone(),
                // Disabled until the key is entered again: without it the DVR refuses us.
                None => {
                    r.enabled = false;
                    report.dvrs_without_api_key.push(r.name.clone());
                }
            }
        }
        dvrs::upsert(db, r).await?;
        report.dvrs += 1;
    }
    for (p, target, has_secret) in resolved {
        let enabled = p.enabled && has_secret;
        if !has_secret {
            report.providers_without_secrets.push(p.name.clone());
        }
        let provider_id = match existing
            .iter()
            .find(|e| e.managed_by == ManagedBy::Ui && e.kind == p.kind && e.name == p.name)
        {
            Some(e) => {
                let mut r = e.clone();
                if has_secret {
                    r.config = target;
                    r.enabled = p.enabled;
                } else if e.config.provider_type() == target.provider_type() {
                    // Masked secrets keep the ones this install already has, but only
                    // for the destination they were given for.
                    let mut fields = p.fields.clone();
                    fields.retain(|k, v| !(k == "headers" && v.as_str() == Some(MASK)));
                    if let Some(c) = e.config.carried_secrets(&p.target_kind, &fields) {
                        // The file's provider sends elsewhere: it comes in as on a fresh
                        // install, disabled with its secrets masked until entered again.
                        tracing::warn!(provider = %p.name, "backup import: {c}");
                        r.config = target;
                        r.enabled = false;
                    } else if let Ok(t) =
                        ProviderConfig::from_fields(&p.target_kind, fields, Some(&e.config))
                    {
                        r.config = t;
                        r.enabled = p.enabled;
                        report.providers_without_secrets.retain(|n| n != &p.name);
                    }
                }
                providers::update(db, &r).await?;
                r.id
            }
            None => {
                providers::insert(db, &p.kind, &p.name, enabled, &target)
                    .await?
                    .id
            }
        };
        // Its rules as the backup has them (importing twice does not add them twice).
        storage::rules::delete_for_provider(db, provider_id).await?;
        for r in &p.rules {
            let rule = domain::notify::rules::Rule {
                provider_id,
                ..r.clone()
            };
            storage::rules::insert(db, &rule).await?;
            report.rules += 1;
        }
        report.providers += 1;
    }
    for (id, cells) in &b.routing.0 {
        report.routing_entries += cells.values().map(|m| m.len()).sum::<usize>();
        routes.0.insert(id.clone(), cells.clone());
    }
    routing::replace(db, &routes).await?;
    match heartbeat.flatten() {
        Some(h) => {
            storage::heartbeat::put(
                db,
                &storage::heartbeat::HeartbeatRecord {
                    url: h.url,
                    interval_seconds: h.interval_seconds,
                    enabled: h.enabled,
                },
            )
            .await?
        }
        // Without its URL the backup's heartbeat cannot ping: the stored one stays.
        None => report.heartbeat_without_url = b.settings.heartbeat.is_some(),
    }
    // Periods this install already has (the same in all but id) are not added twice.
    let have = storage::quiet::periods(db).await?;
    for p in &b.quiet_periods {
        let same = |h: &domain::notify::quiet::Period| {
            domain::notify::quiet::Period { id: 0, ..h.clone() }
                == domain::notify::quiet::Period { id: 0, ..p.clone() }
        };
        if !have.iter().any(same) {
            storage::quiet::insert_period(db, p).await?;
        }
        report.quiet_periods += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::notify::providers::*;

    /// An invalid setting in a backup names its key once, as the settings API does
    /// (it read "settings.dvr_soft_limit: dvr_soft_limit: ...").
    #[test]
    fn an_invalid_setting_names_its_key_once() {
        let s = BackupSettings {
            dvr_soft_limit: 0,
            retention_days: 30,
            history_retention_days: 365,
            time_zone: String::new(),
            disk_thresholds: None,
            alerts: AlertSettings::default(),
            heartbeat: None,
        };
        assert_eq!(
            validate_settings(&s).unwrap_err().to_string(),
            "settings.dvr_soft_limit: must be between 1 and 10000"
        );
        let s = BackupSettings {
            dvr_soft_limit: 10,
            retention_days: 0,
            ..s
        };
        assert_eq!(
            validate_settings(&s).unwrap_err().to_string(),
            "settings.retention_days: must be between 1 and 3650"
        );
        let s = BackupSettings {
            retention_days: 30,
            history_retention_days: 4000,
            ..s
        };
        assert_eq!(
            validate_settings(&s).unwrap_err().to_string(),
            "settings.history_retention_days: must be between 1 and 3650"
        );
        let s = BackupSettings {
            history_retention_days: 365,
            time_zone: "Nowhere/Land".into(),
            ..s
        };
        assert!(validate_settings(&s)
            .unwrap_err()
            .to_string()
            .starts_with("settings.time_zone: 'Nowhere/Land' is not a time zone"));
    }

    async fn seeded() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let r = crate::registry::record_from(
            &crate::registry::NewDvr {
                name: "Den".into(),
                host: "127.0.0.9".into(),
                port: Some(8089),
                api_key: Some("planted-dvr-key-2".into()),
                ..Default::default()
            },
            ManagedBy::Ui,
        )
        .unwrap();
        dvrs::upsert(&db, &r).await.unwrap();
        providers::insert(
            &db,
            "webhook",
            "HA",
            true,
            &ProviderConfig::Webhook(Webhook {
                url: "http://127.0.0.1:9/h".into(),
                secret: "planted-secret-1".into(),
            }),
        )
        .await
        .unwrap();
        settings::set(&db, settings::RETENTION_DAYS, &12u32)
            .await
            .unwrap();
        let mut m = routing::load(&db).await.unwrap();
        m.0.entry(r.dvr_id.clone())
            .or_default()
            .entry(domain::alerts::kind::Category::Channel)
            .or_default()
            .insert("webhook".into(), false);
        routing::replace(&db, &m).await.unwrap();
        let hook = providers::list(&db).await.unwrap()[0].id;
        let rule: domain::notify::rules::Rule = serde_json::from_value(serde_json::json!({
            "provider_id": hook, "name": "Kitchen only", "conditions": {"devices": ["Kitchen"]}
        }))
        .unwrap();
        storage::rules::insert(&db, &rule).await.unwrap();
        let night: domain::notify::quiet::Period = serde_json::from_value(serde_json::json!({
            "name": "Night", "from": "23:00", "to": "06:30", "digest": true
        }))
        .unwrap();
        storage::quiet::insert_period(&db, &night).await.unwrap();
        storage::heartbeat::put(
            &db,
            &storage::heartbeat::HeartbeatRecord {
                url: "https://hc-ping.com/planted-heartbeat-3".into(),
                interval_seconds: 120,
                enabled: true,
            },
        )
        .await
        .unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn a_sealed_backup_restores_everything_on_a_fresh_install() {
        let (_d, db) = seeded().await;
        let b = export(&db, Some("correct horse")).await.unwrap();
        let text = serde_json::to_string_pretty(&b).unwrap();
        assert!(!text.contains("planted-secret-1"), "{text}");
        assert!(!text.contains("planted-dvr-key-2"), "{text}");
        assert!(!text.contains("planted-heartbeat-3"), "{text}");

        let fresh_dir = tempfile::tempdir().unwrap();
        let fresh = Db::open(fresh_dir.path()).await.unwrap();
        let parsed = parse(&text).unwrap();
        assert!(matches!(
            import(&fresh, &parsed, None, false).await,
            Err(BackupError::PassphraseNeeded)
        ));
        assert!(matches!(
            import(&fresh, &parsed, Some("wrong horse"), false).await,
            Err(BackupError::WrongPassphrase)
        ));
        let report = import(&fresh, &parsed, Some("correct horse"), false)
            .await
            .unwrap();
        assert_eq!((report.dvrs, report.providers), (1, 1));
        assert!(report.providers_without_secrets.is_empty());
        let p = &providers::list(&fresh).await.unwrap()[0];
        assert!(p.enabled);
        assert!(
            matches!(&p.config, ProviderConfig::Webhook(Webhook { secret, .. }) if secret == "planted-secret-1")
        );
        assert_eq!(settings::retention_days(&fresh).await.unwrap(), 12);
        assert_eq!(
            routing::load(&fresh).await.unwrap(),
            routing::load(&db).await.unwrap()
        );
        let restored = dvrs::list(&fresh).await.unwrap();
        assert_eq!(restored.len(), 1);
        assert_eq!(restored[0].api_key.expose(), "planted-dvr-key-2");
        assert!(report.dvrs_without_api_key.is_empty());
        let hb = storage::heartbeat::get(&fresh).await.unwrap().unwrap();
        assert_eq!(
            (hb.url.as_str(), hb.interval_seconds),
            ("https://hc-ping.com/planted-heartbeat-3", 120)
        );
        assert!(!report.heartbeat_without_url);
        // The provider's rules come with it, tied to its id here.
        assert_eq!(report.rules, 1);
        let restored_rules = storage::rules::list(&fresh).await.unwrap();
        assert_eq!(restored_rules.len(), 1);
        assert_eq!(restored_rules[0].provider_id, p.id);
        assert_eq!(restored_rules[0].conditions.devices, ["Kitchen"]);
        // Importing twice updates instead of duplicating.
        import(&fresh, &parsed, Some("correct horse"), false)
            .await
            .unwrap();
        assert_eq!(providers::list(&fresh).await.unwrap().len(), 1);
        assert_eq!(storage::rules::list(&fresh).await.unwrap().len(), 1);
        // Quiet periods come back once, however often the file is imported.
        let periods = storage::quiet::periods(&fresh).await.unwrap();
        assert_eq!(periods.len(), 1);
        assert_eq!(
            (periods[0].name.as_str(), periods[0].digest),
            ("Night", true)
        );
    }

    #[tokio::test]
    async fn without_secrets_providers_come_back_disabled() {
        let (_d, db) = seeded().await;
        assert!(matches!(
            export(&db, Some("short")).await,
            Err(BackupError::WeakPassphrase)
        ));
        let text = serde_json::to_string(&export(&db, None).await.unwrap()).unwrap();
        assert!(!text.contains("planted-secret-1"));
        assert!(!text.contains("planted-dvr-key-2"));
        assert!(!text.contains("planted-heartbeat-3"));
        let fresh_dir = tempfile::tempdir().unwrap();
        let fresh = Db::open(fresh_dir.path()).await.unwrap();
        let report = import(&fresh, &parse(&text).unwrap(), None, false)
            .await
            .unwrap();
        assert!(report.heartbeat_without_url);
        assert_eq!(storage::heartbeat::get(&fresh).await.unwrap(), None);
        assert_eq!(report.providers_without_secrets, ["HA"]);
        assert!(!providers::list(&fresh).await.unwrap()[0].enabled);
        // The DVR said it had a key the file does not carry: disabled until entered.
        assert_eq!(report.dvrs_without_api_key, ["Den"]);
        let d = &dvrs::list(&fresh).await.unwrap()[0];
        assert!(!d.enabled && !d.api_key.is_set());
        // Into the install it came from, a backup without secrets keeps the secrets.
        let again = import(&db, &parse(&text).unwrap(), None, false)
            .await
            .unwrap();
        assert!(again.providers_without_secrets.is_empty());
        assert!(again.dvrs_without_api_key.is_empty());
        let d = &dvrs::list(&db).await.unwrap()[0];
        assert!(d.enabled && d.api_key.expose() == "planted-dvr-key-2");
        let p = &providers::list(&db).await.unwrap()[0];
        assert!(p.enabled);
        assert!(
            matches!(&p.config, ProviderConfig::Webhook(Webhook { secret, .. }) if secret == "planted-secret-1")
        );
    }

    #[tokio::test]
    async fn masked_secrets_do_not_follow_a_provider_to_another_address() {
        let (_d, db) = seeded().await;
        let secret_of = |p: &providers::ProviderRecord| match &p.config {
            ProviderConfig::Webhook(Webhook { url, secret }) => (url.clone(), secret.clone()),
            other => panic!("{other:?}"),
        };
        // Another path on the same server: the stored secret stays.
        let mut b = export(&db, None).await.unwrap();
        b.providers[0]
            .fields
            .insert("url".into(), Value::from("http://127.0.0.1:9/other"));
        let report = import(&db, &b, None, false).await.unwrap();
        assert!(report.providers_without_secrets.is_empty());
        let p = &providers::list(&db).await.unwrap()[0];
        assert!(p.enabled);
        assert_eq!(
            secret_of(p),
            (
                "http://127.0.0.1:9/other".to_string(),
                "planted-secret-1".to_string()
            )
        );
        // Another host or port: the file's provider comes in disabled, its secret
        // masked, and the stored one goes nowhere.
        for url in ["http://127.0.0.1:10/h", "http://127.0.0.2:9/h"] {
            let mut b = export(&db, None).await.unwrap();
            b.providers[0].fields.insert("url".into(), Value::from(url));
            let report = import(&db, &b, None, false).await.unwrap();
            assert_eq!(report.providers_without_secrets, ["HA"], "{url}");
            let p = &providers::list(&db).await.unwrap()[0];
            assert!(!p.enabled, "{url}");
            assert_eq!(secret_of(p), (url.to_string(), MASK.to_string()));
            // Put back for the next round.
            let mut r = p.clone();
            r.config = ProviderConfig::Webhook(Webhook {
                url: "http://127.0.0.1:9/h".into(),
                secret: "planted-secret-1".into(),
            });
            r.enabled = true;
            providers::update(&db, &r).await.unwrap();
        }
    }

    #[test]
    fn newer_schemas_and_other_files_are_refused_clearly() {
        let ours = Db::schema_version();
        let newer = format!(
            r#"{{"format":"channelwatch-backup","schema_version":{}}}"#,
            ours + 1
        );
        let e = parse(&newer).unwrap_err().to_string();
        assert!(
            e.contains("newer ChannelWatch") && e.contains(&format!("schema {}", ours + 1)),
            "{e}"
        );
        assert!(matches!(parse("{}"), Err(BackupError::NotABackup(_))));
        assert!(matches!(parse("not json"), Err(BackupError::NotABackup(_))));
    }

    /// Imports `edit`ed copies of the seeded backup into a fresh install and answers
    /// the refusal (nothing may be written by a refused import).
    async fn refused(passphrase: Option<&str>, edit: impl FnOnce(&mut Value)) -> String {
        let (_d, db) = seeded().await;
        let b = export(&db, passphrase).await.unwrap();
        let mut v = serde_json::to_value(&b).unwrap();
        edit(&mut v);
        let b = parse(&v.to_string()).unwrap();
        let fresh_dir = tempfile::tempdir().unwrap();
        let fresh = Db::open(fresh_dir.path()).await.unwrap();
        let e = import(&fresh, &b, passphrase, false)
            .await
            .expect_err("the import is refused")
            .to_string();
        assert!(
            dvrs::list(&fresh).await.unwrap().is_empty(),
            "nothing written"
        );
        assert!(
            providers::list(&fresh).await.unwrap().is_empty(),
            "nothing written"
        );
        e
    }

    #[tokio::test]
    async fn an_import_validates_like_the_api() {
        // A provider pointed at the cloud metadata address (the SSRF rule).
        let e = refused(None, |v| {
            v["providers"][0]["fields"]["url"] = "http://169.254.169.254/latest".into();
        })
        .await;
        assert!(e.contains("providers[0]") && e.contains("url"), "{e}");
        // Settings outside the API's ranges.
        let e = refused(None, |v| v["settings"]["retention_days"] = 0.into()).await;
        assert!(e.contains("settings.retention_days"), "{e}");
        let e = refused(None, |v| v["settings"]["dvr_soft_limit"] = 100_000.into()).await;
        assert!(e.contains("settings.dvr_soft_limit"), "{e}");
        let e = refused(None, |v| {
            v["settings"]["alerts"]["delivery"]["max_age_seconds"] = 1.into()
        })
        .await;
        assert!(e.contains("max_age_seconds"), "{e}");
        // Routing that names no DVR, or no provider type.
        let e = refused(None, |v| {
            v["routing"]["ffffffff"] = serde_json::json!({"channel": {"webhook": false}});
        })
        .await;
        assert!(e.contains("routing.ffffffff"), "{e}");
        let e = refused(None, |v| {
            let id = domain::dvr::id::dvr_id("127.0.0.9", 8089);
            v["routing"][id.as_str()] = serde_json::json!({"channel": {"carrier-pigeon": false}});
        })
        .await;
        assert!(e.contains("carrier-pigeon"), "{e}");
    }

    #[tokio::test]
    async fn only_our_exact_key_derivation_parameters_are_accepted() {
        for (key, value) in [
            ("memory_kib", 8u32),
            ("memory_kib", 1_048_576),
            ("iterations", 1),
            ("iterations", 10),
            ("parallelism", 16),
        ] {
            let e = refused(Some("correct horse"), |v| {
                v["sealed_secrets"][key] = value.into();
            })
            .await;
            assert!(
                e.contains("key derivation parameters"),
                "{key}={value}: {e}"
            );
        }
        let e = refused(Some("correct horse"), |v| {
            v["sealed_secrets"]["kdf"] = "scrypt".into();
        })
        .await;
        assert!(e.contains("argon2id"), "{e}");
        let e = refused(Some("correct horse"), |v| {
            v["sealed_secrets"]["salt"] = "AAAA".into();
        })
        .await;
        assert!(e.contains("salt"), "{e}");
    }
}
