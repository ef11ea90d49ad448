#!/usr/bin/env bash
# PERF_DB_POOL_RECOVERY_002: the pool returns to baseline after stress and after an outage.
# Pool 5: baseline (8 connections), stress (100), recover (8), outage (8
# connections while the server is stopped for a few seconds and started
# again), after (8).
# See the seed test plan; thresholds and the verdict are in judge.py.
# SCENARIO_QUICK=1: a smoke version with about 20 s of load.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sc_init PERF_DB_POOL_RECOVERY_002
sc_cluster_up

sc_pg_keep_running
OUTAGE_AT=$(sc_dur 3 2)
OUTAGE_LEN=$(sc_dur 4 3)
outage() {
	sleep "$OUTAGE_AT"
	local down up
	down=$(sc_now_ns)
	sc_pg_down
	sleep "$OUTAGE_LEN"
	sc_pg_up
	up=$(sc_now_ns)
	printf '{"down_ns":%s,"restored_ns":%s}\n' "$down" "$up" >"$SC_OUT/outage.json"
}

# dblat attaches only where the verdict reads it (each attach costs seconds)
export SC_TRACE_PHASES="baseline after"
sc_app_start app DEMO_POOL_SIZE=5 DEMO_MAX_OVERFLOW=0 DEMO_POOL_TIMEOUT=1
sc_phase baseline "$(sc_dur 8 3)" 8 models.lua
sc_phase stress "$(sc_dur 15 4)" 100 models.lua
sc_phase recover "$(sc_dur 8 3)" 8 models.lua
# The postmaster is replaced during this phase: dblat follows the app only.
SC_DURING=outage SC_DBLAT_PIDS=$APP_PID sc_phase outage "$(sc_dur 15 8)" 8 models.lua
sc_phase after "$(sc_dur 8 3)" 8 models.lua
sc_app_stop
sc_judge
