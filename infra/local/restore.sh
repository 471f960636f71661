#!/usr/bin/env bash
# Restores a backup made by infra/local/backup.sh into a database (created if missing), then proves it: checksums
# before, and after the restore every table's row count must equal the count recorded at backup time.
#
# usage: infra/local/restore.sh [--clean] [--schema NAME]... BACKUP_DIR [TARGET_URL]
#   --clean        drop a schema that already exists in the target before restoring it (otherwise refuse)
#   --schema NAME  restore only this schema (repeatable); default: every schema in the backup
#   TARGET_URL     default COS_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/cos); a superuser: the
#                  restore recreates the service roles (cos_<schema>, cos_<schema>_system) the dumps grant to.
# Each schema is restored in one transaction (--single-transaction --exit-on-error): all of it or none of it.
# Stop the services (or at least the one whose schema you restore) first; afterwards see infra/README.md "Backups".
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLEAN=0
ONLY=()
ARGS=()
while (($#)); do
  case "$1" in
    --clean) CLEAN=1 ;;
    --schema) shift; ONLY+=("${1:?--schema needs a name}") ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
((${#ARGS[@]} >= 1 && ${#ARGS[@]} <= 2)) || die "usage: restore.sh [--clean] [--schema NAME]... BACKUP_DIR [TARGET_URL]"
DIR="${ARGS[0]}"
TARGET="${ARGS[1]:-${COS_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/cos}}"
DB="$(db_of "$TARGET")"
[[ "$DB" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "target URL must name a database ([A-Za-z_][A-Za-z0-9_]*): $TARGET"

PSQL="$(pg_tool psql)" || die "psql not found (apt-get install postgresql-client)"
PG_RESTORE="$(pg_tool pg_restore)" || die "pg_restore not found (apt-get install postgresql-client)"
[[ -f "$DIR/MANIFEST" ]] || die "$DIR has no MANIFEST: not a backup made by backup.sh"

(cd "$DIR" && grep -E '^[0-9a-f]{64}  ' MANIFEST | sha256sum --check --quiet --strict) ||
  die "checksum mismatch in $DIR: the backup is damaged or was edited"
read -r -a IN_BACKUP <<<"$(awk -F'\t' '$1 == "schemas" { print $2 }' "$DIR/MANIFEST")"
if ((${#ONLY[@]} == 0)); then ONLY=("${IN_BACKUP[@]}"); fi
for s in "${ONLY[@]}"; do
  [[ " ${IN_BACKUP[*]} " == *" $s "* ]] || die "schema $s is not in this backup (it has: ${IN_BACKUP[*]})"
done

q() { "$PSQL" "$TARGET" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# The target database.
MAINT="$(url_with_db "$TARGET" postgres)"
if [[ "$("$PSQL" "$MAINT" -XAtq -v ON_ERROR_STOP=1 -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]]; then
  "$PSQL" "$MAINT" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$DB\""
  log "created database \"$DB\""
fi

for s in "${ONLY[@]}"; do
  [[ "$s" =~ ^[a-z_][a-z0-9_]*$ ]] || die "bad schema name $s"
  if [[ "$(q "SELECT 1 FROM pg_namespace WHERE nspname = '$s'")" == 1 ]]; then
    ((CLEAN)) || die "schema $s already exists in $DB; pass --clean to replace it (its current data is dropped)"
    q "DROP SCHEMA \"$s\" CASCADE"
    log "dropped existing schema $s"
  fi
  # Same attributes as packages/db migrate(): runtime role under RLS, system role BYPASSRLS. Roles are cluster-wide.
  q "DO \$\$ BEGIN
       IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cos_$s') THEN
         CREATE ROLE \"cos_$s\" LOGIN NOBYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF;
       IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cos_${s}_system') THEN
         CREATE ROLE \"cos_${s}_system\" LOGIN BYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF;
     END \$\$"
  # --no-owner: objects belong to the restoring user (the dump's owner may not exist on this server); GRANTs to the
  # service roles are kept.
  "$PG_RESTORE" --dbname="$TARGET" --no-owner --exit-on-error --single-transaction "$DIR/$s.dump" ||
    die "restore of schema $s failed (nothing of it was written)"
  q "ANALYZE" >/dev/null
  log "restored schema $s"
done

# Proof: every table of the restored schemas has the rows it had at backup time.
bad=0
while IFS=$'\t' read -r s t n; do
  [[ " ${ONLY[*]} " == *" $s "* ]] || continue
  got="$(q "SELECT count(*) FROM \"$s\".\"$t\"" 2>/dev/null || echo missing)"
  if [[ "$got" != "$n" ]]; then
    printf '[infra] ERROR: %s.%s has %s rows, the backup recorded %s\n' "$s" "$t" "$got" "$n" >&2
    bad=1
  fi
done <"$DIR/counts.tsv"
((bad == 0)) || die "restore verification failed"
log "restore verified: $(awk -F'\t' -v only=" ${ONLY[*]} " 'index(only, " " $1 " ") { n++; r += $3 } END { printf "%d tables, %d rows", n, r }' "$DIR/counts.tsv") match the backup"
