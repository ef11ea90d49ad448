#!/usr/bin/env bash
# Pool queue wait of a thread-per-request client, exact: a threaded libpq
# client (scripts/demo/libpq_pool_client) with 4 pooled connections and 16
# threads measures its own checkout wait around its pool's acquire; dblat's
# per-thread gap between one statement's end and the next one's start must
# agree within 5% at the mean and the p99.
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
bg_start 200 sh -c "exec '$CLIENT' -c '$DEMO_LIBPQ_CONNINFO' -n 4 -t 16 -r 500 -s 60000 >'$TEST_TMP/client.json' 2>'$TEST_TMP/client.err'"
client=$BG_PID
out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$client"
sleep 1	# let the client finish connecting; SIGUSR1 ends its pause
kill -USR1 "$client" 2>/dev/null
_wait_gone "$client" 180 || fail "the libpq client did not finish"
dblat_stop
cat "$TEST_TMP/client.json"
[ -s "$TEST_TMP/client.json" ] || { cat "$TEST_TMP/client.err"; fail "no client report"; }

read -r c_mean c_p99 c_n <<<"$(jq -r '[.wait_us.mean, .wait_us.p99, .wait_us.count] | @tsv' "$TEST_TMP/client.json")"
read -r d_mean d_p99 d_n <<<"$(jq -r --argjson p "$client" '.pool[] | select(.pid == $p) | [.thread_gap_us.mean, .thread_gap_us.p99, .thread_gap_us.total] | @tsv' "$out")"
echo "checkout wait: client mean ${c_mean} us p99 ${c_p99} us (${c_n}); dblat thread gap mean ${d_mean:-none} us p99 ${d_p99:-none} us"
check "statements counted" "$(jq --argjson p "$client" '[.statements[] | select(.side == "client" and (.pids | index($p))) | .calls] | add // 0' "$out")" "$(jq .requests "$TEST_TMP/client.json")"
awk -v a="$c_mean" -v d="${d_mean:-0}" 'BEGIN { exit !(a > 100 && d / a > 0.95 && d / a < 1.05) }'
check_true "mean wait within 5% of the client's own" $?
awk -v a="$c_p99" -v d="${d_p99:-0}" 'BEGIN { exit !(a > 100 && d / a > 0.95 && d / a < 1.05) }'
check_true "p99 wait within 5% of the client's own" $?
finish
