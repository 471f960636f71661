-- phase: contract
-- The end of the created_by -> created_by_user_id rename (0006): applied by `pnpm migrate --contract` once every
-- registered tasks instance runs code of schema level 7 or more (the runner refuses otherwise) and the 0006 backfill
-- has finished.
DROP TRIGGER tasks_sync_created_by ON tasks;
DROP FUNCTION tasks_sync_created_by();
ALTER TABLE tasks DROP COLUMN created_by;
