#!/usr/bin/env bash
# Idle in transaction: a psycopg2 client (autocommit, explicit statements)
# runs, R times,
#     BEGIN; SELECT; sleep 0.5; SELECT; sleep 0.5; COMMIT
# and times every statement itself (time.monotonic() around execute()).
#
# Ground truth is the client's own clock: the time it held the open
# transaction without a statement in flight (from one statement's return to
# the next one's call, BEGIN to COMMIT) and each COMMIT's duration.
#
# dblat (targeting the client's pid and the postmaster) must report
# transactions.count == R, idle_in_transaction total within 5% of the
# sleeps (R x 1.0 s) and within 5% of the client's measured idle time,
# the transaction durations within 5% of the client's BEGIN-to-COMMIT
# times, and a commit latency for each COMMIT, no longer than the client's.
#
# Then psql runs, on a new connection each time, 'BEGIN; SELECT
# pg_sleep(0.3)' as one query and COMMIT as the next: the transaction is
# open from that first query's send, so each of those transactions lasts
# at least 0.3 s, and no longer than psql ran.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init
"$PY" -c 'import psycopg2' 2>/dev/null || skip "needs python3-psycopg2"

R=4
SLEEP=0.5

pg_start
pg_sql "CREATE TABLE idle_t (id int PRIMARY KEY, v int); INSERT INTO idle_t VALUES (1, 10), (2, 20)" >/dev/null ||
	fail "setup SQL"

go="$TEST_TMP/go"
res="$TEST_TMP/client.json"
cat >"$TEST_TMP/client.py" <<'PYEOF'
import json, os, sys, time
import psycopg2

host, port, go, res = sys.argv[1:5]
rounds, nap = int(sys.argv[5]), float(sys.argv[6])
for _ in range(1200):
    if os.path.exists(go):
        break
    time.sleep(0.1)
else:
    sys.exit("no go file")

conn = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres",
                        sslmode="disable", connect_timeout=10)
conn.autocommit = True
cur = conn.cursor()
mono = time.monotonic

def run(sql):
    t0 = mono()
    cur.execute(sql)
    if cur.description:
        cur.fetchall()
    return t0, mono()

out = {"rounds": rounds, "idle_s": 0.0, "txn_s": 0.0, "commit_s": [], "slept_s": 0.0}
for r in range(rounds):
    steps = [run("BEGIN")]
    steps.append(run("SELECT v FROM idle_t WHERE id = 1"))
    t = mono(); time.sleep(nap); out["slept_s"] += mono() - t
    steps.append(run("SELECT v FROM idle_t WHERE id = 2"))
    t = mono(); time.sleep(nap); out["slept_s"] += mono() - t
    steps.append(run("COMMIT"))
    # Idle: from each statement's return to the next one's call.
    out["idle_s"] += sum(steps[i + 1][0] - steps[i][1] for i in range(len(steps) - 1))
    out["txn_s"] += steps[-1][1] - steps[0][0]
    out["commit_s"].append(steps[-1][1] - steps[-1][0])
conn.close()
out["pid"] = os.getpid()
with open(res, "w") as f:
    json.dump(out, f)
PYEOF

mkdir -p "$TEST_TMP/bin"
PSQL_COMM="psqi-e2e-$$"
PSQL_COMM=${PSQL_COMM:0:15}
ln -s "$PG_BIN/psql" "$TEST_TMP/bin/$PSQL_COMM"

bg_start 120 "$PY" "$TEST_TMP/client.py" "$PGHOST_TCP" "$PGPORT" "$go" "$res" "$R" "$SLEEP" >"$TEST_TMP/client.out" 2>&1
cpid=$BG_PID
out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$cpid" -p "$PG_PID"
touch "$go"
bg_wait "$cpid"
crc=$?
sleep 0.3
dblat_stop

# The psql part, in a run of its own (client side only).
pout="$TEST_TMP/dblat-psql.json"
dblat_start "$pout" -c "$PSQL_COMM"
PSQL_RUNS=2
psql_max_us=0
for ((i = 0; i < PSQL_RUNS; i++)); do
	t0=$(date +%s%N)
	timeout 30 "$TEST_TMP/bin/$PSQL_COMM" -X -q -At -h "$PGSOCKDIR" -p "$PGPORT" -U postgres -d postgres \
		-c 'BEGIN; SELECT pg_sleep(0.3)' -c 'COMMIT' >/dev/null || fail "harness: psql failed"
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000)) -le "$psql_max_us" ] || psql_max_us=$(((t1 - t0) / 1000))
done
dblat_stop
[ "$crc" -eq 0 ] || { cat "$TEST_TMP/client.out" >&2; fail "client exited with status $crc"; }
cat "$res"
echo

c_idle_us=$(jq -r '.idle_s * 1e6' "$res")
c_txn_us=$(jq -r '.txn_s * 1e6' "$res")
c_commit_mean_us=$(jq -r '(.commit_s | add / length) * 1e6' "$res")
nominal_us=$(awk -v r="$R" -v s="$SLEEP" 'BEGIN { print r * 2 * s * 1e6 }')

# within A B PCT: |A - B| <= PCT% of B
within() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b * p / 100) }'; }

for side in client server; do
	case $side in
	client) sel=".processes[] | select(.pid == $cpid and .side == \"client\")" ;;
	server) sel=".processes[] | select(.pid == $PG_PID and .side == \"server\")" ;;
	esac
	check "$side entry" "$(jq "[$sel] | length" "$out")" 1
	check "$side transactions.count" "$(jget "$out" "$sel | .transactions.count")" "$R"
	check "$side transactions.aborted" "$(jget "$out" "$sel | .transactions.aborted")" 0
	check "$side idle_in_transaction count" "$(jget "$out" "$sel | .transactions.idle_in_transaction.count")" "$R"
	idle=$(jget "$out" "$sel | .transactions.idle_in_transaction.us.total")
	within "$idle" "$nominal_us" 5
	check_true "$side idle_in_transaction total within 5% of the sleeps" $? "(dblat $idle us, slept $nominal_us us)"
	within "$idle" "$c_idle_us" 5
	check_true "$side idle_in_transaction total within 5% of the client's idle time" $? "(dblat $idle us, client $c_idle_us us)"
	dur=$(jget "$out" "$sel | .transactions.duration.us.total")
	within "$dur" "$c_txn_us" 5
	check_true "$side transaction durations within 5% of the client's BEGIN-to-COMMIT" $? "(dblat $dur us, client $c_txn_us us)"
	check "$side commit latency count" "$(jget "$out" "$sel | .transactions.commit.count")" "$R"
	cm=$(jget "$out" "$sel | .transactions.commit.us.mean")
	awk -v d="$cm" -v c="$c_commit_mean_us" 'BEGIN { exit !(d > 0 && d <= c) }'
	check_true "$side commit latency present, not above the client's" $? "(dblat mean $cm us, client mean $c_commit_mean_us us)"
done
psel="[.processes[] | select(.side == \"client\" and .comm == \"$PSQL_COMM\") | .transactions]"
check "psql: transactions" "$(jget "$pout" "$psel | map(.count) | add")" "$PSQL_RUNS"
pmin=$(jget "$pout" "$psel | map(.duration.us.mean) | min")
pmax=$(jget "$pout" "$psel | map(.duration.us.mean) | max")
awk -v a="$pmin" -v b="$pmax" -v w="$psql_max_us" 'BEGIN { exit !(a >= 300000 && b <= w) }'
check_true "psql: a first transaction opened by a 0.3 s query lasts from its send" $? \
	"(dblat $pmin..$pmax us, at least 300000, psql ran at most $psql_max_us us)"
[ "$_CHECK_FAILS" -eq 0 ] || { dump_statements "$out"; jq -c '.processes[] | {pid, side, transactions}' "$out"; }
finish
