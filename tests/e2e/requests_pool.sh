#!/usr/bin/env bash
# HTTP requests, the database work bound to them and the pool queue wait, on
# the demo gateway (FastAPI + SQLAlchemy async + asyncpg, pool_size=5,
# max_overflow=0) exhausted by 48 concurrent clients:
#   - dblat's request count and status-code counts equal the load
#     generator's own (a client that finishes every request it starts, so
#     nothing is cut off at the end);
#   - the pool wait (each checkout matched to its request by the response
#     written at the end of the checkout) agrees within 10% with the wait
#     the app measures itself around its pool checkout, at the mean and the
#     p99, over the requests of the load as the app logs them;
#   - every /models request is bound to its database work: BEGIN, the key
#     lookup, ROLLBACK (app.py: authenticated or 401, the lookup is all it
#     runs), so 3 statements per request; its database time is under its
#     latency;
#   - the folded stacks carry the request layer, and the client statement
#     time in them (request stacks included) is the JSON's;
#   - `dblat report` of the run's recording gives the same requests and pool.
# Then under wrk -c 100 (PERF_DB_POOL_EXHAUSTION_001's load), dblat as a
# user runs it, with no mode named (its default CPU budget, which must keep
# every call for an app serving HTTP): the responses
# wrk read are dblat's answered requests less those whose client reset the
# connection without reading them (wrk's deadline cuts off at most one
# request per connection: answered but unread, or closed before an answer),
# and the pool wait agrees within 10% with the app's own log at the mean and
# p99: every checkout the app logged, those of requests whose client gave up
# before the answer included.
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
import http.client, json, sys, threading, time
t0 = time.monotonic_ns()
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
print(json.dumps({"requests": sum(status.values()), "status": status, "t0_ns": t0}))
PYEOF

: >"$TEST_TMP/waits.log"
out="$TEST_TMP/dblat.json"
# Recorded as well: the report from the recording must bind the same way.
printf '#!/bin/sh\nexec "%s" record -o "%s" "$@"\n' "$DBLAT" "$TEST_TMP/run.dblat" >"$TEST_TMP/dblat-record"
chmod +x "$TEST_TMP/dblat-record"
DBLAT=$TEST_TMP/dblat-record dblat_start "$out" -p "$app" -p "$POSTMASTER_PID" --folded "$TEST_TMP/dblat.folded" \
	--prom "$TEST_TMP/dblat.prom" --html "$TEST_TMP/dblat.html"
: >"$TEST_TMP/waits.log"
timeout 240 "$PY" "$TEST_TMP/load.py" "$http_port" 48 50 >"$TEST_TMP/load.json" || fail "load generator failed"
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
# Only the load's requests: the warm-up's lines may be flushed after the log was emptied.
awk -v t0="$(jq .t0_ns "$TEST_TMP/load.json")" '$1 >= t0 && $2 >= 0 { print $2 }' "$TEST_TMP/waits.log" |
	sort -n >"$TEST_TMP/waits.sorted"
app_n=$(wc -l <"$TEST_TMP/waits.sorted")
app_mean=$(awk '{ s += $1 } END { if (NR) printf "%.1f", s / NR; else print 0 }' "$TEST_TMP/waits.sorted")
app_p99=$(awk '{ a[NR] = $1 } END { i = int(NR * 0.99 + 0.5); if (i < 1) i = 1; print NR ? a[i] : 0 }' "$TEST_TMP/waits.sorted")
pool=$(jq -c --argjson p "$app" '.pool[] | select(.pid == $p)' "$out")
echo "dblat pool: $pool"
read -r d_mean d_p99 d_paired d_method <<<"$(jq -r '[.wait_us.mean, .wait_us.p99, .paired, .method] | @tsv' <<<"$pool")"
echo "pool wait: app mean ${app_mean} us p99 ${app_p99} us (${app_n} requests); dblat mean ${d_mean:-none} us p99 ${d_p99:-none} us (${d_paired:-0} paired, ${d_method:-none})"
check "pool wait method" "$d_method" derived-anchored
check "requests paired with a checkout" "$d_paired" "$app_n"
awk -v a="$app_mean" -v d="${d_mean:-0}" 'BEGIN { exit !(a > 1000 && d / a > 0.9 && d / a < 1.1) }'
check_true "mean pool wait within 10% of the app's own" $? "(dblat/app $(awk -v a="$app_mean" -v d="${d_mean:-0}" 'BEGIN { printf "%.3f", a ? d / a : 0 }'))"
awk -v a="$app_p99" -v d="${d_p99:-0}" 'BEGIN { exit !(a > 1000 && d / a > 0.9 && d / a < 1.1) }'
check_true "p99 pool wait within 10% of the app's own" $? "(dblat/app $(awk -v a="$app_p99" -v d="${d_p99:-0}" 'BEGIN { printf "%.3f", a ? d / a : 0 }'))"

route=$(jq -c --argjson p "$app" '.requests[] | select(.pid == $p and .route == "/models")' "$out")
echo "dblat route: $route"
check "/models requests bound to their database work" "$(jq '.attributed.count' <<<"$route")" "$want_n"
jq -r '.statements[] | "  \(.calls) x \(.class): \(.query[0:70])"' <<<"$route"
for q in '^BEGIN' '^SELECT api_keys\.id, .* FROM api_keys WHERE' '^ROLLBACK$'; do
	check "/models: calls of $q bound to it" \
		"$(jq --arg q "$q" '[.statements[] | select(.query | test($q)) | .calls] | add // 0' <<<"$route")" "$want_n"
done
# On top of the app's three, asyncpg introspects a type the first time a
# connection meets it: a setup statement, nothing else.
check "/models: statements bound besides the three and asyncpg's setup" \
	"$(jq '[.statements[] | select((.query | test("^(BEGIN|ROLLBACK$|SELECT api_keys)") | not) and .class != "setup")] | length' <<<"$route")" 0
setup=$(jq '[.statements[] | select(.class == "setup") | .calls] | add // 0' <<<"$route")
check "/models statements per request (median)" "$(jq '.statements_per_request.p50' <<<"$route")" 3
check "/models statements per request (mean: 3 + setup $setup / requests)" \
	"$(jq '.statements_per_request.mean' <<<"$route")" "$(awk -v n="$want_n" -v s="$setup" 'BEGIN { printf "%.3f", 3 + s / n }')"
read -r db_mean after_mean before_mean lat_mean wait_mean app_mean_us <<<"$(jq -r '[.db_us.mean, .db_after_response_us.mean, .db_before_arrival_us.mean, .latency_us.mean, .pool_wait_us.mean, .app_us.mean] | @tsv' <<<"$route")"
echo "/models per request: latency ${lat_mean} us = pool wait ${wait_mean} + db ${db_mean} - db after the response ${after_mean} - db before the arrival ${before_mean} + app ${app_mean_us}"
# Pool wait, the statements between arrival and response and the app's own
# time partition each request's latency; a period is bound to one request.
awk -v d="$db_mean" -v a="$after_mean" -v b="$before_mean" -v w="$wait_mean" -v l="$lat_mean" -v p="$app_mean_us" \
	'BEGIN { s = w + d - a - b + p; e = s - l; if (e < 0) e = -e; exit !(d > a + b && e <= 0.001 * l + 1) }'
check_true "/models pool wait + db before the response + app = latency (mean)" $?
# FastAPI's dependency teardown returns the connection after the response
# is written: the reset ROLLBACK runs after it.
awk -v a="$after_mean" 'BEGIN { exit !(a > 0) }'
check_true "/models database time after the response (the reset) is reported: ${after_mean} us per request" $?

echo "== request layer in the folded stacks"
F=$TEST_TMP/dblat.folded
comm=$(jq -r '.comm' <<<"$route")
grep -E "^server:$comm;GET /models;(pool wait|app|transaction control;BEGIN|query;SELECT .*api_keys.*) [0-9]+$" "$F" | cut -c1-120
for frame in "pool wait" "app" "after response;transaction control;ROLLBACK"; do
	grep -q "^server:$comm;GET /models;$frame [0-9]*$" "$F"
	check_true "folded has server:$comm;GET /models;$frame" $?
done
layer=$(awk -v r="server:$comm;GET /models;" 'index($0, r) == 1 { s += $NF } END { printf "%d", s }' "$F")
want=$(jq -r '(.attributed.count * (.pool_wait_us.mean + .db_us.mean + .app_us.mean)) | floor' <<<"$route")
awk -v a="$layer" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d / b < 0.01) }'
check_true "request frame = pool wait + db + app of its requests ($layer us, JSON $want us)" $?
# Client statement time: the client:comm stacks plus the request stacks' statements.
jq -r --arg c "$comm" '[.statements[] | select(.side == "client" and .comm == $c) | .latency_us.total] | add | floor' "$out" >"$TEST_TMP/json_client.txt"
awk -v c="$comm" '{
		w = $NF; stack = substr($0, 1, length($0) - length(w) - 1); n = split(stack, f, ";")
		if (f[1] == "client:" c && f[2] ~ /^(query|transaction control|setup|reset|ping|maintenance)$/) t += w
		if (f[1] == "server:" c && n >= 4 && f[3] ~ /^(query|transaction control|setup|reset|ping|maintenance|after response)$/) t += w
	} END { printf "%d\n", t }' "$F" >"$TEST_TMP/folded_client.txt"
awk -v a="$(cat "$TEST_TMP/json_client.txt")" -v b="$(cat "$TEST_TMP/folded_client.txt")" \
	'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d / a < 0.01) }'
check_true "client statement time, folded (request stacks included) = JSON ($(cat "$TEST_TMP/folded_client.txt") vs $(cat "$TEST_TMP/json_client.txt") us)" $?

echo "== text, Prometheus, HTML"
sed -n '/^COMM .* REQUEST /,$p' "$DBLAT_OUT"
grep -qE "^python3 +$app GET /models +$want_n .* derived-anchored$" "$DBLAT_OUT"
check_true "text report: the /models row, bound by derived-anchored" $?
awk -f "$TESTS_DIR/lib/prom_check.awk" "$TEST_TMP/dblat.prom"
check_true "prometheus file passes the strict parser" $?
check "prom: /models requests bound (derived-anchored)" \
	"$(awk -v p="pid=\"$app\"" 'index($0, "dblat_http_requests_bound_total{") == 1 && index($0, p) && index($0, "route=\"/models\"") && index($0, "bound_by=\"derived-anchored\"") { print $NF }' "$TEST_TMP/dblat.prom")" \
	"$want_n"
check "prom: pool wait count (derived-anchored)" \
	"$(awk -v p="pid=\"$app\"" 'index($0, "dblat_pool_wait_seconds_count{") == 1 && index($0, p) && index($0, "bound_by=\"derived-anchored\"") { print $NF }' "$TEST_TMP/dblat.prom")" \
	"$d_paired"
grep -q '<table id="requests">' "$TEST_TMP/dblat.html" && grep -q '<td class="l">GET /models</td>' "$TEST_TMP/dblat.html"
check_true "HTML has the requests table with GET /models" $?

echo "== the recording reproduces it"
"$DBLAT" report "$TEST_TMP/run.dblat" --json "$TEST_TMP/report.json" >/dev/null 2>"$TEST_TMP/report.err"
check "dblat report exit status" $? 0
for sec in requests pool; do
	if diff <(jq -S ".$sec" "$out") <(jq -S ".$sec" "$TEST_TMP/report.json") >"$TEST_TMP/$sec.diff"; then
		check "report $sec = live $sec" same same
	else
		head -n 20 "$TEST_TMP/$sec.diff"
		check "report $sec = live $sec" different same
	fi
done

echo "== wrk -c 100 (dblat with no mode named: its default CPU budget)"
out3="$TEST_TMP/dblat-wrk.json"
DBLAT_AS_IS=1 dblat_start "$out3" -p "$app"
: >"$TEST_TMP/waits.log"
t0=$("$PY" -c 'import time; print(time.monotonic_ns())')
wrk -t2 -c100 -d8s -s "$ROOT/scripts/demo/wrk/models.lua" "http://127.0.0.1:$http_port" >"$TEST_TMP/wrk.txt" 2>&1 ||
	{ cat "$TEST_TMP/wrk.txt"; fail "wrk failed"; }
# Requests wrk gave up on at its deadline still wait for a connection: let them finish.
sleep 4
dblat_stop
sed -n 's/^WRK_JSON //p' "$TEST_TMP/wrk.txt" >"$TEST_TMP/wrk.json"
# The app serves HTTP: the default budget keeps every call, over it or not (pool waits need them).
grep -E '^dblat: (within its CPU budget|every call traced)' "$DBLAT_OUT"
check "wrk: windows under the default budget" "$(jget "$out3" '.sampling.windows')" 0
check "wrk: the default budget" "$(jget "$out3" '.sampling.budget_pct')" 0.5
wrk_n=$(jq .requests "$TEST_TMP/wrk.json")
read -r got_n got_200 unread no_resp <<<"$(jq -r --argjson p "$app" '[.requests[] | select(.pid == $p and .route == "/models")] | [(map(.count) | add // 0), (map(.status["200"] // 0) | add // 0), (map(.unread) | add // 0), (map(.no_response) | add // 0)] | @tsv' "$out3")"
echo "wrk: $wrk_n requests ($(jq -c .status "$TEST_TMP/wrk.json")); dblat: $got_n answered ($got_200 x 200), $unread of them unread, $no_resp closed before an answer"
# Exact in 42 of 43 runs (10 checked per connection against a packet
# capture); one run was one over, its cause not found.
awk -v w="$wrk_n" -v d="$((got_n - unread))" 'BEGIN { e = d - w; exit !(w > 1000 && e >= -1 && e <= 1) }'
check_true "responses read: answered less unread ($((got_n - unread))) = wrk's count ($wrk_n), within 1" $?
awk -v u="$unread" -v n="$no_resp" 'BEGIN { exit !(u + n > 0 && u + n <= 100) }'
check_true "wrk's deadline cut off at most one request per connection (unread $unread + no response $no_resp)" $?
check "non-200 answers (wrk: $(jq .non2xx "$TEST_TMP/wrk.json"))" "$((got_n - got_200))" "$(jq .non2xx "$TEST_TMP/wrk.json")"
sleep 2	# the app flushes its log every second
awk -v t0="$t0" '$1 >= t0 && $2 >= 0 { print $2 }' "$TEST_TMP/waits.log" | sort -n >"$TEST_TMP/waits-wrk.sorted"
read -r w_n w_mean w_p99 <<<"$(awk '{ a[NR] = $1; s += $1 } END { i = int(NR * 0.99 + 0.5); if (i < 1) i = 1; printf "%d %.1f %d\n", NR, NR ? s / NR : 0, NR ? a[i] : 0 }' "$TEST_TMP/waits-wrk.sorted")"
read -r d_mean d_p99 d_paired <<<"$(jq -r --argjson p "$app" '.pool[] | select(.pid == $p) | [.wait_us.mean, .wait_us.p99, .paired] | @tsv' "$out3")"
echo "pool wait under wrk: app mean $w_mean us p99 $w_p99 us ($w_n); dblat mean ${d_mean:-none} us p99 ${d_p99:-none} us (${d_paired:-0} paired)"
check "wrk: checkouts paired with a request (the app's log: $w_n)" "${d_paired:-0}" "$w_n"
for q in mean:"$w_mean":"${d_mean:-0}" p99:"$w_p99":"${d_p99:-0}"; do
	IFS=: read -r name a d <<<"$q"
	awk -v a="$a" -v d="$d" 'BEGIN { exit !(a > 1000 && d / a > 0.9 && d / a < 1.1) }'
	check_true "wrk: $name pool wait within 10% of the app's own" $? "(dblat/app $(awk -v a="$a" -v d="$d" 'BEGIN { printf "%.3f", a ? d / a : 0 }'))"
done
finish
