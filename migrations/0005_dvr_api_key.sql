-- A DVR's API key, for DVRs that require one (sent as X-API-Key). Sealed like the
-- provider secrets (`cw1:<key id>:…`, AAD `dvrs.api_key`); '' when there is none.
ALTER TABLE dvrs ADD COLUMN api_key TEXT NOT NULL DEFAULT '';
