#!/usr/bin/env bash
# --server-stages, heavyweight locks: session A locks a row (SELECT ... FOR
# UPDATE), sleeps 2 s and commits; session B updates that row 0.2 s after A
# took the lock. B's statement must carry a lock_wait stage within 10% of
# the wait B measured itself (about 1.8 s), with a transactionid wait in the
# "locks" section. Then two sessions update two rows in opposite order: the
# deadlock must be counted, and the victim's statement reported with
# SQLSTATE 40P01.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init
"$PY" -c 'import psycopg2' 2>/dev/null || skip "python3-psycopg2 missing"

# A short deadlock_timeout: the victim is found 0.3 s into the cycle.
pg_start --conf "deadlock_timeout = '300ms'"
pg_sql "CREATE TABLE lk (id int PRIMARY KEY, v int); INSERT INTO lk VALUES (1, 0);
	CREATE TABLE dl (id int PRIMARY KEY, v int); INSERT INTO dl VALUES (1, 0), (2, 0);" >/dev/null ||
	fail "cannot create the tables"

out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$PG_PID" --server-stages
grep -q '^dblat: server stages from' "$DBLAT_LOG" || fail "dblat did not attach its USDT probes"

timeout 60 "$PY" - "$PGSOCKDIR" "$PGPORT" >"$TEST_TMP/clients.out" 2>&1 <<'PYEOF'
import sys, threading, time
import psycopg2

host, port = sys.argv[1], int(sys.argv[2])

def connect(autocommit):
    c = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres")
    c.autocommit = autocommit
    return c

# 1. Row lock contention.
locked = threading.Event()

def session_a():
    c = connect(False)
    cur = c.cursor()
    cur.execute("SELECT v FROM lk WHERE id = 1 FOR UPDATE")
    locked.set()
    cur.execute("SELECT pg_sleep(2)")
    c.commit()
    c.close()

a = threading.Thread(target=session_a)
b = connect(True)
bcur = b.cursor()
a.start()
locked.wait(10)
time.sleep(0.2)
t0 = time.monotonic()
bcur.execute("UPDATE lk SET v = v + 1 WHERE id = 1")
waited = time.monotonic() - t0
a.join()
b.close()
print("b_wait_us %.0f" % (waited * 1e6))

# 2. Deadlock: each session holds one row and wants the other's.
barrier = threading.Barrier(2)
victims = []

def crosser(first, second):
    c = connect(False)
    cur = c.cursor()
    try:
        cur.execute("UPDATE dl SET v = v + 1 WHERE id = %s" % first)
        barrier.wait(10)
        cur.execute("UPDATE dl SET v = v + 1 WHERE id = %s" % second)
        c.commit()
    except psycopg2.Error as e:
        victims.append(e.pgcode)
        c.rollback()
    c.close()

ts = [threading.Thread(target=crosser, args=(1, 2)), threading.Thread(target=crosser, args=(2, 1))]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("victims %s" % ",".join(victims))
PYEOF
py_rc=$?
dblat_stop
cat "$TEST_TMP/clients.out"
[ "$py_rc" -eq 0 ] || fail "the client script failed (status $py_rc)"

b_wait=$(sed -nE 's/^b_wait_us ([0-9]+)$/\1/p' "$TEST_TMP/clients.out")
victims=$(sed -nE 's/^victims (.*)$/\1/p' "$TEST_TMP/clients.out")
[ -n "$b_wait" ] || fail "harness: no wait measured by session B"
[ "$b_wait" -gt 1500000 ] || fail "harness: session B waited only $b_wait us (A holds the row for 2 s)"
[ "$victims" = 40P01 ] || fail "harness: expected one deadlock victim (40P01), the clients saw '$victims'"

re_b='^UPDATE lk SET v = v'
lock_us=$(stmt_sum_re "$out" "$re_b" server 'stages_us.lock_wait.total')
exec_us=$(stmt_sum_re "$out" "$re_b" server 'stages_us.execute.total')
echo "session B: waited $b_wait us by its own clock; server lock_wait $lock_us us, execute $exec_us us"
check_true "B's lock_wait within 10% of B's own wait" \
	"$(awk -v s="$lock_us" -v c="$b_wait" 'BEGIN { d = s - c; if (d < 0) d = -d; exit !(s > 0 && d <= 0.10 * c) }'; echo $?)" \
	"($lock_us vs $b_wait us)"
check_true "B's execute covers its lock wait" \
	"$(awk -v e="$exec_us" -v l="$lock_us" 'BEGIN { exit !(e >= l && l > 0) }'; echo $?)" "($exec_us >= $lock_us us)"
tx_wait=$(jget "$out" '[.locks.waits[]? | select(.locktag == "transactionid" and .mode == "ShareLock") | .max_us] | max // 0')
check_true "locks: a transactionid ShareLock wait as long as B's" \
	"$(awk -v m="$tx_wait" -v l="$lock_us" 'BEGIN { exit !(l > 0 && m >= 0.99 * l) }'; echo $?)" "(max $tx_wait us)"

deadlocks=$(jget "$out" '.locks.deadlocks // 0')
marks=$(jget "$out" '[.timeline[] | select(.what == "deadlock")] | length')
check_true "deadlock counted" "$([ "$deadlocks" -ge 1 ] && [ "$marks" -ge 1 ]; echo $?)" \
	"(locks.deadlocks $deadlocks, timeline marks $marks)"
check "victim's statement: server sqlstate 40P01" "$(stmt_sqlstate_re "$out" '^UPDATE dl SET v = v' server 40P01)" 1
victim_lock=$(jget "$out" '[.statements[] | select((.query | test("^UPDATE dl SET v = v")) and .side == "server" and (.sqlstates["40P01"] // 0) > 0) | .stages_us.lock_wait.total // 0] | add // 0')
check_true "victim's lock wait reaches deadlock_timeout" \
	"$(awk -v l="$victim_lock" 'BEGIN { exit !(l >= 290000) }'; echo $?)" "($victim_lock us)"
check "events dropped" "$(jget "$out" '.events.dropped')" 0

[ "$_CHECK_FAILS" -eq 0 ] || { dump_statements "$out"; jq -c '.locks, .timeline' "$out"; }
finish
