//! Logins: usernames with argon2id password hashes (never the password) and a role.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sqlx::Row;

use super::{now_text, Db, StorageError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("username: {0}")]
    Username(String),
    #[error("password: {0}")]
    Password(String),
    #[error("a user named '{0}' already exists")]
    Exists(String),
    #[error("no user named '{0}'")]
    NotFound(String),
    #[error("the current password is not correct")]
    WrongPassword,
    #[error("the last admin cannot be removed")]
    LastAdmin,
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sqlx::Error> for UserError {
    fn from(e: sqlx::Error) -> Self {
        UserError::Storage(e.into())
    }
}

pub(crate) const MIN_PASSWORD: usize = 8;

pub fn validate_username(u: &str) -> Result<(), UserError> {
    let ok = !u.is_empty()
        && u.len() <= 64
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(UserError::Username(
            "1–64 letters, digits, '.', '_', '-' or '@'".into(),
        ))
    }
}

pub fn validate_password(p: &str) -> Result<(), UserError> {
    if p.chars().count() < MIN_PASSWORD {
        return Err(UserError::Password(format!(
            "must be at least {MIN_PASSWORD} characters"
        )));
    }
    if p.len() > 1024 {
        return Err(UserError::Password("must be at most 1024 bytes".into()));
    }
    Ok(())
}

/// An argon2id hash in PHC form with a random salt.
pub(crate) fn hash_password(p: &str) -> Result<String, UserError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| UserError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(p.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Argon2 runs (about 19 MiB and tens of milliseconds each) at most this many at once,
/// so a flood of sign-ins queues instead of exhausting memory (and the sign-in limiter
/// refuses checks past its own cap instead of queueing them here).
static HASHING: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| {
        std::sync::Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        ))
    });

/// Runs one argon2 job off the async workers, within the [`HASHING`] limit. The permit
/// goes with the job: a caller that gives up (a dropped connection) does not free its
/// place while argon2 still runs.
async fn hashing<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, UserError> {
    let permit = std::sync::Arc::clone(&HASHING)
        .acquire_owned()
        .await
        .map_err(|e| UserError::Hash(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        job()
    })
    .await
    .map_err(|e| UserError::Hash(e.to_string()))
}

fn matches(hash: &str, p: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| Argon2::default().verify_password(p.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

pub async fn count(db: &Db) -> Result<i64, StorageError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&db.pool)
        .await?)
}

pub async fn create(db: &Db, username: &str, password: &str, role: Role) -> Result<(), UserError> {
    validate_username(username)?;
    validate_password(password)?;
    let owned = password.to_string();
    let hash = hashing(move || hash_password(&owned)).await??;
    let res = sqlx::query(
        "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(username) DO NOTHING",
    )
    .bind(username)
    .bind(hash)
    .bind(role.as_str())
    .bind(now_text())
    .execute(&db.pool)
    .await?;
    if res.rows_affected() == 0 {
        return Err(UserError::Exists(username.to_string()));
    }
    Ok(())
}

/// Creates the first admin (the setup page): refused once any user exists, in the same
/// statement, so two racing setups cannot both win.
pub async fn create_first_admin(
    db: &Db,
    username: &str,
    password: &str,
) -> Result<bool, UserError> {
    validate_username(username)?;
    validate_password(password)?;
    let password = password.to_string();
    // No hashing at all once setup is done: a closed setup form costs nothing.
    if count(db).await? > 0 {
        return Ok(false);
    }
    let hash = hashing(move || hash_password(&password)).await??;
    let res = sqlx::query(
        "INSERT INTO users (username, password_hash, role, created_at)
         SELECT ?, ?, 'admin', ? WHERE NOT EXISTS (SELECT 1 FROM users)",
    )
    .bind(username)
    .bind(hash)
    .bind(now_text())
    .execute(&db.pool)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Sets a new password and ends the user's sessions.
pub async fn reset_password(db: &Db, username: &str, password: &str) -> Result<(), UserError> {
    validate_password(password)?;
    let owned = password.to_string();
    let hash = hashing(move || hash_password(&owned)).await??;
    let mut tx = db.begin_write().await?;
    let id: Option<i64> =
        sqlx::query_scalar("UPDATE users SET password_hash = ? WHERE username = ? RETURNING id")
            .bind(hash)
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(id) = id else {
        return Err(UserError::NotFound(username.to_string()));
    };
    sqlx::query("DELETE FROM user_sessions WHERE user_id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A login as the web app sees it (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub created_at: String,
}

/// The user's role when the password is right.
pub async fn verify(db: &Db, username: &str, password: &str) -> Result<Option<Role>, StorageError> {
    Ok(authenticate(db, username, password).await?.map(|u| u.role))
}

/// The user when the password is right. Hashing runs off the async workers.
/// Whether an account has this exact username (for log lines: a name that names no
/// account may be a password typed into the wrong field, and is not logged).
pub async fn exists(db: &Db, username: &str) -> Result<bool, StorageError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE username = ?")
        .bind(username)
        .fetch_optional(&db.pool)
        .await?;
    Ok(found.is_some())
}

pub async fn authenticate(
    db: &Db,
    username: &str,
    password: &str,
) -> Result<Option<User>, StorageError> {
    let row =
        sqlx::query("SELECT id, password_hash, role, created_at FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&db.pool)
            .await?;
    let password = password.to_string();
    let Some(row) = row else {
        // Same work as a real check, so timing does not tell which usernames exist.
        static DUMMY: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| hash_password("not a real password").unwrap_or_default());
        let _ = hashing(move || matches(&DUMMY, &password)).await;
        return Ok(None);
    };
    let hash: String = row.try_get("password_hash")?;
    let role: String = row.try_get("role")?;
    let ok = hashing(move || matches(&hash, &password))
        .await
        .unwrap_or(false);
    let Some(role) = Role::parse(&role).filter(|_| ok) else {
        return Ok(None);
    };
    Ok(Some(User {
        id: row.try_get("id")?,
        username: username.to_string(),
        role,
        created_at: row.try_get("created_at")?,
    }))
}

/// Every user, oldest first.
pub async fn list(db: &Db) -> Result<Vec<User>, StorageError> {
    let rows = sqlx::query("SELECT id, username, role, created_at FROM users ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok(User {
                id: r.try_get("id")?,
                username: r.try_get("username")?,
                role: Role::parse(&role).unwrap_or(Role::Viewer),
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Removes a user (and, by cascade, their sessions); the last admin stays.
pub async fn delete(db: &Db, id: i64) -> Result<(), UserError> {
    // Write first: the check runs inside the same statement, so no other writer can
    // remove the second-to-last admin in between.
    let res = sqlx::query(
        "DELETE FROM users WHERE id = ?1 AND (role <> 'admin'
           OR (SELECT COUNT(*) FROM users WHERE role = 'admin') > 1)",
    )
    .bind(id)
    .execute(&db.pool)
    .await?;
    if res.rows_affected() == 1 {
        return Ok(());
    }
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = ?")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    match exists {
        Some(_) => Err(UserError::LastAdmin),
        None => Err(UserError::NotFound(format!("#{id}"))),
    }
}

/// Changes a user's own password after checking the current one; ends their other
/// sessions (the one given in `keep_session` stays signed in).
pub async fn change_password(
    db: &Db,
    username: &str,
    current: &str,
    new: &str,
    keep_session: Option<&str>,
) -> Result<(), UserError> {
    validate_password(new)?;
    let Some(user) = authenticate(db, username, current).await? else {
        return Err(UserError::WrongPassword);
    };
    let new = new.to_string();
    let hash = hashing(move || hash_password(&new)).await??;
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
        .bind(hash)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM user_sessions WHERE user_id = ? AND token_hash <> ?")
        .bind(user.id)
        .bind(keep_session.unwrap_or(""))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_verify_reset() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        create(&db, "admin", "correct horse", Role::Admin)
            .await
            .unwrap();
        let stored: String = sqlx::query_scalar("SELECT password_hash FROM users")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("correct horse"));
        assert_eq!(
            verify(&db, "admin", "correct horse").await.unwrap(),
            Some(Role::Admin)
        );
        assert_eq!(verify(&db, "admin", "wrong pass").await.unwrap(), None);
        assert_eq!(verify(&db, "nobody", "correct horse").await.unwrap(), None);
        assert!(matches!(
            create(&db, "admin", "another one", Role::Viewer).await,
            Err(UserError::Exists(_))
        ));
        assert!(matches!(
            create(&db, "bob", "short", Role::Viewer).await,
            Err(UserError::Password(_))
        ));
        assert!(matches!(
            create(&db, "bad name", "long enough", Role::Viewer).await,
            Err(UserError::Username(_))
        ));
        reset_password(&db, "admin", "battery staple")
            .await
            .unwrap();
        assert_eq!(verify(&db, "admin", "correct horse").await.unwrap(), None);
        assert_eq!(
            verify(&db, "admin", "battery staple").await.unwrap(),
            Some(Role::Admin)
        );
        assert!(matches!(
            reset_password(&db, "ghost", "long enough").await,
            Err(UserError::NotFound(_))
        ));
        assert_eq!(count(&db).await.unwrap(), 1);
    }
}
