-- Watch history: one row per play (live TV or library playback). Times are unix
-- seconds so ranges and hour-of-day buckets are plain integer arithmetic.
CREATE TABLE watch_history (
    id              INTEGER PRIMARY KEY,
    dvr_id          TEXT NOT NULL,
    -- 'live' or 'vod'
    kind            TEXT NOT NULL,
    device          TEXT,
    client_ip       TEXT,
    -- Live TV: channel number, call sign, source family (tuner, tve, m3u, other).
    channel         TEXT,
    call_sign       TEXT,
    source          TEXT,
    -- Library playback: the DVR's file id.
    file_id         TEXT,
    title           TEXT,
    -- From the DVR's client list: the app's platform and version, remote or local (1/0).
    platform        TEXT,
    app_version     TEXT,
    remote          INTEGER,
    started_at      INTEGER NOT NULL,
    -- NULL while it plays.
    ended_at        INTEGER,
    watched_seconds INTEGER,
    -- 'stopped', 'dvr_lost', 'monitor_restarted', 'dvr_removed'
    ended_by        TEXT,
    -- While open: the last moment the monitor knew it played (a crash ends it there).
    last_seen_at    INTEGER
);
-- Ids follow start times (the recorder never stamps a play earlier than the one before
-- it), so "newest first" is rowid order, and each single-column index below also
-- lists its rows in that order: one DVR, device, channel or kind, newest first, is
-- one index range. A date range becomes a rowid range through the start-time index.
CREATE INDEX watch_history_by_start ON watch_history (started_at);
CREATE INDEX watch_history_by_dvr ON watch_history (dvr_id);
CREATE INDEX watch_history_by_device ON watch_history (device);
CREATE INDEX watch_history_by_channel ON watch_history (channel);
CREATE INDEX watch_history_by_kind ON watch_history (kind);
CREATE INDEX watch_history_open ON watch_history (ended_at) WHERE ended_at IS NULL;

-- Text search over title, device, channel and call sign: trigram, so any part of a
-- word matches, as the History page's search box promises.
CREATE VIRTUAL TABLE watch_history_text USING fts5 (
    title, device, channel, call_sign,
    content = 'watch_history', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TRIGGER watch_history_text_insert AFTER INSERT ON watch_history BEGIN
    INSERT INTO watch_history_text (rowid, title, device, channel, call_sign)
    VALUES (new.id, new.title, new.device, new.channel, new.call_sign);
END;
CREATE TRIGGER watch_history_text_delete AFTER DELETE ON watch_history BEGIN
    INSERT INTO watch_history_text (watch_history_text, rowid, title, device, channel, call_sign)
    VALUES ('delete', old.id, old.title, old.device, old.channel, old.call_sign);
END;
CREATE TRIGGER watch_history_text_update AFTER UPDATE OF title, device, channel, call_sign ON watch_history BEGIN
    INSERT INTO watch_history_text (watch_history_text, rowid, title, device, channel, call_sign)
    VALUES ('delete', old.id, old.title, old.device, old.channel, old.call_sign);
    INSERT INTO watch_history_text (rowid, title, device, channel, call_sign)
    VALUES (new.id, new.title, new.device, new.channel, new.call_sign);
END;
-- Longest plays first.
CREATE INDEX watch_history_by_length ON watch_history (watched_seconds);
