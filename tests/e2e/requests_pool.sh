#!/usr/bin/env bash
# HTTP requests and pool queue wait, on the demo gateway (FastAPI + SQLAlchemy
# async + asyncpg, pool_size=5, max_overflow=0) under 32 concurrent clients:
#   - dblat's request count and status-code counts equal the load
#     generator's own (a client that finishes every request it starts, so
#     nothing is cut off at the end);
#   - the derived mean pool wait agrees within 10% with the wait the app
#     measures itself around its pool checkout.
# Percentiles of the derived wait are printed, not asserted: they come from
# pairing arrivals with checkouts in order, which a non-FIFO pool breaks.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
port=$(_pick_port) || fail "no free port"
http_port=$(_pick_port) || fail "no free port"
DEMO_PGPORT=$port bash "$ROOT/scripts/demo/cluster.sh" start "$TEST_TMP/demo" >"$TEST_TMP/cluster.log" 2>&1 ||
	{ cat "$TEST_TMP/cluster.log"; fail "demo cluster did not start"; }
at_exit bash "$ROOT/scripts/demo/cluster.sh" stop "$TEST_TMP/demo"
# shellcheck disable=SC1091
source "$TEST_TMP/demo/env"

DEMO_DB_URL=$DEMO_DB_URL DEMO_HTTP_PORT=$http_port DEMO_POOL_SIZE=5 DEMO_MAX_OVERFLOW=0 \
	DEMO_POOL_WAIT_LOG="$TEST_TMP/waits.log" \
	bg_start 300 "$PY" "$ROOT/scripts/demo/app.py"
app=$BG_PID
for ((i = 0; i < 100; i++)); do
	curl -s -o /dev/null "http://127.0.0.1:$http_port/models" && break
	sleep 0.2
done
# Warm the pool so the traced window starts with every connection open.
for ((i = 1; i <= 20; i++)); do
	curl -s -o /dev/null -H "Authorization: Bearer sk-demo-$i" "http://127.0.0.1:$http_port/models"
done

cat >"$TEST_TMP/load.py" <<'PYEOF'
import http.client, json, sys, threading
port, threads, per = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
status = {}
lock = threading.Lock()
def worker(t):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for i in range(per):
        n = (t * per + i) % 100000 + 1
        key = "sk-demo-%d" % n if i % 10 else "sk-wrong-%d" % n
        c.request("GET", "/models", headers={"Authorization": "Bearer " + key})
        r = c.getresponse()
        r.read()
        with lock:
            status[str(r.status)] = status.get(str(r.status), 0) + 1
    c.close()
ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps({"requests": sum(status.values()), "status": status}))
PYEOF

: >"$TEST_TMP/waits.log"
out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$app" -p "$POSTMASTER_PID"
: >"$TEST_TMP/waits.log"
timeout 240 "$PY" "$TEST_TMP/load.py" "$http_port" 32 60 >"$TEST_TMP/load.json" || fail "load generator failed"
sleep 1
dblat_stop
cat "$TEST_TMP/load.json"

want_n=$(jq .requests "$TEST_TMP/load.json")
got_n=$(jq --argjson p "$app" '[.requests[] | select(.pid == $p and .route == "/models") | .count] | add // 0' "$out")
check "requests counted" "$got_n" "$want_n"
for code in 200 401; do
	check "status $code" \
		"$(jq --argjson p "$app" --arg c "$code" '[.requests[] | select(.pid == $p) | .status[$c] // 0] | add // 0' "$out")" \
		"$(jq --arg c "$code" '.status[$c] // 0' "$TEST_TMP/load.json")"
done

# The app appends its wait log as requests finish; give it a moment.
sleep 2
app_mean=$(awk '{ n++; s += $2 } END { if (n) printf "%.1f", s / n; else print 0 }' "$TEST_TMP/waits.log")
app_p99=$(sort -n -k2 "$TEST_TMP/waits.log" | awk '{ a[NR] = $2 } END { if (NR) print a[int(NR * 0.99)]; else print 0 }')
read -r d_mean d_p99 d_paired <<<"$(jq -r --argjson p "$app" '.pool[] | select(.pid == $p) | [.wait_us.mean, .wait_us.p99, .paired] | @tsv' "$out")"
echo "pool wait: app mean ${app_mean} us p99 ${app_p99} us ($(wc -l <"$TEST_TMP/waits.log") requests); dblat derived mean ${d_mean:-none} us p99 ${d_p99:-none} us (${d_paired:-0} paired)"
awk -v a="$app_mean" -v d="${d_mean:-0}" 'BEGIN { exit !(a > 1000 && d / a > 0.9 && d / a < 1.1) }'
check_true "derived mean pool wait within 10% of the app's own" $?
finish
