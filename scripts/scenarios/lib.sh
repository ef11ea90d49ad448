# shellcheck shell=bash
# Shared plumbing of the scenario scripts (scripts/scenarios/<ID>.sh).
#
# A scenario sources this file, calls sc_init ID, starts the cluster and the
# app with the settings its test case needs, runs one or more load phases
# (sc_phase) with dblat attached, then sc_judge, which prints the verdict:
#
#   ID | expected outcome | PASS/FAIL/NEEDS <capability> | measured ...
#
# Every artifact of a run lands in out/scenarios/<ID>/ (wrk output and its
# WRK_JSON summary, dblat's JSON/text, pg_stat_statements, pg_stat_activity
# samples, the app's per-request pool wait log); judge.py reads them, so a
# verdict can be recomputed later with `judge.py ID DIR`.
#
# Environment:
#   SCENARIO_QUICK=1     ~20 s smoke version of every scenario
#   SC_CLUSTER_DIR=DIR   reuse a running cluster made by cluster.sh (run-all.sh does)
#   DBLAT=PATH           the dblat binary (default ./dblat at the repo root);
#                        absent: scenarios still run, verdicts say NEEDS dblat
#   DBLAT_ARGS           extra dblat flags
#   DEMO_PGPORT (55432), DEMO_HTTP_PORT (8088)

SC_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SC_LIB_DIR/../.." && pwd)
DEMO_DIR=$ROOT/scripts/demo
PY=/usr/bin/python3
DBLAT=${DBLAT:-$ROOT/dblat}
export DEMO_HTTP_PORT=${DEMO_HTTP_PORT:-8088}
APP_URL=http://127.0.0.1:$DEMO_HTTP_PORT

SC_CLEANUP=()
SC_BG=()
APP_PID=

sc_log() { printf '[%s %s] %s\n' "$(date +%T)" "${SC_ID:-scenario}" "$*" >&2; }
sc_die() { sc_log "error: $*"; exit 1; }

# sc_dur FULL QUICK: the duration for this run, in seconds.
sc_dur() { if [ "${SCENARIO_QUICK:-0}" = 1 ]; then echo "$2"; else echo "$1"; fi; }

sc_now_ns() { $PY "$SC_LIB_DIR/sc_util.py" now; }

sc_cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	if [ -n "${SC_DBLAT_PID:-}" ] && kill -0 "$SC_DBLAT_PID" 2>/dev/null; then
		kill -INT "$SC_DBLAT_PID" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$SC_DBLAT_PID" 2>/dev/null || break
			sleep 0.1
		done
	fi
	sc_app_stop
	for i in "${SC_BG[@]}"; do
		kill "$i" 2>/dev/null || true
	done
	for i in "${SC_BG[@]}"; do
		wait "$i" 2>/dev/null || true
	done
	for ((i = ${#SC_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${SC_CLEANUP[i]}" || true
	done
	exit "$rc"
}

# sc_at_exit CMD: run CMD (a string) at exit, last registered first.
sc_at_exit() { SC_CLEANUP+=("$1"); }

sc_init() {
	SC_ID=$1
	[ "$(id -u)" -eq 0 ] || sc_die "run as root (dblat and the cluster need it)"
	for c in wrk curl; do
		command -v "$c" >/dev/null || sc_die "$c is missing: run 'bash scripts/deps.sh'"
	done
	$PY -c 'import fastapi, uvicorn, sqlalchemy, asyncpg' 2>/dev/null ||
		sc_die "the app's Python packages are missing: run 'bash scripts/deps.sh'"
	SC_OUT=$ROOT/out/scenarios/$SC_ID
	rm -rf "$SC_OUT"
	mkdir -p "$SC_OUT"
	trap sc_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	printf '{"id":"%s","quick":%s,"started":"%s"}\n' "$SC_ID" "${SCENARIO_QUICK:-0}" "$(date -Is)" >"$SC_OUT/meta.json"
	if [ -x "$DBLAT" ]; then
		SC_HAVE_DBLAT=1
	else
		SC_HAVE_DBLAT=0
		sc_log "no dblat binary at $DBLAT: running without it (verdicts will say NEEDS dblat)"
		: >"$SC_OUT/no-dblat"
	fi
}

# ------------------------------------------------------------------ cluster

sc_cluster_up() {
	if [ -n "${SC_CLUSTER_DIR:-}" ] && bash "$DEMO_DIR/cluster.sh" status "$SC_CLUSTER_DIR" >/dev/null 2>&1; then
		SC_CDIR=$SC_CLUSTER_DIR
	else
		SC_CDIR=$(mktemp -d /tmp/dblat-sc.XXXXXX)
		sc_at_exit "bash '$DEMO_DIR/cluster.sh' stop '$SC_CDIR' >/dev/null; cp '$SC_CDIR/postgresql.log' '$SC_OUT/postgresql.log' 2>/dev/null; rm -rf '$SC_CDIR'"
		bash "$DEMO_DIR/cluster.sh" start "$SC_CDIR" >&2 || sc_die "cluster start failed"
	fi
	sc_load_env
}

# Re-read DIR/env: after a restart the postmaster pid has changed.
sc_load_env() {
	# shellcheck disable=SC1091
	. "$SC_CDIR/env"
	export PGHOST PGPORT PGUSER PGDATABASE DEMO_DB_URL DEMO_PGPORT
}

sc_psql() { runuser -u postgres -- "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres -d gateway "$@"; }

sc_pg_ctl() { runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PGDATA" "$@"; }

# ---------------------------------------------------------------------- app

# sc_app_start LABEL [VAR=VALUE ...]: start the gateway with these settings,
# its per-request wait log in $SC_OUT/LABEL.waitlog; wait until it answers.
sc_app_start() {
	local label=$1
	shift
	[ -z "$APP_PID" ] || sc_app_stop
	if ss -Htln "sport = :$DEMO_HTTP_PORT" | grep -q .; then
		sc_die "port $DEMO_HTTP_PORT is taken: set DEMO_HTTP_PORT"
	fi
	env DEMO_DB_URL="$DEMO_DB_URL" DEMO_HTTP_PORT="$DEMO_HTTP_PORT" \
		DEMO_POOL_WAIT_LOG="$SC_OUT/$label.waitlog" "$@" \
		$PY "$DEMO_DIR/app.py" >>"$SC_OUT/$label.app.out" 2>>"$SC_OUT/$label.app.err" &
	APP_PID=$!
	SC_APP_LABEL=$label
	printf '%s\n' "$@" >"$SC_OUT/$label.app.env"
	local i
	for ((i = 0; i < 100; i++)); do
		curl -sf -o /dev/null "$APP_URL/healthz" && break
		kill -0 "$APP_PID" 2>/dev/null || { tail -5 "$SC_OUT/$label.app.err" >&2; sc_die "the app exited"; }
		sleep 0.2
	done
	curl -sf -o /dev/null "$APP_URL/healthz" || sc_die "the app did not answer in 20 s"
	sc_log "app up (pid $APP_PID) with ${*:-defaults}"
}

sc_app_stop() {
	[ -n "$APP_PID" ] || return 0
	curl -s -o "$SC_OUT/$SC_APP_LABEL.appstats.json" "$APP_URL/debug/stats" 2>/dev/null || true
	kill -TERM "$APP_PID" 2>/dev/null || true
	local i
	for ((i = 0; i < 50; i++)); do
		kill -0 "$APP_PID" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL "$APP_PID" 2>/dev/null || true
	wait "$APP_PID" 2>/dev/null || true
	APP_PID=
}

# sc_app_alive: exit 0 when the app process lives and /healthz answers.
sc_app_alive() {
	[ -n "$APP_PID" ] && kill -0 "$APP_PID" 2>/dev/null && curl -sf -m 5 -o /dev/null "$APP_URL/healthz"
}

# sc_warmup CONNS SECONDS: open the pool's connections before measuring.
# Not before a traced phase whose verdict reads a statement by its text:
# asyncpg prepares each statement once per connection, and dblat names a
# prepared statement only if it saw its Parse.
sc_warmup() {
	timeout -k 5 $(($2 + 15)) wrk -t1 -c"$1" -d"$2s" -s "$DEMO_DIR/wrk/models.lua" "$APP_URL" >/dev/null 2>&1 || true
}

# ------------------------------------------------------------ measurements

sc_pgss_reset() { sc_psql -c "SELECT pg_stat_statements_reset()" >/dev/null; }

# sc_pgss_dump FILE: the gateway db's pg_stat_statements as a JSON array.
sc_pgss_dump() {
	sc_psql -c "SELECT coalesce(json_agg(json_build_object(
		'query', query, 'calls', calls, 'rows', rows,
		'mean_ms', mean_exec_time, 'max_ms', max_exec_time, 'stddev_ms', stddev_exec_time,
		'total_ms', total_exec_time, 'blks_hit', shared_blks_hit, 'blks_read', shared_blks_read)
		ORDER BY calls DESC), '[]')
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'gateway')" >"$1" 2>/dev/null ||
		echo '[]' >"$1"
}

# sc_dbstat FILE: pg_stat_database counters of the gateway db.
sc_dbstat() {
	sc_psql -c "SELECT row_to_json(d) FROM (SELECT xact_commit, xact_rollback, deadlocks,
		conflicts, blks_read, blks_hit, tup_inserted, tup_updated, temp_bytes
		FROM pg_stat_database WHERE datname = 'gateway') d" >"$1" 2>/dev/null || echo '{}' >"$1"
}

# sc_cpu: "postgres_ticks app_ticks" (utime+stime in clock ticks, summed
# over the live processes of the postgres user, and of the app) right now.
sc_cpu() { $PY "$SC_LIB_DIR/sc_util.py" cpu "$(id -u postgres)" "${APP_PID:-0}"; }

# sc_activity_sample: one JSON line about pg_stat_activity right now.
sc_activity_sample() {
	sc_psql -c "SELECT json_build_object(
		't', extract(epoch FROM clock_timestamp()),
		'app_total', count(*) FILTER (WHERE application_name = 'demo-gateway'),
		'app_active', count(*) FILTER (WHERE application_name = 'demo-gateway' AND state = 'active'),
		'app_idle_in_xact', count(*) FILTER (WHERE application_name = 'demo-gateway' AND state LIKE 'idle in transaction%'),
		'backends', count(*) FILTER (WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()),
		'active', count(*) FILTER (WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()),
		'lock_waiting', count(*) FILTER (WHERE wait_event_type = 'Lock'),
		'max_xact_age_ms', coalesce(max(extract(epoch FROM clock_timestamp() - xact_start) * 1000)
			FILTER (WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()), 0))
		FROM pg_stat_activity"
}

# sc_sampler_start FILE SECONDS: sample pg_stat_activity every second.
sc_sampler_start() {
	local file=$1 secs=$2
	(
		n=$((secs + 10))
		while [ "$n" -gt 0 ]; do
			sc_activity_sample >>"$file" 2>/dev/null || echo '{"down":true}' >>"$file"
			sleep 1
			n=$((n - 1))
		done
	) &
	SC_SAMPLER=$!
	SC_BG+=("$SC_SAMPLER")
}

sc_sampler_stop() {
	[ -n "${SC_SAMPLER:-}" ] || return 0
	kill "$SC_SAMPLER" 2>/dev/null || true
	wait "$SC_SAMPLER" 2>/dev/null || true
	SC_SAMPLER=
}

# ---------------------------------------------------------------- dblat

# sc_dblat_start PHASE SECONDS [PID ...]: attach dblat to the app and the
# postmaster (or the given pids) for SECONDS; waits for "dblat: attached".
sc_dblat_start() {
	local phase=$1 secs=$2
	shift 2
	SC_DBLAT_PID=
	[ "$SC_HAVE_DBLAT" = 1 ] || return 0
	local pids=("$@") args=() p
	[ ${#pids[@]} -gt 0 ] || pids=("$APP_PID" "$POSTMASTER_PID")
	for p in "${pids[@]}"; do args+=(-p "$p"); done
	# shellcheck disable=SC2086
	"$DBLAT" "${args[@]}" --json="$SC_OUT/$phase.dblat.json" -d "$secs" ${DBLAT_ARGS:-} \
		>"$SC_OUT/$phase.dblat.txt" 2>"$SC_OUT/$phase.dblat.err" &
	SC_DBLAT_PID=$!
	SC_BG+=("$SC_DBLAT_PID")
	local i
	for ((i = 0; i < 300; i++)); do
		grep -q '^dblat: attached' "$SC_OUT/$phase.dblat.err" 2>/dev/null && return 0
		if ! kill -0 "$SC_DBLAT_PID" 2>/dev/null; then
			sc_log "dblat exited before attaching: $(head -1 "$SC_OUT/$phase.dblat.err")"
			SC_DBLAT_PID=
			return 0
		fi
		sleep 0.1
	done
	sc_log "dblat did not attach within 30 s: stopping it"
	kill -INT "$SC_DBLAT_PID" 2>/dev/null || true
	SC_DBLAT_PID=
}

# sc_dblat_wait: let dblat finish its -d time and write its reports.
sc_dblat_wait() {
	[ -n "${SC_DBLAT_PID:-}" ] || return 0
	local i
	for ((i = 0; i < 300; i++)); do
		kill -0 "$SC_DBLAT_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SC_DBLAT_PID" 2>/dev/null; then
		sc_log "dblat still running 30 s after its time: SIGINT"
		kill -INT "$SC_DBLAT_PID" 2>/dev/null || true
		sleep 5
		kill -KILL "$SC_DBLAT_PID" 2>/dev/null || true
	fi
	wait "$SC_DBLAT_PID" 2>/dev/null || true
	SC_DBLAT_PID=
}

# ----------------------------------------------------------------- phases

# sc_phase PHASE SECONDS CONNS SCRIPT [wrk script options]
#   One measured load phase: reset pg_stat_statements, sample
#   pg_stat_activity, attach dblat, run wrk for SECONDS with CONNS
#   connections and scripts/demo/wrk/SCRIPT, then save everything under
#   $SC_OUT/PHASE.*. If SC_DURING names a function, it runs in the
#   background while the load runs (faults, maintenance: called as
#   "FUNC PHASE SECONDS") and is waited for.
#   SC_DBLAT_PIDS (space separated) overrides the pids dblat attaches to.
#   SC_TRACE_PHASES (space separated), when set, names the only phases
#   dblat is attached in (each attach costs seconds of set-up).
sc_phase() {
	local phase=$1 secs=$2 conns=$3 script=$4
	shift 4
	sc_log "phase $phase: ${secs}s, $conns connections, $script $*"
	sc_phase_begin "$phase" "$secs"
	sc_wrk "$SC_OUT/$phase" "$secs" "$conns" "$script" "$@"
	sc_phase_end "$phase" "$secs" "$conns" "$script" "$*"
	sc_log "phase $phase done: $(sc_wrk_brief "$SC_OUT/$phase.wrk.json")"
}

# sc_ramp PHASE STEP_SECONDS "C1 C2 ..." SCRIPT [options]: one phase made of
# wrk steps of increasing connections; PHASE.steps.jsonl has one
# {"conns":C,"wrk":{...}} line per step.
sc_ramp() {
	local phase=$1 step=$2 conns_list=$3 script=$4 c n=0
	shift 4
	for c in $conns_list; do n=$((n + 1)); done
	sc_log "phase $phase: steps of ${step}s at $conns_list connections"
	sc_phase_begin "$phase" "$((step * n))"
	: >"$SC_OUT/$phase.steps.jsonl"
	for c in $conns_list; do
		sc_wrk "$SC_OUT/$phase.c$c" "$step" "$c" "$script" "$@"
		printf '{"conns":%s,"wrk":%s}\n' "$c" "$(cat "$SC_OUT/$phase.c$c.wrk.json")" >>"$SC_OUT/$phase.steps.jsonl"
		sc_log "  c=$c: $(sc_wrk_brief "$SC_OUT/$phase.c$c.wrk.json")"
	done
	sc_phase_end "$phase" "$((step * n))" "$conns_list" "$script" "$*"
}

# sc_wrk PREFIX SECONDS CONNS SCRIPT [options]: PREFIX.wrk.txt and PREFIX.wrk.json
sc_wrk() {
	local prefix=$1 secs=$2 conns=$3 script=$4 rc=0 threads=2
	shift 4
	[ "$conns" -ge 2 ] || threads=1
	timeout -k 5 $((secs + 30)) wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s \
		-s "$DEMO_DIR/wrk/$script" "$APP_URL" -- "$@" >"$prefix.wrk.txt" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || sc_log "wrk exited with $rc"
	sed -n 's/^WRK_JSON //p' "$prefix.wrk.txt" >"$prefix.wrk.json"
	[ -s "$prefix.wrk.json" ] || echo '{}' >"$prefix.wrk.json"
}

sc_wrk_brief() {
	$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("rps","?"), "rps, p50", d.get("latency_us",{}).get("p50","?"), "us, status", d.get("status"))' "$1" 2>/dev/null || echo "no wrk result"
}

sc_phase_begin() {
	local phase=$1 secs=$2
	sc_pgss_reset
	sc_dbstat "$SC_OUT/$phase.dbstat0.json"
	sc_sampler_start "$SC_OUT/$phase.activity.jsonl" "$((secs + 5))"
	if [ -z "${SC_TRACE_PHASES+x}" ] || [[ " $SC_TRACE_PHASES " == *" $phase "* ]]; then
		# shellcheck disable=SC2086
		sc_dblat_start "$phase" "$((secs + 2))" ${SC_DBLAT_PIDS:-}
	else
		SC_DBLAT_PID=
		: >"$SC_OUT/$phase.untraced"
	fi
	SC_CPU0=$(sc_cpu)
	SC_T0=$(sc_now_ns)
	SC_DURING_PID=
	if [ -n "${SC_DURING:-}" ]; then
		"$SC_DURING" "$phase" "$secs" >"$SC_OUT/$phase.during.log" 2>&1 &
		SC_DURING_PID=$!
		SC_BG+=("$SC_DURING_PID")
	fi
}

sc_phase_end() {
	local phase=$1 secs=$2 conns=$3 script=$4 wrk_args=$5 t1 cpu1
	if [ -n "$SC_DURING_PID" ]; then
		wait "$SC_DURING_PID" 2>/dev/null || sc_log "the $SC_DURING step failed: see $phase.during.log"
		SC_DURING_PID=
	fi
	t1=$(sc_now_ns)
	cpu1=$(sc_cpu)
	sc_sampler_stop
	sc_dblat_wait
	sc_load_env
	# the state once the load is over (a second at least after wrk ended)
	sleep 1
	sc_activity_sample >"$SC_OUT/$phase.end.json" 2>/dev/null || echo '{"down":true}' >"$SC_OUT/$phase.end.json"
	sc_pgss_dump "$SC_OUT/$phase.pgss.json"
	sc_dbstat "$SC_OUT/$phase.dbstat1.json"
	printf '{"phase":"%s","seconds":%s,"conns":"%s","script":"%s","args":"%s","t0_ns":%s,"t1_ns":%s,"app_label":"%s","app_pid":%s,"cpu0":[%s],"cpu1":[%s],"clk_tck":%s,"app_alive":%s}\n' \
		"$phase" "$secs" "$conns" "$script" "$wrk_args" "$SC_T0" "$t1" "${SC_APP_LABEL:-}" "${APP_PID:-0}" \
		"${SC_CPU0/ /,}" "${cpu1/ /,}" "$(getconf CLK_TCK)" "$(sc_app_alive && echo true || echo false)" \
		>"$SC_OUT/$phase.phase.json"
}

# sc_explain_lookup FILE: the plan of the app's own lookup statement
# (the generic plan of its prepared form, as asyncpg runs it) and a custom plan.
sc_explain_lookup() {
	sc_psql >"$1" 2>&1 <<'EOF' || true
PREPARE demo_lookup(varchar) AS
SELECT api_keys.id, api_keys.user_id, api_keys.hashed_key, api_keys.name, api_keys.is_active, api_keys.created_at
FROM api_keys WHERE api_keys.hashed_key = $1::VARCHAR AND api_keys.is_active;
SET plan_cache_mode = force_generic_plan;
EXPLAIN EXECUTE demo_lookup('0000');
SET plan_cache_mode = force_custom_plan;
EXPLAIN (ANALYZE, COSTS OFF) EXECUTE demo_lookup(encode(sha256(convert_to('sk-demo-4242', 'UTF8')), 'hex'));
EOF
}

# sc_judge: print (and save) the verdict line from the artifacts.
sc_judge() {
	$PY "$SC_LIB_DIR/judge.py" "$SC_ID" "$SC_OUT" | tee "$SC_OUT/verdict.txt"
}

# sc_pg_down / sc_pg_up: stop (fast) and start the cluster again; sc_pg_up
# rewrites DIR/env, so POSTMASTER_PID is the new postmaster's afterwards.
sc_pg_down() { bash "$DEMO_DIR/cluster.sh" stop "$SC_CDIR" >&2; }
sc_pg_up() {
	bash "$DEMO_DIR/cluster.sh" start "$SC_CDIR" >&2
	sc_load_env
}

# For scenarios that stop the server: make sure it runs again at exit
# (a shared cluster must outlive the scenario).
sc_pg_keep_running() {
	sc_at_exit "bash '$DEMO_DIR/cluster.sh' status '$SC_CDIR' >/dev/null 2>&1 || bash '$DEMO_DIR/cluster.sh' start '$SC_CDIR' >/dev/null 2>&1"
}
