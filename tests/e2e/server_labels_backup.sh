#!/usr/bin/env bash
# Backends are labelled with the database, user and application_name of the
# StartupMessage they received, and dump/base-backup sessions are marked on
# the timeline from start to end.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

pg_start
echo "local replication all trust" >>"$PGDATA_DIR/pg_hba.conf"
pg_sql "SELECT pg_reload_conf()" >/dev/null || fail "reload failed"
out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$PG_PID"
for i in 1 2 3; do
	PGAPPNAME=label-check psql -X -At -h "$PGHOST_TCP" -p "$PGPORT" -U postgres -d postgres \
		-c "SELECT $i" >/dev/null || fail "psql failed"
done
t0=$(date +%s.%N)
pg_dump -h "$PGHOST_TCP" -p "$PGPORT" -U postgres postgres >"$TEST_TMP/dump.sql" || fail "pg_dump failed"
mkdir -p "$TEST_TMP/base" && chown postgres "$TEST_TMP/base" && chmod 755 "$TEST_TMP"
runuser -u postgres -- pg_basebackup -h "$PGSOCKDIR" -p "$PGPORT" -U postgres -D "$TEST_TMP/base" -Ft -X none \
	>"$TEST_TMP/bb.log" 2>&1 || { cat "$TEST_TMP/bb.log"; fail "pg_basebackup failed"; }
t1=$(date +%s.%N)
dblat_stop

check "label-check sessions" \
	"$(jq '[.backends[] | select(.application_name == "label-check" and .database == "postgres" and .user == "postgres") | .sessions] | add // 0' "$out")" 3
check "label-check calls" \
	"$(jq '[.backends[] | select(.application_name == "label-check") | .calls] | add // 0' "$out")" 3
for app in pg_dump pg_basebackup; do
	check "$app on the timeline" "$(jq --arg a "$app" '[.timeline[] | select(.what == $a and .end_s != null and .end_s >= .start_s)] | length' "$out")" 1
done
span=$(jq '[.timeline[] | select(.what == "pg_dump" or .what == "pg_basebackup") | .end_s - .start_s] | add' "$out")
awk -v s="$span" -v w="$(echo "$t1 - $t0" | bc)" 'BEGIN { exit !(s > 0 && s <= w) }'
check_true "backup marks last no longer than the commands took ($span s within $(echo "$t1 - $t0" | bc) s)" $?
finish
