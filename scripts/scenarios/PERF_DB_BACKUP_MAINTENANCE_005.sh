#!/usr/bin/env bash
# PERF_DB_BACKUP_MAINTENANCE_005: backups and maintenance under API load.
# Pool 10, 32 connections, 20% billable. Baseline, then the same load while
# VACUUM (ANALYZE), CHECKPOINT, REINDEX CONCURRENTLY, pg_dump and
# pg_basebackup run back to back, repeated until the phase ends.
# See the seed test plan; thresholds and the verdict are in judge.py.
# SCENARIO_QUICK=1: a smoke version with about 20 s of load.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sc_init PERF_DB_BACKUP_MAINTENANCE_005
sc_cluster_up

BK=$(mktemp -d /tmp/dblat-sc-backup.XXXXXX)
chown postgres: "$BK"
sc_at_exit "rm -rf '$BK'"

maint() {
	local secs=$2 end pass=0
	end=$((SECONDS + secs - 2))
	op() {
		local name=$1 t0 t1 ms rc=0
		shift
		[ "$SECONDS" -lt "$end" ] || return 0
		t0=$(sc_now_ns)
		timeout -k 5 120 "$@" >>"$SC_OUT/ops.log" 2>&1 || rc=$?
		t1=$(sc_now_ns)
		ms=$(((t1 - t0) / 1000000))
		printf '{"op":"%s","pass":%d,"s":%d.%03d,"rc":%d}\n' "$name" "$pass" $((ms / 1000)) $((ms % 1000)) "$rc" >>"$SC_OUT/ops.jsonl"
	}
	local psql=(runuser -u postgres -- "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres -d gateway)
	while [ "$SECONDS" -lt "$end" ]; do
		pass=$((pass + 1))
		op vacuum_analyze "${psql[@]}" -c "VACUUM (ANALYZE) billing_events"
		op checkpoint "${psql[@]}" -c "CHECKPOINT"
		op reindex_concurrently "${psql[@]}" -c "REINDEX INDEX CONCURRENTLY ix_api_keys_hashed_key"
		op pg_dump runuser -u postgres -- "$PG_BINDIR/pg_dump" -h "$PGHOST" -p "$PGPORT" -U postgres -Fc -f "$BK/gateway.dump" gateway
		op pg_basebackup runuser -u postgres -- "$PG_BINDIR/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$BK/base" -X stream -c fast
		rm -rf "$BK/base" "$BK/gateway.dump"
	done
}

sc_app_start app DEMO_POOL_SIZE=10
sc_phase baseline "$(sc_dur 15 5)" 32 mix.lua chat=0.2
SC_DURING=maint sc_phase maint "$(sc_dur 45 14)" 32 mix.lua chat=0.2
sc_app_stop
sc_judge
