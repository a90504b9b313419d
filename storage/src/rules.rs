//! The `routing_rules` table: each destination's rules (`domain::notify::rules`).

use sqlx::Row;

use super::{now_text, Db, StorageError};
use domain::notify::rules::Rule;

fn from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Rule, StorageError> {
    let id: i64 = row.try_get("id")?;
    let text: String = row.try_get("rule")?;
    let mut r: Rule = serde_json::from_str(&text).map_err(|e| StorageError::Corrupt {
        key: format!("routing_rules.{id}"),
        message: e.to_string(),
    })?;
    r.id = id;
    r.provider_id = row.try_get("provider_id")?;
    Ok(r)
}

/// Every rule, by id.
pub async fn list(db: &Db) -> Result<Vec<Rule>, StorageError> {
    let rows = sqlx::query("SELECT id, provider_id, rule FROM routing_rules ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Rule>, StorageError> {
    let row = sqlx::query("SELECT id, provider_id, rule FROM routing_rules WHERE id = ?1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

fn text(r: &Rule) -> String {
    serde_json::to_string(r).expect("a rule serialises")
}

/// Stores a new rule; answers it with its id.
pub async fn insert(db: &Db, r: &Rule) -> Result<Rule, StorageError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO routing_rules (provider_id, rule, created_at) VALUES (?1, ?2, ?3) RETURNING id",
    )
    .bind(r.provider_id)
    .bind(text(r))
    .bind(now_text())
    .fetch_one(&db.pool)
    .await?;
    Ok(Rule { id, ..r.clone() })
}

/// Replaces rule `r.id`; false when there is none.
pub async fn replace(db: &Db, r: &Rule) -> Result<bool, StorageError> {
    let done = sqlx::query("UPDATE routing_rules SET provider_id = ?1, rule = ?2 WHERE id = ?3")
        .bind(r.provider_id)
        .bind(text(r))
        .bind(r.id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn delete(db: &Db, id: i64) -> Result<bool, StorageError> {
    let done = sqlx::query("DELETE FROM routing_rules WHERE id = ?1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes every rule of provider `provider_id` (a backup being restored brings its own).
pub async fn delete_for_provider(db: &Db, provider_id: i64) -> Result<u64, StorageError> {
    let done = sqlx::query("DELETE FROM routing_rules WHERE provider_id = ?1")
        .bind(provider_id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::notify::providers::{ProviderConfig, Webhook};

    #[tokio::test]
    async fn rules_are_kept_and_go_with_their_provider() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let target = ProviderConfig::Webhook(Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            secret: "s".into(),
        });
        let p = crate::providers::insert(&db, "webhook", "Hook", true, &target)
            .await
            .unwrap()
            .id;
        let r: Rule = serde_json::from_value(serde_json::json!({
            "provider_id": p, "name": "Kitchen only", "kinds": ["channel"],
            "conditions": {"devices": ["Kitchen"]}
        }))
        .unwrap();
        let r = insert(&db, &r).await.unwrap();
        assert_eq!(list(&db).await.unwrap(), vec![r.clone()]);
        let off = Rule {
            enabled: false,
            ..r.clone()
        };
        assert!(replace(&db, &off).await.unwrap());
        assert_eq!(get(&db, r.id).await.unwrap(), Some(off));
        crate::providers::delete(&db, p).await.unwrap();
        assert!(
            list(&db).await.unwrap().is_empty(),
            "gone with the provider"
        );
    }
}
