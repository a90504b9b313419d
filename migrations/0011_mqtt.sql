-- The MQTT connection for Home Assistant: one row, the whole setting sealed (it holds
-- the broker's password) like provider configs (column 'mqtt.config', row '1').

CREATE TABLE mqtt (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    config     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
