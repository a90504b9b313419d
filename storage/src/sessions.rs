//! Browser login sessions: a random token in an `HttpOnly` cookie, stored only as its
//! SHA-256, with the CSRF token that writes made with this session must echo.

use chrono::{Duration, Utc};
use rand::RngCore;
use sqlx::Row;

use super::api_keys::hash_key;
use super::users::{Role, User};
use super::{Db, StorageError};

/// How long a session lasts without signing in again.
pub const SESSION_DAYS: i64 = 14;

/// A live session and whose it is.
#[derive(Debug, Clone)]
pub struct Session {
    /// The stored (hashed) token: identifies the session without revealing it.
    pub token_hash: String,
    pub user: User,
    pub csrf: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn text(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Starts a session for `user_id`; returns the cookie token (never stored) and the CSRF token.
pub async fn create(db: &Db, user_id: i64) -> Result<(String, String), StorageError> {
    let token = random_token();
    let csrf = random_token();
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO user_sessions (token_hash, user_id, csrf_token, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(hash_key(&token))
    .bind(user_id)
    .bind(&csrf)
    .bind(text(now))
    .bind(text(now + Duration::days(SESSION_DAYS)))
    .execute(&db.pool)
    .await?;
    // Expired rows are dead weight; sign-in is a rare, natural moment to drop them.
    sqlx::query("DELETE FROM user_sessions WHERE expires_at < ?")
        .bind(text(now))
        .execute(&db.pool)
        .await?;
    Ok((token, csrf))
}

/// The session a cookie token belongs to, if it exists and has not expired.
pub async fn lookup(db: &Db, token: &str) -> Result<Option<Session>, StorageError> {
    let hash = hash_key(token);
    let row = sqlx::query(
        "SELECT s.csrf_token, u.id, u.username, u.role, u.created_at
           FROM user_sessions s JOIN users u ON u.id = s.user_id
          WHERE s.token_hash = ? AND s.expires_at > ?",
    )
    .bind(&hash)
    .bind(text(Utc::now()))
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let role: String = row.try_get("role")?;
    Ok(Some(Session {
        token_hash: hash,
        csrf: row.try_get("csrf_token")?,
        user: User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            role: Role::parse(&role).unwrap_or(Role::Viewer),
            created_at: row.try_get("created_at")?,
        },
    }))
}

/// Whether a session (by its stored hash) still exists and has not expired: open
/// live streams check this so they end with the session.
pub async fn alive(db: &Db, token_hash: &str) -> Result<bool, StorageError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM user_sessions WHERE token_hash = ? AND expires_at > ?")
            .bind(token_hash)
            .bind(text(Utc::now()))
            .fetch_optional(&db.pool)
            .await?;
    Ok(found.is_some())
}

/// Ends one session (logout).
pub async fn delete(db: &Db, token_hash: &str) -> Result<(), StorageError> {
    sqlx::query("DELETE FROM user_sessions WHERE token_hash = ?")
        .bind(token_hash)
        .execute(&db.pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users;

    #[tokio::test]
    async fn sessions_are_hashed_expire_and_end() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        users::create(&db, "ann", "long enough", Role::Viewer)
            .await
            .unwrap();
        let ann = users::authenticate(&db, "ann", "long enough")
            .await
            .unwrap()
            .unwrap();
        let (token, csrf) = create(&db, ann.id).await.unwrap();
        let s = lookup(&db, &token).await.unwrap().unwrap();
        assert_eq!(
            (s.user.username.as_str(), s.user.role),
            ("ann", Role::Viewer)
        );
        assert_eq!(s.csrf, csrf);
        assert!(alive(&db, &s.token_hash).await.unwrap());
        let stored: String = sqlx::query_scalar("SELECT token_hash FROM user_sessions")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_ne!(stored, token, "only the hash is stored");
        assert!(lookup(&db, "not-a-token").await.unwrap().is_none());

        // A password change ends the other sessions but keeps the current one.
        let (other, _) = create(&db, ann.id).await.unwrap();
        users::change_password(
            &db,
            "ann",
            "long enough",
            "even longer",
            Some(&s.token_hash),
        )
        .await
        .unwrap();
        assert!(lookup(&db, &other).await.unwrap().is_none());
        assert!(lookup(&db, &token).await.unwrap().is_some());
        assert!(matches!(
            users::change_password(&db, "ann", "wrong one", "whatever1", None).await,
            Err(users::UserError::WrongPassword)
        ));

        sqlx::query("UPDATE user_sessions SET expires_at = '2000-01-01T00:00:00Z'")
            .execute(&db.pool)
            .await
            .unwrap();
        assert!(lookup(&db, &token).await.unwrap().is_none(), "expired");
        assert!(!alive(&db, &s.token_hash).await.unwrap());
        delete(&db, &s.token_hash).await.unwrap();
    }

    #[tokio::test]
    async fn the_last_admin_cannot_be_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        users::create(&db, "root", "long enough", Role::Admin)
            .await
            .unwrap();
        users::create(&db, "view", "long enough", Role::Viewer)
            .await
            .unwrap();
        let all = users::list(&db).await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(matches!(
            users::delete(&db, all[0].id).await,
            Err(users::UserError::LastAdmin)
        ));
        users::delete(&db, all[1].id).await.unwrap();
        assert!(matches!(
            users::delete(&db, 999).await,
            Err(users::UserError::NotFound(_))
        ));
    }
}
