-- phase: expand
-- Renames tasks.created_by to tasks.created_by_user_id without downtime (docs/migrations.md): the column holds the
-- creating PERSON's id (null for API keys and services; created_by_actor always says who), and the old name read
-- like the actor. Expand: the new column plus a trigger keeping both in step while releases before and after this
-- change write side by side (the previous release writes created_by, the new one created_by_user_id). The rows
-- written before are copied by the batched backfill 0007_expand_task_creator_user_id.backfill.json; contract 0008
-- drops the old column once no instance of the previous release is registered.
ALTER TABLE tasks ADD COLUMN created_by_user_id uuid;

CREATE FUNCTION tasks_sync_created_by() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.created_by_user_id IS NULL THEN
      NEW.created_by_user_id := NEW.created_by;
    ELSIF NEW.created_by IS NULL THEN
      NEW.created_by := NEW.created_by_user_id;
    END IF;
  ELSIF NEW.created_by IS DISTINCT FROM OLD.created_by AND NEW.created_by_user_id IS NOT DISTINCT FROM OLD.created_by_user_id THEN
    NEW.created_by_user_id := NEW.created_by;
  ELSIF NEW.created_by_user_id IS DISTINCT FROM OLD.created_by_user_id AND NEW.created_by IS NOT DISTINCT FROM OLD.created_by THEN
    NEW.created_by := NEW.created_by_user_id;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER tasks_sync_created_by BEFORE INSERT OR UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_sync_created_by();
