//! The `providers` table: shared notification destinations.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{now_text, Db, StorageError};
use crate::notify::target::Target;

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRecord {
    pub id: i64,
    /// The provider type as created (`apprise` for generic Apprise URLs).
    pub kind: String,
    pub name: String,
    pub enabled: bool,
    pub target: Target,
}

/// What the `config` column holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    target: Target,
}

fn from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ProviderRecord, StorageError> {
    let id: i64 = row.try_get("id")?;
    let config: String = row.try_get("config")?;
    let stored: Stored = serde_json::from_str(&config).map_err(|e| StorageError::Corrupt {
        key: format!("providers.{id}.config"),
        message: e.to_string(),
    })?;
    Ok(ProviderRecord {
        id,
        kind: row.try_get("type")?,
        name: row.try_get("name")?,
        enabled: row.try_get("enabled")?,
        target: stored.target,
    })
}

fn config_json(target: &Target) -> String {
    serde_json::to_string(&Stored {
        target: target.clone(),
    })
    .expect("a target always serialises")
}

pub async fn list(db: &Db) -> Result<Vec<ProviderRecord>, StorageError> {
    let rows = sqlx::query("SELECT id, type, name, enabled, config FROM providers ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(db: &Db, id: i64) -> Result<Option<ProviderRecord>, StorageError> {
    let row = sqlx::query("SELECT id, type, name, enabled, config FROM providers WHERE id = ?")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Inserts and answers the stored record (with its new id).
pub async fn insert(
    db: &Db,
    kind: &str,
    name: &str,
    enabled: bool,
    target: &Target,
) -> Result<ProviderRecord, StorageError> {
    let now = now_text();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO providers (type, name, enabled, config, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(kind)
    .bind(name)
    .bind(enabled)
    .bind(config_json(target))
    .bind(&now)
    .bind(&now)
    .fetch_one(&db.pool)
    .await?;
    Ok(ProviderRecord {
        id,
        kind: kind.to_string(),
        name: name.to_string(),
        enabled,
        target: target.clone(),
    })
}

pub async fn update(db: &Db, r: &ProviderRecord) -> Result<bool, StorageError> {
    let res = sqlx::query(
        "UPDATE providers SET name = ?, enabled = ?, config = ?, updated_at = ? WHERE id = ?",
    )
    .bind(&r.name)
    .bind(r.enabled)
    .bind(config_json(&r.target))
    .bind(now_text())
    .bind(r.id)
    .execute(&db.pool)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn delete(db: &Db, id: i64) -> Result<bool, StorageError> {
    let res = sqlx::query("DELETE FROM providers WHERE id = ?")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(res.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn crud_round_trips_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let t = Target::Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            secret: "s3cret".into(),
        };
        let mut r = insert(&db, "webhook", "Home Assistant", true, &t)
            .await
            .unwrap();
        assert_eq!(get(&db, r.id).await.unwrap().as_ref(), Some(&r));
        r.enabled = false;
        assert!(update(&db, &r).await.unwrap());
        assert_eq!(list(&db).await.unwrap(), vec![r.clone()]);
        assert!(delete(&db, r.id).await.unwrap());
        assert!(get(&db, r.id).await.unwrap().is_none());
        assert!(!delete(&db, r.id).await.unwrap());
    }
}
