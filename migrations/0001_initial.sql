-- ChannelWatch initial schema: DVR entries, settings, API keys, and the login tables
-- the web app builds on.

CREATE TABLE dvrs (
    dvr_id                      TEXT PRIMARY KEY NOT NULL,
    name                        TEXT NOT NULL,
    host                        TEXT NOT NULL,
    port                        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    enabled                     INTEGER NOT NULL DEFAULT 1,
    staleness_threshold_seconds INTEGER NOT NULL DEFAULT 300 CHECK (staleness_threshold_seconds >= 30),
    -- 'ui' | 'file' | 'env' | 'demo' (demo entries are removed when not running --demo)
    managed_by                  TEXT NOT NULL DEFAULT 'ui',
    created_at                  TEXT NOT NULL,
    updated_at                  TEXT NOT NULL
);

-- Free-form settings as JSON values, keyed by name (e.g. dvr_soft_limit).
CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- API keys: only a SHA-256 of the key is stored; the key is shown once.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at    TEXT NOT NULL
);

CREATE TABLE user_sessions (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
