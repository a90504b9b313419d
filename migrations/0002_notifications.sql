-- Alerts and their delivery: shared providers, the routing matrix, alert history, the
-- durable outbox (one row per alert × provider, written with the alert in one
-- transaction before any send) and the log of every delivery attempt.

CREATE TABLE providers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- pushover | discord | telegram | slack | email | gotify | matrix | ntfy | webhook | apprise
    type        TEXT NOT NULL,
    name        TEXT NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1,
    -- The type's fields as JSON (secrets included; issue "secrets at rest" encrypts them).
    config      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- DVR × event × provider type; a missing row means on.
CREATE TABLE routing (
    dvr_id        TEXT NOT NULL,
    event         TEXT NOT NULL CHECK (event IN ('channel', 'vod', 'recording', 'disk', 'health')),
    provider_type TEXT NOT NULL,
    enabled       INTEGER NOT NULL,
    PRIMARY KEY (dvr_id, event, provider_type)
);

-- Routing follows its DVR: removed with it, carried over when host/port give it a new id.
CREATE TRIGGER routing_follows_dvr_delete AFTER DELETE ON dvrs
BEGIN
    DELETE FROM routing WHERE dvr_id = OLD.dvr_id;
END;
CREATE TRIGGER routing_follows_dvr_id AFTER UPDATE OF dvr_id ON dvrs
WHEN OLD.dvr_id <> NEW.dvr_id
BEGIN
    UPDATE routing SET dvr_id = NEW.dvr_id WHERE dvr_id = OLD.dvr_id;
END;

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dvr_id      TEXT NOT NULL,
    dvr_name    TEXT NOT NULL,
    -- the eventType, e.g. channel.watching.start
    alert_type  TEXT NOT NULL,
    title       TEXT NOT NULL,
    message     TEXT NOT NULL,
    image_url   TEXT,
    dedup_key   TEXT,
    -- 'sent' (handed to the outbox) | 'rate_limited' (held back by the global limit)
    status      TEXT NOT NULL DEFAULT 'sent',
    created_at  TEXT NOT NULL
);
CREATE INDEX alerts_by_time ON alerts (created_at DESC, id DESC);
CREATE INDEX alerts_by_dvr ON alerts (dvr_id, id DESC);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    provider_id     INTEGER NOT NULL,
    provider_type   TEXT NOT NULL,
    -- the webhook's deliveryId / X-ChannelWatch-Delivery; stable across retries
    delivery_id     TEXT NOT NULL UNIQUE,
    -- pending | sending (claimed by a worker) | sent | failed (gave up)
    status          TEXT NOT NULL DEFAULT 'pending',
    -- which claim took the row to 'sending' (a process restart returns those to pending)
    claim           TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    finished_at     TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE delivery_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id   INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    -- sent | retry | failed | circuit_open
    status      TEXT NOT NULL,
    http_status INTEGER,
    latency_ms  INTEGER,
    error       TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX delivery_log_by_outbox ON delivery_log (outbox_id);
