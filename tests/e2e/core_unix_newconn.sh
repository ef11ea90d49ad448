#!/usr/bin/env bash
# Processes started after dblat attached are traced: with -p <postmaster>
# only, the backends forked for 10 new psql connections over the Unix socket
# are seen on the server side; psql itself is not a target.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

N=10
pg_start

out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$PG_PID"
ok=0
for ((i = 1; i <= N; i++)); do
	r=$(timeout 20 psql -X -At -h "$PGSOCKDIR" -p "$PGPORT" -U postgres -d postgres -c 'SELECT 42' 2>&1)
	[ "$r" = 42 ] && ok=$((ok + 1)) || echo "psql run $i: $r"
done
dblat_stop
[ "$ok" -eq "$N" ] || fail "harness: only $ok of $N psql runs returned 42"

check "server calls of 'SELECT \$1'" "$(stmt_calls "$out" 'SELECT $1' server)" "$N"
check "server rows' comm" "$(jq -r '[.statements[] | select(.query == "SELECT $1" and .side == "server") | .comm] | unique | join(",")' "$out")" postgres
npids=$(stmt_pids "$out" 'SELECT $1' server | wc -l)
check "distinct backend pids for 'SELECT \$1'" "$npids" "$N"
check "client calls (psql is not a target)" "$(stmt_calls "$out" 'SELECT $1' client)" 0
check "events dropped" "$(jget "$out" .events.dropped)" 0
[ "$_CHECK_FAILS" -eq 0 ] || dump_statements "$out"
finish
