//! SQLite storage: one pool, migrations from `migrations/`, one module per table group.

pub mod activity;
pub mod api_keys;
pub mod dvrs;
pub mod heartbeat;
pub mod history;
pub mod mqtt;
pub mod outages;
pub mod outbox;
pub mod private_files;
pub mod providers;
pub mod quiet;
pub mod routing;
pub mod rules;
pub mod sessions;
pub mod settings;
pub mod stats;
pub mod users;
pub mod vault;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

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
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

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
        // A burst (thousands of DVRs' first alerts at once) queues on the four
        // connections for a few seconds by design; only a wait past 10 s is worth a
        // warning, one per waiter.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_slow_threshold(Duration::from_secs(10))
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
        let up = upgrade_sealed(&db).await?;
        if up.plaintext > 0 {
            tracing::info!(
                values = up.plaintext,
                "encrypted secrets stored in plain text by an earlier version"
            );
        }
        if up.column_bound > 0 {
            tracing::info!(
                values = up.column_bound,
                "sealed stored secrets again, bound to their rows (cw1 -> cw2)"
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

    /// Begins a transaction that holds the write lock from its first statement
    /// (`BEGIN IMMEDIATE`). A deferred one that reads before it writes is refused at
    /// its first write, with no busy wait, whenever another connection committed in
    /// between (`SQLITE_BUSY_SNAPSHOT`); every transaction here writes.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
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

/// A sealed column: how to read it, how to write it back, and its AAD.
struct SealedColumn {
    /// Answers `rid` (the rowid), `sealed` (the stored value) and the columns `row`
    /// needs.
    select: &'static str,
    /// Binds the new value, then the rowid.
    update: &'static str,
    /// The column part of the AAD.
    column: &'static str,
    /// The row part of the AAD, from a row `select` answered.
    row: fn(&SqliteRow) -> Result<String, sqlx::Error>,
}

/// Every sealed column. Rotation, the upgrade at open and the missing-key check go over
/// all of them.
const SEALED_COLUMNS: [SealedColumn; 4] = [
    SealedColumn {
        select: "SELECT rowid AS rid, config AS sealed, id FROM providers",
        update: "UPDATE providers SET config = ? WHERE rowid = ?",
        column: providers::COLUMN,
        row: providers::aad_row_of,
    },
    SealedColumn {
        select: "SELECT rowid AS rid, api_key AS sealed, dvr_id, host, port FROM dvrs WHERE api_key != ''",
        update: "UPDATE dvrs SET api_key = ? WHERE rowid = ?",
        column: dvrs::COLUMN,
        row: dvrs::aad_row_of,
    },
    SealedColumn {
        select: "SELECT rowid AS rid, url AS sealed FROM heartbeat",
        update: "UPDATE heartbeat SET url = ? WHERE rowid = ?",
        column: heartbeat::COLUMN,
        row: heartbeat::aad_row_of,
    },
    SealedColumn {
        select: "SELECT rowid AS rid, config AS sealed FROM mqtt",
        update: "UPDATE mqtt SET config = ? WHERE rowid = ?",
        column: mqtt::COLUMN,
        row: mqtt::aad_row_of,
    },
];

/// One stored secret as [`SEALED_COLUMNS`] reads it.
struct StoredSecret {
    rowid: i64,
    sealed: String,
    /// The row part of its AAD.
    row: String,
}

async fn read_sealed<'c, E>(
    c: &SealedColumn,
    executor: E,
) -> Result<Vec<StoredSecret>, StorageError>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    let rows = sqlx::query(c.select).fetch_all(executor).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(StoredSecret {
            rowid: r.try_get("rid")?,
            sealed: r.try_get("sealed")?,
            row: (c.row)(r)?,
        });
    }
    Ok(out)
}

/// Reseals every stored secret under `key` (bound to its row, whatever form it was
/// in), all or nothing; answers how many.
pub(crate) async fn reseal_all(db: &Db, key: &vault::Key) -> Result<u64, StorageError> {
    let mut tx = db.begin_write().await?;
    let mut n = 0;
    for c in &SEALED_COLUMNS {
        let stored = read_sealed(c, &mut *tx).await?;
        for s in stored {
            let plain = db.vault.open(&s.sealed, c.column, &s.row)?;
            sqlx::query(c.update)
                .bind(vault::Vault::seal_with(key, &plain, c.column, &s.row))
                .bind(s.rowid)
                .execute(&mut *tx)
                .await?;
            n += 1;
        }
    }
    tx.commit().await?;
    Ok(n)
}

/// What [`upgrade_sealed`] sealed: values stored in clear, and `cw1:` values sealed for
/// their column only.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Upgraded {
    pub plaintext: u64,
    pub column_bound: u64,
}

/// Seals every stored secret that is not yet bound to its row under the current key,
/// in one transaction: values in clear (from before encryption) and `cw1:` values (AAD
/// the column alone, from before row binding). A `cw1:` value that does not open is
/// left as it is, with a warning: reading it fails as it did, and the server starts.
async fn upgrade_sealed(db: &Db) -> Result<Upgraded, StorageError> {
    let mut up = Upgraded::default();
    // Most starts have nothing to do: look before taking the write lock.
    let mut pending = false;
    for c in &SEALED_COLUMNS {
        pending |= read_sealed(c, &db.pool)
            .await?
            .iter()
            .any(|s| !vault::is_row_bound(&s.sealed));
    }
    if !pending {
        return Ok(up);
    }
    let mut tx = db.begin_write().await?;
    for c in &SEALED_COLUMNS {
        let stored = read_sealed(c, &mut *tx).await?;
        for s in stored {
            if vault::is_row_bound(&s.sealed) {
                continue;
            }
            let was_plaintext = !vault::is_sealed(&s.sealed);
            // A plaintext value opens as it is; a `cw1:` one with its column's AAD.
            let mut plain = match db.vault.open(&s.sealed, c.column, &s.row) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(column = c.column, row = %s.row, error = %e, "cannot seal a stored secret for its row; left as it is");
                    continue;
                }
            };
            // A version before row binding took a `cw2:` value for plain text (after a
            // downgrade) and sealed it again: keep the value inside.
            if !was_plaintext && vault::is_row_bound(&plain) {
                if let Ok(inner) = db.vault.open(&plain, c.column, &s.row) {
                    plain = inner;
                }
            }
            sqlx::query(c.update)
                .bind(db.vault.seal(&plain, c.column, &s.row))
                .bind(s.rowid)
                .execute(&mut *tx)
                .await?;
            if was_plaintext {
                up.plaintext += 1;
            } else {
                up.column_bound += 1;
            }
        }
    }
    tx.commit().await?;
    Ok(up)
}

/// The ids of the keys stored secrets are sealed under.
pub(crate) async fn key_ids(pool: &SqlitePool) -> Result<Vec<String>, StorageError> {
    let mut ids = Vec::new();
    for c in &SEALED_COLUMNS {
        ids.extend(
            read_sealed(c, pool)
                .await?
                .iter()
                .filter_map(|s| vault::key_id_of(&s.sealed).map(str::to_string)),
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

    async fn raw_secrets(db: &Db) -> (Vec<String>, String) {
        let configs = sqlx::query_scalar("SELECT config FROM providers ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        let key = sqlx::query_scalar("SELECT api_key FROM dvrs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        (configs, key)
    }

    #[tokio::test]
    async fn column_bound_cw1_values_still_open_and_are_bound_to_their_rows_once() {
        use domain::notify::providers::{ProviderConfig, Webhook};
        let secret_of = |p: &providers::ProviderRecord| match &p.config {
            ProviderConfig::Webhook(Webhook { secret, .. }) => secret.clone(),
            other => panic!("{other:?}"),
        };
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let key_id = db.vault.key_id();
        let key = vault::read_key(&dir.path().join(vault::KEY_FILE))
            .unwrap()
            .unwrap();
        // What a version before row binding stored: `cw1:`, AAD the column name alone.
        let config = |secret: &str| {
            format!(
                r#"{{"target":{{"kind":"webhook","url":"http://127.0.0.1:9/","secret":"{secret}"}}}}"#
            )
        };
        let old_config = key.seal(config("old-secret-5").as_bytes(), "providers.config");
        // A `cw2:` value an older version took for plain text and sealed again.
        let inner = db.vault.seal(
            &config("old-secret-6"),
            providers::COLUMN,
            &providers::aad_row(6),
        );
        let wrapped = key.seal(inner.as_bytes(), "providers.config");
        for (id, sealed) in [(5, &old_config), (6, &wrapped)] {
            sqlx::query(
                "INSERT INTO providers (id, type, name, enabled, config, created_at, updated_at)
                 VALUES (?, 'webhook', 'old', 1, ?, 'x', 'x')",
            )
            .bind(id)
            .bind(sealed)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        let id = domain::dvr::id::dvr_id("127.0.0.1", 8089);
        let old_key = key.seal(b"old-dvr-key", "dvrs.api_key");
        sqlx::query(
            "INSERT INTO dvrs (dvr_id, name, host, port, enabled, staleness_threshold_seconds, managed_by, created_at, updated_at, api_key)
             VALUES (?, 'Den', '127.0.0.1', 8089, 0, 300, 'ui', 'x', 'x', ?)",
        )
        .bind(&id)
        .bind(&old_key)
        .execute(&db.pool)
        .await
        .unwrap();
        // Readable as they are.
        assert_eq!(
            secret_of(&providers::get(&db, 5).await.unwrap().unwrap()),
            "old-secret-5"
        );
        let dvr = dvrs::get(&db, &id).await.unwrap().unwrap();
        assert_eq!(dvr.api_key.expose(), "old-dvr-key");
        drop(db);

        // The next open seals them again, bound to their rows, under the same key.
        let db = Db::open(dir.path()).await.unwrap();
        assert_eq!(db.vault.key_id(), key_id);
        let (configs, api_key) = raw_secrets(&db).await;
        for v in configs.iter().chain([&api_key]) {
            assert!(v.starts_with("cw2:"), "{v}");
            assert_eq!(vault::key_id_of(v), Some(key_id.as_str()));
        }
        let listed = providers::list(&db).await.unwrap();
        let secrets: Vec<String> = listed.iter().map(secret_of).collect();
        assert_eq!(secrets, ["old-secret-5", "old-secret-6"]);
        let dvr = dvrs::get(&db, &id).await.unwrap().unwrap();
        assert_eq!(dvr.api_key.expose(), "old-dvr-key");
        // Bound now: provider 5's config does not open as provider 6's.
        sqlx::query("UPDATE providers SET config = ? WHERE id = 6")
            .bind(&configs[0])
            .execute(&db.pool)
            .await
            .unwrap();
        assert!(matches!(
            providers::get(&db, 6).await,
            Err(StorageError::Vault(vault::VaultError::Damaged))
        ));
        sqlx::query("UPDATE providers SET config = ? WHERE id = 6")
            .bind(&configs[1])
            .execute(&db.pool)
            .await
            .unwrap();
        drop(db);

        // Once: a later open leaves them as they are.
        let db = Db::open(dir.path()).await.unwrap();
        assert_eq!(raw_secrets(&db).await, (configs, api_key));

        // A rotation seals a `cw1:` value it meets for its row too.
        sqlx::query("UPDATE dvrs SET api_key = ?")
            .bind(&old_key)
            .execute(&db.pool)
            .await
            .unwrap();
        let (after, n) = db.rotate_key(dir.path()).await.unwrap();
        assert_eq!(n, 3);
        let (configs, api_key) = raw_secrets(&db).await;
        for v in configs.iter().chain([&api_key]) {
            assert!(v.starts_with("cw2:"), "{v}");
            assert_eq!(vault::key_id_of(v), Some(after.as_str()));
        }
        let dvr = dvrs::get(&db, &id).await.unwrap().unwrap();
        assert_eq!(dvr.api_key.expose(), "old-dvr-key");
        assert_eq!(providers::list(&db).await.unwrap().len(), 2);
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
