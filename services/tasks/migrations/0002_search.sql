-- Full-text search (Query.search): weighted task documents (title A, description B) and comment documents, each
-- a stored generated tsvector with a GIN index. The tasks column keeps its name, so `tasks(filter: {search})` on an
-- instance still running the previous release reads the new column unchanged during a rolling deploy.
ALTER TABLE tasks DROP COLUMN search;
ALTER TABLE tasks ADD COLUMN search tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('english'::regconfig, title), 'A') ||
  setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')
) STORED;
CREATE INDEX tasks_search_idx ON tasks USING gin (search);

ALTER TABLE comments ADD COLUMN search tsvector GENERATED ALWAYS AS (
  to_tsvector('english'::regconfig, body)
) STORED;
CREATE INDEX comments_search_idx ON comments USING gin (search);
