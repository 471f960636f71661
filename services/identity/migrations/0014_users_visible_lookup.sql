-- Who may see a user, checked per row by an index lookup instead of a hash of the whole organization (issue 13).
-- The EXISTS subqueries of users_visible (0001) sit under an OR, so Postgres cannot turn them into a join; it chose a
-- hashed subplan that reads EVERY membership of the caller's organization (and evaluates current_setting() on each
-- row) for every statement on users — 0.9 ms for `usersByIds` of 3 ids with 500 members, the busiest identity
-- statement in `pnpm bench soak`. `OFFSET 0` keeps each EXISTS a correlated subplan (Postgres does not hash an EXISTS
-- with OFFSET/LIMIT): one probe of memberships_user_idx / invitations_org_user_idx per user row, 0.05 ms for 3 ids,
-- 0.4 ms for 100. Identity reads users only by id(s), never in bulk. Same rows visible as before; expand-safe (no
-- column changes).
ALTER POLICY users_visible ON users
  USING (id = nullif(current_setting('app.user_id', true), '')::uuid
         OR EXISTS (SELECT 1 FROM memberships m
                    WHERE m.user_id = users.id
                      AND m.org_id = nullif(current_setting('app.org_id', true), '')::uuid
                    OFFSET 0)
         OR EXISTS (SELECT 1 FROM invitations i
                    WHERE i.user_id = users.id
                      AND i.org_id = nullif(current_setting('app.org_id', true), '')::uuid
                    OFFSET 0));
