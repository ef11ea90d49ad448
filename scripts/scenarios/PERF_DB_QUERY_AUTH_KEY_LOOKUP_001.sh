#!/usr/bin/env bash
# PERF_DB_QUERY_AUTH_KEY_LOOKUP_001: API key lookup time under load.
# 100,000 keys, 32 connections on GET /models with random keys; the lookup's
# plan, its pg_stat_statements time and dblat's server- and client-side time.
# See the seed test plan; thresholds and the verdict are in judge.py.
# SCENARIO_QUICK=1: a smoke version with about 20 s of load.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sc_init PERF_DB_QUERY_AUTH_KEY_LOOKUP_001
sc_cluster_up

sc_app_start app
# No warm-up: asyncpg prepares the lookup once per connection, and dblat
# must see that Parse to name the statement.
sc_phase load "$(sc_dur 30 12)" 32 models.lua
sc_explain_lookup "$SC_OUT/explain.txt"
sc_app_stop
sc_judge
