#!/usr/bin/env bash
# A connection's fd number reused without a close(): a psycopg2 client runs
# a few queries, then dup2()s a fresh socket onto its connection's fd (the
# kernel drops the old socket; no close() runs on that number) and
# connect()s the fresh socket to the server on the same fd, then lingers
# for 3 s before exiting. Over a Unix socket and over TCP.
#
# Ground truth is the client's own clock: the old session lived from its
# connect to the dup2. dblat must end that session when the new socket
# connects on its fd number (not at the process's exit, 3 s later) and must
# not take the new socket's connect for more of the old session.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init
"$PY" -c 'import psycopg2' 2>/dev/null || skip "needs python3-psycopg2"

pg_start

cat >"$TEST_TMP/client.py" <<'PYEOF'
import json, os, socket, sys, time
import psycopg2

host, port, go, res = sys.argv[1:5]
for _ in range(600):
    if os.path.exists(go):
        break
    time.sleep(0.1)
else:
    sys.exit("no go file")
t0 = time.monotonic()
conn = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres", sslmode="disable")
conn.autocommit = True
cur = conn.cursor()
for _ in range(5):
    cur.execute("SELECT 1")
    cur.fetchall()
fd = conn.fileno()
unix = host.startswith("/")
family = socket.AF_UNIX if unix else socket.AF_INET
fresh = socket.socket(family, socket.SOCK_STREAM)
t1 = time.monotonic()
os.dup2(fresh.fileno(), fd)
again = socket.socket(family, socket.SOCK_STREAM, fileno=fd)
again.connect(os.path.join(host, ".s.PGSQL." + port) if unix else (host, int(port)))
with open(res, "w") as f:
    json.dump({"fd": fd, "session_s": round(t1 - t0, 6)}, f)
time.sleep(3)
os._exit(0)  # no clean-up through libpq: its socket is not its own any more
PYEOF

for tr in unix tcp; do
	echo "== $tr"
	host=$PGSOCKDIR
	[ "$tr" = tcp ] && host=$PGHOST_TCP
	go="$TEST_TMP/go.$tr"
	res="$TEST_TMP/client.$tr.json"
	out="$TEST_TMP/dblat.$tr.json"
	bg_start 60 "$PY" "$TEST_TMP/client.py" "$host" "$PGPORT" "$go" "$res" >"$TEST_TMP/client.$tr.out" 2>&1
	cpid=$BG_PID
	dblat_start "$out" -p "$cpid"
	touch "$go"
	bg_wait "$cpid" 60 || true
	dblat_stop
	[ -s "$res" ] || { cat "$TEST_TMP/client.$tr.out"; fail "harness: the $tr client did not report"; }
	life_s=$(jq -r .session_s "$res")
	sel=".processes[] | select(.pid == $cpid and .side == \"client\")"
	echo "client: fd $(jq -r .fd "$res") reused after ${life_s} s; dblat sessions: $(jq -c "$sel | .sessions | {opened, closed, lifetime}" "$out")"
	check "$tr: calls of SELECT 1 seen" "$(stmt_calls "$out" 'SELECT $1' client)" 5
	check "$tr: sessions closed" "$(jget "$out" "$sel | .sessions.closed")" 1
	# The session ended at the reuse: its lifetime is at most the client's
	# connect-to-dup2 time (it starts at the server's ready, a little later),
	# and far from the 3 s more it would last until the process's exit.
	max_us=$(jget "$out" "$sel | .sessions.lifetime.us.max")
	awk -v m="${max_us:-0}" -v s="$life_s" 'BEGIN { exit !(m > 0 && m <= (s + 0.2) * 1e6) }'
	check_true "$tr: session lifetime ended at the reuse" $? "(dblat ${max_us} us, client ${life_s} s)"
done
finish
