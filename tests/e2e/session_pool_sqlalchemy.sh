#!/usr/bin/env bash
# A SQLAlchemy 1.4 async engine over asyncpg (postgresql+asyncpg://) with a
# pool of 2 connections (pool_size=2, max_overflow=0) shared by 8 asyncio
# tasks, each running K transactions: most through
#     async with session.begin(): await session.execute(text(...))
# (BEGIN ... COMMIT), every ROLLBACK_EVERY-th one ended by an explicit
# await trans.rollback() (BEGIN ... ROLLBACK). The client counts what it
# ran and writes it as JSON.
#
# What goes over the wire (seen in dblat's statement list and in
# pg_stat_statements): the asyncpg adapter sends BEGIN ISOLATION LEVEL READ
# COMMITTED (simple protocol) before the first statement of a transaction,
# the statements as prepared statements (extended protocol), then COMMIT or
# ROLLBACK (simple protocol). Returning a connection to the
# pool ("reset on return") rolls back only a transaction still open: after
# a commit or rollback it sends nothing. The engine's first connection also
# runs the dialect's initialisation queries (version(), current_schema(),
# standard_conforming_strings, ...) inside one transaction of their own,
# which SQLAlchemy then rolls back: one transaction more than the script
# ran, and one more rollback. The expected counts are therefore
#     transactions = committed + rolled_back + 1, aborted = rolled_back + 1
# and pg_stat_statements, which counts every BEGIN/COMMIT/ROLLBACK the
# server executed for this test's role, must agree with that.
#
# dblat (started first, targeting the client's pid and the postmaster) must
# report for the client: max_open <= 2, time with both connections busy
# (saturated_s > 0), BEGIN/COMMIT/ROLLBACK as class txn, a share of
# database time spent on them > 0, and exactly the expected transactions.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init
"$PY" -c 'import sqlalchemy, asyncpg; assert sqlalchemy.__version__.startswith("1.4")' 2>/dev/null ||
	skip "needs python3-sqlalchemy 1.4 and python3-asyncpg"

TASKS=8
K=15
ROLLBACK_EVERY=4
ROLE=dblat_sa

pg_start
pg_sql "CREATE ROLE $ROLE LOGIN SUPERUSER" >/dev/null || fail "CREATE ROLE"
pg_sql "CREATE TABLE sa_t (id int PRIMARY KEY, v int);
	INSERT INTO sa_t SELECT g, g * 2 FROM generate_series(1, 100) g;
	SELECT pg_stat_statements_reset()" >/dev/null || fail "setup SQL"

go="$TEST_TMP/go"
res="$TEST_TMP/client.json"
cat >"$TEST_TMP/client.py" <<'PYEOF'
import asyncio, json, os, sys, time
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker

host, port, role, go, res = sys.argv[1:6]
tasks, k, rb_every = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])

# Wait (bounded) for the tracer to attach before the first connection.
for _ in range(1200):
    if os.path.exists(go):
        break
    time.sleep(0.1)
else:
    sys.exit("no go file")

counts = {"committed": 0, "rolled_back": 0, "statements": 0}

async def worker(Session, w):
    for i in range(k):
        n = (w * k + i) % 100 + 1
        async with Session() as session:
            if (i + 1) % rb_every == 0:
                trans = await session.begin()
                await session.execute(text("SELECT v, pg_sleep(0.004) FROM sa_t WHERE id = :id"), {"id": n})
                counts["statements"] += 1
                await trans.rollback()
                counts["rolled_back"] += 1
            else:
                async with session.begin():
                    await session.execute(text("SELECT v, pg_sleep(0.004) FROM sa_t WHERE id = :id"), {"id": n})
                    await session.execute(text("UPDATE sa_t SET v = v + 1 WHERE id = :id"), {"id": n})
                    counts["statements"] += 2
                counts["committed"] += 1

async def main():
    engine = create_async_engine(f"postgresql+asyncpg://{role}@{host}:{port}/postgres",
                                 pool_size=2, max_overflow=0, pool_timeout=120,
                                 connect_args={"ssl": False})
    Session = sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    t0 = time.monotonic()
    await asyncio.gather(*(worker(Session, w) for w in range(tasks)))
    counts["elapsed_s"] = time.monotonic() - t0
    counts["pool_size"] = engine.pool.size()
    await engine.dispose()

asyncio.run(main())
counts["pid"] = os.getpid()
with open(res, "w") as f:
    json.dump(counts, f)
PYEOF

bg_start 240 "$PY" "$TEST_TMP/client.py" "$PGHOST_TCP" "$PGPORT" "$ROLE" "$go" "$res" "$TASKS" "$K" "$ROLLBACK_EVERY" \
	>"$TEST_TMP/client.out" 2>&1
cpid=$BG_PID
out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$cpid" -p "$PG_PID"
touch "$go"
bg_wait "$cpid"
crc=$?
sleep 0.3
dblat_stop
[ "$crc" -eq 0 ] || { cat "$TEST_TMP/client.out" >&2; fail "client exited with status $crc"; }
cat "$res"
echo
committed=$(jget "$res" .committed)
rolled=$(jget "$res" .rolled_back)
[ "$committed" -gt 0 ] && [ "$rolled" -gt 0 ] || fail "harness: client ran $committed/$rolled transactions"
[ $((committed + rolled)) -eq $((TASKS * K)) ] || fail "harness: client ran $((committed + rolled)) transactions, expected $((TASKS * K))"

# Ground truth from the server: pg_stat_statements for this role.
pgss() {
	pg_sql "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE r.rolname = '$ROLE' AND s.query ~* '$1'"
}
ss_begin=$(pgss '^\s*begin')
ss_commit=$(pgss '^\s*commit')
ss_rollback=$(pgss '^\s*rollback')
echo "pg_stat_statements for $ROLE: BEGIN $ss_begin, COMMIT $ss_commit, ROLLBACK $ss_rollback"
pg_sql "SELECT calls, query FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
	WHERE r.rolname = '$ROLE' ORDER BY calls DESC" | sed 's/^/    /'

want_txns=$((committed + rolled + 1))
want_aborted=$((rolled + 1))
# The harness's reading of SQLAlchemy must hold on the server too.
check "pg_stat_statements BEGIN calls" "$ss_begin" "$want_txns"
check "pg_stat_statements COMMIT calls" "$ss_commit" "$committed"
check "pg_stat_statements ROLLBACK calls" "$ss_rollback" "$want_aborted"

sel=".processes[] | select(.pid == $cpid and .side == \"client\")"
check "client entry for pid $cpid" "$(jq "[$sel] | length" "$out")" 1
max_open=$(jget "$out" "$sel | .occupancy.max_open")
sat=$(jget "$out" "$sel | .occupancy.saturated_s")
txn_calls=$(jget "$out" "$sel | .overhead.classes.txn.calls")
share=$(jget "$out" "$sel | .overhead.share_of_db_time")
txns=$(jget "$out" "$sel | .transactions.count")
aborted=$(jget "$out" "$sel | .transactions.aborted")
commits=$(jget "$out" "$sel | .transactions.commit.count")
awk -v m="$max_open" 'BEGIN { exit !(m >= 1 && m <= 2) }'
check_true "client max_open <= 2 (pool_size=2, max_overflow=0)" $? "($max_open)"
check "client sessions opened (the pool's connections)" "$(jget "$out" "$sel | .sessions.opened")" "$max_open"
awk -v s="$sat" 'BEGIN { exit !(s > 0) }'
check_true "client saturated_s > 0" $? "($sat s)"
check "client txn calls (BEGIN + COMMIT + ROLLBACK)" "$txn_calls" $((want_txns + committed + want_aborted))
awk -v s="$share" 'BEGIN { exit !(s > 0 && s < 1) }'
check_true "client share_of_db_time in (0, 1)" $? "($share)"
check "client transactions.count" "$txns" "$want_txns"
check "client transactions.aborted" "$aborted" "$want_aborted"
check "client commit latency count" "$commits" "$committed"
srv=".processes[] | select(.pid == $PG_PID and .side == \"server\")"
check "server transactions.count" "$(jget "$out" "$srv | .transactions.count")" "$want_txns"
check "server transactions.aborted" "$(jget "$out" "$srv | .transactions.aborted")" "$want_aborted"
echo "client: max_open $max_open, max_busy $(jget "$out" "$sel | .occupancy.max_busy"), saturated ${sat} s," \
	"share_of_db_time $share, txn duration mean $(jget "$out" "$sel | .transactions.duration.us.mean") us"
[ "$_CHECK_FAILS" -eq 0 ] || { dump_statements "$out"; jq -c "$sel" "$out"; }
finish
