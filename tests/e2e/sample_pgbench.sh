#!/usr/bin/env bash
# --sample 20 on pgbench at its maximum rate, both ends traced: -S with
# prepared statements over the Unix socket, and the TPC-B-like mix (BEGIN ..
# END) with the simple protocol over TCP. dblat traces a fifth of each
# second; its calls over the time it traced must give pgbench's own rate,
# its latencies must agree with pgbench's, and no call or transaction may be
# cut by a window (one that spanned a gap between windows would last most of
# a second).
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

PCT=20
TRACE_S=8
RATE_TOL_PCT=20
LAT_TOL_PCT=20
MAX_OK_MS=300

pg_start
pgb_init

own_comm PGB_COMM "$PG_BIN/pgbench" pgb-smp

within() { # within A B PCT: |A/B - 1| <= PCT%
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { exit !(b > 0 && a / b - 1 <= t / 100 && 1 - a / b <= t / 100) }'
}

table=()
for run in unix-select tcp-tpcb; do
	echo "== $run"
	case $run in
	unix-select)
		host=$PGSOCKDIR
		args=(-S -M prepared)
		Q='SELECT abalance FROM pgbench_accounts WHERE aid = $1'
		;;
	tcp-tpcb)
		host=$PGHOST_TCP
		args=(-M simple)
		Q='UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2'
		;;
	esac
	out="$TEST_TMP/$run.json"
	pgbout="$TEST_TMP/pgbench-$run.out"
	# pgbench runs before, through and after dblat's 8 s, at one steady rate.
	bg_start 60 "$TEST_TMP/bin/$PGB_COMM" -n "${args[@]}" -c 4 -j 2 -T $((TRACE_S + 6)) -P 5 \
		-h "$host" -p "$PGPORT" -U postgres postgres >"$pgbout" 2>&1
	pgb_pid=$BG_PID
	sleep 2.5
	dblat_start "$out" -p "$PG_PID" -c "$PGB_COMM" --sample "$PCT" -d "$TRACE_S"
	dblat_wait 60
	bg_wait "$pgb_pid"
	pgb_rc=$?
	sed 's/^/    /' "$pgbout"
	[ "$pgb_rc" -eq 0 ] || fail "$run: pgbench exited with status $pgb_rc"
	grep '^dblat: sampled' "$DBLAT_OUT"

	tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$pgbout")
	pgb_lat=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$pgbout")
	[ -n "$tps" ] && [ -n "$pgb_lat" ] || fail "$run: cannot read pgbench's output"

	check "$run sampling percent" "$(jget "$out" '.sampling.percent')" "$PCT"
	traced=$(jget "$out" '.sampling.traced_s')
	duration=$(jget "$out" '.duration_s')
	share=$(awk -v t="$traced" -v d="$duration" 'BEGIN { printf "%.3f", t / d }')
	awk -v s="$share" -v p="$PCT" 'BEGIN { exit !(s >= (p - 3) / 100 && s <= (p + 3) / 100) }'
	check_true "$run traced share $share of $duration s is ${PCT}% +- 3" $?
	check "$run events dropped" "$(jget "$out" '.events.dropped')" 0
	# Joined mid-call, each of the 8 connections may see one answer's 2 messages without their request.
	unmatched=$(jget "$out" '.events.unmatched')
	[ "$unmatched" -le 16 ]
	check_true "$run responses unmatched: $unmatched, at most those of joining 8 connections mid-call (16)" $?

	ccalls=$(stmt_calls "$out" "$Q" client)
	scalls=$(stmt_calls "$out" "$Q" server)
	crate=$(awk -v n="$ccalls" -v t="$traced" 'BEGIN { printf "%.0f", n / t }')
	srate=$(awk -v n="$scalls" -v t="$traced" 'BEGIN { printf "%.0f", n / t }')
	within "$crate" "$tps" "$RATE_TOL_PCT"
	check_true "$run client calls per second traced ($ccalls / $traced s = $crate) within ${RATE_TOL_PCT}% of pgbench's tps $tps" $?
	within "$scalls" "$ccalls" 5
	check_true "$run server calls ($scalls) within 5% of the client's ($ccalls)" $?

	# The whole transaction's latency (-S: one statement) against pgbench's.
	if [ "$run" = unix-select ]; then
		mean_ms=$(awk -v m="$(stmt_mean_us "$out" "$Q" client)" 'BEGIN { printf "%.4f", m / 1000 }')
	else
		mean_ms=$(jq -r --arg c "$PGB_COMM" \
			'[.processes[] | select(.side == "client" and .comm == $c) | .transactions.duration.us.mean] | add / 1000' "$out")
		txns=$(jq -r --arg c "$PGB_COMM" '[.processes[] | select(.side == "client" and .comm == $c) | .transactions.count] | add' "$out")
		within "$(awk -v n="$txns" -v t="$traced" 'BEGIN { print n / t }')" "$tps" "$RATE_TOL_PCT"
		check_true "$run transactions per second traced ($txns / $traced s) within ${RATE_TOL_PCT}% of pgbench's tps $tps" $?
		txn_max=$(jq -r --arg c "$PGB_COMM" '[.processes[] | select(.side == "client" and .comm == $c) | .transactions.duration.us.max] | max / 1000' "$out")
		awk -v m="$txn_max" -v l="$MAX_OK_MS" 'BEGIN { exit !(m < l) }'
		check_true "$run longest transaction ${txn_max} ms is under $MAX_OK_MS ms (none spans a gap)" $?
	fi
	# dblat sees the load while it traces it, pgbench over the whole run, four fifths of
	# it untraced: at -S's maximum rate, calls in a window run about a tenth slower.
	within "$mean_ms" "$pgb_lat" "$LAT_TOL_PCT"
	check_true "$run mean latency $mean_ms ms within ${LAT_TOL_PCT}% of pgbench's $pgb_lat ms" $?
	max_ms=$(jq -r '[.statements[] | select(.side == "client") | .latency_us.max] | max / 1000' "$out")
	awk -v m="$max_ms" -v l="$MAX_OK_MS" 'BEGIN { exit !(m < l) }'
	check_true "$run longest client call ${max_ms} ms is under $MAX_OK_MS ms (none spans a gap)" $?
	table+=("$(printf '%-12s %9s %9s %8s %8s %9s %9s %8s' "$run" "$tps" "$crate" "$ccalls" "$share" "$pgb_lat" "$mean_ms" "$max_ms")")
done

echo
printf '%-12s %9s %9s %8s %8s %9s %9s %8s\n' run pgb_tps dblat/s calls share pgb_ms dblat_ms max_ms
for r in "${table[@]}"; do echo "$r"; done
finish
