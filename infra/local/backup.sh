#!/usr/bin/env bash
# Backs up the service schemas of the project database, one pg_dump (custom format) per schema, all taken from ONE
# exported snapshot so the schemas are consistent with each other (an event in tasks and the reaction in agents are
# both in, or both out). Writes <out>/<schema>.dump, <out>/counts.tsv (rows per table at that snapshot, checked by
# restore.sh) and <out>/MANIFEST (sha256 of each dump).
#
# usage: infra/local/backup.sh [OUT_DIR]        (default .data/backups/<db>-<UTC timestamp>)
# env:   COS_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/cos): a superuser or a BYPASSRLS role, because
#        every table has FORCE ROW LEVEL SECURITY and a dump must see all tenants' rows.
#        COS_BACKUP_SCHEMAS (default "identity tasks customers agents"; schemas that do not exist are skipped).
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ADMIN_URL="${COS_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/cos}"
read -r -a WANTED <<<"${COS_BACKUP_SCHEMAS:-identity tasks customers agents}"
DB="$(db_of "$ADMIN_URL")"
OUT="${1:-$COS_DATA_DIR/backups/${DB:-db}-$(date -u +%Y%m%dT%H%M%SZ)}"

PSQL="$(pg_tool psql)" || die "psql not found (apt-get install postgresql-client)"
PG_DUMP="$(pg_tool pg_dump)" || die "pg_dump not found (apt-get install postgresql-client)"
for s in "${WANTED[@]}"; do
  [[ "$s" =~ ^[a-z_][a-z0-9_]*$ ]] || die "schema name '$s' must match [a-z_][a-z0-9_]*"
done
[[ -e "$OUT" && -n "$(ls -A "$OUT" 2>/dev/null)" ]] && die "$OUT exists and is not empty"
mkdir -p "$OUT"

# A session that holds a REPEATABLE READ transaction open and exports its snapshot; pg_dump --snapshot reuses it.
coproc SNAP { "$PSQL" "$ADMIN_URL" -XAtq -v ON_ERROR_STOP=1 2>&1; }
# read_until_end: lines the session prints up to the __END__ marker.
read_until_end() {
  local line
  while IFS= read -r -t 60 line <&"${SNAP[0]}"; do
    [[ "$line" == "__END__" ]] && return 0
    printf '%s\n' "$line"
  done
  die "the snapshot session stopped answering"
}
ask() { printf '%s\nSELECT %s;\n' "$1" "'__END__'" >&"${SNAP[1]}"; read_until_end; }

ask "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;" >/dev/null
SNAPSHOT="$(ask "SELECT pg_export_snapshot();")"
[[ "$SNAPSHOT" =~ ^[0-9A-F-]+$ ]] || die "could not export a snapshot: $SNAPSHOT"

wanted_list="$(printf "'%s'," "${WANTED[@]}")"
mapfile -t SCHEMAS < <(ask "SELECT nspname FROM pg_namespace WHERE nspname IN (${wanted_list%,}) ORDER BY nspname;")
((${#SCHEMAS[@]} > 0)) || die "none of the schemas (${WANTED[*]}) exist in $DB"
for s in "${WANTED[@]}"; do
  [[ " ${SCHEMAS[*]} " == *" $s "* ]] || log "schema $s does not exist, skipped"
done

: >"$OUT/counts.tsv"
for s in "${SCHEMAS[@]}"; do
  mapfile -t TABLES < <(ask "SELECT tablename FROM pg_tables WHERE schemaname = '$s' ORDER BY tablename;")
  for t in "${TABLES[@]}"; do
    n="$(ask "SELECT count(*) FROM \"$s\".\"$t\";")"
    printf '%s\t%s\t%s\n' "$s" "$t" "$n" >>"$OUT/counts.tsv"
  done
  "$PG_DUMP" "$ADMIN_URL" --format=custom --compress=6 --snapshot="$SNAPSHOT" --schema="$s" --file="$OUT/$s.dump"
  log "dumped schema $s ($(du -h "$OUT/$s.dump" | cut -f1), ${#TABLES[@]} tables)"
done
ask "COMMIT;" >/dev/null
printf '\\q\n' >&"${SNAP[1]}"
wait "$SNAP_PID" 2>/dev/null || true

{
  printf 'database\t%s\n' "$DB"
  printf 'created_at\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf 'pg_dump\t%s\n' "$("$PG_DUMP" --version)"
  printf 'schemas\t%s\n' "${SCHEMAS[*]}"
  (cd "$OUT" && sha256sum -- *.dump counts.tsv)
} >"$OUT/MANIFEST"
log "backup complete: $OUT"
