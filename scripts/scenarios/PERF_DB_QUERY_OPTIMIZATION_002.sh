#!/usr/bin/env bash
# PERF_DB_QUERY_OPTIMIZATION_002: the key lookup without and with its index.
# ix_api_keys_hashed_key is dropped (sequential scans), 32 connections on
# GET /models, then recreated and the same load run again. The index is
# recreated at exit whatever happens.
# See the seed test plan; thresholds and the verdict are in judge.py.
# SCENARIO_QUICK=1: a smoke version with about 20 s of load.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sc_init PERF_DB_QUERY_OPTIMIZATION_002
sc_cluster_up

restore_index() {
	sc_psql -c "CREATE UNIQUE INDEX IF NOT EXISTS ix_api_keys_hashed_key ON api_keys (hashed_key)" >/dev/null
}
sc_at_exit restore_index

sc_app_start app
sc_psql -c "DROP INDEX IF EXISTS ix_api_keys_hashed_key"
sc_explain_lookup "$SC_OUT/explain-noindex.txt"
sc_phase noindex "$(sc_dur 20 7)" 32 models.lua
restore_index
sc_psql -c "ANALYZE api_keys"
sc_explain_lookup "$SC_OUT/explain-index.txt"
sc_phase index "$(sc_dur 20 7)" 32 models.lua
sc_app_stop
sc_judge
