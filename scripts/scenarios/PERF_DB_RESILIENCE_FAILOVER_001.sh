#!/usr/bin/env bash
# PERF_DB_RESILIENCE_FAILOVER_001: recovery from a database outage.
# Pool 5 (pre-ping off, as by default), 8 connections on GET /models for the
# whole run; the server is stopped (fast) after a baseline and started again
# a few seconds later. The app's per-request log gives the recovery curve.
# See the seed test plan; thresholds and the verdict are in judge.py.
# SCENARIO_QUICK=1: a smoke version with about 20 s of load.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sc_init PERF_DB_RESILIENCE_FAILOVER_001
sc_cluster_up

sc_pg_keep_running
OUTAGE_AT=$(sc_dur 15 5)
OUTAGE_LEN=$(sc_dur 5 3)
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

sc_app_start app
sc_warmup 8 1
# The postmaster is replaced mid-run: dblat follows the app only.
SC_DURING=outage SC_DBLAT_PIDS=$APP_PID sc_phase run "$(sc_dur 60 20)" 8 models.lua
sc_app_stop
sc_judge
