#!/usr/bin/env bash
# A fast run of three seed test cases (SCENARIO_QUICK=1) through the same
# scripts `make scenarios` runs: each must finish with a verdict backed by
# dblat's numbers (no "NEEDS dblat"), and the API-key lookup case must agree
# with pg_stat_statements call for call (its verdict checks that).
# Performance verdicts of the other two depend on the machine; they are
# printed, and only a verdict that cannot be reached fails the test.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IDS=(PERF_DB_QUERY_AUTH_KEY_LOOKUP_001 PERF_DB_QUERY_OPTIMIZATION_002 PERF_DB_SESSION_OVERHEAD_001)
pgport=$(_pick_port) || fail "no free port"
hport=$(_pick_port) || fail "no free port"
SCENARIO_QUICK=1 DEMO_PGPORT=$pgport DEMO_HTTP_PORT=$hport DBLAT="$DBLAT" \
	timeout 280 bash "$ROOT/scripts/scenarios/run-all.sh" "${IDS[@]}" >"$TEST_TMP/run.log" 2>&1
rc=$?
tail -n 12 "$TEST_TMP/run.log"
summary="$ROOT/out/scenarios/summary.txt"
[ -s "$summary" ] || fail "no summary (run-all.sh exit $rc)"
for id in "${IDS[@]}"; do
	verdict=$(awk -F' [|] ' -v id="$id" '$1 == id { print $3 }' "$summary" | tail -1)
	check_true "$id reached a verdict" "$([ -n "$verdict" ] && echo 0 || echo 1)" "($verdict)"
	case $verdict in *"NEEDS dblat"*) check_true "$id: dblat produced its numbers" 1 ;; esac
done
check "PERF_DB_QUERY_AUTH_KEY_LOOKUP_001 verdict" \
	"$(awk -F' [|] ' '$1 == "PERF_DB_QUERY_AUTH_KEY_LOOKUP_001" { print $3 }' "$summary" | tail -1)" PASS
grep -o 'dblat/pgss calls [0-9]*/[0-9]*' "$summary" | head -1
finish
