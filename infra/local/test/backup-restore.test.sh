#!/usr/bin/env bash
# Tests backup.sh + restore.sh on scratch databases of the running Postgres (COS_PG_ADMIN_URL's server; nothing of
# the project database is touched): builds two service-like schemas (RLS FORCE'd tenant tables, identity column,
# jsonb, function, grants to their own roles), backs them up, drops the source database AND the roles, restores into
# a new database, and checks data (content hash), row-level security, grants and sequences survived; then checks that
# a second restore is refused without --clean, works with --clean, and that a damaged backup is refused.
# usage: bash infra/local/test/backup-restore.test.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/local/lib.sh
source "$HERE/../lib.sh"

BASE_URL="${COS_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/cos}"
SUFFIX="$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SRC_DB="cos_bktest_src_$SUFFIX"
DST_DB="cos_bktest_dst_$SUFFIX"
S1="bk${SUFFIX}_tasks"
S2="bk${SUFFIX}_agents"
SRC="$(url_with_db "$BASE_URL" "$SRC_DB")"
DST="$(url_with_db "$BASE_URL" "$DST_DB")"
MAINT="$(url_with_db "$BASE_URL" postgres)"
WORK="$(mktemp -d)"
PSQL="$(pg_tool psql)"
FAILS=0

sql() { "$PSQL" "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
as_role() { # URL ROLE ORG SQL: runs SQL as ROLE with app.org_id = ORG (empty = unset)
  local u; u="$(url_with_user "$1" "$2")"
  printf "BEGIN;\nSELECT set_config('app.org_id', '%s', true) \\g /dev/null\n%s;\nCOMMIT;\n" "$3" "$4" |
    "$PSQL" "$u" -XAtq -v ON_ERROR_STOP=1
}
url_with_user() { local scheme="${1%%://*}" rest="${1#*://}"; rest="${rest#*@}"; printf '%s://%s@%s\n' "$scheme" "$2" "$rest"; }
check() { # NAME EXPECTED ACTUAL
  if [[ "$2" == "$3" ]]; then printf 'ok   %s\n' "$1"; else printf 'FAIL %s: expected [%s] got [%s]\n' "$1" "$2" "$3"; FAILS=$((FAILS + 1)); fi
}
cleanup() {
  sql "$MAINT" "DROP DATABASE IF EXISTS \"$SRC_DB\" WITH (FORCE)" 2>/dev/null || true
  sql "$MAINT" "DROP DATABASE IF EXISTS \"$DST_DB\" WITH (FORCE)" || true
  for r in "cos_$S1" "cos_${S1}_system" "cos_$S2" "cos_${S2}_system"; do sql "$MAINT" "DROP ROLE IF EXISTS \"$r\"" || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

ORG_A=11111111-1111-1111-1111-111111111111
ORG_B=22222222-2222-2222-2222-222222222222

sql "$MAINT" "CREATE DATABASE \"$SRC_DB\""
for s in "$S1" "$S2"; do
  "$PSQL" "$SRC" -Xq -v ON_ERROR_STOP=1 <<SQL
CREATE ROLE "cos_$s" LOGIN NOBYPASSRLS;
CREATE ROLE "cos_${s}_system" LOGIN BYPASSRLS;
CREATE SCHEMA "$s";
SET search_path TO "$s";
CREATE TABLE events (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, org_id uuid NOT NULL, stream_id text NOT NULL,
  version int NOT NULL, type text NOT NULL, data jsonb NOT NULL, UNIQUE (stream_id, version));
CREATE TABLE items (id uuid PRIMARY KEY, org_id uuid NOT NULL, title text NOT NULL, tags text[] NOT NULL DEFAULT '{}');
CREATE INDEX items_org ON items (org_id);
CREATE FUNCTION item_count(o uuid) RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM items WHERE org_id = o';
DO \$\$ DECLARE t text; BEGIN FOREACH t IN ARRAY ARRAY['events', 'items'] LOOP
  EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
  EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
  EXECUTE format('CREATE POLICY tenant ON %I USING (org_id = nullif(current_setting(''app.org_id'', true), '''')::uuid)
                  WITH CHECK (org_id = nullif(current_setting(''app.org_id'', true), '''')::uuid)', t);
END LOOP; END \$\$;
GRANT USAGE ON SCHEMA "$s" TO "cos_$s", "cos_${s}_system";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "$s" TO "cos_$s", "cos_${s}_system";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "$s" TO "cos_$s", "cos_${s}_system";
INSERT INTO events (org_id, stream_id, version, type, data)
  SELECT CASE WHEN g % 3 = 0 THEN '$ORG_B'::uuid ELSE '$ORG_A'::uuid END, 'Task-' || (g / 5), g % 5 + 1, 'TaskCreated',
         jsonb_build_object('title', 'tâche ' || g, 'n', g, 'nested', jsonb_build_object('q', 'it''s "quoted"'))
  FROM generate_series(0, 2499) g;
INSERT INTO items (id, org_id, title, tags)
  SELECT gen_random_uuid(), CASE WHEN g % 2 = 0 THEN '$ORG_B'::uuid ELSE '$ORG_A'::uuid END, E'line\\nbreak\\t' || g, ARRAY['a', 'b' || g]
  FROM generate_series(1, 301) g;
SQL
done
hash_of() { sql "$1" "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
  SELECT e::text AS x FROM \"$2\".events e UNION ALL SELECT i::text FROM \"$2\".items i) q"; }
H1="$(hash_of "$SRC" "$S1")"; H2="$(hash_of "$SRC" "$S2")"

COS_PG_ADMIN_URL="$SRC" COS_BACKUP_SCHEMAS="$S1 $S2 nosuchschema" bash "$HERE/../backup.sh" "$WORK/b1"
check "backup wrote one dump per schema" "2" "$(ls "$WORK/b1"/*.dump | wc -l)"
check "counts recorded at backup" "$S1	events	2500" "$(grep -P "^$S1\tevents\t" "$WORK/b1/counts.tsv")"

# Lose everything: the source database and the roles (a fresh server).
sql "$MAINT" "DROP DATABASE \"$SRC_DB\" WITH (FORCE)"
for r in "cos_$S1" "cos_${S1}_system" "cos_$S2" "cos_${S2}_system"; do sql "$MAINT" "DROP ROLE \"$r\""; done

bash "$HERE/../restore.sh" "$WORK/b1" "$DST"
check "data identical ($S1)" "$H1" "$(hash_of "$DST" "$S1")"
check "data identical ($S2)" "$H2" "$(hash_of "$DST" "$S2")"
check "RLS still forced" "t|t" "$(sql "$DST" "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = '\"$S1\".items'::regclass")"
check "runtime role, org A rows" "151" "$(as_role "$DST" "cos_$S1" "$ORG_A" "SELECT count(*) FROM \"$S1\".items" | tail -n1)"
check "runtime role, no tenant -> no rows" "0" "$(as_role "$DST" "cos_$S1" "" "SELECT count(*) FROM \"$S1\".items" | tail -n1)"
check "system role bypasses RLS" "301" "$(as_role "$DST" "cos_${S1}_system" "" "SELECT count(*) FROM \"$S1\".items" | tail -n1)"
cross_org="$(as_role "$DST" "cos_$S1" "$ORG_A" "INSERT INTO \"$S1\".items (id, org_id, title) VALUES (gen_random_uuid(), '$ORG_B', 'x')" 2>&1 || true)"
check "runtime role cannot write another org (RLS WITH CHECK)" "1" "$(grep -c 'violates row-level security' <<<"$cross_org" || true)"
check "identity sequence continues after restore" "2501" "$(as_role "$DST" "cos_$S1" "$ORG_A" "INSERT INTO \"$S1\".events (org_id, stream_id, version, type, data) VALUES ('$ORG_A', 'Task-new', 1, 'TaskCreated', '{}') RETURNING seq" | tail -n1)"

if bash "$HERE/../restore.sh" "$WORK/b1" "$DST" >"$WORK/out" 2>&1; then check "restore over existing schema refused" "refused" "accepted"
else check "restore over existing schema refused" "1" "$(grep -c 'already exists' "$WORK/out")"; fi
bash "$HERE/../restore.sh" --clean --schema "$S1" "$WORK/b1" "$DST" >"$WORK/out" 2>&1
check "--clean --schema replaces one schema (extra row gone)" "2500" "$(sql "$DST" "SELECT count(*) FROM \"$S1\".events")"

cp -r "$WORK/b1" "$WORK/b2"
printf 'x' >>"$WORK/b2/$S2.dump"
if bash "$HERE/../restore.sh" --clean "$WORK/b2" "$DST" >"$WORK/out" 2>&1; then check "damaged backup refused" "refused" "accepted"
else check "damaged backup refused" "1" "$(grep -c 'checksum mismatch' "$WORK/out")"; fi

if ((FAILS)); then printf '%d check(s) failed\n' "$FAILS"; exit 1; fi
printf 'all backup/restore checks passed\n'
