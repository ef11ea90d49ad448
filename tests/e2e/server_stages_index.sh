#!/usr/bin/env bash
# --server-stages, before and after an index: a query on an unindexed column
# of a 100k-row table runs N times under one dblat session, CREATE INDEX
# follows, and the same query runs N times under a second session. The
# execute stage of that query must fall by more than 5x, the CREATE INDEX
# must be on the first session's timeline, and each phase's execute time
# must agree with pg_stat_statements' mean_exec_time (the server's own
# executor timing) within a generous factor: every stage costs two traps.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

N=20
RE='^SELECT count\(\*\), max\(pad\) FROM ix WHERE val = '

# One process of our own name: -c selects this test's psql and no other.
PSQL_COMM="psql-ix-$$"
PSQL_COMM=${PSQL_COMM:0:15}
mkdir -p "$TEST_TMP/bin"
ln -s "$PG_BIN/psql" "$TEST_TMP/bin/$PSQL_COMM"

# No parallel workers: the backend's own execute is the whole scan.
pg_start --conf "max_parallel_workers_per_gather = 0"
pg_sql "CREATE TABLE ix (id int, val int, pad text);
	INSERT INTO ix SELECT g, g, repeat('x', 40) FROM generate_series(1, 100000) g;" >/dev/null ||
	fail "cannot create the table"
pg_sql "VACUUM ANALYZE ix" >/dev/null || fail "cannot vacuum the table"

queries="$TEST_TMP/queries.sql"
for ((i = 1; i <= N; i++)); do
	echo "SELECT count(*), max(pad) FROM ix WHERE val = $((i * 4001));"
done >"$queries"

# phase NAME [SQL to run after the queries]: one dblat session; prints
# pg_stat_statements' mean execution time (ms) of the query.
phase() {
	local name=$1 after=${2:-}
	pg_sql "SELECT pg_stat_statements_reset()" >/dev/null
	dblat_start "$TEST_TMP/$name.json" -p "$PG_PID" -c "$PSQL_COMM" --server-stages
	timeout 120 "$TEST_TMP/bin/$PSQL_COMM" -X -q -At -v ON_ERROR_STOP=1 -h "$PGSOCKDIR" -p "$PGPORT" \
		-U postgres -d postgres -f "$queries" >"$TEST_TMP/$name.out" 2>&1 ||
		{ cat "$TEST_TMP/$name.out"; fail "$name: the queries failed"; }
	if [ -n "$after" ]; then
		timeout 120 "$TEST_TMP/bin/$PSQL_COMM" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCKDIR" -p "$PGPORT" \
			-U postgres -d postgres -c "$after" >>"$TEST_TMP/$name.out" 2>&1 ||
			{ cat "$TEST_TMP/$name.out"; fail "$name: $after failed"; }
	fi
	dblat_stop
	pg_sql "SELECT calls, mean_exec_time FROM pg_stat_statements WHERE query LIKE 'SELECT count(*), max(pad) FROM ix%'" \
		>"$TEST_TMP/$name.pgss"
}

phase before "CREATE INDEX ix_val ON ix (val)"
phase after

declare -A EXEC PGSS
for name in before after; do
	json="$TEST_TMP/$name.json"
	calls=$(stmt_sum_re "$json" "$RE" server calls)
	exec_total=$(stmt_sum_re "$json" "$RE" server 'stages_us.execute.total')
	IFS='|' read -r pgss_calls pgss_ms <"$TEST_TMP/$name.pgss"
	mean=$(awk -v t="$exec_total" -v n="$calls" 'BEGIN { printf "%.1f", n ? t / n : 0 }')
	pgss_us=$(awk -v m="${pgss_ms:-0}" 'BEGIN { printf "%.1f", m * 1000 }')
	echo "$name: $calls calls, execute mean $mean us by dblat, $pgss_us us by pg_stat_statements ($pgss_calls calls)"
	check "$name: server calls" "$calls" "$N"
	check "$name: pg_stat_statements calls" "${pgss_calls:-none}" "$N"
	EXEC[$name]=$mean
	PGSS[$name]=$pgss_us
done
exec_before=${EXEC[before]} exec_after=${EXEC[after]}
pgss_before=${PGSS[before]} pgss_after=${PGSS[after]}

check_true "execute time falls by more than 5x with the index" \
	"$(awk -v b="$exec_before" -v a="$exec_after" 'BEGIN { exit !(a > 0 && b > 5 * a) }'; echo $?)" \
	"($exec_before -> $exec_after us)"
# A seq scan of 100k rows is long next to the traps: within 0.67x..1.5x.
check_true "before: execute agrees with pg_stat_statements" \
	"$(awk -v d="$exec_before" -v p="$pgss_before" 'BEGIN { exit !(p > 0 && d >= p / 1.5 && d <= p * 1.5) }'; echo $?)" \
	"($exec_before vs $pgss_before us)"
# An index lookup takes tens of microseconds, the order of a trap: a factor 2, plus 50 us.
check_true "after: execute agrees with pg_stat_statements" \
	"$(awk -v d="$exec_after" -v p="$pgss_after" 'BEGIN { exit !(p > 0 && d >= p / 2 && d <= p * 2 + 50) }'; echo $?)" \
	"($exec_after vs $pgss_after us)"

idx=$(jq -c '[.timeline[] | select(.detail | test("^CREATE INDEX"; "i"))]' "$TEST_TMP/before.json")
echo "CREATE INDEX on the timeline: $idx"
check_true "CREATE INDEX on the timeline with start and end" \
	"$(jq -e 'length == 1 and (.[0].end_s != null) and (.[0].end_s >= .[0].start_s)' <<<"$idx" >/dev/null; echo $?)"
check "CREATE INDEX not on the second session's timeline" \
	"$(jq '[.timeline[] | select(.detail | test("^CREATE INDEX"; "i"))] | length' "$TEST_TMP/after.json")" 0

[ "$_CHECK_FAILS" -eq 0 ] || { dump_statements "$TEST_TMP/before.json"; dump_statements "$TEST_TMP/after.json"; }
finish
