#!/usr/bin/env bash
# An outage: a psycopg2 client queries SELECT 1 every ~50 ms over TCP on
# one connection, reconnecting (connect_timeout 1 s) after any failure, and
# logs each attempt's monotonic start and end times and its outcome. Mid-run
# the server is stopped (pg_ctl stop -m fast), left down for 5 s, and
# started again on the same port.
#
# Like a health check, the client also probes the server's port (TCP
# connect and close, blocking and non-blocking) a few times while the
# server is up, before the outage and after it: those connections were made,
# and must not count as failures.
#
# Ground truth is the client's own log: its recovery time is from the start
# of its first failed attempt to the end of the first successful query after
# it; it also counts its failed attempts and the connections it made.
#
# dblat runs through the outage, targeting the client's pid only (the new
# postmaster has a new pid). It must report set-up failures by reason
# (refused or shutdown), one outage, recovered, whose recovery time is
# within 1 s of the client's, and as many failures in it as the client had
# failed attempts (each failed attempt is one failure: the broken session,
# a refused connect(), or a start-up refused by the server), with reasons
# that add up to that number.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init
"$PY" -c 'import psycopg2' 2>/dev/null || skip "needs python3-psycopg2"

DOWN_S=5

pg_start

go="$TEST_TMP/go"
stop="$TEST_TMP/stop"
res="$TEST_TMP/attempts.jsonl"
cat >"$TEST_TMP/client.py" <<'PYEOF'
import errno, json, os, select, socket, sys, time
import psycopg2

host, port, go, stop, res = sys.argv[1:6]
for _ in range(1200):
    if os.path.exists(go):
        break
    time.sleep(0.1)
else:
    sys.exit("no go file")

mono = time.monotonic

def probe(blocking):
    """Connect to the port and close without a word; True if connected."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if blocking:
            s.settimeout(1)
            s.connect((host, int(port)))
            return True
        s.setblocking(False)
        rc = s.connect_ex((host, int(port)))
        if rc == errno.EINPROGRESS:
            select.select([], [s], [], 1)
            rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return rc == 0
    except OSError:
        return False
    finally:
        s.close()

conn = None
oks_since_fail, had_fail, n = 0, False, 0
with open(res, "w") as log:
    def write(**kw):
        log.write(json.dumps(kw) + "\n")
        log.flush()
    # Bounded: at most 2400 attempts (~2 minutes at 50 ms).
    for i in range(2400):
        if os.path.exists(stop):
            break
        # Port probes while the server is up: early on (the test stops the
        # server only after 20 answers) and a little after the recovery.
        if i in (3, 4, 5) or (had_fail and oks_since_fail in (5, 6, 7)):
            t0 = mono()
            ok = probe(blocking=(i % 2 == 0 or oks_since_fail % 2 == 0))
            write(n=n, kind="probe", t0=t0, t1=mono(), ok=ok, err=None if ok else "probe: not connected")
            n += 1
        t0 = mono()
        ok, err, connected = False, None, False
        try:
            if conn is None:
                conn = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres",
                                        sslmode="disable", connect_timeout=1)
                conn.autocommit = True
                connected = True
            cur = conn.cursor()
            cur.execute("SELECT 1")
            ok = cur.fetchone()[0] == 1
        except psycopg2.Error as e:
            err = (e.pgcode or type(e).__name__) + ": " + str(e).strip().splitlines()[0][:120]
            try:
                conn.close()
            except Exception:
                pass
            conn = None
        write(n=n, kind="query", t0=t0, t1=mono(), ok=ok, err=err, connected=connected)
        n += 1
        if ok:
            oks_since_fail += 1
        else:
            had_fail, oks_since_fail = True, 0
        time.sleep(max(0.0, 0.05 - (mono() - t0)))
if conn is not None:
    conn.close()
PYEOF

bg_start 240 "$PY" "$TEST_TMP/client.py" "$PGHOST_TCP" "$PGPORT" "$go" "$stop" "$res" >"$TEST_TMP/client.out" 2>&1
cpid=$BG_PID
out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$cpid"
touch "$go"

# n_ok: successful attempts logged so far.
n_ok() {
	local n
	n=$(grep -c '"ok": true' "$res" 2>/dev/null)
	echo "${n:-0}"
}
have_ok() { [ "$(n_ok)" -ge "$1" ]; }
wait_for 30 have_ok 20 || fail "harness: the client did not get 20 answers in 30 s"
echo "stopping the server (client has $(n_ok) answers)"
_as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop >"$TEST_TMP/pg_ctl-stop.log" 2>&1 ||
	{ cat "$TEST_TMP/pg_ctl-stop.log"; fail "pg_ctl stop failed"; }
sleep "$DOWN_S"
_as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PG_LOG" -w -t 60 start >"$TEST_TMP/pg_ctl-start.log" 2>&1 ||
	{ cat "$TEST_TMP/pg_ctl-start.log"; tail -n 20 "$PG_LOG"; fail "pg_ctl start failed"; }
PG_PID=$(head -n 1 "$PGDATA_DIR/postmaster.pid")
echo "server restarted, postmaster pid $PG_PID"
before=$(n_ok)
wait_for 30 have_ok $((before + 20)) || fail "harness: the client did not recover within 30 s"
touch "$stop"
bg_wait "$cpid"
crc=$?
sleep 0.3
dblat_stop
[ "$crc" -eq 0 ] || { cat "$TEST_TMP/client.out" >&2; fail "client exited with status $crc"; }

# The client's view: first failed attempt, first successful query after it.
read -r c_first_fail c_recovery c_failed c_attempts c_probes <<<"$(jq -rs '
	(map(select(.ok | not)) | .[0]) as $f
	| (map(select(.ok and .kind == "query" and .n > $f.n)) | .[0]) as $s
	| [$f.n, ($s.t1 - $f.t0), (map(select(.ok | not)) | length), length,
	   (map(select(.kind == "probe" and .ok)) | length)] | @tsv' "$res")"
echo "client: $c_attempts attempts, $c_failed failed, first failure at attempt $c_first_fail, recovery $c_recovery s," \
	"$c_probes successful port probes"
jq -r 'select(.ok | not) | .err' "$res" | sort | uniq -c | sed 's/^/    /'
[ "$c_failed" -gt 0 ] || fail "harness: the client saw no failure"
[ "$c_probes" -eq 6 ] || fail "harness: $c_probes of 6 port probes connected"
# Failures must be one contiguous run: else "recovery" means something else.
c_runs=$(jq -rs '[range(1; length) as $i | select((.[$i].ok | not) and .[$i - 1].ok)] | length' "$res")
[ "$c_runs" -eq 1 ] || fail "harness: the client's failures are not one contiguous run ($c_runs runs)"

sel=".processes[] | select(.pid == $cpid and .side == \"client\")"
check "client entry for pid $cpid" "$(jq "[$sel] | length" "$out")" 1
refused=$(jget "$out" "$sel | .sessions.failed.refused")
shutdown=$(jget "$out" "$sel | .sessions.failed.shutdown")
echo "dblat failed: $(jq -c "$sel | .sessions.failed" "$out")"
echo "dblat outages: $(jq -c "$sel | .outages" "$out")"
[ $((refused + shutdown)) -gt 0 ]
check_true "failures by reason: refused + shutdown > 0" $? "(refused $refused, shutdown $shutdown)"
check "outages" "$(jget "$out" "$sel | .outages | length")" 1
rec=$(jget "$out" "$sel | .outages[0].recovery_s")
awk -v d="$rec" -v c="$c_recovery" 'BEGIN { x = d - c; if (x < 0) x = -x; exit !(d != "null" && d > 0 && x <= 1.0) }'
check_true "outage recovery within 1 s of the client's" $? "(dblat $rec s, client $c_recovery s)"
check "outage failures == the client's failed attempts" "$(jget "$out" "$sel | .outages[0].failures")" "$c_failed"
check "failures by reason add up to the outage's" "$(jget "$out" "$sel | .sessions.failed | add")" "$c_failed"
# Sessions: every successful (re)connection is one session.
c_conns=$(jq -rs 'map(select(.connected)) | length' "$res")
check "sessions opened == the client's successful connections" "$(jget "$out" "$sel | .sessions.opened")" "$c_conns"
[ "$_CHECK_FAILS" -eq 0 ] || jq -c "$sel" "$out"
finish
