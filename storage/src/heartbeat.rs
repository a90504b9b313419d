//! The `heartbeat` table: the one optional push URL and how often to ping it. The URL
//! is sealed (it holds the push service's token) and only this module opens it.

use sqlx::Row;

use super::{now_text, Db, StorageError};

/// The heartbeat as stored; `url` is in clear here, sealed in the table.
#[derive(Clone, PartialEq, Eq)]
pub struct HeartbeatRecord {
    pub url: String,
    pub interval_seconds: u32,
    pub enabled: bool,
}

impl std::fmt::Debug for HeartbeatRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeartbeatRecord")
            .field("url", &"****")
            .field("interval_seconds", &self.interval_seconds)
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// The sealed `url` column (the column part of its AAD).
pub(crate) const COLUMN: &str = "heartbeat.url";
/// The only row.
const ROW: &str = "1";

/// The row part of the AAD (see `storage::SEALED_COLUMNS`): there is one row.
pub(crate) fn aad_row_of(_row: &sqlx::sqlite::SqliteRow) -> Result<String, sqlx::Error> {
    Ok(ROW.to_string())
}

/// The heartbeat, when one is set.
pub async fn get(db: &Db) -> Result<Option<HeartbeatRecord>, StorageError> {
    let row = sqlx::query("SELECT url, interval_seconds, enabled FROM heartbeat WHERE id = 1")
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let sealed: String = row.try_get("url")?;
    Ok(Some(HeartbeatRecord {
        url: db.vault.open(&sealed, COLUMN, ROW)?,
        interval_seconds: row.try_get::<i64, _>("interval_seconds")?.clamp(1, 86_400) as u32,
        enabled: row.try_get("enabled")?,
    }))
}

/// Sets the heartbeat (the URL sealed).
pub async fn put(db: &Db, r: &HeartbeatRecord) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO heartbeat (id, url, interval_seconds, enabled, updated_at) VALUES (1, ?1, ?2, ?3, ?4)
         ON CONFLICT(id) DO UPDATE SET url = excluded.url, interval_seconds = excluded.interval_seconds,
           enabled = excluded.enabled, updated_at = excluded.updated_at",
    )
    .bind(db.vault.seal(&r.url, COLUMN, ROW))
    .bind(i64::from(r.interval_seconds))
    .bind(r.enabled)
    .bind(now_text())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Removes the heartbeat; answers whether there was one.
pub async fn delete(db: &Db) -> Result<bool, StorageError> {
    let done = sqlx::query("DELETE FROM heartbeat WHERE id = 1")
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_url_is_sealed_at_rest_and_opens_only_here() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        assert_eq!(get(&db).await.unwrap(), None);
        let r = HeartbeatRecord {
            url: "https://hc-ping.com/6f1c0a52-secret".into(),
            interval_seconds: 60,
            enabled: true,
        };
        put(&db, &r).await.unwrap();
        assert_eq!(get(&db).await.unwrap(), Some(r.clone()));
        let raw: String = sqlx::query_scalar("SELECT url FROM heartbeat")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert!(!raw.contains("secret") && raw.starts_with("cw2:"), "{raw}");
        assert!(!format!("{r:?}").contains("secret"));
        let off = HeartbeatRecord {
            enabled: false,
            interval_seconds: 300,
            ..r
        };
        put(&db, &off).await.unwrap();
        assert_eq!(get(&db).await.unwrap(), Some(off));
        assert!(delete(&db).await.unwrap());
        assert_eq!(get(&db).await.unwrap(), None);
    }
}
