-- The heartbeat: one optional URL pinged while every enabled DVR is healthy, so an
-- outside service (healthchecks.io, Uptime Kuma's push monitor) notices when the
-- monitor itself stops. The URL carries that service's secret token, so it is sealed
-- like provider secrets (column 'heartbeat.url', row '1').

CREATE TABLE heartbeat (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    url              TEXT NOT NULL,
    interval_seconds INTEGER NOT NULL,
    enabled          INTEGER NOT NULL DEFAULT 1,
    updated_at       TEXT NOT NULL
);
