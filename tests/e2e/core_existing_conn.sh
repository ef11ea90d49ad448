#!/usr/bin/env bash
# A connection opened before dblat attached is picked up at its next
# message: two psql sessions (TCP and Unix socket) connect, wait for a go
# file, then each run one statement 50 times; dblat attaches in between.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

N=50
pg_start

go="$TEST_TMP/go"
# psql connects first, then runs the script: \! blocks (bounded, 60 s)
# until the go file exists.
mkscript() {
	local f=$1 sql=$2 i
	{
		# The shell \! starts is psql's child: record psql's pid.
		echo "\\! echo \$PPID > '$f.pid'; i=0; while [ ! -e '$go' ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done"
		for ((i = 0; i < N; i++)); do echo "$sql"; done
	} >"$f"
}
mkscript "$TEST_TMP/tcp.sql" 'SELECT 7;'
mkscript "$TEST_TMP/unix.sql" 'SELECT 8 AS via_unix;'

PGAPPNAME=dblat_existing_tcp bg_start 120 psql -X -At -h "$PGHOST_TCP" -p "$PGPORT" -U postgres -d postgres \
	-f "$TEST_TMP/tcp.sql" >"$TEST_TMP/tcp.out" 2>&1
tcp_pid=$BG_PID
PGAPPNAME=dblat_existing_unix bg_start 120 psql -X -At -h "$PGSOCKDIR" -p "$PGPORT" -U postgres -d postgres \
	-f "$TEST_TMP/unix.sql" >"$TEST_TMP/unix.out" 2>&1
unix_pid=$BG_PID

connected() {
	[ -s "$TEST_TMP/tcp.sql.pid" ] && [ -s "$TEST_TMP/unix.sql.pid" ] &&
		[ "$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('dblat_existing_tcp', 'dblat_existing_unix')")" = 2 ]
}
wait_for 20 connected || fail "harness: the psql sessions did not connect within 20 s"
tcp_psql=$(cat "$TEST_TMP/tcp.sql.pid")
unix_psql=$(cat "$TEST_TMP/unix.sql.pid")
tcp_be=$(pg_sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'dblat_existing_tcp'")
unix_be=$(pg_sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'dblat_existing_unix'")
echo "connected before attach: TCP psql $tcp_psql (backend $tcp_be), Unix psql $unix_psql (backend $unix_be)"
[ "$tcp_psql" = "$tcp_pid" ] && [ "$unix_psql" = "$unix_pid" ] ||
	echo "note: psql pids $tcp_psql/$unix_psql differ from the started pids $tcp_pid/$unix_pid"

out="$TEST_TMP/dblat.json"
# By pid: the psql processes (and the postmaster's existing backends).
dblat_start "$out" -p "$PG_PID" -p "$tcp_psql" -p "$unix_psql"
touch "$go"
bg_wait "$tcp_pid"
tcp_rc=$?
bg_wait "$unix_pid"
unix_rc=$?
dblat_stop

[ "$tcp_rc" -eq 0 ] && [ "$(grep -cx 7 "$TEST_TMP/tcp.out")" -eq "$N" ] ||
	{ cat "$TEST_TMP/tcp.out"; fail "harness: the TCP psql session failed (status $tcp_rc)"; }
[ "$unix_rc" -eq 0 ] && [ "$(grep -cx 8 "$TEST_TMP/unix.out")" -eq "$N" ] ||
	{ cat "$TEST_TMP/unix.out"; fail "harness: the Unix-socket psql session failed (status $unix_rc)"; }

check "client calls 'SELECT \$1' (TCP session)" "$(stmt_calls "$out" 'SELECT $1' client)" "$N"
check "client calls 'SELECT \$1 AS via_unix' (Unix session)" "$(stmt_calls "$out" 'SELECT $1 AS via_unix' client)" "$N"
# The backends are children of the postmaster that existed at attach.
check "server calls 'SELECT \$1'" "$(stmt_calls "$out" 'SELECT $1' server)" "$N"
check "server calls 'SELECT \$1 AS via_unix'" "$(stmt_calls "$out" 'SELECT $1 AS via_unix' server)" "$N"
has_pid() { stmt_pids "$out" "$1" "$2" | grep -qx "$3"; }
has_pid 'SELECT $1' client "$tcp_psql"
check_true "TCP session's client rows carry psql's pid $tcp_psql" $?
has_pid 'SELECT $1 AS via_unix' client "$unix_psql"
check_true "Unix session's client rows carry psql's pid $unix_psql" $?
has_pid 'SELECT $1' server "$tcp_be"
check_true "TCP session's server rows carry backend pid $tcp_be" $?
has_pid 'SELECT $1 AS via_unix' server "$unix_be"
check_true "Unix session's server rows carry backend pid $unix_be" $?
check "events dropped" "$(jget "$out" .events.dropped)" 0
[ "$_CHECK_FAILS" -eq 0 ] || dump_statements "$out"
finish
