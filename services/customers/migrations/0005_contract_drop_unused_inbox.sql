-- phase: contract
-- customers consumes no events (issue 16): a schema created before that still has the `inbox` table its old 0001_init
-- made, which nothing reads or writes. Dropping a table is a contract change: `pnpm migrate --contract` applies it once
-- every registered customers instance runs code of schema level 5 or more. A schema created since has no inbox, and
-- this does nothing there.
DROP TABLE IF EXISTS inbox;
