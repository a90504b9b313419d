-- Quiet hours and maintenance windows (`domain::notify::quiet::Period`, JSON), and
-- snoozes of a DVR, a kind, or both until a moment.

CREATE TABLE quiet_periods (
    id         INTEGER PRIMARY KEY,
    period     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE snoozes (
    id         INTEGER PRIMARY KEY,
    dvr_id     TEXT,
    kind       TEXT,
    until      TEXT NOT NULL,
    digest     INTEGER NOT NULL DEFAULT 0,
    source     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Deliveries held back by a quiet time that asks for a digest wait as status 'quiet'
-- (never claimed for sending) and turn 'digested' once their digest is recorded.
CREATE INDEX outbox_quiet ON outbox (status) WHERE status = 'quiet';
