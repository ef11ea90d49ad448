#!/usr/bin/env bash
# PERF_DB_CONFIG_ECHO_LOGGING_001: SQLAlchemy echo=True vs echo=False.
# Alternating runs off, on, off, on (the app restarted for each, its log in a
# file; a quick run does off, on), 32 connections on GET /models, pool 10.
# See the seed test plan; thresholds and the verdict are in judge.py.
# SCENARIO_QUICK=1: a smoke version with about 20 s of load.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sc_init PERF_DB_CONFIG_ECHO_LOGGING_001
sc_cluster_up

run() {
	local label=$1
	shift
	sc_app_start "$label" DEMO_POOL_SIZE=10 "$@"
	sc_phase "$label" "$(sc_dur 8 4)" 32 models.lua
	sc_app_stop
}
# No warm-up: dblat must see asyncpg's Parse of the lookup to name it.
run off1
run on1 DEMO_ECHO=1
# a quick run stops after one pair
if [ "${SCENARIO_QUICK:-0}" != 1 ]; then
	run off2
	run on2 DEMO_ECHO=1
fi
sc_judge
