//! The `mqtt` table: the Home Assistant MQTT setting, one sealed JSON row (it holds the
//! broker's password); only this module opens it.

use super::{now_text, Db, StorageError};
use domain::mqtt::MqttSettings;

/// The sealed `config` column (the column part of its AAD).
pub(crate) const COLUMN: &str = "mqtt.config";
const ROW: &str = "1";

/// The row part of the AAD (see `storage::SEALED_COLUMNS`): there is one row.
pub(crate) fn aad_row_of(_row: &sqlx::sqlite::SqliteRow) -> Result<String, sqlx::Error> {
    Ok(ROW.to_string())
}

pub async fn get(db: &Db) -> Result<Option<MqttSettings>, StorageError> {
    let sealed: Option<String> = sqlx::query_scalar("SELECT config FROM mqtt WHERE id = 1")
        .fetch_optional(&db.pool)
        .await?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let plain = db.vault.open(&sealed, COLUMN, ROW)?;
    serde_json::from_str(&plain)
        .map(Some)
        .map_err(|e| StorageError::Corrupt {
            key: "mqtt.config".into(),
            message: e.to_string(),
        })
}

pub async fn put(db: &Db, s: &MqttSettings) -> Result<(), StorageError> {
    let plain = serde_json::to_string(s).expect("settings serialise");
    sqlx::query(
        "INSERT INTO mqtt (id, config, updated_at) VALUES (1, ?1, ?2)
         ON CONFLICT(id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
    )
    .bind(db.vault.seal(&plain, COLUMN, ROW))
    .bind(now_text())
    .execute(&db.pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_setting_is_sealed_at_rest() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        assert_eq!(get(&db).await.unwrap(), None);
        let s = MqttSettings {
            enabled: true,
            url: "mqtt://broker.lan:1883".into(),
            username: Some("ha".into()),
            password: Some("broker-secret".into()),
            ..MqttSettings::default()
        };
        put(&db, &s).await.unwrap();
        assert_eq!(get(&db).await.unwrap(), Some(s));
        let raw: String = sqlx::query_scalar("SELECT config FROM mqtt")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert!(
            !raw.contains("broker-secret") && !raw.contains("broker.lan"),
            "{raw}"
        );
    }
}
