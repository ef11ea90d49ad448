#!/usr/bin/env bash
# Run the seed test plan's scenarios on one shared private cluster and print
# a summary table; the verdict lines are saved to out/scenarios/summary.txt.
#
#   run-all.sh [ID ...]        (default: all, in the seed's order)
#
# Env: SCENARIO_QUICK=1 (~20 s per scenario), SC_TIMEOUT (s, per scenario,
# default 300), DBLAT, DEMO_PGPORT, DEMO_HTTP_PORT.
# Exit status: 1 when a scenario FAILed (or broke), else 0 (NEEDS is not a failure).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ALL=(
	PERF_DB_POOL_EXHAUSTION_001
	PERF_DB_POOL_RECOVERY_002
	PERF_DB_QUERY_AUTH_KEY_LOOKUP_001
	PERF_DB_QUERY_BILLING_WRITE_002
	PERF_DB_SESSION_OVERHEAD_001
	PERF_DB_CONFIG_ECHO_LOGGING_001
	PERF_DB_RESILIENCE_FAILOVER_001
	PERF_DB_QUERY_OPTIMIZATION_002
	PERF_DB_CONNECTION_BURST_003
	PERF_DB_TRANSACTION_PERFORMANCE_004
	PERF_DB_BACKUP_MAINTENANCE_005
	PERF_DB_SCALING_CAPACITY_006
)
IDS=("$@")
[ ${#IDS[@]} -gt 0 ] || IDS=("${ALL[@]}")
for id in "${IDS[@]}"; do
	[ -f "$HERE/$id.sh" ] || { echo "run-all.sh: no scenario $id" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "run-all.sh: run as root" >&2; exit 1; }

CDIR=
SC_PID=
cleanup() {
	if [ -n "$SC_PID" ] && kill -0 "$SC_PID" 2>/dev/null; then
		kill -TERM "$SC_PID" 2>/dev/null || true
		wait "$SC_PID" 2>/dev/null || true
	fi
	if [ -n "$CDIR" ]; then
		bash "$ROOT/scripts/demo/cluster.sh" stop "$CDIR" >/dev/null 2>&1 || true
		mkdir -p "$ROOT/out/scenarios"
		cp "$CDIR/postgresql.log" "$ROOT/out/scenarios/postgresql.log" 2>/dev/null || true
		rm -rf "$CDIR"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

CDIR=$(mktemp -d /tmp/dblat-sc-all.XXXXXX)
bash "$ROOT/scripts/demo/cluster.sh" start "$CDIR"
export SC_CLUSTER_DIR=$CDIR

mkdir -p "$ROOT/out/scenarios"
SUMMARY=$ROOT/out/scenarios/summary.txt
: >"$SUMMARY"
failed=0
for id in "${IDS[@]}"; do
	echo "=== $id" >&2
	t0=$SECONDS
	rc=0
	timeout -k 15 "${SC_TIMEOUT:-300}" bash "$HERE/$id.sh" >&2 &
	SC_PID=$!
	wait "$SC_PID" || rc=$?
	SC_PID=
	v=$ROOT/out/scenarios/$id/verdict.txt
	if [ "$rc" -eq 0 ] && [ -s "$v" ]; then
		line=$(head -1 "$v")
	else
		line="$id | (scenario did not finish) | FAIL | exit status $rc after $((SECONDS - t0)) s, see out/scenarios/$id/"
	fi
	echo "$line" >>"$SUMMARY"
	case $(echo "$line" | awk -F' [|] ' '{print $3}') in
	FAIL*) failed=1 ;;
	esac
	echo "--- $id: $(echo "$line" | awk -F' [|] ' '{print $3}') ($((SECONDS - t0)) s)" >&2
done

echo
printf '%-38s %-28s %s\n' "ID" "VERDICT" "EXPECTED"
awk -F' [|] ' '{ printf "%-38s %-28s %s\n", $1, $3, $2 }' "$SUMMARY"
echo
echo "Measured (one line per scenario, also in out/scenarios/summary.txt):"
awk -F' [|] ' '{ printf "%s: %s\n", $1, $4 }' "$SUMMARY"
exit "$failed"
