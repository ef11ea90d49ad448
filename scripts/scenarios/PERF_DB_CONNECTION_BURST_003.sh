#!/usr/bin/env bash
# PERF_DB_CONNECTION_BURST_003: a sudden burst of authenticated requests.
# Pool 10 + overflow 10, checkout timeout 5 s: calm (8 connections), burst
# (100), calm again (8).
# See the seed test plan; thresholds and the verdict are in judge.py.
# SCENARIO_QUICK=1: a smoke version with about 20 s of load.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sc_init PERF_DB_CONNECTION_BURST_003
sc_cluster_up

# dblat attaches only where the verdict reads it (each attach costs seconds)
export SC_TRACE_PHASES="burst"
sc_app_start app DEMO_POOL_SIZE=10 DEMO_MAX_OVERFLOW=10 DEMO_POOL_TIMEOUT=5
sc_warmup 8 1
sc_phase calm1 "$(sc_dur 10 4)" 8 models.lua
sc_phase burst "$(sc_dur 10 6)" 100 models.lua
sc_phase calm2 "$(sc_dur 10 4)" 8 models.lua
sc_app_stop
sc_judge
