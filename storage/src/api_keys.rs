//! API keys: random tokens shown once; only their SHA-256 is stored.
//!
//! Keys are 192 random bits, so a fast hash is enough (argon2 is for low-entropy
//! passwords) and keeps per-request verification cheap.

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{now_text, Db, StorageError};

/// Hex SHA-256 of a presented key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// What a key opens: the API, or only the calendar feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Api,
    Feed,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Api => "api",
            Scope::Feed => "feed",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Scope::Api => "cw_",
            Scope::Feed => "cwf_",
        }
    }
}

/// Creates an API key named `name`; returns the plaintext, which is never stored.
pub async fn create(db: &Db, name: &str) -> Result<String, StorageError> {
    create_scoped(db, name, Scope::Api).await
}

/// Creates a key of `scope` named `name`; returns the plaintext, never stored.
pub async fn create_scoped(db: &Db, name: &str, scope: Scope) -> Result<String, StorageError> {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let key = format!("{}{}", scope.prefix(), hex::encode(bytes));
    sqlx::query(
        "INSERT INTO api_keys (name, key_hash, prefix, created_at, scope) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(name)
    .bind(hash_key(&key))
    .bind(&key[..scope.prefix().len() + 4])
    .bind(now_text())
    .bind(scope.as_str())
    .execute(&db.pool)
    .await?;
    Ok(key)
}

/// True when `key` matches a stored, unrevoked key (and marks it used).
/// A wrong key costs one read, never a write (so bogus keys cannot hog SQLite's writer);
/// `last_used_at` is refreshed at most once a minute.
pub async fn verify(db: &Db, key: &str) -> Result<bool, StorageError> {
    verify_scoped(db, key, Scope::Api).await
}

/// [`verify`] for a key of `scope` (a feed token is no API key, and the reverse).
pub async fn verify_scoped(db: &Db, key: &str, scope: Scope) -> Result<bool, StorageError> {
    let hash = hash_key(key);
    let row: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT id, last_used_at FROM api_keys
          WHERE key_hash = ? AND revoked_at IS NULL AND scope = ?",
    )
    .bind(&hash)
    .bind(scope.as_str())
    .fetch_optional(&db.pool)
    .await?;
    let Some((id, last_used)) = row else {
        return Ok(false);
    };
    let fresh = last_used
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .is_some_and(|t| chrono::Utc::now().signed_duration_since(t).num_seconds() < 60);
    if !fresh {
        sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
            .bind(now_text())
            .bind(id)
            .execute(&db.pool)
            .await?;
    }
    Ok(true)
}

/// Whether a stored key (by its hash) is still unrevoked: open live streams check this
/// so they end when the key is revoked. Read-only, unlike [`verify`].
pub async fn active(db: &Db, key_hash: &str) -> Result<bool, StorageError> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL AND scope = 'api'",
    )
    .bind(key_hash)
    .fetch_optional(&db.pool)
    .await?;
    Ok(found.is_some())
}

/// Revokes a key by name; returns how many were revoked.
pub async fn revoke(db: &Db, name: &str) -> Result<u64, StorageError> {
    let res =
        sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL")
            .bind(now_text())
            .bind(name)
            .execute(&db.pool)
            .await?;
    Ok(res.rows_affected())
}

/// An API key as the UI lists it: never the key, only its first characters.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// `api` or `feed`.
    pub scope: String,
}

/// Unrevoked keys, newest first.
pub async fn list(db: &Db) -> Result<Vec<KeyInfo>, StorageError> {
    let rows: Vec<(i64, String, String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT id, name, prefix, created_at, last_used_at, scope FROM api_keys
          WHERE revoked_at IS NULL ORDER BY id DESC",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, prefix, created_at, last_used_at, scope)| KeyInfo {
                id,
                name,
                prefix,
                created_at,
                last_used_at,
                scope,
            },
        )
        .collect())
}

/// Revokes one key by id; false when there is no such live key.
pub async fn revoke_id(db: &Db, id: i64) -> Result<bool, StorageError> {
    let res = sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .bind(now_text())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(res.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn feed_tokens_open_feeds_only_and_api_keys_no_feeds() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let feed = create_scoped(&db, "calendar", Scope::Feed).await.unwrap();
        let api = create(&db, "ci").await.unwrap();
        assert!(feed.starts_with("cwf_") && feed.len() == 52);
        assert!(verify_scoped(&db, &feed, Scope::Feed).await.unwrap());
        assert!(
            !verify(&db, &feed).await.unwrap(),
            "a feed token is no API key"
        );
        assert!(!active(&db, &hash_key(&feed)).await.unwrap());
        assert!(!verify_scoped(&db, &api, Scope::Feed).await.unwrap());
        let listed = list(&db).await.unwrap();
        assert_eq!(listed[0].scope, "api");
        assert_eq!(listed[1].scope, "feed");
        assert!(revoke_id(&db, listed[1].id).await.unwrap());
        assert!(!verify_scoped(&db, &feed, Scope::Feed).await.unwrap());
    }

    #[tokio::test]
    async fn created_keys_verify_and_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let key = create(&db, "ci").await.unwrap();
        assert!(key.starts_with("cw_") && key.len() == 51);
        assert!(verify(&db, &key).await.unwrap());
        assert!(!verify(&db, "cw_wrong").await.unwrap());
        let stored: String = sqlx::query_scalar("SELECT key_hash FROM api_keys")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_ne!(stored, key);
        assert!(active(&db, &stored).await.unwrap());
        assert_eq!(revoke(&db, "ci").await.unwrap(), 1);
        assert!(!verify(&db, &key).await.unwrap());
        assert!(!active(&db, &stored).await.unwrap());
    }
}
