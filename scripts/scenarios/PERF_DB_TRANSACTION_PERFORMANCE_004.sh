#!/usr/bin/env bash
# PERF_DB_TRANSACTION_PERFORMANCE_004: transactions under concurrent updates.
# The app debits users.credit_balance in every billable request
# (DEMO_BILLING_UPDATE=1; keys 1..200, so users 1..200 are hot) at 16
# connections, half the requests billable. Baseline alone, then with pgbench
# clients moving credit between random pairs of users 1..20 and touching
# api_keys (lock waits) under READ COMMITTED, then under REPEATABLE READ
# (serialization failures possible). The pair is locked in id order, as a
# careful app does; SC_DEADLOCK_PRONE=1 locks it in random order instead.
# See the seed test plan; thresholds and the verdict are in judge.py.
# SCENARIO_QUICK=1: a smoke version with about 20 s of load.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sc_init PERF_DB_TRANSACTION_PERFORMANCE_004
sc_cluster_up

if [ "${SC_DEADLOCK_PRONE:-0}" = 1 ]; then
	order='\set a :u1
\set b :u2'
else
	order='\set a least(:u1, :u2)
\set b greatest(:u1, :u2)'
fi
cat >"$SC_OUT/txn.sql" <<SQL
\set u1 random(1, 20)
\set u2 random(1, 20)
\set k random(1, 200)
$order
BEGIN;
UPDATE users SET credit_balance = credit_balance - 0.01, updated_at = now() WHERE id = :a;
UPDATE api_keys SET last_used_at = now() WHERE id = :k;
UPDATE users SET credit_balance = credit_balance + 0.01, updated_at = now() WHERE id = :b;
END;
SQL
chmod 644 "$SC_OUT/txn.sql"

contend() {
	local phase=$1 secs=$2 iso
	case $phase in
	rc) iso="read committed" ;;
	*) iso="repeatable read" ;;
	esac
	PGOPTIONS="-c default_transaction_isolation=${iso// /\\ }" \
		timeout -k 5 $((secs + 20)) "$PG_BINDIR/pgbench" -n -h 127.0.0.1 -p "$PGPORT" -U postgres \
		-c 4 -j 2 -T "$secs" -f "$SC_OUT/txn.sql" --max-tries=1 --failures-detailed gateway \
		>"$SC_OUT/$phase.pgbench.txt" 2>&1
}

sc_app_start app DEMO_POOL_SIZE=10 DEMO_BILLING_UPDATE=1
sc_warmup 10 1
export SC_TRACE_PHASES="rc rr"
sc_phase baseline "$(sc_dur 12 5)" 16 mix.lua chat=0.5 keys=200
SC_DURING=contend sc_phase rc "$(sc_dur 15 6)" 16 mix.lua chat=0.5 keys=200
SC_DURING=contend sc_phase rr "$(sc_dur 15 6)" 16 mix.lua chat=0.5 keys=200
sc_app_stop
sc_judge
