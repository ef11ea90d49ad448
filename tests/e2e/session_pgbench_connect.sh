#!/usr/bin/env bash
# Session lifecycle under pgbench -C (a new connection for every
# transaction), over TCP and over the Unix socket.
#
# Ground truth: the postgres log with log_connections = on. Each connection
# pgbench makes shows one "connection authorized: ... application_name=<its
# name>" line (pgbench also opens one connection of its own at start, before
# the clients: the log counts it like any other). pgbench runs under a
# unique name (a symlink), which is both its comm (dblat -c) and, through
# PGAPPNAME, its application_name in the log.
#
# dblat must report, for pgbench (client side) and the postmaster (server
# side): sessions opened == the log's count, closed == opened (and, on the
# server, == the log's "disconnection" lines), every set-up
# phase counted once per session, and the phase means adding up to the
# ready mean (the phases are contiguous, so this holds to rounding).
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

XACTS=500
CLIENTS=2

pg_start --conf "log_connections = on" --conf "log_disconnections = on"
pgb_init

own_comm PGB_COMM "$PG_BIN/pgbench" pgbc-e2e
echo "pgbench runs as comm and application_name $PGB_COMM"

# phase_sum_check FILE JQ-SELECTOR LABEL: sum of the five phase means vs ready's.
phase_sum_check() {
	local f=$1 sel=$2 label=$3 sum ready
	sum=$(jq -r "[$sel | .sessions.phases | (.connect, .tls, .startup, .auth, .init) | .us.mean] | add" "$f")
	ready=$(jq -r "$sel | .sessions.phases.ready.us.mean" "$f")
	awk -v s="$sum" -v r="$ready" 'BEGIN { exit !(r > 0 && (s - r) / r <= 0.01 && (r - s) / r <= 0.01) }'
	check_true "$label sum of phase means ($sum us) == ready mean ($ready us) within 1%" $?
}

table=()
for transport in tcp unix; do
	case $transport in
	tcp) host=$PGHOST_TCP ;;
	unix) host=$PGSOCKDIR ;;
	esac
	echo "== $transport"
	out="$TEST_TMP/$transport.json"
	pgbout="$TEST_TMP/pgbench-$transport.out"
	dblat_start "$out" -p "$PG_PID" -c "$PGB_COMM"
	log_from=$(($(stat -c %s "$PG_LOG") + 1))
	bg_start 180 env PGAPPNAME="$PGB_COMM" "$TEST_TMP/bin/$PGB_COMM" -n -S -C -t "$XACTS" -c "$CLIENTS" \
		-h "$host" -p "$PGPORT" -U postgres postgres >"$pgbout" 2>&1
	pgb_pid=$BG_PID
	bg_wait "$pgb_pid"
	pgb_rc=$?
	# The last backends log their disconnection a moment after pgbench exits.
	sleep 0.5
	dblat_stop
	sed 's/^/    /' "$pgbout"
	[ "$pgb_rc" -eq 0 ] || fail "$transport: pgbench exited with status $pgb_rc"
	processed=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$pgbout")
	[ "$processed" = $((XACTS * CLIENTS)) ] || fail "$transport: pgbench processed '$processed' transactions"

	# Ground truth: the log lines of this run.
	tail -c +"$log_from" "$PG_LOG" >"$TEST_TMP/pg-$transport.log"
	authorized=$(grep -c "connection authorized: .*application_name=$PGB_COMM\b" "$TEST_TMP/pg-$transport.log")
	disconn=$(grep -c "disconnection: .*user=postgres" "$TEST_TMP/pg-$transport.log")
	echo "postgres log: $authorized connections authorized for $PGB_COMM, $disconn disconnections"
	[ "$authorized" -gt $((XACTS * CLIENTS)) ] || fail "$transport: only $authorized connections in the postgres log"

	pid_sel=".processes[] | select(.pid == $pgb_pid and .side == \"client\")"
	srv_sel=".processes[] | select(.pid == $PG_PID and .side == \"server\")"
	n=$(jq "[$pid_sel] | length" "$out")
	check "$transport client entry for pgbench pid $pgb_pid" "$n" 1
	n=$(jq "[$srv_sel] | length" "$out")
	check "$transport server entry for the postmaster $PG_PID" "$n" 1

	c_open=$(jq -r "$pid_sel | .sessions.opened" "$out")
	c_closed=$(jq -r "$pid_sel | .sessions.closed" "$out")
	s_open=$(jq -r "$srv_sel | .sessions.opened" "$out")
	s_closed=$(jq -r "$srv_sel | .sessions.closed" "$out")
	check "$transport client sessions opened" "$c_open" "$authorized"
	check "$transport client sessions closed" "$c_closed" "$c_open"
	check "$transport server sessions opened" "$s_open" "$authorized"
	check "$transport server sessions closed" "$s_closed" "$s_open"
	check "$transport server sessions closed == the log's disconnections" "$s_closed" "$disconn"
	c_fail=$(jq -r "[$pid_sel | .sessions.failed[]] | add" "$out")
	check "$transport client sessions failed" "$c_fail" 0
	c_trust=$(jq -r "$pid_sel | .sessions.auth.trust" "$out")
	check "$transport client auth trust" "$c_trust" "$authorized"

	for ph in connect startup auth init ready; do
		check "$transport client phase $ph count" "$(jq -r "$pid_sel | .sessions.phases.$ph.count" "$out")" "$c_open"
		check "$transport server phase $ph count" "$(jq -r "$srv_sel | .sessions.phases.$ph.count" "$out")" "$s_open"
	done
	# No SSLRequest over the socket; over TCP libpq's default sslmode=prefer
	# asks first (and is told no): the tls phase is then counted too.
	tls_c=$(jq -r "$pid_sel | .sessions.phases.tls.count" "$out")
	tls_s=$(jq -r "$srv_sel | .sessions.phases.tls.count" "$out")
	if [ "$transport" = unix ]; then
		check "$transport client phase tls count (no SSLRequest on a socket)" "$tls_c" 0
		check "$transport server phase tls count" "$tls_s" 0
	else
		check "$transport client phase tls count" "$tls_c" "$c_open"
		check "$transport server phase tls count" "$tls_s" "$s_open"
	fi
	phase_sum_check "$out" "$pid_sel" "$transport client"
	phase_sum_check "$out" "$srv_sel" "$transport server"

	# Sanity of the magnitudes: a loopback session is ready in well under a second.
	ready_mean=$(jq -r "$pid_sel | .sessions.phases.ready.us.mean" "$out")
	awk -v r="$ready_mean" 'BEGIN { exit !(r > 50 && r < 1000000) }'
	check_true "$transport client ready mean is plausible" $? "($ready_mean us)"
	[ "$_CHECK_FAILS" -eq 0 ] || jq -c "$pid_sel, $srv_sel" "$out"
	table+=("$(printf '%-5s %6s %6s %6s %6s %6s %s' "$transport" "$authorized" "$c_open" "$c_closed" \
		"$s_open" "$s_closed" \
		"$(jq -r "$pid_sel | .sessions.phases | [.connect, .tls, .startup, .auth, .init, .ready] | map(.us.mean | tostring) | join(\" \")" "$out")")")
done

echo
printf '%-5s %6s %6s %6s %6s %6s %s\n' run log c_open c_clos s_open s_clos "client phase means (us): connect tls startup auth init ready"
for r in "${table[@]}"; do echo "$r"; done
finish
