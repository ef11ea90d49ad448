#!/usr/bin/env bash
# PERF_DB_POOL_EXHAUSTION_001: concurrency far above the pool size.
# Pool of 5 (no overflow, checkout timeout SC_POOL_TIMEOUT s: default 30 as in
# the app; SC_POOL_TIMEOUT=1 makes some requests time out with 503) under
# 100 wrk connections on GET /models, after a baseline of 8 connections.
# See the seed test plan; thresholds and the verdict are in judge.py.
# SCENARIO_QUICK=1: a smoke version with about 20 s of load.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sc_init PERF_DB_POOL_EXHAUSTION_001
sc_cluster_up

# dblat attaches only where the verdict reads it (each attach costs seconds)
export SC_TRACE_PHASES="exhaust"
sc_app_start app DEMO_POOL_SIZE=5 DEMO_MAX_OVERFLOW=0 DEMO_POOL_TIMEOUT="${SC_POOL_TIMEOUT:-30}"
sc_warmup 8 1
sc_phase baseline "$(sc_dur 10 4)" 8 models.lua
sc_phase exhaust "$(sc_dur 50 14)" 100 models.lua
sc_app_stop
sc_judge
