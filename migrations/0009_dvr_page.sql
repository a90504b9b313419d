-- The DVR page. Health history: each period a DVR was not healthy (stale or disconnected, as the
-- watchdog judged it), for the DVR page's outages with their durations.

CREATE TABLE dvr_outages (
    id          INTEGER PRIMARY KEY,
    dvr_id      TEXT NOT NULL,
    -- Unix seconds; ended_at is NULL while it lasts.
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    -- The worst verdict seen during it: 'stale' or 'disconnected'.
    kind        TEXT NOT NULL,
    -- Why, as first reported (the connection error, the silence).
    detail      TEXT,
    -- Set when the period was ended by something other than the DVR recovering:
    -- 'monitor_restarted' or 'dvr_removed'.
    ended_by    TEXT
);
CREATE INDEX dvr_outages_by_dvr ON dvr_outages (dvr_id, started_at);
CREATE INDEX dvr_outages_open ON dvr_outages (dvr_id) WHERE ended_at IS NULL;

-- Calendar feed tokens are kept like API keys (hashed, shown once, revocable) but
-- only open the upcoming-recordings feeds: 'api' keys use the API, 'feed' tokens read
-- `/api/v1/feeds/upcoming.ics` and nothing else.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'api';
