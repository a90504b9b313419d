-- Routing rules per destination (a provider instance): which alerts it gets beyond the
-- routing matrix's type switches. A provider without rules gets everything the matrix
-- gives its type. The rule itself (name, enabled, dvrs, kinds, conditions) is JSON.

CREATE TABLE routing_rules (
    id          INTEGER PRIMARY KEY,
    provider_id INTEGER NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    rule        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX routing_rules_by_provider ON routing_rules (provider_id);

-- What the rules read of an alert (client device and address, channel, source), so a
-- rule's preview judges recent alerts as the rule would have.
ALTER TABLE alerts ADD COLUMN route TEXT;

-- A delivery held by a rule's minimum watching time: the play's activity key, checked
-- before sending (a play that ended by then is not sent to that destination).
ALTER TABLE outbox ADD COLUMN while_playing TEXT;
