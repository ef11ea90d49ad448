#!/usr/bin/env bash
# PERF_DB_QUERY_BILLING_WRITE_002: billing inserts vs auth lookups.
# Pool 10, 32 connections: reads only (GET /models), then half of the
# requests billable (POST /chat/completions: INSERT billing_events + COMMIT).
# See the seed test plan; thresholds and the verdict are in judge.py.
# SCENARIO_QUICK=1: a smoke version with about 20 s of load.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sc_init PERF_DB_QUERY_BILLING_WRITE_002
sc_cluster_up

sc_app_start app DEMO_POOL_SIZE=10
sc_phase reads "$(sc_dur 20 7)" 32 models.lua
sc_phase writes "$(sc_dur 20 7)" 32 mix.lua chat=0.5
sc_app_stop
sc_judge
