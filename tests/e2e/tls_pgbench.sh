#!/usr/bin/env bash
# pgbench -S over TLS (PGSSLMODE=require) on an ssl=on cluster.
#
# With the TLS probes (the default), in -M simple and -M prepared: exactly
# clients x transactions calls of the select, with its SQL text, client side
# (pgbench, selected with -c) and server side (backends, -p <postmaster>),
# every one of them marked encrypted.
#
# With --no-tls-probes, on the same -M simple run: no statement text, one
# timed round trip per statement: the transactions plus pgbench's own set-up
# queries (counted in the run with plaintext), with a client-side mean
# latency within 15% of the one pgbench measures itself (-P).
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init
command -v openssl >/dev/null || skip "openssl missing (the cluster needs a certificate)"

Q='SELECT abalance FROM pgbench_accounts WHERE aid = $1'
ENC='<encrypted: statement text unavailable>'
CLIENTS=4
XACTS=2000
WANT=$((CLIENTS * XACTS))
TOL_PCT=15

pg_start --ssl
pgb_init

# A comm of this test's own: -c selects this pgbench and no other on the machine.
own_comm PGB_COMM "$PG_BIN/pgbench" pgb-tls

# run_pgbench NAME MODE [dblat args...]: one traced run; sets OUT, PGB_OUT, PGB_PID.
run_pgbench() {
	local name=$1 mode=$2 rc
	shift 2
	OUT="$TEST_TMP/$name.json"
	PGB_OUT="$TEST_TMP/pgbench-$name.out"
	echo "== $name"
	dblat_start "$OUT" -p "$PG_PID" -c "$PGB_COMM" "$@"
	bg_start 180 env PGSSLMODE=require "$TEST_TMP/bin/$PGB_COMM" -n -S -t "$XACTS" -c "$CLIENTS" -j 2 -P 5 \
		-M "$mode" -h "$PGHOST_TCP" -p "$PGPORT" -U postgres postgres >"$PGB_OUT" 2>&1
	PGB_PID=$BG_PID
	bg_wait "$PGB_PID"
	rc=$?
	dblat_stop
	sed 's/^/    /' "$PGB_OUT"
	[ "$rc" -eq 0 ] || fail "$name: pgbench exited with status $rc"
	check "$name pgbench transactions processed" \
		"$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$PGB_OUT")" "$WANT"
	check "$name events dropped" "$(jget "$OUT" .events.dropped)" 0
	grep -q '^dblat: [0-9]* connections were encrypted (TLS)' "$DBLAT_OUT"
	check_true "$name text report says the connections were encrypted" $?
}

setup_calls=
for mode in simple prepared; do
	run_pgbench "plain-$mode" "$mode" --tls-probes
	grep -q '^dblat: TLS plaintext from .*libssl' "$DBLAT_LOG"
	check_true "plain-$mode: TLS probes attached" $?
	for side in client server; do
		check "plain-$mode $side calls" "$(stmt_calls "$OUT" "$Q" "$side")" "$WANT"
		check "plain-$mode $side calls marked encrypted" \
			"$(stmt_sum "$OUT" "$Q" "$side" encrypted.true)" "$WANT"
	done
	check "plain-$mode rows without text" \
		"$(jq --arg e "$ENC" '[.statements[] | select(.query == $e)] | length' "$OUT")" 0
	check "plain-$mode unmatched responses" "$(jget "$OUT" .events.unmatched)" 0
	# pgbench's set-up connection, its 4 workers, and their backends
	check "plain-$mode encrypted connections" "$(jget "$OUT" .connections.encrypted.true)" 10
	check "plain-$mode encrypted connections with text" "$(jget "$OUT" .connections.encrypted.with_text)" 10
	check "plain-$mode connections not encrypted" "$(jget "$OUT" .connections.encrypted.false)" 0
	stmt_pids "$OUT" "$Q" client | grep -qx "$PGB_PID"
	check_true "plain-$mode client pids include pgbench's pid $PGB_PID" $?
	if [ "$mode" = simple ]; then
		# What pgbench runs besides the transactions (its table checks): round trips too.
		setup_calls=$(jq --arg q "$Q" --arg c "$PGB_COMM" \
			'[.statements[] | select(.side == "client" and .comm == $c and .query != $q) | .calls] | add // 0' "$OUT")
		echo "pgbench's own set-up statements: $setup_calls"
	fi
	[ "$_CHECK_FAILS" -eq 0 ] || dump_statements "$OUT"
done

run_pgbench timing simple --no-tls-probes
! grep -q '^dblat: TLS plaintext from' "$DBLAT_LOG"
check_true "timing: no TLS probes" $?
rts=$((WANT + setup_calls))
for side in client server; do
	check "timing $side round trips" "$(stmt_calls "$OUT" "$ENC" "$side")" "$rts"
	check "timing $side round trips marked encrypted" "$(stmt_sum "$OUT" "$ENC" "$side" encrypted.true)" "$rts"
	check "timing $side statements with text" \
		"$(jq --arg s "$side" --arg e "$ENC" '[.statements[] | select(.side == $s and .query != $e) | .calls] | add // 0' "$OUT")" 0
done
check "timing encrypted connections timed only" "$(jget "$OUT" .connections.encrypted.timing_only)" 10
check "timing sessions opened by pgbench" \
	"$(jq --arg c "$PGB_COMM" '[.processes[] | select(.comm == $c) | .sessions.opened] | add // 0' "$OUT")" 5
check "timing sessions failed" \
	"$(jq '[.processes[] | .sessions.failed[]] | add // 0' "$OUT")" 0
grep -qF "$ENC" "$DBLAT_OUT"
check_true "timing: text report names the encrypted round trips" $?
pgb_lat=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$PGB_OUT")
mean_us=$(stmt_mean_us "$OUT" "$ENC" client)
if [ -z "$pgb_lat" ] || [ "$mean_us" = none ] || [ "$mean_us" = ERROR ]; then
	check "timing client mean latency present" "${mean_us:-none}/${pgb_lat:-none}" "numbers"
else
	diff_pct=$(awk -v m="$mean_us" -v p="$pgb_lat" 'BEGIN { printf "%+.1f", (m / 1000 - p) / p * 100 }')
	awk -v d="$diff_pct" -v t="$TOL_PCT" 'BEGIN { exit !(d <= t && d >= -t) }'
	check_true "timing client mean latency within ${TOL_PCT}% of pgbench's" $? \
		"(dblat $(awk -v m="$mean_us" 'BEGIN { printf "%.3f", m / 1000 }') ms, pgbench $pgb_lat ms, ${diff_pct}%)"
fi
[ "$_CHECK_FAILS" -eq 0 ] || dump_statements "$OUT"
finish
