#!/usr/bin/env bash
# Statements that fail with division_by_zero (SQLSTATE 22012) must be
# reported with errors and sqlstates on both sides, whichever protocol path
# carried them:
#   psql (simple Query);
#   pgbench -M extended (Parse/Bind/Describe/Execute/Sync, unnamed);
#   asyncpg, where 1/0 fails at Bind (planning folds the constant) and
#   1/(random()*0)::int fails at Execute.
# Each statement carries a distinct alias so its rows can be told apart.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

N_PSQL=3
N_APG=3

pg_start
comm=$("$PY" -c 'print(open("/proc/self/comm").read().strip())')

out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$PG_PID" -c psql -c pgbench -c "$comm"

# 1. psql, simple protocol over TCP.
psql_errs=0
for ((i = 1; i <= N_PSQL; i++)); do
	timeout 30 psql -X -h "$PGHOST_TCP" -p "$PGPORT" -U postgres -d postgres \
		-c "SELECT 1/0 AS psql_div" >"$TEST_TMP/psql.out" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q 'division by zero' "$TEST_TMP/psql.out"; then
		psql_errs=$((psql_errs + 1))
	else
		cat "$TEST_TMP/psql.out"
	fi
done

# 2. pgbench -M extended: the client aborts on the error (status 2).
echo 'SELECT 1/0 AS pgb_div;' >"$TEST_TMP/div.sql"
timeout 60 pgbench -n -c 1 -t 1 -M extended -f "$TEST_TMP/div.sql" \
	-h "$PGHOST_TCP" -p "$PGPORT" -U postgres postgres >"$TEST_TMP/pgbench.out" 2>&1
pgb_rc=$?
pgb_errs=0
grep -q 'division by zero' "$TEST_TMP/pgbench.out" && pgb_errs=1

# 3. asyncpg: an error at Bind and one at Execute, N_APG times each.
timeout 60 "$PY" - "$PGHOST_TCP" "$PGPORT" "$N_APG" >"$TEST_TMP/apg.out" 2>&1 <<'PYEOF'
import asyncio, sys
import asyncpg

async def main(host, port, n):
    conn = await asyncpg.connect(host=host, port=port, user="postgres",
                                 database="postgres", ssl=False, timeout=10)
    bind_errs = exec_errs = 0
    for _ in range(n):
        try:
            await conn.fetchval("SELECT 1/0 AS apg_bind_div")
        except asyncpg.DivisionByZeroError:
            bind_errs += 1
        try:
            await conn.fetchval("SELECT 1/(random() * 0)::int AS apg_exec_div")
        except asyncpg.DivisionByZeroError:
            exec_errs += 1
    await conn.close(timeout=10)
    print(bind_errs, exec_errs)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
PYEOF
apg_rc=$?
dblat_stop

echo "psql errors seen by psql: $psql_errs/$N_PSQL"
echo "pgbench exit status $pgb_rc, division by zero reported: $pgb_errs"
sed 's/^/    /' "$TEST_TMP/pgbench.out"
[ "$apg_rc" -eq 0 ] || { cat "$TEST_TMP/apg.out" >&2; fail "asyncpg client failed (status $apg_rc)"; }
read -r apg_bind apg_exec <"$TEST_TMP/apg.out"
echo "asyncpg errors: bind $apg_bind, execute $apg_exec"

# Ground truth from the clients themselves.
[ "$psql_errs" -eq "$N_PSQL" ] || fail "harness: psql reported $psql_errs division-by-zero errors, expected $N_PSQL"
[ "$pgb_errs" -eq 1 ] || fail "harness: pgbench did not report the division by zero"
[ "$apg_bind" -eq "$N_APG" ] && [ "$apg_exec" -eq "$N_APG" ] ||
	fail "harness: asyncpg saw $apg_bind/$apg_exec errors, expected $N_APG each"

for spec in "psql_div:$psql_errs" "pgb_div:$pgb_errs" "apg_bind_div:$apg_bind" "apg_exec_div:$apg_exec"; do
	alias=${spec%%:*}
	want=${spec#*:}
	re="AS $alias\$"
	for side in client server; do
		rows=$(jq --arg re "$re" --arg s "$side" '[.statements[] | select((.query | test($re)) and .side == $s)] | length' "$out")
		[ "$rows" -gt 0 ] || { check "$side row for '... AS $alias'" missing present; continue; }
		check "$side errors   $alias" "$(stmt_sum_re "$out" "$re" "$side" errors)" "$want"
		check "$side sqlstate 22012 $alias" "$(stmt_sqlstate_re "$out" "$re" "$side" 22012)" "$want"
	done
done
echo "fingerprints: $(jq -r '[.statements[] | select(.query | test("_div$")) | .query] | unique | join(" | ")' "$out")"

[ "$_CHECK_FAILS" -eq 0 ] || dump_statements "$out"
finish
