-- Statistics without scanning every play: per start day (UTC), DVR and dimension, the
-- plays that ended and their watch time. Dimensions: 'kind', 'channel' (label: call
-- sign), 'device', 'title', 'hour' (hour of day the play started).
CREATE TABLE watch_by_day (
    dim     TEXT NOT NULL,
    day     INTEGER NOT NULL,
    dvr_id  TEXT NOT NULL,
    key     TEXT NOT NULL,
    label   TEXT,
    plays   INTEGER NOT NULL,
    seconds INTEGER NOT NULL,
    PRIMARY KEY (dim, day, dvr_id, key)
) WITHOUT ROWID;

-- Streams at once, per hour: the most seen in any minute of it, split by kind. The
-- row for all DVRs together has dvr_id '*'.
CREATE TABLE streams_by_hour (
    hour      INTEGER NOT NULL,
    dvr_id    TEXT NOT NULL,
    live      INTEGER NOT NULL,
    vod       INTEGER NOT NULL,
    recording INTEGER NOT NULL,
    total     INTEGER NOT NULL,
    -- When in the hour the total peaked (unix seconds).
    peak_at   INTEGER NOT NULL,
    PRIMARY KEY (hour, dvr_id)
) WITHOUT ROWID;
