#!/usr/bin/env bash
# pgbench -S over TCP and the Unix socket, in each of -M simple, extended and
# prepared: dblat must count every execution of the select on both the
# client side (pgbench, selected with -c) and the server side (backends,
# selected with -p <postmaster>), drop no events, and its client-side mean
# latency must agree with pgbench's own measurement.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

Q='SELECT abalance FROM pgbench_accounts WHERE aid = $1'
CLIENTS=4
XACTS=2000
WANT=$((CLIENTS * XACTS))
TOL_PCT=15

pg_start
pgb_init

# pgbench runs under a name of its own (a symlink: comm is the name it was
# executed by), so that -c selects this test's pgbench and no other that
# may be running on the machine.
own_comm PGB_COMM "$PG_BIN/pgbench" pgb-e2e
echo "pgbench runs as comm $PGB_COMM"

table=()
for transport in tcp unix; do
	case $transport in
	tcp) host=$PGHOST_TCP ;;
	unix) host=$PGSOCKDIR ;;
	esac
	for mode in simple extended prepared; do
		run="$transport/$mode"
		echo "== $run"
		out="$TEST_TMP/$transport-$mode.json"
		pgbout="$TEST_TMP/pgbench-$transport-$mode.out"
		dblat_start "$out" -p "$PG_PID" -c "$PGB_COMM"
		# -P makes pgbench measure each transaction's latency (without it,
		# "latency average" is run time * clients / transactions, which also
		# counts connection set-up). 5 s: no progress lines in a short run.
		bg_start 120 "$TEST_TMP/bin/$PGB_COMM" -n -S -t "$XACTS" -c "$CLIENTS" -j 2 -P 5 -M "$mode" \
			-h "$host" -p "$PGPORT" -U postgres postgres >"$pgbout" 2>&1
		pgb_pid=$BG_PID
		bg_wait "$pgb_pid"
		pgb_rc=$?
		dblat_stop
		sed 's/^/    /' "$pgbout"
		[ "$pgb_rc" -eq 0 ] || fail "$run: pgbench exited with status $pgb_rc"

		processed=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$pgbout")
		pgb_lat=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$pgbout")
		[ -n "$processed" ] && [ -n "$pgb_lat" ] || fail "$run: cannot read pgbench's output"
		check "$run pgbench transactions processed" "$processed" "$WANT"

		ccalls=$(stmt_calls "$out" "$Q" client)
		scalls=$(stmt_calls "$out" "$Q" server)
		dropped=$(jget "$out" '.events.dropped')
		mean_us=$(stmt_mean_us "$out" "$Q" client)
		check "$run client calls" "$ccalls" "$processed"
		check "$run server calls" "$scalls" "$processed"
		check "$run events dropped" "$dropped" 0

		comms=$(jq -r --arg q "$Q" '[.statements[] | select(.query == $q and .side == "client") | .comm] | unique | join(",")' "$out")
		check "$run client comm" "$comms" "$PGB_COMM"
		scomms=$(jq -r --arg q "$Q" '[.statements[] | select(.query == $q and .side == "server") | .comm] | unique | join(",")' "$out")
		check "$run server comm" "$scomms" postgres
		stmt_pids "$out" "$Q" client | grep -qx "$pgb_pid"
		check_true "$run client pids include pgbench's pid $pgb_pid" $?

		if [ "$mean_us" = none ] || [ "$mean_us" = ERROR ]; then
			diff_pct=n/a
			check "$run client mean latency present" "$mean_us" "a number"
		else
			diff_pct=$(awk -v m="$mean_us" -v p="$pgb_lat" 'BEGIN { printf "%+.1f", (m / 1000 - p) / p * 100 }')
			awk -v d="$diff_pct" -v t="$TOL_PCT" 'BEGIN { exit !(d <= t && d >= -t) }'
			check_true "$run client mean latency within ${TOL_PCT}% of pgbench's" $? \
				"(dblat $(awk -v m="$mean_us" 'BEGIN { printf "%.3f", m / 1000 }') ms, pgbench $pgb_lat ms, ${diff_pct}%)"
		fi
		if [ "$ccalls" != "$processed" ] || [ "$scalls" != "$processed" ]; then
			dump_statements "$out"
		fi
		table+=("$(printf '%-15s %8s %8s %8s %8s %12s %12s %8s' "$run" "$processed" "$ccalls" "$scalls" "$dropped" \
			"$pgb_lat" "$([ "$mean_us" = none ] || [ "$mean_us" = ERROR ] && echo "$mean_us" || awk -v m="$mean_us" 'BEGIN { printf "%.3f", m / 1000 }')" "$diff_pct")")
	done
done

echo
printf '%-15s %8s %8s %8s %8s %12s %12s %8s\n' run xacts client server dropped pgbench_ms dblat_ms diff%
for r in "${table[@]}"; do echo "$r"; done
finish
