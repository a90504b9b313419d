//! The `settings` table: named JSON values with typed accessors.

use serde::{de::DeserializeOwned, Serialize};

use super::{now_text, Db, StorageError};

/// Reads a setting; `None` when unset.
pub async fn get<T: DeserializeOwned>(db: &Db, key: &str) -> Result<Option<T>, StorageError> {
    let raw: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
        .bind(key)
        .fetch_optional(&db.pool)
        .await?;
    raw.map(|v| {
        serde_json::from_str(&v).map_err(|e| StorageError::Corrupt {
            key: key.to_string(),
            message: e.to_string(),
        })
    })
    .transpose()
}

/// Writes a setting.
pub async fn set<T: Serialize>(db: &Db, key: &str, value: &T) -> Result<(), StorageError> {
    let json = serde_json::to_string(value).map_err(|e| StorageError::Corrupt {
        key: key.to_string(),
        message: e.to_string(),
    })?;
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(json)
    .bind(now_text())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// How many DVRs may be configured before adding one is refused.
pub const DVR_SOFT_LIMIT: &str = "dvr_soft_limit";
pub(crate) const DEFAULT_DVR_SOFT_LIMIT: u32 = 10;

pub async fn dvr_soft_limit(db: &Db) -> Result<u32, StorageError> {
    Ok(get(db, DVR_SOFT_LIMIT)
        .await?
        .unwrap_or(DEFAULT_DVR_SOFT_LIMIT))
}

/// Days of alert history kept (Settings > Advanced).
pub const RETENTION_DAYS: &str = "retention_days";
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

pub async fn retention_days(db: &Db) -> Result<u32, StorageError> {
    Ok(get(db, RETENTION_DAYS)
        .await?
        .unwrap_or(DEFAULT_RETENTION_DAYS))
}

/// Days of watch history kept (Settings > Advanced).
pub const HISTORY_RETENTION_DAYS: &str = "history_retention_days";
pub const DEFAULT_HISTORY_RETENTION_DAYS: u32 = 365;

pub async fn history_retention_days(db: &Db) -> Result<u32, StorageError> {
    Ok(get(db, HISTORY_RETENTION_DAYS)
        .await?
        .unwrap_or(DEFAULT_HISTORY_RETENTION_DAYS))
}

/// The time zone times are shown in (Settings > Advanced); empty: `TZ`, then the host's.
pub const TIME_ZONE: &str = "time_zone";

pub async fn time_zone(db: &Db) -> Result<String, StorageError> {
    Ok(get(db, TIME_ZONE).await?.unwrap_or_default())
}

/// Disk thresholds saved in Settings > Advanced (the YAML file's, when it sets them, win).
pub const DISK_THRESHOLDS: &str = "disk_thresholds";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn set_and_get() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        assert_eq!(dvr_soft_limit(&db).await.unwrap(), 10);
        set(&db, DVR_SOFT_LIMIT, &25u32).await.unwrap();
        assert_eq!(dvr_soft_limit(&db).await.unwrap(), 25);
    }
}
