-- Retention (docs/privacy.md): the job deletes inbox rows by age.
CREATE INDEX inbox_processed_at_idx ON inbox (processed_at);
