//! The DVR registry: validated create / edit / delete, persisted first, then reconciled
//! into the running engine. The HTTP API, the web app and start-up all go through here.

use serde::Serialize;
use tokio::sync::Mutex;
use tracing::{info, warn};

use domain::dvr::id::{dvr_id, normalize_host};
use domain::dvr::ApiKey;
use engine::{DvrSpec, Engine};
use storage::dvrs::{self, DvrRecord, ManagedBy};
use storage::{settings, Db, StorageError};

pub(crate) use wire::dvrs::{
    DEFAULT_PORT, DEFAULT_STALENESS_SECONDS, MAX_STALENESS_SECONDS, MIN_STALENESS_SECONDS,
};

/// One field's problem, shown next to that field in forms and in API errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("a DVR at {host}:{port} already exists (dvr_id {dvr_id})")]
    Duplicate {
        dvr_id: String,
        host: String,
        port: u16,
    },
    #[error("the DVR limit of {limit} is reached; remove a DVR or raise dvr_soft_limit in Settings > Advanced")]
    SoftLimit { limit: u32 },
    #[error("no DVR with id {0}")]
    NotFound(String),
    #[error("DVR {dvr_id} is managed by the {owner}; change it there")]
    Managed { dvr_id: String, owner: &'static str },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A DVR to add.
#[derive(Debug, Clone, Default)]
pub struct NewDvr {
    pub name: String,
    pub host: String,
    pub port: Option<u16>,
    pub enabled: Option<bool>,
    pub staleness_threshold_seconds: Option<u32>,
    /// For DVRs that require one; `None` or empty for none.
    pub api_key: Option<String>,
}

/// An edit; absent fields keep their value.
#[derive(Debug, Clone, Default)]
pub struct DvrPatch {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub enabled: Option<bool>,
    pub staleness_threshold_seconds: Option<u32>,
    /// A new key; `""` removes it, and the mask `****` (an echo of an answer) keeps it.
    pub api_key: Option<String>,
}

/// What API answers show for a set key; sent back unchanged, it keeps the stored one.
/// The same mask as provider secrets.
pub use domain::notify::secrets::MASK;

/// An API key as Channels DVR issues them: printable, no spaces, at most 256 bytes.
fn api_key_from(text: Option<&str>) -> Result<ApiKey, RegistryError> {
    let key = text.unwrap_or("").trim();
    let problem = if key.len() > 256 || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "must be at most 256 characters, without spaces"
    } else if key == MASK {
        "**** stands for a stored key, and this DVR has none; give the key itself"
    } else {
        return Ok(ApiKey::new(key));
    };
    Err(RegistryError::Invalid(vec![FieldError {
        field: "api_key",
        message: problem.into(),
    }]))
}

/// Checks every field and reports all problems at once.
pub fn validate(name: &str, host: &str, port: u16, threshold: u32) -> Result<(), RegistryError> {
    let mut errors = Vec::new();
    let name_t = name.trim();
    if name_t.is_empty() {
        errors.push(FieldError {
            field: "name",
            message: "must not be empty".into(),
        });
    } else if name_t.chars().count() > 100 {
        errors.push(FieldError {
            field: "name",
            message: "must be at most 100 characters".into(),
        });
    } else if name_t.chars().any(char::is_control) {
        errors.push(FieldError {
            field: "name",
            message: "must not contain control characters".into(),
        });
    }
    if let Err(m) = validate_host(host) {
        errors.push(FieldError {
            field: "host",
            message: m,
        });
    }
    if port == 0 {
        errors.push(FieldError {
            field: "port",
            message: "must be between 1 and 65535".into(),
        });
    }
    if !(MIN_STALENESS_SECONDS..=MAX_STALENESS_SECONDS).contains(&threshold) {
        errors.push(FieldError {
            field: "staleness_threshold_seconds",
            message: format!(
                "must be between {MIN_STALENESS_SECONDS} and {MAX_STALENESS_SECONDS} seconds"
            ),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::Invalid(errors))
    }
}

/// A host name or IP literal, nothing else (no scheme, path, port or credentials).
pub fn validate_host(host: &str) -> Result<(), String> {
    let h = host.trim();
    if h.is_empty() {
        return Err("must not be empty".into());
    }
    if h.len() > 253 {
        return Err("must be at most 253 characters".into());
    }
    if h.contains("://") {
        return Err("give the host name or IP only, without http://".into());
    }
    if h.chars()
        .any(|c| c.is_whitespace() || c.is_control() || "/?#@\\".contains(c))
    {
        return Err("must be a host name or IP address".into());
    }
    let bare = normalize_host(h);
    if bare.contains(':') {
        if bare.contains('%') {
            return Err("link-local IPv6 addresses with a zone (%eth0) are not supported; use a routable address or a host name".into());
        }
        if bare.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(
                "looks like an IPv6 address but is not a valid one; put the port in the port field"
                    .into(),
            );
        }
    } else if h.starts_with('[') || bare.contains('[') || bare.contains(']') {
        return Err("brackets are only for IPv6 addresses".into());
    } else if !bare
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    {
        return Err("must be a host name or IP address".into());
    }
    Ok(())
}

/// Validates a new entry and fills in defaults and its canonical id.
pub fn record_from(d: &NewDvr, managed_by: ManagedBy) -> Result<DvrRecord, RegistryError> {
    let port = d.port.unwrap_or(DEFAULT_PORT);
    let threshold = d
        .staleness_threshold_seconds
        .unwrap_or(DEFAULT_STALENESS_SECONDS);
    validate(&d.name, &d.host, port, threshold)?;
    let api_key = api_key_from(d.api_key.as_deref())?;
    let host = d.host.trim().to_string();
    Ok(DvrRecord {
        dvr_id: dvr_id(&host, port),
        name: d.name.trim().to_string(),
        host,
        port,
        enabled: d.enabled.unwrap_or(true),
        staleness_threshold_seconds: threshold,
        managed_by,
        api_key,
    })
}

/// The engine's view of a stored entry.
pub(crate) fn spec_of(r: &DvrRecord) -> DvrSpec {
    DvrSpec {
        dvr_id: r.dvr_id.clone(),
        name: r.name.clone(),
        host: r.host.clone(),
        port: r.port,
        staleness_threshold_seconds: r.staleness_threshold_seconds,
        api_key: r.api_key.clone(),
    }
}

pub struct Registry {
    db: Db,
    engine: Engine,
    /// Serialises writes so the soft limit and duplicate checks hold under concurrency.
    write: Mutex<()>,
}

impl Registry {
    pub fn new(db: Db, engine: Engine) -> Self {
        Self {
            db,
            engine,
            write: Mutex::new(()),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub async fn list(&self) -> Result<Vec<DvrRecord>, RegistryError> {
        Ok(dvrs::list(&self.db).await?)
    }

    pub async fn get(&self, id: &str) -> Result<DvrRecord, RegistryError> {
        dvrs::get(&self.db, id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(id.to_string()))
    }

    /// Adds a DVR and starts monitoring it when enabled.
    pub async fn create(
        &self,
        new: NewDvr,
        managed_by: ManagedBy,
    ) -> Result<DvrRecord, RegistryError> {
        let record = record_from(&new, managed_by)?;
        let _guard = self.write.lock().await;
        if dvrs::get(&self.db, &record.dvr_id).await?.is_some() {
            return Err(self.duplicate(&record));
        }
        let limit = settings::dvr_soft_limit(&self.db).await?;
        if dvrs::count(&self.db).await? >= limit {
            return Err(RegistryError::SoftLimit { limit });
        }
        if !dvrs::insert(&self.db, &record).await? {
            return Err(self.duplicate(&record));
        }
        info!(dvr_id = %record.dvr_id, name = %record.name, "DVR added");
        if record.enabled {
            self.engine.start_or_update(spec_of(&record));
        }
        Ok(record)
    }

    fn duplicate(&self, r: &DvrRecord) -> RegistryError {
        RegistryError::Duplicate {
            dvr_id: r.dvr_id.clone(),
            host: r.host.clone(),
            port: r.port,
        }
    }

    /// Edits a DVR. A new host or port is a new identity: the old task stops and a new
    /// one starts with fresh state; name and threshold apply in place.
    pub async fn update(&self, id: &str, patch: DvrPatch) -> Result<DvrRecord, RegistryError> {
        let _guard = self.write.lock().await;
        let old = dvrs::get(&self.db, id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(id.to_string()))?;
        refuse_managed(&old)?;
        let name = patch.name.unwrap_or_else(|| old.name.clone());
        let host = patch
            .host
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|| old.host.clone());
        let port = patch.port.unwrap_or(old.port);
        let threshold = patch
            .staleness_threshold_seconds
            .unwrap_or(old.staleness_threshold_seconds);
        validate(&name, &host, port, threshold)?;
        // The stored key only ever goes to the address it was given for: a new host
        // or port (a new identity) needs it entered again.
        let moved = dvr_id(&host, port) != old.dvr_id;
        let api_key = match patch.api_key.as_deref() {
            None | Some(MASK) if moved => ApiKey::default(),
            None | Some(MASK) => old.api_key.clone(),
            Some(k) => api_key_from(Some(k))?,
        };
        let new = DvrRecord {
            dvr_id: dvr_id(&host, port),
            name: name.trim().to_string(),
            host,
            port,
            enabled: patch.enabled.unwrap_or(old.enabled),
            staleness_threshold_seconds: threshold,
            managed_by: old.managed_by,
            api_key,
        };
        if !dvrs::replace(&self.db, &old.dvr_id, &new).await? {
            return Err(self.duplicate(&new));
        }
        if new.dvr_id != old.dvr_id || !new.enabled {
            self.engine.stop(&old.dvr_id);
        }
        if new.enabled {
            self.engine.start_or_update(spec_of(&new));
        }
        info!(dvr_id = %new.dvr_id, previous_id = %old.dvr_id, "DVR updated");
        Ok(new)
    }

    pub async fn delete(&self, id: &str) -> Result<(), RegistryError> {
        let _guard = self.write.lock().await;
        let old = dvrs::get(&self.db, id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(id.to_string()))?;
        refuse_managed(&old)?;
        dvrs::delete(&self.db, id).await?;
        self.engine.stop(id);
        info!(dvr_id = %id, "DVR removed");
        Ok(())
    }

    /// Writes the entries the file, the environment or `--demo` declare, replacing that
    /// owner's previous set. Invalid entries are errors; entries past the soft limit are
    /// skipped with a log line.
    pub(crate) async fn apply_declared(
        &self,
        declared: &[NewDvr],
        owner: ManagedBy,
    ) -> Result<Vec<String>, RegistryError> {
        let _guard = self.write.lock().await;
        let records = declared
            .iter()
            .map(|d| record_from(d, owner))
            .collect::<Result<Vec<_>, _>>()?;
        // Prune first, so entries no longer declared free their place under the limit.
        let declared_ids: Vec<String> = records.iter().map(|r| r.dvr_id.clone()).collect();
        let removed = dvrs::prune(&self.db, owner, &declared_ids).await?;
        if removed > 0 {
            info!(
                removed,
                owner = owner.as_str(),
                "removed DVRs no longer declared"
            );
        }
        let limit = settings::dvr_soft_limit(&self.db).await?;
        let mut ids = Vec::new();
        for record in records {
            match dvrs::get(&self.db, &record.dvr_id).await? {
                // Added by hand first: the user's entry stays theirs.
                Some(existing) if existing.managed_by == ManagedBy::Ui => {
                    info!(dvr_id = %record.dvr_id, owner = owner.as_str(), "declared DVR already added in the UI; left as is");
                    continue;
                }
                None if dvrs::count(&self.db).await? >= limit => {
                    warn!(dvr_id = %record.dvr_id, limit, owner = owner.as_str(), "DVR limit reached; declared DVR not added");
                    continue;
                }
                _ => {}
            }
            dvrs::upsert(&self.db, &record).await?;
            ids.push(record.dvr_id);
        }
        Ok(ids)
    }

    /// Starts every enabled DVR and stops anything else (start-up and reloads).
    pub(crate) async fn sync_engine(&self) -> Result<(), RegistryError> {
        // Under the write lock, so a concurrent delete cannot be undone by a stale list.
        let _guard = self.write.lock().await;
        let desired: Vec<DvrSpec> = dvrs::list(&self.db)
            .await?
            .iter()
            .filter(|r| r.enabled)
            .map(spec_of)
            .collect();
        self.engine.reconcile(&desired);
        Ok(())
    }
}

fn refuse_managed(r: &DvrRecord) -> Result<(), RegistryError> {
    let owner = match r.managed_by {
        ManagedBy::Ui => return Ok(()),
        ManagedBy::File => "configuration file",
        ManagedBy::Env => "CHANNELS_DVR_SERVERS environment variable",
        ManagedBy::Demo => "--demo flag",
    };
    Err(RegistryError::Managed {
        dvr_id: r.dvr_id.clone(),
        owner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dvr(name: &str, host: &str) -> NewDvr {
        NewDvr {
            name: name.into(),
            host: host.into(),
            port: Some(8089),
            enabled: Some(false),
            staleness_threshold_seconds: None,
            api_key: None,
        }
    }

    #[tokio::test]
    async fn declared_sets_replace_their_own_entries_and_leave_ui_ones_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let reg = Registry::new(
            db,
            Engine::new(
                Default::default(),
                engine::dvr::client::DvrClient::build_http().unwrap(),
            ),
        );
        let mine = reg
            .create(dvr("Mine", "127.0.0.2"), ManagedBy::Ui)
            .await
            .unwrap();
        let ids = reg
            .apply_declared(
                &[dvr("Env copy", "127.0.0.2"), dvr("Env", "127.0.0.3")],
                ManagedBy::Env,
            )
            .await
            .unwrap();
        assert_eq!(ids, [dvr_id("127.0.0.3", 8089)]);
        let kept = reg.get(&mine.dvr_id).await.unwrap();
        assert_eq!(
            (kept.name.as_str(), kept.managed_by),
            ("Mine", ManagedBy::Ui)
        );
        assert!(matches!(
            reg.delete(&ids[0]).await,
            Err(RegistryError::Managed { .. })
        ));
        reg.apply_declared(&[], ManagedBy::Env).await.unwrap();
        assert_eq!(
            reg.list().await.unwrap().len(),
            1,
            "the env entry is gone, mine stays"
        );
    }

    #[test]
    fn api_keys_are_checked_and_the_mask_is_not_a_key() {
        assert_eq!(api_key_from(Some(" k-1 ")).unwrap().expose(), "k-1");
        assert!(!api_key_from(None).unwrap().is_set());
        for bad in ["a b", MASK, &"x".repeat(257)] {
            assert!(
                matches!(api_key_from(Some(bad)), Err(RegistryError::Invalid(e)) if e[0].field == "api_key"),
                "{bad}"
            );
        }
    }

    #[test]
    fn validation_reports_every_field() {
        match validate("", "http://x", 0, 5) {
            Err(RegistryError::Invalid(errs)) => {
                let fields: Vec<_> = errs.iter().map(|e| e.field).collect();
                assert_eq!(
                    fields,
                    ["name", "host", "port", "staleness_threshold_seconds"]
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(validate("Den", "192.168.1.5", 8089, 300).is_ok());
        assert!(validate("Den", "[2001:db8::1]", 8089, 30).is_ok());
        assert!(validate("Den", "fe80::1%eth0", 8089, 30).is_err());
        assert!(validate("Den", "dvr.local", 8089, 29).is_err());
        assert!(validate_host("dvr.local:8089").is_err());
        assert!(validate_host("a b").is_err());
        assert!(validate_host("user@host").is_err());
        assert!(validate_host("[dvr.local]").is_err());
    }
}
