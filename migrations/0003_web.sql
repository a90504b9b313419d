-- The web app: login sessions looked up by user, and the activity samples behind the
-- dashboard's 24-hour sessions chart and disk trend (one row per DVR per minute).

CREATE INDEX user_sessions_by_user ON user_sessions (user_id);
CREATE INDEX user_sessions_by_expiry ON user_sessions (expires_at);

CREATE TABLE activity_samples (
    dvr_id      TEXT NOT NULL,
    -- Unix seconds.
    at          INTEGER NOT NULL,
    sessions    INTEGER NOT NULL,
    disk_free   INTEGER,
    disk_total  INTEGER,
    PRIMARY KEY (dvr_id, at)
);
CREATE INDEX activity_samples_by_time ON activity_samples (at);
