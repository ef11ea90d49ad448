#!/usr/bin/env bash
# asyncpg mix (simple protocol, explicit and cached prepared statements,
# transactions, executemany) over TCP: dblat's per-fingerprint call counts on
# the client and the server side must equal what the client executed. The
# client process exists before dblat attaches (selected with -p) and opens
# its connections after.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init
"$PY" -c 'import asyncpg' 2>/dev/null || skip "$PY has no asyncpg (install python3-asyncpg)"

ITER=200
CONC=4

pg_start

# The comm the client will have (what ps -o comm shows).
comm=$("$PY" -c 'print(open("/proc/self/comm").read().strip())')
echo "client comm: $comm"

# fingerprint <TAB> regex matching the client's SQL texts (tests/clients/asyncpg_mix.py)
EXPECT=$(cat <<'TAB'
DROP TABLE IF EXISTS dblat_t	^DROP TABLE IF EXISTS dblat_t$
CREATE TABLE dblat_t (id int PRIMARY KEY, v text)	^CREATE TABLE dblat_t \(id int PRIMARY KEY, v text\)$
INSERT INTO dblat_t (id, v) VALUES ($1, $2)	^INSERT INTO dblat_t \(id, v\) VALUES \(\$1, \$2\)$
SELECT v FROM dblat_t WHERE id = $1	^SELECT v FROM dblat_t WHERE id = \$1$
SELECT id, v FROM dblat_t WHERE id >= $1 ORDER BY id LIMIT $2	^SELECT id, v FROM dblat_t WHERE id >= \$1 ORDER BY id LIMIT 5$
UPDATE dblat_t SET v = $1 WHERE id = $2	^UPDATE dblat_t SET v = 'u[0-9]+' WHERE id = [0-9]+$
SELECT count(*) FROM dblat_t WHERE v LIKE $1	^SELECT count\(\*\) FROM dblat_t WHERE v LIKE 'u%'$
DELETE FROM dblat_t WHERE id = $1	^DELETE FROM dblat_t WHERE id = \$1$
INSERT INTO dblat_t (id, v) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING	^INSERT INTO dblat_t \(id, v\) VALUES \(\$1, \$2\) ON CONFLICT \(id\) DO NOTHING$
SELECT sum(id) FROM dblat_t WHERE id BETWEEN $1 AND $2	^SELECT sum\(id\) FROM dblat_t WHERE id BETWEEN \$1 AND \$2$
BEGIN	^BEGIN;?$
COMMIT	^COMMIT;?$
ROLLBACK	^ROLLBACK$
TAB
)

pg_sql "SELECT pg_stat_statements_reset()" >/dev/null || fail "pg_stat_statements_reset failed"

out="$TEST_TMP/dblat.json"
cj="$TEST_TMP/client.json"
go="$TEST_TMP/go"
# The client starts first and connects once the go file exists: dblat
# selects it by pid. (-c python3 would also count every other python3
# process on the machine that runs BEGIN or ROLLBACK.)
bg_start 240 "$PY" "$CLIENTS_DIR/asyncpg_mix.py" --host "$PGHOST_TCP" --port "$PGPORT" --user postgres \
	--database postgres --iterations "$ITER" --concurrency "$CONC" --json-out "$cj" \
	--wait-file "$go" >"$TEST_TMP/client.log" 2>&1
client_pid=$BG_PID
dblat_start "$out" -p "$PG_PID" -p "$client_pid"
ps -o pid=,comm= -p "$client_pid"
touch "$go"
bg_wait "$client_pid"
crc=$?
dblat_stop
[ "$crc" -eq 0 ] || { cat "$TEST_TMP/client.log" >&2; fail "asyncpg_mix.py exited with status $crc"; }
[ -s "$cj" ] || fail "asyncpg_mix.py wrote no JSON"

cpid=$(jget "$cj" .pid)
check "client pid" "$cpid" "$client_pid"
check "client's own comm" "$(jget "$cj" .comm)" "$comm"
check "events dropped" "$(jget "$out" .events.dropped)" 0

# Every SQL text the client ran must be covered by exactly one expectation.
total_client=$(jq '[.calls[]] | add' "$cj")
covered=0
printf '\n%-72s %7s %7s %7s %7s\n' fingerprint client dblat_c dblat_s pgss
while IFS=$'\t' read -r fp re; do
	[ -n "$fp" ] || continue
	want=$(jq --arg re "$re" '[.calls | to_entries[] | select(.key | test($re)) | .value] | add // 0' "$cj")
	covered=$((covered + want))
	gc=$(stmt_calls "$out" "$fp" client)
	gs=$(stmt_calls "$out" "$fp" server)
	pgss=$(pg_sql "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query = \$q\$$fp\$q\$")
	printf '%-72s %7s %7s %7s %7s\n' "$fp" "$want" "$gc" "$gs" "$pgss"
	[ "$want" -gt 0 ] || fail "harness: no client SQL matched /$re/ (client and test out of step)"
	# pg_stat_statements is the server's own count: it checks the client's
	# bookkeeping and the expected fingerprint, not dblat.
	[ "$pgss" = "$want" ] || fail "harness: pg_stat_statements has $pgss calls of '$fp', the client says $want"
	check "client calls  $fp" "$gc" "$want"
	check "server calls  $fp" "$gs" "$want"
done <<<"$EXPECT"
[ "$covered" -eq "$total_client" ] ||
	fail "harness: expectations cover $covered of the client's $total_client executions"

comms=$(jq -r '[.statements[] | select(.side == "client" and (.query | test("dblat_t"))) | .comm] | unique | join(",")' "$out")
check "client rows' comm" "$comms" "$comm"
jq -e --argjson p "$cpid" '[.statements[] | select(.side == "client" and (.query | test("dblat_t"))) | .pids[]?] | index($p) != null' "$out" >/dev/null
check_true "client rows include the client's pid $cpid" $?
scomms=$(jq -r '[.statements[] | select(.side == "server" and (.query | test("dblat_t"))) | .comm] | unique | join(",")' "$out")
check "server rows' comm" "$scomms" postgres
for bp in $(jq -r '.backend_pids[]' "$cj"); do
	jq -e --argjson p "$bp" '[.statements[] | select(.side == "server" and .query == "SELECT v FROM dblat_t WHERE id = $1") | .pids[]?] | index($p) != null' "$out" >/dev/null
	check_true "server rows include backend pid $bp" $?
done

[ "$_CHECK_FAILS" -eq 0 ] || dump_statements "$out" 80
finish
