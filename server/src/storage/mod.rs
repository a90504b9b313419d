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
}

/// The handle every store function takes.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: SqlitePool,
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
        Ok(Db { pool })
    }
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
