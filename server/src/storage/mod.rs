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
        let db = Db {
            pool,
            vault: std::sync::Arc::new(vault::Vault::load_or_create(data_dir)?),
        };
        db.finish_rotation(data_dir).await?;
        let sealed = providers::seal_plaintext(&db).await?;
        if sealed > 0 {
            tracing::info!(
                providers = sealed,
                "encrypted provider secrets stored in plain text by an earlier version"
            );
        }
        Ok(db)
    }

    /// The newest migration this build knows (backups name it as their schema).
    pub fn schema_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Re-encrypts every stored secret under a new key: the new key is written to
    /// `encryption.key.new`, every value is resealed in one transaction, then the file
    /// is renamed over `encryption.key`. A crash in between is finished (or undone) by
    /// the next [`Db::open`]. Answers the new key id and how many values were resealed.
    pub async fn rotate_key(&self, data_dir: &Path) -> Result<(String, u64), StorageError> {
        let pending = data_dir.join(vault::PENDING_KEY_FILE);
        let key = vault::new_key_file(&pending)?;
        let n = providers::reseal_all(self, &key).await?;
        install_pending(data_dir)?;
        self.vault.replace(key.clone());
        Ok((key.id().to_string(), n))
    }

    /// Completes a rotation that committed before the key file was renamed, or drops
    /// the leftover new key of one that did not commit.
    async fn finish_rotation(&self, data_dir: &Path) -> Result<(), StorageError> {
        let pending_path = data_dir.join(vault::PENDING_KEY_FILE);
        let Some(pending) = vault::read_key(&pending_path)? else {
            return Ok(());
        };
        if providers::uses_key(self, pending.id()).await? {
            install_pending(data_dir)?;
            self.vault.replace(pending);
            tracing::warn!("finished an encryption key rotation that was interrupted");
        } else {
            let _ = std::fs::remove_file(&pending_path);
        }
        Ok(())
    }
}

fn install_pending(data_dir: &Path) -> Result<(), StorageError> {
    let to = data_dir.join(vault::KEY_FILE);
    std::fs::rename(data_dir.join(vault::PENDING_KEY_FILE), &to).map_err(|source| {
        vault::VaultError::Io {
            action: "install the new",
            path: to.display().to_string(),
            source,
        }
    })?;
    Ok(())
}

/// Current time as stored in the database (RFC 3339, UTC, seconds).
pub(crate) fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

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
