#!/usr/bin/env bash
# The two ends of each connection, joined:
#   1. pgbench -S -M prepared: per statement, queue + server + reply add up to
#      the client latency (within 5% in aggregate) and each part is non-zero;
#      the server part agrees with the backend's own view of the statement.
#   2. Late attach: an asyncpg client prepares a statement, then dblat
#      attaches, then the client runs it 1000 times: dblat names its SQL
#      (recovered from the backend's activity entry) on both sides, 1000 calls.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

pg_start
pgb_init
Q='SELECT abalance FROM pgbench_accounts WHERE aid = $1'

# 1. stages add up
ln -s "$PG_BIN/pgbench" "$TEST_TMP/pgb-join-$$"
out="$TEST_TMP/join.json"
dblat_start "$out" -p "$PG_PID" -c "pgb-join-$$"
timeout 120 "$TEST_TMP/pgb-join-$$" -n -S -t 2000 -c 4 -j 2 -M prepared \
	-h "$PGSOCKDIR" -p "$PGPORT" -U postgres postgres >"$TEST_TMP/pgb.out" 2>&1 ||
	{ cat "$TEST_TMP/pgb.out"; fail "pgbench failed"; }
dblat_stop
check "client calls" "$(stmt_calls "$out" "$Q" client)" 8000
check "server calls" "$(stmt_calls "$out" "$Q" server)" 8000
read -r total queue server reply <<<"$(jq -r --arg q "$Q" '
	[.statements[] | select(.query == $q and .side == "client")] as $r
	| [([$r[].latency_us.total] | add), ([$r[].stages_us.queue.total // 0] | add),
	   ([$r[].stages_us.server.total // 0] | add), ([$r[].stages_us.reply.total // 0] | add)] | @tsv' "$out")"
srv_own=$(stmt_sum "$out" "$Q" server latency_us.total)
echo "client total ${total} us = queue ${queue} + server ${server} + reply ${reply}; backend's own total ${srv_own} us"
awk -v t="$total" -v a="$queue" -v b="$server" -v c="$reply" \
	'BEGIN { d = (a + b + c) / t - 1; exit !(t > 0 && d < 0.05 && d > -0.05) }'
check_true "stages add up to the client latency within 5%" $?
awk -v a="$queue" -v b="$server" -v c="$reply" 'BEGIN { exit !(a > 0 && b > 0 && c > 0) }'
check_true "queue, server and reply all non-zero" $?
awk -v a="$server" -v b="$srv_own" 'BEGIN { exit !(b > 0 && a / b > 0.95 && a / b < 1.05) }'
check_true "server stage equals the backend's own time (joined $server us, backend $srv_own us)" $?

# 2. late attach
LQ='SELECT abalance FROM pgbench_accounts WHERE aid = $1 AND bid > $2'
cat >"$TEST_TMP/late.py" <<'PYEOF'
import asyncio, os, sys
import asyncpg

async def main(host, port, ready, go):
    conn = await asyncpg.connect(host=host, port=int(port), user="postgres",
                                 database="postgres", ssl=False, timeout=10)
    stmt = await conn.prepare("SELECT abalance FROM pgbench_accounts WHERE aid = $1 AND bid > $2")
    await stmt.fetchval(1, 0)
    open(ready, "w").write("ready\n")
    for _ in range(600):
        if os.path.exists(go):
            break
        await asyncio.sleep(0.1)
    else:
        sys.exit("never told to go")
    for i in range(1000):
        await stmt.fetchval(i % 1000 + 1, 0)
    await conn.close()
    print("ran 1000")

asyncio.run(main(*sys.argv[1:]))
PYEOF
bg_start 120 "$PY" "$TEST_TMP/late.py" "$PGHOST_TCP" "$PGPORT" "$TEST_TMP/ready" "$TEST_TMP/go"
client=$BG_PID
for ((i = 0; i < 300; i++)); do [ -e "$TEST_TMP/ready" ] && break; sleep 0.1; done
[ -e "$TEST_TMP/ready" ] || fail "the asyncpg client did not get ready"
out2="$TEST_TMP/late.json"
dblat_start "$out2" -p "$PG_PID" -p "$client"
touch "$TEST_TMP/go"
_wait_gone "$client" 60 || fail "the asyncpg client did not finish"
dblat_stop
check "late attach: client calls with SQL text" "$(stmt_calls "$out2" "$LQ" client)" 1000
check "late attach: server calls with SQL text" "$(stmt_calls "$out2" "$LQ" server)" 1000
check "late attach: nothing left unnamed" \
	"$(jq '[.statements[] | select(.query | startswith("<prepared statement")) | .calls] | add // 0' "$out2")" 0
finish
