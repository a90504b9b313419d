//! Who may use ChannelWatch: API keys and users as the account API answers them.

use serde::{Deserialize, Serialize};

/// An API key (`GET /api/v1/apikeys`); the key itself is shown once, at creation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApiKeyRow {
    pub id: i64,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: String,
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// `api` (the API) or `feed` (the calendar feeds only).
    #[serde(default = "api_scope")]
    pub scope: String,
}

fn api_scope() -> String {
    "api".into()
}

/// A new API key (`POST /api/v1/apikeys`): the only answer that holds the key.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApiKeyCreated {
    pub name: String,
    pub key: String,
    pub message: String,
}

/// A user (`GET /api/v1/users`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    /// `admin` or `viewer`.
    pub role: String,
    pub created_at: String,
}

/// An action's plain answer (`{ok, message}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Done {
    pub ok: bool,
    pub message: String,
}

/// `POST /api/v1/me/password`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /api/v1/apikeys`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub name: String,
}

/// `POST /api/v1/users`: a login, `viewer` unless told `admin`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}
