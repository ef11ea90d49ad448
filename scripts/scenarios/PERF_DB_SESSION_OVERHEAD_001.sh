#!/usr/bin/env bash
# PERF_DB_SESSION_OVERHEAD_001: cost of an AsyncSession per request.
# A profile, not a load test: one connection at a time on GET /models (no
# pool queueing, no event-loop congestion inflating the awaits); the app
# times session creation and close itself, dblat sees BEGIN/ROLLBACK.
# See the seed test plan; thresholds and the verdict are in judge.py.
# SCENARIO_QUICK=1: a smoke version with about 20 s of load.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sc_init PERF_DB_SESSION_OVERHEAD_001
sc_cluster_up

sc_app_start app
sc_warmup 1 1
sc_phase load "$(sc_dur 20 10)" 1 models.lua
sc_app_stop
sc_judge
