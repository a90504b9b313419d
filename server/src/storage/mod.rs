//! SQLite storage: one pool, migrations from `migrations/`, one module per table group.

pub mod activity;
pub mod api_keys;
pub mod dvrs;
pub mod outbox;
pub mod providers;
pub mod routing;
pub mod sessions;
pub mod settings;
pub mod users;
pub mod vault;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

/// Storage failures, with the file they concern where that helps.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("stored value for {key} is not valid: {message}")]
    Corrupt { key: String, message: String },
    #[error(transparent)]
    Vault(#[from] vault::VaultError),
}

/// The handle every store function takes.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: SqlitePool,
    /// Seals and opens secrets stored in columns (see [`vault`]).
    pub vault: std::sync::Arc<vault::Vault>,
}

/// The migrations embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

impl Db {
    /// Opens (creating if needed) `<data_dir>/channelwatch.db` in WAL mode and migrates it.
    pub async fn open(data_dir: &Path) -> Result<Db, StorageError> {
        let path = data_dir.join("channelwatch.db");
        let display = path.display().to_string();
        crate::private_files::private_dir(data_dir);
        crate::private_files::create_private(&path);
        for side in ["channelwatch.db-wal", "channelwatch.db-shm"] {
            crate::private_files::private_file(&data_dir.join(side));
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{display}"))
            .map_err(|source| StorageError::Open {
                path: display.clone(),
                source,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StorageError::Open {
                path: display,
                source,
            })?;
        MIGRATOR.run(&pool).await?;
        // Rotations and starts take turns on the key files.
        let _lock = lock_keys(data_dir)?;
        finish_rotation(&pool, data_dir).await?;
        let vault = vault::Vault::load_or_create(data_dir)?;
        if vault.created {
            if let Some(id) = key_ids(&pool).await?.first() {
                // Sealed values exist but their key file does not: a fresh key would
                // hide that every secret is lost. Refuse and say what is missing.
                let _ = std::fs::remove_file(vault.path());
                return Err(vault::VaultError::UnknownKey {
                    key_id: id.clone(),
                    path: vault.path().display().to_string(),
                }
                .into());
            }
        }
        let db = Db {
            pool,
            vault: std::sync::Arc::new(vault),
        };
        let sealed = providers::seal_plaintext(&db).await?;
        if sealed > 0 {
            tracing::info!(
                providers = sealed,
                "encrypted provider secrets stored in plain text by an earlier version"
            );
        }
        // Values a racing writer sealed under the replaced key move to the current one;
        // then the replaced key is no longer needed.
        if let Some(old) = db.vault.previous_key_id() {
            let current = db.vault.key_id();
            let ids = key_ids(&db.pool).await?;
            if ids.contains(&old) {
                let key =
                    vault::read_key(&data_dir.join(vault::KEY_FILE))?.filter(|k| k.id() == current);
                if let Some(key) = key {
                    reseal_all(&db, &key).await?;
                }
            }
            if !key_ids(&db.pool).await?.contains(&old) {
                let _ = std::fs::remove_file(data_dir.join(vault::OLD_KEY_FILE));
                db.vault.drop_previous();
            }
        }
        Ok(db)
    }

    /// The newest migration this build knows (backups name it as their schema).
    pub fn schema_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Re-encrypts every stored secret under a new key: the new key is written to
    /// `encryption.key.new`, every value is resealed in one transaction (checkpointed
    /// to the main file), then the current key becomes `encryption.key.old` and the new
    /// one `encryption.key`. A crash in between is finished (or undone) by the next
    /// [`Db::open`]; a running server rereads the key before its next write. Answers the
    /// new key id and how many values were resealed.
    pub async fn rotate_key(&self, data_dir: &Path) -> Result<(String, u64), StorageError> {
        let _lock = lock_keys(data_dir)?;
        let pending = data_dir.join(vault::PENDING_KEY_FILE);
        let key = vault::new_key_file(&pending)?;
        let n = reseal_all(self, &key).await?;
        sqlx::query("PRAGMA wal_checkpoint(FULL)")
            .execute(&self.pool)
            .await?;
        install_pending(data_dir)?;
        self.vault.replace(key.clone());
        Ok((key.id().to_string(), n))
    }
}

/// Every sealed column: how to read it (row id and value), how to write it back, and
/// its AAD. Rotation and the missing-key check go over all of them.
const SEALED_COLUMNS: [(&str, &str, &str); 2] = [
    (
        "SELECT rowid, config FROM providers",
        "UPDATE providers SET config = ? WHERE rowid = ?",
        providers::AAD,
    ),
    (
        "SELECT rowid, api_key FROM dvrs WHERE api_key != ''",
        "UPDATE dvrs SET api_key = ? WHERE rowid = ?",
        dvrs::AAD,
    ),
];

/// Reseals every stored secret under `key`, all or nothing; answers how many.
pub(crate) async fn reseal_all(db: &Db, key: &vault::Key) -> Result<u64, StorageError> {
    let mut tx = db.pool.begin().await?;
    // Write first so the transaction takes the write lock before it reads.
    sqlx::query("UPDATE providers SET config = config WHERE 0")
        .execute(&mut *tx)
        .await?;
    let mut n = 0;
    for (select, update, aad) in SEALED_COLUMNS {
        let rows: Vec<(i64, String)> = sqlx::query_as(select).fetch_all(&mut *tx).await?;
        for (rowid, sealed) in rows {
            let plain = db.vault.open(&sealed, aad)?;
            sqlx::query(update)
                .bind(vault::Vault::seal_with(key, &plain, aad))
                .bind(rowid)
                .execute(&mut *tx)
                .await?;
            n += 1;
        }
    }
    tx.commit().await?;
    Ok(n)
}

/// The ids of the keys stored secrets are sealed under.
pub(crate) async fn key_ids(pool: &SqlitePool) -> Result<Vec<String>, StorageError> {
    let mut ids = Vec::new();
    for (select, _, _) in SEALED_COLUMNS {
        let rows: Vec<(i64, String)> = sqlx::query_as(select).fetch_all(pool).await?;
        ids.extend(
            rows.iter()
                .filter_map(|(_, v)| vault::key_id_of(v).map(str::to_string)),
        );
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// An exclusive advisory lock on `encryption.key.lock`, released on drop.
fn lock_keys(data_dir: &Path) -> Result<std::fs::File, StorageError> {
    let path = data_dir.join(vault::LOCK_FILE);
    let io = |source| vault::VaultError::Io {
        action: "lock",
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    f.lock().map_err(io)?;
    Ok(f)
}

/// Completes a rotation that committed before its key files were swapped, or drops
/// the new key of one that did not commit (or that a crash left unreadable).
async fn finish_rotation(pool: &SqlitePool, data_dir: &Path) -> Result<(), StorageError> {
    let pending_path = data_dir.join(vault::PENDING_KEY_FILE);
    let pending = match vault::read_key(&pending_path) {
        Ok(Some(k)) => k,
        Ok(None) => return Ok(()),
        Err(vault::VaultError::BadKey { .. }) => {
            let _ = std::fs::remove_file(&pending_path);
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    if key_ids(pool).await?.iter().any(|id| id == pending.id()) {
        install_pending(data_dir)?;
        tracing::warn!("finished an encryption key rotation that was interrupted");
    } else {
        let _ = std::fs::remove_file(&pending_path);
    }
    Ok(())
}

/// `encryption.key` → `encryption.key.old`, `encryption.key.new` → `encryption.key`,
/// then the folder is synced so the names survive a power cut.
fn install_pending(data_dir: &Path) -> Result<(), StorageError> {
    let key = data_dir.join(vault::KEY_FILE);
    let io = |action, source| vault::VaultError::Io {
        action,
        path: key.display().to_string(),
        source,
    };
    if key.exists() {
        std::fs::rename(&key, data_dir.join(vault::OLD_KEY_FILE))
            .map_err(|e| io("keep the replaced", e))?;
    }
    std::fs::rename(data_dir.join(vault::PENDING_KEY_FILE), &key)
        .map_err(|e| io("install the new", e))?;
    crate::private_files::sync_dir(data_dir);
    Ok(())
}

/// Current time as stored in the database (RFC 3339, UTC, seconds).
pub(crate) fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn the_data_dir_and_database_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let db = Db::open(&data).await.unwrap();
        sqlx::query("CREATE TABLE t (x)")
            .execute(&db.pool)
            .await
            .unwrap();
        assert_eq!(mode(&data), 0o700);
        for f in [
            "channelwatch.db",
            "channelwatch.db-wal",
            "channelwatch.db-shm",
        ] {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
        // A database left readable by an older version is tightened at the next open.
        drop(db);
        std::fs::set_permissions(
            data.join("channelwatch.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let _db = Db::open(&data).await.unwrap();
        assert_eq!(mode(&data.join("channelwatch.db")), 0o600);
    }

    #[tokio::test]
    async fn opens_in_wal_mode_and_migrates() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let mode: (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(mode.0, "wal");
        assert!(dir.path().join("channelwatch.db").exists());
        // Re-opening runs no migration twice.
        drop(db);
        Db::open(dir.path()).await.unwrap();
    }
}
