#!/usr/bin/env bash
# PERF_DB_SCALING_CAPACITY_006: capacity under a stepped ramp.
# Pool 10 + overflow 10; wrk steps of 4, 8, 16, 32, 64, 128 connections on
# GET /models, dblat attached over the whole ramp.
# See the seed test plan; thresholds and the verdict are in judge.py.
# SCENARIO_QUICK=1: a smoke version with about 20 s of load.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sc_init PERF_DB_SCALING_CAPACITY_006
sc_cluster_up

sc_app_start app DEMO_POOL_SIZE=10 DEMO_MAX_OVERFLOW=10 DEMO_POOL_TIMEOUT=10
sc_warmup 8 1
sc_ramp ramp "$(sc_dur 10 3)" "4 8 16 32 64 128" models.lua
sc_app_stop
sc_judge
