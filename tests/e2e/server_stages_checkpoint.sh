#!/usr/bin/env bash
# --server-stages under a pgbench -S -M prepared load: a CHECKPOINT and a
# VACUUM issued from psql must be on the timeline with start and end, and so
# must the checkpoint the checkpointer process ran for it (its USDT probes),
# inside the span of the CHECKPOINT statement. For pgbench's select, the
# server-side stages (parse + plan + execute) must fit in the server time
# the two ends of the connection measure, summed over all its calls.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

Q='SELECT abalance FROM pgbench_accounts WHERE aid = $1'

# Clients under names of their own: -c selects this test's and no others.
own_comm PGB_COMM "$PG_BIN/pgbench" pgb-ckpt
own_comm PSQL_COMM "$PG_BIN/psql" psql-ckpt

pg_start
pgb_init

out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$PG_PID" -c "$PGB_COMM" -c "$PSQL_COMM" --server-stages
grep -q '^dblat: server stages from' "$DBLAT_LOG" || fail "dblat did not attach its USDT probes"

bg_start 60 "$TEST_TMP/bin/$PGB_COMM" -n -S -M prepared -c 2 -j 2 -T 8 \
	-h "$PGSOCKDIR" -p "$PGPORT" -U postgres postgres >"$TEST_TMP/pgbench.out" 2>&1
pgb_pid=$BG_PID
sleep 2
# Dirty some pages first, so that the checkpoint has something to write.
timeout 120 "$TEST_TMP/bin/$PSQL_COMM" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCKDIR" -p "$PGPORT" -U postgres -d postgres \
	-c "UPDATE pgbench_branches SET bbalance = bbalance + 1" \
	-c "CHECKPOINT" -c "VACUUM pgbench_accounts" >"$TEST_TMP/psql.out" 2>&1 ||
	{ cat "$TEST_TMP/psql.out"; fail "psql failed"; }
bg_wait "$pgb_pid"
pgb_rc=$?
dblat_stop
sed 's/^/    /' "$TEST_TMP/pgbench.out"
[ "$pgb_rc" -eq 0 ] || fail "pgbench exited with status $pgb_rc"

jq -c '.timeline[]' "$out"
# start_s/end_s are rounded to the millisecond.
has_span() {
	jq -e --arg w "$1" --arg d "$2" \
		'[.timeline[] | select(.what == $w and (.detail | test($d; "i")) and .end_s != null and .end_s >= .start_s)] | length == 1' \
		"$out" >/dev/null
}
check_true "CHECKPOINT statement on the timeline with start and end" "$(has_span CHECKPOINT '^checkpoint$'; echo $?)"
check_true "VACUUM statement on the timeline with start and end" "$(has_span VACUUM '^vacuum pgbench_accounts$'; echo $?)"
check_true "the checkpointer's checkpoint on the timeline with start and end" "$(has_span CHECKPOINT '^checkpointer$'; echo $?)"
inside=$(jq -r '([.timeline[] | select(.what == "CHECKPOINT" and .detail == "checkpointer")][0]) as $k
	| ([.timeline[] | select(.what == "CHECKPOINT" and .detail != "checkpointer")][0]) as $s
	| if $k == null or $s == null then "missing"
	  elif $k.start_s >= $s.start_s - 0.002 and $k.end_s <= $s.end_s + 0.002 then "inside"
	  else "outside" end' "$out")
check "the checkpointer's checkpoint within the CHECKPOINT statement" "$inside" inside
check "server_io.checkpoints" "$(jget "$out" '.server_io.checkpoints // 0')" 1

# pgbench -S -M prepared: stages measured in the backend fit in its server span.
calls=$(stmt_calls "$out" "$Q" client)
read -r srv inner exec_n < <(jq -r --arg q "$Q" '
	[.statements[] | select(.query == $q and .side == "client")]
	| [([.[] | .stages_us.server.total // 0] | add // 0),
	   ([.[] | (.stages_us.parse.total // 0) + (.stages_us.plan.total // 0) + (.stages_us.execute.total // 0)] | add // 0),
	   ([.[] | .stages_us.execute // {} | if (.mean // 0) > 0 then .total / .mean else 0 end] | add // 0 | round)]
	| @tsv' "$out")
echo "pgbench select: $calls client calls, $exec_n with an execute stage; parse+plan+execute $inner us, server $srv us"
check_true "pgbench select: execute stage on most calls" \
	"$(awk -v e="$exec_n" -v c="$calls" 'BEGIN { exit !(c > 100 && e >= 0.9 * c) }'; echo $?)" "($exec_n of $calls)"
check_true "pgbench select: parse + plan + execute <= server" \
	"$(awk -v i="$inner" -v s="$srv" 'BEGIN { exit !(i > 0 && i <= s) }'; echo $?)" "($inner <= $srv us)"
check "events dropped" "$(jget "$out" '.events.dropped')" 0

[ "$_CHECK_FAILS" -eq 0 ] || dump_statements "$out"
finish
