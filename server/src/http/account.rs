//! Accounts: who am I (`/me`), my password, API keys and users (admins only).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{json, Value};
use tracing::warn;

use super::dvrs::parse_body;
use super::error::ApiError;
use super::forwarded::Client;
use super::session::Caller;
use super::AppState;
use storage::api_keys;
use storage::users::{self, Role, UserError};
use wire::account::{ApiKeyCreated, ApiKeyRow, Done, NewApiKey, NewUser, PasswordChange, UserRow};
use wire::Me;

fn user_error(e: UserError) -> ApiError {
    match e {
        UserError::Username(_) | UserError::Password(_) => ApiError::invalid(e.to_string()),
        UserError::WrongPassword => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_password",
            e.to_string(),
        ),
        UserError::Exists(_) | UserError::LastAdmin => {
            ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
        }
        UserError::NotFound(_) => ApiError::not_found(e.to_string()),
        UserError::Hash(_) | UserError::Storage(_) => ApiError::internal("cannot save the user", e),
    }
}

pub(crate) fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only admins can see this",
        ))
    }
}

/// `GET /api/v1/me`: the caller, and for a browser session its CSRF token.
pub async fn me(Extension(caller): Extension<Caller>) -> Json<Me> {
    Json(match caller {
        Caller::ApiKey(_) => Me {
            username: None,
            role: "admin".into(),
            via: "api_key".into(),
            csrf_token: None,
        },
        Caller::User(s) => Me {
            username: Some(s.user.username.clone()),
            role: s.user.role.as_str().to_string(),
            via: "session".into(),
            csrf_token: Some(s.csrf.clone()),
        },
    })
}

/// `POST /api/v1/me/password`: the signed-in user's own password; other sessions end.
/// The current password is checked under the sign-in limits (a stolen session cannot
/// guess it faster than the sign-in form could).
pub async fn change_password(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    client: Client,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Done>, ApiError> {
    let Caller::User(session) = caller else {
        return Err(ApiError::invalid(
            "an API key has no password; sign in as a user to change one",
        ));
    };
    let b: PasswordChange = parse_body(body)?;
    // A new password that would be refused costs no guess.
    users::validate_password(&b.new_password).map_err(user_error)?;
    let username = &session.user.username;
    let limiter = &state.services.logins;
    let attempt = limiter
        .begin(client.ip, username, Instant::now())
        .map_err(|r| {
            warn!(ip = %client.ip, %username, refusal = ?r, "password change refused");
            ApiError::from(r)
        })?;
    let changed = users::change_password(
        &state.services.db,
        username,
        &b.current_password,
        &b.new_password,
        Some(&session.token_hash),
    )
    .await;
    if let Err(UserError::WrongPassword) = changed {
        warn!(ip = %client.ip, %username, "wrong current password on a password change");
        return Err(user_error(UserError::WrongPassword));
    }
    limiter.succeeded(attempt);
    changed.map_err(user_error)?;
    Ok(Json(Done {
        ok: true,
        message: "password changed; other sessions were signed out".into(),
    }))
}

/// `GET /api/v1/apikeys`: names and prefixes, never the keys.
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<ApiKeyRow>>, ApiError> {
    admin_only(&caller)?;
    let keys = api_keys::list(&state.services.db).await?;
    Ok(Json(
        keys.into_iter()
            .map(|k| ApiKeyRow {
                id: k.id,
                name: k.name,
                prefix: k.prefix,
                created_at: k.created_at,
                last_used_at: k.last_used_at,
                scope: k.scope,
            })
            .collect(),
    ))
}

/// `POST /api/v1/apikeys`: the key is in this answer and nowhere else, ever.
pub(crate) async fn create_key(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    let b: NewApiKey = parse_body(body)?;
    let name = b.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::invalid("name: 1–64 characters"));
    }
    let key = api_keys::create(&state.services.db, name).await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreated {
            name: name.to_string(),
            key,
            message: "copy this key now: it is not shown again".into(),
        }),
    ))
}

/// `DELETE /api/v1/apikeys/{id}`.
pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if api_keys::revoke_id(&state.services.db, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no API key #{id}")))
    }
}

/// `GET /api/v1/users`.
pub(crate) async fn list_users(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<UserRow>>, ApiError> {
    admin_only(&caller)?;
    let all = users::list(&state.services.db).await?;
    Ok(Json(
        all.into_iter()
            .map(|u| UserRow {
                id: u.id,
                username: u.username,
                role: u.role.as_str().to_string(),
                created_at: u.created_at,
            })
            .collect(),
    ))
}

/// `POST /api/v1/users`: a new login, `viewer` unless told `admin`.
pub(crate) async fn create_user(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: NewUser = parse_body(body)?;
    let role = match b.role.as_deref() {
        None => Role::Viewer,
        Some(r) => Role::parse(r)
            .ok_or_else(|| ApiError::invalid(format!("role: '{r}' is not admin or viewer")))?,
    };
    let username = b.username.trim();
    users::create(&state.services.db, username, &b.password, role)
        .await
        .map_err(user_error)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"username": username, "role": role})),
    ))
}

/// `DELETE /api/v1/users/{id}`: the last admin stays; the user's sessions end with it.
pub(crate) async fn delete_user(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    users::delete(&state.services.db, id)
        .await
        .map_err(user_error)?;
    Ok(StatusCode::NO_CONTENT)
}
