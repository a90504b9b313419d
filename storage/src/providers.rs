//! The `providers` table: shared notification destinations.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::dvrs::ManagedBy;
use super::{now_text, Db, StorageError};
use domain::notify::providers::ProviderConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRecord {
    pub id: i64,
    /// The provider type as created (`apprise` for generic Apprise URLs).
    pub kind: String,
    pub name: String,
    pub enabled: bool,
    pub config: ProviderConfig,
    /// `ui` (API and web app) or `file` (the YAML file; read-only elsewhere).
    pub managed_by: ManagedBy,
}

/// What the `config` column holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    target: ProviderConfig,
}

/// The sealed `config` column (the column part of its AAD).
pub(crate) const COLUMN: &str = "providers.config";

/// The row part of a sealed config's AAD: the provider's id (`INTEGER PRIMARY KEY`, so
/// it never changes), so a config copied to another provider does not open there.
pub(crate) fn aad_row(id: i64) -> String {
    id.to_string()
}

/// [`aad_row`] of a row that has the `id` column (see `storage::SEALED_COLUMNS`).
pub(crate) fn aad_row_of(row: &sqlx::sqlite::SqliteRow) -> Result<String, sqlx::Error> {
    Ok(aad_row(row.try_get("id")?))
}

fn from_row(db: &Db, row: &sqlx::sqlite::SqliteRow) -> Result<ProviderRecord, StorageError> {
    let id: i64 = row.try_get("id")?;
    let sealed: String = row.try_get("config")?;
    let config = db.vault.open(&sealed, COLUMN, &aad_row(id))?;
    let stored: Stored = serde_json::from_str(&config).map_err(|e| StorageError::Corrupt {
        key: format!("providers.{id}.config"),
        message: e.to_string(),
    })?;
    Ok(ProviderRecord {
        id,
        kind: row.try_get("type")?,
        name: row.try_get("name")?,
        enabled: row.try_get("enabled")?,
        config: stored.target,
        managed_by: ManagedBy::parse(&row.try_get::<String, _>("managed_by")?),
    })
}

/// The sealed `config` column of provider `id`: the whole target, so no field can leak
/// in clear.
fn config_json(db: &Db, id: i64, target: &ProviderConfig) -> String {
    let plain = serde_json::to_string(&Stored {
        target: target.clone(),
    })
    .expect("a target always serialises");
    db.vault.seal(&plain, COLUMN, &aad_row(id))
}

pub async fn list(db: &Db) -> Result<Vec<ProviderRecord>, StorageError> {
    let rows = sqlx::query(
        "SELECT id, type, name, enabled, config, managed_by FROM providers ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|r| from_row(db, r)).collect()
}

pub async fn get(db: &Db, id: i64) -> Result<Option<ProviderRecord>, StorageError> {
    let row = sqlx::query(
        "SELECT id, type, name, enabled, config, managed_by FROM providers WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(|r| from_row(db, r)).transpose()
}

/// Inserts and answers the stored record (with its new id).
pub async fn insert(
    db: &Db,
    kind: &str,
    name: &str,
    enabled: bool,
    target: &ProviderConfig,
) -> Result<ProviderRecord, StorageError> {
    insert_managed(db, kind, name, enabled, target, ManagedBy::Ui).await
}

/// [`insert`] for an owner other than the UI (the YAML file).
pub async fn insert_managed(
    db: &Db,
    kind: &str,
    name: &str,
    enabled: bool,
    target: &ProviderConfig,
    managed_by: ManagedBy,
) -> Result<ProviderRecord, StorageError> {
    let now = now_text();
    // The config is sealed for the row's id, which the insert chooses: the row goes in
    // with an empty config and gets its sealed one in the same transaction.
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO providers (type, name, enabled, config, created_at, updated_at, managed_by)
         VALUES (?, ?, ?, '', ?, ?, ?) RETURNING id",
    )
    .bind(kind)
    .bind(name)
    .bind(enabled)
    .bind(&now)
    .bind(&now)
    .bind(managed_by.as_str())
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE providers SET config = ? WHERE id = ?")
        .bind(config_json(db, id, target))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ProviderRecord {
        id,
        kind: kind.to_string(),
        name: name.to_string(),
        enabled,
        config: target.clone(),
        managed_by,
    })
}

pub async fn update(db: &Db, r: &ProviderRecord) -> Result<bool, StorageError> {
    let res = sqlx::query(
        "UPDATE providers SET type = ?, name = ?, enabled = ?, config = ?, updated_at = ? WHERE id = ?",
    )
    .bind(&r.kind)
    .bind(&r.name)
    .bind(r.enabled)
    .bind(config_json(db, r.id, &r.config))
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
    use domain::notify::providers::Webhook;

    #[tokio::test]
    async fn crud_round_trips_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let t = ProviderConfig::Webhook(Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            secret: "s3cret".into(),
        });
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

    async fn raw_configs(db: &Db) -> Vec<String> {
        sqlx::query_scalar("SELECT config FROM providers")
            .fetch_all(&db.pool)
            .await
            .unwrap()
    }

    /// Writes sealed `config` texts as they are, as someone with the database file could.
    async fn set_raw_configs(db: &Db, rows: [(i64, &String); 2]) {
        for (id, config) in rows {
            sqlx::query("UPDATE providers SET config = ? WHERE id = ?")
                .bind(config)
                .bind(id)
                .execute(&db.pool)
                .await
                .unwrap();
        }
    }

    async fn raw_config(db: &Db, id: i64) -> String {
        sqlx::query_scalar("SELECT config FROM providers WHERE id = ?")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn secrets_are_sealed_at_rest_and_survive_a_key_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let t = ProviderConfig::Webhook(Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            secret: "planted-webhook-secret".into(),
        });
        let r = insert(&db, "webhook", "HA", true, &t).await.unwrap();
        let raw = raw_configs(&db).await;
        assert!(raw[0].starts_with("cw2:"), "{}", raw[0]);
        assert!(!raw[0].contains("planted-webhook-secret"));
        assert!(!format!("{r:?}").contains("planted-webhook-secret"));

        let before = db.vault.key_id();
        let key_before = std::fs::read(dir.path().join("encryption.key")).unwrap();
        let (after, n) = db.rotate_key(dir.path()).await.unwrap();
        assert_eq!(n, 1);
        assert_ne!(before, after);
        assert_ne!(
            key_before,
            std::fs::read(dir.path().join("encryption.key")).unwrap()
        );
        assert!(!dir.path().join("encryption.key.new").exists());
        assert_eq!(
            super::super::vault::key_id_of(&raw_configs(&db).await[0]),
            Some(after.as_str())
        );
        assert_eq!(get(&db, r.id).await.unwrap().unwrap().config, t);
        drop(db);
        // A restart reads the rotated key from disk.
        let db = Db::open(dir.path()).await.unwrap();
        assert_eq!(get(&db, r.id).await.unwrap().unwrap().config, t);
    }

    #[tokio::test]
    async fn a_config_moved_to_another_provider_does_not_open_there() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let hook = |url: &str, secret: &str| {
            ProviderConfig::Webhook(Webhook {
                url: url.into(),
                secret: secret.into(),
            })
        };
        let a = insert(
            &db,
            "webhook",
            "A",
            true,
            &hook("http://127.0.0.1:9/a", "secret-of-a"),
        )
        .await
        .unwrap();
        let b = insert(
            &db,
            "webhook",
            "B",
            true,
            &hook("http://127.0.0.1:9/b", "secret-of-b"),
        )
        .await
        .unwrap();
        let config_a = raw_config(&db, a.id).await;
        let config_b = raw_config(&db, b.id).await;
        // Someone with write access to the database file (not the key) swaps them.
        set_raw_configs(&db, [(a.id, &config_b), (b.id, &config_a)]).await;
        for id in [a.id, b.id] {
            let got = get(&db, id).await;
            assert!(
                matches!(
                    got,
                    Err(StorageError::Vault(
                        super::super::vault::VaultError::Damaged
                    ))
                ),
                "provider {id}: {got:?}"
            );
        }
        let err = list(&db).await.unwrap_err().to_string();
        assert!(err.contains("does not open"), "{err}");
        // Put back, each opens again.
        set_raw_configs(&db, [(a.id, &config_a), (b.id, &config_b)]).await;
        assert_eq!(list(&db).await.unwrap(), vec![a, b]);
    }

    #[tokio::test]
    async fn plaintext_rows_from_before_encryption_are_sealed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        sqlx::query(
            "INSERT INTO providers (type, name, enabled, config, created_at, updated_at)
             VALUES ('webhook', 'old', 1, ?, 'x', 'x')",
        )
        .bind(r#"{"target":{"kind":"webhook","url":"http://127.0.0.1:9/","secret":"old-secret"}}"#)
        .execute(&db.pool)
        .await
        .unwrap();
        drop(db);
        let db = Db::open(dir.path()).await.unwrap();
        let raw = raw_configs(&db).await;
        assert!(raw[0].starts_with("cw2:") && !raw[0].contains("old-secret"));
        let listed = list(&db).await.unwrap();
        assert!(
            matches!(&listed[0].config, ProviderConfig::Webhook(Webhook { secret, .. }) if secret == "old-secret")
        );
    }

    #[tokio::test]
    async fn an_interrupted_rotation_is_finished_or_dropped_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let t = ProviderConfig::Webhook(Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            secret: "s".into(),
        });
        insert(&db, "webhook", "HA", true, &t).await.unwrap();
        // Committed but not renamed: the next open installs the new key.
        let pending = dir.path().join("encryption.key.new");
        let key = super::super::vault::new_key_file(&pending).unwrap();
        crate::reseal_all(&db, &key).await.unwrap();
        drop(db);
        let db = Db::open(dir.path()).await.unwrap();
        assert_eq!(db.vault.key_id(), key.id());
        assert!(!pending.exists());
        assert_eq!(list(&db).await.unwrap()[0].config, t);
        // Not committed: the leftover key is dropped and the old one stays.
        let before = db.vault.key_id();
        super::super::vault::new_key_file(&pending).unwrap();
        drop(db);
        let db = Db::open(dir.path()).await.unwrap();
        assert_eq!(db.vault.key_id(), before);
        assert!(!pending.exists());
        assert_eq!(list(&db).await.unwrap()[0].config, t);
    }
}
