//! The `dvrs` table: one row per configured DVR, keyed by its canonical id.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{now_text, Db, StorageError};
use domain::dvr::ApiKey;

/// The sealed `api_key` column (the column part of its AAD).
pub(crate) const COLUMN: &str = "dvrs.api_key";

/// The row part of a sealed API key's AAD: the DVR's id and the host and port the key is
/// sent to, as stored (a JSON array, so no two rows read alike). A key copied to another
/// DVR, or left on a row whose host or port was changed behind the server's back, does
/// not open. `dvr_id` is not enough: it is a short hash of host and port that a direct
/// write to the file need not keep in step. Every write that changes these columns
/// ([`insert`], [`upsert`], [`replace`]) seals the key again for the new values.
pub(crate) fn aad_row(dvr_id: &str, host: &str, port: i64) -> String {
    serde_json::to_string(&(dvr_id, host, port)).expect("strings and a number serialise")
}

/// [`aad_row`] of a row that has the `dvr_id`, `host` and `port` columns (see
/// `storage::SEALED_COLUMNS`).
pub(crate) fn aad_row_of(row: &sqlx::sqlite::SqliteRow) -> Result<String, sqlx::Error> {
    Ok(aad_row(
        &row.try_get::<String, _>("dvr_id")?,
        &row.try_get::<String, _>("host")?,
        row.try_get("port")?,
    ))
}

/// Who owns a DVR entry: edits from the UI/API, the YAML file, the environment, or `--demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagedBy {
    Ui,
    File,
    Env,
    Demo,
}

impl ManagedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ManagedBy::Ui => "ui",
            ManagedBy::File => "file",
            ManagedBy::Env => "env",
            ManagedBy::Demo => "demo",
        }
    }

    pub fn parse(s: &str) -> ManagedBy {
        match s {
            "file" => ManagedBy::File,
            "env" => ManagedBy::Env,
            "demo" => ManagedBy::Demo,
            _ => ManagedBy::Ui,
        }
    }
}

/// A stored DVR entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DvrRecord {
    pub dvr_id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub enabled: bool,
    pub staleness_threshold_seconds: u32,
    pub managed_by: ManagedBy,
    /// Sent as `X-API-Key` when set; sealed at rest, `****` in every answer.
    pub api_key: ApiKey,
}

fn from_row(db: &Db, row: &sqlx::sqlite::SqliteRow) -> Result<DvrRecord, StorageError> {
    let port: i64 = row.try_get("port")?;
    let threshold: i64 = row.try_get("staleness_threshold_seconds")?;
    let dvr_id: String = row.try_get("dvr_id")?;
    let corrupt = |what: &str| StorageError::Corrupt {
        key: format!("dvrs.{dvr_id}.{what}"),
        message: "out of range".into(),
    };
    Ok(DvrRecord {
        name: row.try_get("name")?,
        host: row.try_get("host")?,
        port: u16::try_from(port).map_err(|_| corrupt("port"))?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        staleness_threshold_seconds: u32::try_from(threshold).map_err(|_| corrupt("threshold"))?,
        managed_by: ManagedBy::parse(&row.try_get::<String, _>("managed_by")?),
        api_key: open_key(db, &row.try_get::<String, _>("api_key")?, &aad_row_of(row)?)?,
        dvr_id,
    })
}

fn open_key(db: &Db, stored: &str, aad_row: &str) -> Result<ApiKey, StorageError> {
    if stored.is_empty() {
        Ok(ApiKey::default())
    } else {
        Ok(ApiKey::new(db.vault.open(stored, COLUMN, aad_row)?))
    }
}

/// `r`'s API key sealed for `r`'s row (its id, host and port).
fn seal_key(db: &Db, r: &DvrRecord) -> String {
    if r.api_key.is_set() {
        let row = aad_row(&r.dvr_id, &r.host, i64::from(r.port));
        db.vault.seal(r.api_key.expose(), COLUMN, &row)
    } else {
        String::new()
    }
}

/// All DVRs in the order they were added.
pub async fn list(db: &Db) -> Result<Vec<DvrRecord>, StorageError> {
    let rows = sqlx::query(
        "SELECT dvr_id, name, host, port, enabled, staleness_threshold_seconds, managed_by, api_key
         FROM dvrs ORDER BY created_at, rowid",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|r| from_row(db, r)).collect()
}

pub async fn get(db: &Db, dvr_id: &str) -> Result<Option<DvrRecord>, StorageError> {
    let row = sqlx::query(
        "SELECT dvr_id, name, host, port, enabled, staleness_threshold_seconds, managed_by, api_key
         FROM dvrs WHERE dvr_id = ?",
    )
    .bind(dvr_id)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(|r| from_row(db, r)).transpose()
}

pub async fn count(db: &Db) -> Result<u32, StorageError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dvrs")
        .fetch_one(&db.pool)
        .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Binds a record to an `INSERT … VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)` statement.
fn bind_insert<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    r: &'q DvrRecord,
    now: &'q str,
    sealed_key: String,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    q.bind(&r.dvr_id)
        .bind(&r.name)
        .bind(&r.host)
        .bind(i64::from(r.port))
        .bind(r.enabled)
        .bind(i64::from(r.staleness_threshold_seconds))
        .bind(r.managed_by.as_str())
        .bind(now)
        .bind(now)
        .bind(sealed_key)
}

/// Inserts a new entry; `Ok(false)` if that id already exists.
pub async fn insert(db: &Db, r: &DvrRecord) -> Result<bool, StorageError> {
    let now = now_text();
    let q = sqlx::query(
        "INSERT INTO dvrs (dvr_id, name, host, port, enabled, staleness_threshold_seconds, managed_by, created_at, updated_at, api_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dvr_id) DO NOTHING",
    );
    let res = bind_insert(q, r, &now, seal_key(db, r))
        .execute(&db.pool)
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Inserts or updates an entry declared by the file, the environment or the demo.
pub async fn upsert(db: &Db, r: &DvrRecord) -> Result<(), StorageError> {
    let now = now_text();
    let q = sqlx::query(
        "INSERT INTO dvrs (dvr_id, name, host, port, enabled, staleness_threshold_seconds, managed_by, created_at, updated_at, api_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(dvr_id) DO UPDATE SET name = excluded.name, host = excluded.host, port = excluded.port,
           enabled = excluded.enabled, staleness_threshold_seconds = excluded.staleness_threshold_seconds,
           managed_by = excluded.managed_by, updated_at = excluded.updated_at, api_key = excluded.api_key",
    );
    bind_insert(q, r, &now, seal_key(db, r))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Replaces the entry `old_id` with `r` (whose id differs when host or port changed),
/// in one transaction. `Ok(false)` when `r`'s new id is taken by another entry.
pub async fn replace(db: &Db, old_id: &str, r: &DvrRecord) -> Result<bool, StorageError> {
    let mut tx = db.begin_write().await?;
    if old_id != r.dvr_id {
        let taken: Option<i64> = sqlx::query_scalar("SELECT 1 FROM dvrs WHERE dvr_id = ?")
            .bind(&r.dvr_id)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Ok(false);
        }
    }
    let now = now_text();
    sqlx::query(
        "UPDATE dvrs SET dvr_id = ?, name = ?, host = ?, port = ?, enabled = ?, staleness_threshold_seconds = ?,
           managed_by = ?, updated_at = ?, api_key = ? WHERE dvr_id = ?",
    )
    .bind(&r.dvr_id)
    .bind(&r.name)
    .bind(&r.host)
    .bind(i64::from(r.port))
    .bind(r.enabled)
    .bind(i64::from(r.staleness_threshold_seconds))
    .bind(r.managed_by.as_str())
    .bind(&now)
    .bind(seal_key(db, r))
    .bind(old_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Deletes an entry; `Ok(false)` if it did not exist.
pub async fn delete(db: &Db, dvr_id: &str) -> Result<bool, StorageError> {
    let res = sqlx::query("DELETE FROM dvrs WHERE dvr_id = ?")
        .bind(dvr_id)
        .execute(&db.pool)
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Removes every entry owned by `managed_by` whose id is not in `keep`.
pub async fn prune(db: &Db, managed_by: ManagedBy, keep: &[String]) -> Result<u64, StorageError> {
    let mut removed = 0;
    for r in list(db).await? {
        if r.managed_by == managed_by && !keep.contains(&r.dvr_id) {
            removed += u64::from(delete(db, &r.dvr_id).await?);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::dvr::id::dvr_id;

    fn rec(host: &str, port: u16) -> DvrRecord {
        DvrRecord {
            dvr_id: dvr_id(host, port),
            name: format!("DVR {host}"),
            host: host.into(),
            port,
            enabled: true,
            staleness_threshold_seconds: 300,
            managed_by: ManagedBy::Ui,
            api_key: ApiKey::default(),
        }
    }

    #[tokio::test]
    async fn insert_get_replace_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let a = rec("127.0.0.1", 8089);
        assert!(insert(&db, &a).await.unwrap());
        assert!(!insert(&db, &a).await.unwrap(), "duplicate id is refused");
        assert_eq!(get(&db, &a.dvr_id).await.unwrap(), Some(a.clone()));

        let mut moved = rec("127.0.0.1", 9090);
        moved.name = "Moved".into();
        assert!(replace(&db, &a.dvr_id, &moved).await.unwrap());
        assert_eq!(get(&db, &a.dvr_id).await.unwrap(), None);
        assert_eq!(
            get(&db, &moved.dvr_id).await.unwrap().unwrap().name,
            "Moved"
        );

        let b = rec("127.0.0.2", 8089);
        insert(&db, &b).await.unwrap();
        let mut clash = b.clone();
        clash.dvr_id = moved.dvr_id.clone();
        assert!(!replace(&db, &b.dvr_id, &clash).await.unwrap());

        assert_eq!(count(&db).await.unwrap(), 2);
        assert!(delete(&db, &b.dvr_id).await.unwrap());
        assert!(!delete(&db, &b.dvr_id).await.unwrap());
        assert_eq!(list(&db).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn prune_only_touches_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let mut d = rec("127.0.0.3", 1);
        d.managed_by = ManagedBy::Demo;
        upsert(&db, &d).await.unwrap();
        insert(&db, &rec("127.0.0.4", 1)).await.unwrap();
        assert_eq!(prune(&db, ManagedBy::Demo, &[]).await.unwrap(), 1);
        assert_eq!(count(&db).await.unwrap(), 1);
    }

    /// A move reads (is the new id taken?) then writes. Begun deferred, another
    /// connection's commit between the two made SQLite refuse the write at once
    /// (`SQLITE_BUSY_SNAPSHOT`, which no busy timeout retries): a PATCH answered 500
    /// while the dashboard's samples were being written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moves_succeed_while_other_writers_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let (a, b) = (rec("127.0.0.1", 8089), rec("127.0.0.1", 9090));
        insert(&db, &a).await.unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (db, stop) = (db.clone(), stop.clone());
            tokio::spawn(async move {
                let mut at = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    at += 1;
                    let sample = crate::activity::Sample {
                        dvr_id: "other".into(),
                        at,
                        sessions: 1,
                        disk_free: None,
                        disk_total: None,
                        live: 1,
                        vod: 0,
                        recording: 0,
                    };
                    crate::activity::record(&db, &[sample]).await.unwrap();
                }
            })
        };
        let mut from = &a;
        for i in 0..300 {
            let to = if i % 2 == 0 { &b } else { &a };
            let moved = replace(&db, &from.dvr_id, to).await;
            assert!(matches!(moved, Ok(true)), "move {i}: {moved:?}");
            from = to;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.await.unwrap();
    }
}

#[cfg(test)]
mod api_key_tests {
    use super::*;
    use domain::dvr::id::dvr_id;

    #[tokio::test]
    async fn the_api_key_is_sealed_at_rest_and_masked_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let mut r = DvrRecord {
            dvr_id: dvr_id("127.0.0.1", 8089),
            name: "Den".into(),
            host: "127.0.0.1".into(),
            port: 8089,
            enabled: false,
            staleness_threshold_seconds: 300,
            managed_by: ManagedBy::Ui,
            api_key: ApiKey::new("planted-dvr-key"),
        };
        insert(&db, &r).await.unwrap();
        let raw: String = sqlx::query_scalar("SELECT api_key FROM dvrs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert!(
            raw.starts_with("cw2:") && !raw.contains("planted-dvr-key"),
            "{raw}"
        );
        let back = get(&db, &r.dvr_id).await.unwrap().unwrap();
        assert_eq!(back.api_key.expose(), "planted-dvr-key");
        assert!(!format!("{back:?}").contains("planted-dvr-key"));

        // A rotation reseals it with the provider secrets.
        let (after, n) = db.rotate_key(dir.path()).await.unwrap();
        assert_eq!(n, 1);
        let raw: String = sqlx::query_scalar("SELECT api_key FROM dvrs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(super::super::vault::key_id_of(&raw), Some(after.as_str()));
        assert_eq!(
            list(&db).await.unwrap()[0].api_key.expose(),
            "planted-dvr-key"
        );

        // Cleared: stored as '' (nothing to seal).
        r.api_key = ApiKey::default();
        replace(&db, &r.dvr_id, &r).await.unwrap();
        let raw: String = sqlx::query_scalar("SELECT api_key FROM dvrs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(raw, "");
    }

    fn keyed(host: &str, port: u16, key: &str) -> DvrRecord {
        DvrRecord {
            dvr_id: dvr_id(host, port),
            name: format!("DVR {host}"),
            host: host.into(),
            port,
            enabled: false,
            staleness_threshold_seconds: 300,
            managed_by: ManagedBy::Ui,
            api_key: ApiKey::new(key),
        }
    }

    async fn raw_key(db: &Db, dvr_id: &str) -> String {
        sqlx::query_scalar("SELECT api_key FROM dvrs WHERE dvr_id = ?")
            .bind(dvr_id)
            .fetch_one(&db.pool)
            .await
            .unwrap()
    }

    async fn set_raw_key(db: &Db, dvr_id: &str, sealed: &str) {
        sqlx::query("UPDATE dvrs SET api_key = ? WHERE dvr_id = ?")
            .bind(sealed)
            .bind(dvr_id)
            .execute(&db.pool)
            .await
            .unwrap();
    }

    fn is_damaged(got: &Result<Option<DvrRecord>, StorageError>) -> bool {
        matches!(
            got,
            Err(StorageError::Vault(
                super::super::vault::VaultError::Damaged
            ))
        )
    }

    #[tokio::test]
    async fn an_api_key_moved_to_another_dvr_or_host_does_not_open_there() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let a = keyed("127.0.0.1", 8089, "key-of-a");
        let b = keyed("127.0.0.2", 8089, "key-of-b");
        insert(&db, &a).await.unwrap();
        insert(&db, &b).await.unwrap();
        let (key_a, key_b) = (raw_key(&db, &a.dvr_id).await, raw_key(&db, &b.dvr_id).await);

        // Swapped with raw SQL: neither opens (rather than sending A's key to B's host).
        set_raw_key(&db, &a.dvr_id, &key_b).await;
        set_raw_key(&db, &b.dvr_id, &key_a).await;
        for id in [&a.dvr_id, &b.dvr_id] {
            let got = get(&db, id).await;
            assert!(is_damaged(&got), "{id}: {got:?}");
        }
        set_raw_key(&db, &a.dvr_id, &key_a).await;
        set_raw_key(&db, &b.dvr_id, &key_b).await;
        assert_eq!(list(&db).await.unwrap(), vec![a.clone(), b.clone()]);

        // The host changed behind the server's back, the id left as it was: the key is
        // not sent there.
        sqlx::query("UPDATE dvrs SET host = '198.51.100.7' WHERE dvr_id = ?")
            .bind(&a.dvr_id)
            .execute(&db.pool)
            .await
            .unwrap();
        let got = get(&db, &a.dvr_id).await;
        assert!(is_damaged(&got), "{got:?}");
        sqlx::query("UPDATE dvrs SET host = ? WHERE dvr_id = ?")
            .bind(&a.host)
            .bind(&a.dvr_id)
            .execute(&db.pool)
            .await
            .unwrap();
        assert_eq!(get(&db, &a.dvr_id).await.unwrap(), Some(a.clone()));

        // An edit that moves the DVR (new host, so a new id) seals the key for the new row.
        let moved = keyed("127.0.0.3", 9090, "key-of-a");
        assert!(replace(&db, &a.dvr_id, &moved).await.unwrap());
        assert_eq!(get(&db, &moved.dvr_id).await.unwrap(), Some(moved.clone()));
        let resealed = raw_key(&db, &moved.dvr_id).await;
        assert!(resealed.starts_with("cw2:") && resealed != key_a);
        // The old row's value does not open on the moved row.
        set_raw_key(&db, &moved.dvr_id, &key_a).await;
        let got = get(&db, &moved.dvr_id).await;
        assert!(is_damaged(&got), "{got:?}");
    }
}
