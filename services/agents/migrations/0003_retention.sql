-- replaces-checksum: 376bca119eee66a190db0819cbc28862a3524916257ce22fbf489de7129a84fe
-- (issue 16: IF NOT EXISTS: @cos/bus's inbox migration now owns this index)
-- Retention (docs/privacy.md): the job deletes inbox rows by age.
-- @cos/bus's inbox migration creates this index too (it runs first on a new schema).
CREATE INDEX IF NOT EXISTS inbox_processed_at_idx ON inbox (processed_at);
