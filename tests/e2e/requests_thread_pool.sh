#!/usr/bin/env bash
# Thread-per-request, exact:
#   1. Pool queue wait of a threaded client: a libpq client
#      (scripts/demo/libpq_pool_client) with 4 pooled connections and 16
#      threads measures its own checkout wait around its pool's acquire
#      (its connections warmed first, -w: a new backend's first lookups
#      are slow, and a thread's first wait has no statement before it for
#      dblat to measure from);
#      dblat sees connections handed from thread to thread, times the
#      client's context switches, and the time each thread spends off CPU
#      between one statement's end and the next one's start must agree
#      with the client's waits after each thread's first: within 5% at the
#      p99; the mean at least 95% of the client's wait and at most 105% of
#      its whole gap between queries (see below). The whole gap also holds the
#      thread's own work: result handling, returning the connection, waking
#      a waiter: 40 to 70 us here on a 1.2 ms mean wait.
#   2. Database work bound to HTTP requests by thread: a ThreadingHTTPServer
#      over psycopg2 (tests/clients/thread_http_server.py: 3 statements per
#      /items/<n>, 5 per /orders/<n>, none for /health; a pool of 4
#      connections, 16 clients). Every request is bound by thread (method
#      exact-thread), with exactly its route's statements; its database time
#      agrees within 10% with the handler's own timing of its statements.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLIENT="$ROOT/scripts/demo/libpq_pool_client"
[ -x "$CLIENT" ] || fail "$CLIENT is not built (make test builds it)"
port=$(_pick_port) || fail "no free port"
DEMO_PGPORT=$port bash "$ROOT/scripts/demo/cluster.sh" start "$TEST_TMP/demo" >"$TEST_TMP/cluster.log" 2>&1 ||
	{ cat "$TEST_TMP/cluster.log"; fail "demo cluster did not start"; }
at_exit bash "$ROOT/scripts/demo/cluster.sh" stop "$TEST_TMP/demo"
# shellcheck disable=SC1091
source "$TEST_TMP/demo/env"

# The client connects, then waits (-s) so dblat can attach before the load.
bg_start 200 sh -c "exec '$CLIENT' -c '$DEMO_LIBPQ_CONNINFO' -n 4 -t 16 -w 20 -r 500 -s 60000 >'$TEST_TMP/client.json' 2>'$TEST_TMP/client.err'"
client=$BG_PID
out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$client"
sleep 1	# let the client finish connecting; SIGUSR1 ends its pause
steal0=$(awk '/^cpu / { print $9 }' /proc/stat)
kill -USR1 "$client" 2>/dev/null
_wait_gone "$client" 180 || fail "the libpq client did not finish"
dblat_stop
cat "$TEST_TMP/client.json"
[ -s "$TEST_TMP/client.json" ] || { cat "$TEST_TMP/client.err"; fail "no client report"; }

# A thread's first wait has no statement of its before it: dblat cannot time
# it, and the client leaves it out of wait_after_first_us. Those 16 waits are
# among the longest (16 threads start at once on 4 connections): counted in,
# they moved the client's p99 by up to 3% (dblat/client p99 0.978 to 1.008
# over 9 runs with them, 0.984 to 1.014 without; one run in about 40 had
# failed the bound at 0.949).
read -r c_mean c_p99 c_n c_gap <<<"$(jq -r '[.wait_after_first_us.mean, .wait_after_first_us.p99, .wait_after_first_us.count, .gap_us.mean] | @tsv' "$TEST_TMP/client.json")"
read -r g_mean g_p99 <<<"$(jq -r --argjson p "$client" '.pool[] | select(.pid == $p) | [.thread_gap_us.mean, .thread_gap_us.p99] | @tsv' "$out")"
read -r d_mean d_p99 d_n <<<"$(jq -r --argjson p "$client" '.pool[] | select(.pid == $p) | [.thread_wait_us.mean, .thread_wait_us.p99, (if .thread_wait_us.mean > 0 then .thread_wait_us.total / .thread_wait_us.mean | round else 0 end)] | @tsv' "$out")"
echo "checkout wait: client mean ${c_mean} us p99 ${c_p99} us (${c_n}), its whole gap between queries mean ${c_gap} us; dblat thread wait (off CPU) mean ${d_mean:-none} us p99 ${d_p99:-none} us (${d_n:-0}); whole gap mean ${g_mean:-none} us p99 ${g_p99:-none} us"
check "statements counted" "$(jq --argjson p "$client" '[.statements[] | select(.side == "client" and (.pids | index($p))) | .calls] | add // 0' "$out")" "$(jq .requests "$TEST_TMP/client.json")"
check "pool method" "$(jq -r --argjson p "$client" '.pool[] | select(.pid == $p) | .method' "$out")" exact-thread
awk -v a="$c_n" -v d="${d_n:-0}" 'BEGIN { exit !(d >= 0.95 * a && d <= a) }'
check_true "waits timed off CPU: ${d_n:-0} of the client's ${c_n}" $?
# dblat's off-CPU time also holds the thread's preemptions while it handles
# its result and hands the connection back, which the client's clock around
# acquire does not, and more of them the busier the host: over 12 quiet runs
# the mean stood 2% to 5.5% above the client's waits, and 8.1% with a
# pgbench at full rate beside it. Both are the client's own clocks: the mean
# lies between its wait (5% under at most) and its whole gap between
# queries (5% over at most).
awk -v a="$c_mean" -v g="${c_gap:-0}" -v d="${d_mean:-0}" 'BEGIN { exit !(a > 100 && d / a > 0.95 && d / g < 1.05) }'
check_true "mean wait between the client's own wait and its whole gap" $? "(dblat/client wait $(awk -v a="$c_mean" -v d="${d_mean:-0}" 'BEGIN { printf "%.3f", a ? d / a : 0 }'), dblat/client gap $(awk -v g="${c_gap:-0}" -v d="${d_mean:-0}" 'BEGIN { printf "%.3f", g ? d / g : 0 }'))"
# The client's clock also runs while its thread is on CPU inside the pool's
# acquire, and a vCPU the hypervisor takes away looks on CPU to the guest
# (the CPU time stolen meanwhile is printed); dblat's also holds a thread
# preempted while it returns its connection. Nine runs here: mean 1.011 to
# 1.043, p99 0.990 to 1.016.
steal=$(awk -v a="$steal0" '/^cpu / { printf "%.1f", ($9 - a) / 100 }' /proc/stat)
awk -v a="$c_p99" -v d="${d_p99:-0}" 'BEGIN { exit !(a > 100 && d / a > 0.95 && d / a < 1.05) }'
check_true "p99 wait within 5% of the client's own" $? "(dblat/client $(awk -v a="$c_p99" -v d="${d_p99:-0}" 'BEGIN { printf "%.3f", a ? d / a : 0 }'); CPU seconds stolen by the hypervisor meanwhile: $steal)"
# The whole gap, wall-clock on both sides: the client's runs from its query's
# return to its next acquire's end, dblat's from the response's read to the
# next send (three runs: 1.007 each time).
awk -v g="${c_gap:-0}" -v d="${g_mean:-0}" 'BEGIN { exit !(g > 100 && d / g > 0.95 && d / g < 1.05) }'
check_true "whole gap mean within 5% of the client's own" $? "(dblat/client $(awk -v g="${c_gap:-0}" -v d="${g_mean:-0}" 'BEGIN { printf "%.3f", g ? d / g : 0 }'))"
# The whole gap also holds the thread's own work: never less.
awk -v g="${g_mean:-0}" -v d="${d_mean:-0}" 'BEGIN { exit !(g > 0 && d <= g) }'
check_true "time off CPU within the whole gap (mean)" $?

echo "== thread-per-request HTTP server"
http_port=$(_pick_port) || fail "no free port"
bg_start 200 "$PY" "$ROOT/tests/clients/thread_http_server.py" "$http_port" "$DEMO_LIBPQ_CONNINFO" 4 "$TEST_TMP/handler.log"
server=$BG_PID
for ((i = 0; i < 100; i++)); do
	curl -s -o /dev/null "http://127.0.0.1:$http_port/health" && break
	sleep 0.1
done
cat >"$TEST_TMP/load.py" <<'PYEOF'
import http.client, json, sys, threading
port, threads, per = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
count = {}
lock = threading.Lock()
def worker(t):
    for i in range(per):
        route = ("items", "orders", "items", "health")[(t + i) % 4]
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/%s/%d" % (route, t * per + i) if route != "health" else "/health")
        r = c.getresponse()
        r.read()
        c.close()
        with lock:
            key = "%s %d" % (route, r.status)
            count[key] = count.get(key, 0) + 1
ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(count))
PYEOF
: >"$TEST_TMP/handler.log"
out2="$TEST_TMP/dblat-http.json"
dblat_start "$out2" -p "$server"
timeout 120 "$PY" "$TEST_TMP/load.py" "$http_port" 16 40 >"$TEST_TMP/load.json" || fail "load generator failed"
sleep 0.5
dblat_stop
cat "$TEST_TMP/load.json"
pool=$(jq -c --argjson p "$server" '.pool[] | select(.pid == $p) | {method, event_loop, requests}' "$out2")
echo "dblat pool: $pool"
check "pool method" "$(jq -r .method <<<"$pool")" exact-thread
for r in items:3 orders:5 health:0; do
	name=${r%%:*} n=${r#*:}
	tmpl="/$name/:id"
	[ "$name" = health ] && tmpl=/health
	route=$(jq -c --argjson p "$server" --arg t "$tmpl" '.requests[] | select(.pid == $p and .route == $t)' "$out2")
	want=$(jq --arg k "$name 200" '.[$k] // 0' "$TEST_TMP/load.json")
	check "$tmpl requests" "$(jq '.count' <<<"$route")" "$want"
	check "$tmpl bound by thread" "$(jq '.attributed["exact-thread"]' <<<"$route")" "$want"
	check "$tmpl statements per request (min, max)" \
		"$(jq -r '[.statements_per_request.p50, .statements_per_request.max] | @tsv' <<<"$route")" "$(printf '%s\t%s' "$n" "$n")"
	check "$tmpl statements bound" "$(jq '[.statements[].calls] | add // 0' <<<"$route")" $((n * want))
	[ "$n" -gt 0 ] || continue
	h_db=$(awk -v r="$name" '$1 == r { s += $3; k++ } END { if (k) printf "%.1f", s / k; else print 0 }' "$TEST_TMP/handler.log")
	read -r d_db d_lat d_app <<<"$(jq -r '[.db_us.mean, .latency_us.mean, .app_us.mean] | @tsv' <<<"$route")"
	echo "$tmpl db time per request: handler ${h_db} us, dblat ${d_db} us (latency ${d_lat} us, rest ${d_app} us)"
	awk -v a="$h_db" -v d="${d_db:-0}" 'BEGIN { exit !(a > 1000 && d / a > 0.9 && d / a <= 1.0) }'
	check_true "$tmpl db time within 10% under the handler's own timing" $?
	awk -v d="${d_db:-0}" -v l="${d_lat:-0}" 'BEGIN { exit !(d > 0 && d < l) }'
	check_true "$tmpl db time under the request latency" $?
done
finish
