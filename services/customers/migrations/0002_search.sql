-- Full-text search (SearchResults.customerMatches): customer documents (name A, domain and plan B) and contact
-- documents (name A, email B — the address also split at '@' and '.', so "alice" finds alice@umbrella.test), each a
-- stored generated tsvector with a GIN index.
ALTER TABLE customers ADD COLUMN search tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('english'::regconfig, name), 'A') ||
  setweight(to_tsvector('english'::regconfig, coalesce(domain, '') || ' ' || translate(coalesce(domain, ''), '.', ' ')), 'B') ||
  setweight(to_tsvector('english'::regconfig, coalesce(plan, '')), 'C')
) STORED;
CREATE INDEX customers_search_idx ON customers USING gin (search);

ALTER TABLE contacts ADD COLUMN search tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('english'::regconfig, name), 'A') ||
  setweight(to_tsvector('english'::regconfig, coalesce(email, '') || ' ' || translate(coalesce(email, ''), '@.', '  ')), 'B')
) STORED;
CREATE INDEX contacts_search_idx ON contacts USING gin (search);
